"""Export a trained transformer as a SavedModel laid out for TF Serving.

    python -m export.saved_model --model=runs/paper/transformer.keras --export_dir=serving \\
        [--name=purifier] [--version=N] [--overwrite]

writes ``serving/purifier/<version>/`` (version: the next integer after the ones present) with the
signatures of ``purify_tf.inference.serving`` (see docs/SERVING.md):

* ``serving_default``: ``images`` uint8 (N, H, W, 3), any H, W -> ``images`` uint8, same shape;
* ``predict_float``: ``images`` float32 in [0, 255] -> ``images`` float32;
* ``predict_bytes``: ``images_bytes`` string (N,) encoded JPEG/PNG -> ``png_bytes`` string (N,).

The version directory is written under a hidden temporary name and renamed into place, so TF
Serving (which polls the base path for numeric directories) never sees a half-written version.
Metadata (architecture, versions, source hash, limits, training facts when available) goes to
``assets.extra/purify_tf.json`` and to the ``metadata()`` function of the loaded object.
"""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path
from typing import Any

import tensorflow as tf
from absl import app, flags, logging

from purify_tf.atomic import atomic_directory, atomic_write_bytes
from purify_tf.errors import ConfigError
from purify_tf.inference import serving
from purify_tf.inference.metadata import build_metadata
from purify_tf.model_io import load_keras_model

METADATA_FILE = "assets.extra/purify_tf.json"
_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")


def next_version(model_base: str | os.PathLike) -> int:
    """One more than the highest numeric version directory under ``model_base`` (1 if none)."""
    base = Path(model_base)
    versions = [int(p.name) for p in base.iterdir() if p.is_dir() and p.name.isdigit()] if base.is_dir() else []
    return max(versions, default=0) + 1


def export_saved_model(
    model: Any,
    export_dir: str | os.PathLike,
    name: str = "purifier",
    version: int | None = None,
    overwrite: bool = False,
    limits: serving.ServingLimits | None = None,
) -> Path:
    """Write ``<export_dir>/<name>/<version>/`` atomically and return that path.

    ``model`` is a ``.keras`` path or a built transformer. An existing version directory is
    replaced only with ``overwrite=True``.
    """
    if not _NAME.match(name):
        raise ConfigError(f"--name must be letters, digits, '_', '.' or '-', got {name!r}")
    model_path = None
    if isinstance(model, (str, os.PathLike)):
        model_path = Path(model)
        model = load_keras_model(model_path)
    limits = limits or serving.ServingLimits()
    base = Path(export_dir) / name
    if version is None:
        version = next_version(base)
    if version < 1:
        raise ConfigError(f"--version must be a positive integer, got {version}")
    final = base / str(version)
    if final.exists() and not overwrite:
        raise ConfigError(f"{final} already exists; pass --overwrite or choose another --version")

    metadata = build_metadata(
        model,
        model_path,
        export={"name": name, "version": version, "format": "saved_model"},
        signatures={
            serving.SIGNATURE_UINT8: {
                "inputs": {serving.INPUT_UINT8: "uint8 (N, H, W, 3)"},
                "outputs": {serving.OUTPUT_UINT8: "uint8 (N, H, W, 3)"},
            },
            serving.SIGNATURE_FLOAT: {
                "inputs": {serving.INPUT_FLOAT: "float32 (N, H, W, 3) in [0, 255]"},
                "outputs": {serving.OUTPUT_FLOAT: "float32 (N, H, W, 3) in [0, 255]"},
            },
            serving.SIGNATURE_BYTES: {
                "inputs": {serving.INPUT_BYTES: "string (N,) encoded JPEG/PNG/BMP/GIF"},
                "outputs": {serving.OUTPUT_BYTES: "string (N,) PNG"},
            },
        },
        limits={
            "min_side": limits.min_side,
            "max_image_pixels": limits.max_image_pixels,
            "max_batch_pixels": limits.max_batch_pixels,
        },
    )
    module = serving.ServingModule(model, limits, metadata)
    with atomic_directory(final, overwrite=overwrite) as tmp:
        tf.saved_model.save(module, str(tmp), signatures=module.signatures())
        atomic_write_bytes(tmp / METADATA_FILE, json.dumps(metadata, indent=2).encode())
    logging.info("Exported SavedModel to %s", final)
    return final


def read_metadata(version_dir: str | os.PathLike) -> dict:
    """The metadata JSON of an exported version directory."""
    return json.loads((Path(version_dir) / METADATA_FILE).read_text())


def define_flags(flag_values: flags.FlagValues = flags.FLAGS) -> None:
    """Flags of this command; defined on demand so that importing the module defines none."""
    flags.DEFINE_string("model", None, "Path to the trained transformer (.keras).", flag_values=flag_values)
    flags.DEFINE_string(
        "export_dir", None, "TF Serving base directory; the model goes to <export_dir>/<name>/<version>/.",
        flag_values=flag_values,
    )
    flags.DEFINE_string("name", "purifier", "Model name (TF Serving --model_name).", flag_values=flag_values)
    flags.DEFINE_integer(
        "version", None, "Version number (default: one more than the highest present).",
        lower_bound=1, flag_values=flag_values,
    )
    flags.DEFINE_boolean("overwrite", False, "Replace an existing version directory.", flag_values=flag_values)
    flags.DEFINE_integer(
        "min_side", serving.MIN_SIDE, "Smallest image side the signatures accept (>= 3).",
        lower_bound=3, flag_values=flag_values,
    )
    flags.DEFINE_integer(
        "max_image_pixels", serving.MAX_IMAGE_PIXELS,
        "Largest height * width the signatures accept; larger requests are rejected, not run.",
        lower_bound=16, flag_values=flag_values,
    )
    flags.DEFINE_integer(
        "max_batch_pixels", serving.MAX_BATCH_PIXELS,
        "Largest N * height * width per request (bounds the server's memory).",
        lower_bound=16, flag_values=flag_values,
    )
    flags.mark_flags_as_required(["model", "export_dir"], flag_values=flag_values)


def run(flag_values: flags.FlagValues = flags.FLAGS) -> Path:
    """Export with the parsed flags."""
    try:
        limits = serving.ServingLimits(
            flag_values.min_side, flag_values.max_image_pixels, flag_values.max_batch_pixels
        )
    except ValueError as exc:
        raise ConfigError(f"invalid limit flags: {exc}") from exc
    return export_saved_model(
        flag_values.model,
        flag_values.export_dir,
        name=flag_values.name,
        version=flag_values.version,
        overwrite=flag_values.overwrite,
        limits=limits,
    )


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    try:
        path = run()
    except (ConfigError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(1)
    print(f"SavedModel written to {path}")


if __name__ == "__main__":
    define_flags()
    app.run(main)
