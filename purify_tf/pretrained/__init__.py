"""The pretrained purifier shipped inside the package, so ``purify-tf purify`` works without --model.

The files are ``purifier.keras`` and its card ``purifier.json`` (sha256, how it was trained,
measured scores) in this folder; ``make pretrained`` trains and signs them
(``purify_tf.model_io.write_model_metadata``). ``$PURIFY_PRETRAINED_DIR`` or the
``directory`` argument points the loader at another folder with the same two files (the tests
use one with a tiny model). The file is checked against its sha256 before use, so a damaged
install fails with a message that says what to do instead of a Keras stack trace.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from purify_tf.errors import ConfigError
from purify_tf.model_io import (
    SHA_MISMATCH,
    load_keras_model,
    read_card,
    sha256_status,
    write_model_metadata,
)

ENV_DIR = "PURIFY_PRETRAINED_DIR"
MODEL_NAME = "purifier.keras"
CARD_NAME = "purifier.json"
REGENERATE = "regenerate it with `make pretrained` (or pass --model=PATH to use another purifier)"


class PretrainedModelError(ConfigError):
    """The pretrained purifier is not installed, or its file is damaged."""


def pretrained_dir(directory: str | os.PathLike | None = None) -> Path:
    """``directory``, else ``$PURIFY_PRETRAINED_DIR``, else this package folder."""
    if directory is not None:
        return Path(directory)
    return Path(os.environ.get(ENV_DIR) or Path(__file__).resolve().parent)


def pretrained_path(directory: str | os.PathLike | None = None) -> Path:
    """Path of the pretrained ``purifier.keras`` (whether or not it exists)."""
    return pretrained_dir(directory) / MODEL_NAME


def card_path(directory: str | os.PathLike | None = None) -> Path:
    """Path of the pretrained model's card ``purifier.json``."""
    return pretrained_dir(directory) / CARD_NAME


def is_installed(directory: str | os.PathLike | None = None) -> bool:
    return pretrained_path(directory).is_file()


def verified_path(directory: str | os.PathLike | None = None) -> Path:
    """The pretrained model path after checking it exists and matches the sha256 in its card."""
    path, card = pretrained_path(directory), card_path(directory)
    if not path.is_file():
        raise PretrainedModelError(
            f"the pretrained purifier {path} is not installed; pass --model=PATH to a trained "
            f"purifier, or create it with `make pretrained`"
        )
    if not card.is_file():
        raise PretrainedModelError(f"the pretrained purifier's card {card} is missing; {REGENERATE}")
    _, data = read_card(path)
    if data is None:
        raise PretrainedModelError(f"the pretrained purifier's card {card} is damaged (not a JSON object); {REGENERATE}")
    try:
        status = sha256_status(path, data)
    except OSError as exc:
        raise PretrainedModelError(f"the pretrained purifier {path} cannot be read ({exc}); {REGENERATE}") from exc
    if status == SHA_MISMATCH:
        raise PretrainedModelError(
            f"the pretrained purifier {path} is damaged: its sha256 does not match {card}; {REGENERATE}"
        )
    if not data.get("sha256"):
        raise PretrainedModelError(f"the pretrained purifier's card {card} records no sha256; {REGENERATE}")
    return path


def load_pretrained(directory: str | os.PathLike | None = None) -> Any:
    """The pretrained transformer as a Keras model, checked first (see ``verified_path``)."""
    path = verified_path(directory)
    try:
        return as_float32(load_keras_model(path))
    except ConfigError as exc:
        raise PretrainedModelError(f"the pretrained purifier {path} is damaged ({exc}); {REGENERATE}") from exc


def as_float32(model: Any) -> Any:
    """A model stored with float16 variables (half the file) as a float32 model, same weights."""
    if all(v.dtype == "float32" for v in model.weights):
        return model
    from purify_tf.models.transformer import with_precision

    return with_precision(model, "float32")


def save_pretrained(model: Any, card: dict[str, Any], directory: str | os.PathLike | None = None) -> Path:
    """Write ``model`` with float16 variables as the pretrained purifier and sign it with ``card``
    (how it was trained and its measured scores). Returns the model path."""
    from purify_tf.atomic import atomic_path
    from purify_tf.models.transformer import with_precision

    path = pretrained_path(directory)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        with_precision(model, "float16").save(str(tmp))
    card_file = card_path(directory)
    if card_file.exists():
        card_file.unlink()  # a new model: the old card's facts do not carry over
    write_model_metadata(path, {**card, "storage_dtype": "float16"}, card_file)
    return path
