"""``purify-tf symmetric``: a copy of a purifier whose residual is flip-symmetric.

Why a copy and not a retraining: flip symmetry is a property of how f_W is applied, not of its
weights (``models.symmetry``), so any trained residual purifier gains it, and its card says so.
The original's scores were measured without it; the copy keeps them under a key that says whose
they are, so that ``purify-tf info`` never shows them as the copy's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from purify_tf.errors import ConfigError

SYMMETRY_KEY = "flip_symmetric"  # the card's record: True, and what the residual is
ORIGINAL_SCORES_KEY = "scores_before_flip_symmetry"


def make_symmetric(model: Any, card: dict[str, Any], source: str | Path) -> tuple[Any, dict[str, Any]]:
    """``model`` made flip-symmetric and its ``card`` (a copy) saying so: the original's scores moved
    to ``ORIGINAL_SCORES_KEY`` (they were measured without symmetry), the record naming ``source``."""
    from purify_tf.models.symmetry import describe, flip_symmetric

    model = flip_symmetric(model)
    card = dict(card)
    if "scores" in card:
        card[ORIGINAL_SCORES_KEY] = card.pop("scores")
    card[SYMMETRY_KEY] = {"enabled": True, "residual": describe(model), "from": str(source)}
    return model, card


def symmetric_file(model_path: str | Path, out: str | Path) -> dict[str, Any]:
    """Write the flip-symmetric copy of the purifier at ``model_path`` to ``out`` (atomically,
    with its card: the original's, its scores moved to ``ORIGINAL_SCORES_KEY``). Returns the card."""
    from purify_tf.atomic import atomic_path
    from purify_tf.model_io import load_keras_model, read_card, unsigned, write_model_metadata
    from purify_tf.pretrained import as_float32

    out = Path(out)
    if out.suffix != ".keras":
        raise ConfigError(f"--out: {out} must end in .keras")
    if out.resolve() == Path(model_path).resolve():
        raise ConfigError(f"--out: {out} is the input model; write the copy elsewhere")
    _, card = read_card(model_path)
    model, card = make_symmetric(as_float32(load_keras_model(model_path)), unsigned(card or {}), model_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out) as tmp:
        model.save(str(tmp))
    card_file = out.with_suffix(".json")
    if card_file.exists():
        card_file.unlink()
    write_model_metadata(out, card, card_file)
    return card
