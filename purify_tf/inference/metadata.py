"""Metadata stored beside exported models: what network it is, where it came from, what it accepts.

A deployed file outlives the run that made it; the metadata lets someone holding only the exported
model tell which architecture, training run and loss network produced it.
"""

from __future__ import annotations

import datetime
import json
import os
import zipfile
from pathlib import Path
from typing import Any

import keras
import tensorflow as tf

import purify_tf
from purify_tf.model_io import read_card, sha256_file
from purify_tf.models.transformer import CONFIGS, ReflectionPadding2D

# Keys of a training sidecar JSON that are copied into the metadata as they are.
# The whole objective and data settings travel with every export (trainer's metadata keys).
_TRAINING_KEYS = ("loss_network", "vgg_weights", "config", "flags", "step", "style_image", "losses", "norm",
                  "upsample", "use_masks", "layer_weighting", "loss_weights", "style_mode", "style_images",
                  "illumination", "illumination_tone", "illumination_centre", "residual", "raw_beside", "lr_schedule", "train_steps",
                  "seed", "luminance_prior", "batch_size", "learning_rate", "image_size", "content_source")


def describe_transformer(model: keras.Model) -> dict[str, Any]:
    """Architecture facts read off a built transformer (preset name when one matches)."""
    layers = {layer.name: layer for layer in model.layers}
    outer = layers.get("reflection_pad")
    padding = getattr(outer, "padding", 0)
    # Reflection pads other than the outer one pad each convolution (the 'reflect' layout).
    conv_padding = "reflect" if any(isinstance(la, ReflectionPadding2D) and la is not outer
                                    for la in model.layers) else "outer"
    blocks = sum(1 for name in layers if name.startswith("res") and name.endswith("_add"))
    norm = "instance" if any(isinstance(la, keras.layers.GroupNormalization) for la in model.layers) else "batch"
    deconv = layers.get("up1_deconv")
    upsample = "deconv" if deconv is not None else "resize"
    kernel = deconv.kernel_size[0] if deconv is not None else None
    preset = next(
        (
            name
            for name, cfg in CONFIGS.items()
            if cfg.padding == padding and cfg.conv_padding == conv_padding and cfg.num_blocks == blocks
            and (kernel is None or cfg.deconv_kernel == kernel)
        ),
        None,
    )
    return {
        "name": model.name,
        "config": preset,
        "padding": padding,
        "conv_padding": conv_padding,
        "residual_blocks": blocks,
        "norm": norm,
        "upsample": upsample,
        "deconv_kernel": kernel,
        "parameters": int(model.count_params()),
        "input": "float32 (N, H, W, 3) RGB in [0, 255], H and W divisible by 4",
        "output": "float32 (N, H, W, 3) RGB in [0, 255]",
    }


def source_metadata(model_path: str | os.PathLike | None) -> dict[str, Any]:
    """Where the model came from: file, hash, the archive's Keras metadata, and training facts.

    Training facts (loss network and weights, flags, step) come from a JSON sidecar named
    ``<model>.json`` or ``<model stem>.json`` beside the ``.keras`` file, or a ``purify_tf.json``
    member inside the archive, when either exists.
    """
    if model_path is None:
        return {}
    path = Path(model_path)
    info: dict[str, Any] = {"path": str(path.resolve()), "sha256": sha256_file(path)}
    training: dict | None = None
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
            if "metadata.json" in names:
                info["keras_archive"] = json.loads(archive.read("metadata.json"))
            if "purify_tf.json" in names:
                training = json.loads(archive.read("purify_tf.json"))
    except (OSError, ValueError, zipfile.BadZipFile):
        pass
    if training is None:
        training = read_card(path)[1]
    if isinstance(training, dict):
        info["training"] = {k: training[k] for k in _TRAINING_KEYS if k in training} or training
    return info


def build_metadata(
    model: keras.Model, model_path: str | os.PathLike | None = None, **extra: Any
) -> dict[str, Any]:
    """The full metadata dict: versions, architecture, source and any ``extra`` fields."""
    source = source_metadata(model_path)
    training = source.get("training", {}) if isinstance(source.get("training"), dict) else {}
    return {
        "purify_tf_version": purify_tf.__version__,
        "tensorflow_version": tf.__version__,
        "keras_version": keras.__version__,
        "exported_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "transformer": describe_transformer(model),
        "loss_network": training.get("loss_network"),
        "source": source,
        **extra,
    }
