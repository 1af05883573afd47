"""Training the coarse segmentation FCN (paper 3.1) and measuring per-class IoU.

Masks need not be pixel-accurate (the loss network constrains the output), so a small FCN trained
for a few hundred steps on rendered eyes of both domains is enough; the orphan-label fix covers
the pupils it misses under outdoor light.
"""

from __future__ import annotations

import dataclasses
import os

import keras
import numpy as np
import tensorflow as tf
from absl import logging

from purify_tf.conventions import CLASS_NAMES, NUM_CLASSES
from purify_tf.models.segmentation import build_fcn, predict_masks
from purify_tf.training.inputs import ContentSource, step_dataset


@dataclasses.dataclass
class SegmentTrainConfig:
    steps: int = 600
    batch_size: int = 16
    learning_rate: float = 2e-3
    base_filters: int = 16
    progress: bool = True


def per_class_iou(pred: np.ndarray, true: np.ndarray, num_classes: int = NUM_CLASSES) -> dict[str, float]:
    """Intersection over union per class over a whole set (NaN for a class absent from both)."""
    pred, true = np.asarray(pred).ravel(), np.asarray(true).ravel()
    out = {}
    for c in range(num_classes):
        p, t = pred == c, true == c
        union = np.logical_or(p, t).sum()
        out[CLASS_NAMES[c] if c < len(CLASS_NAMES) else str(c)] = (
            float(np.logical_and(p, t).sum() / union) if union else float("nan")
        )
    return out


def train_fcn(
    source: ContentSource, cfg: SegmentTrainConfig, strategy: tf.distribute.Strategy | None = None
) -> keras.Model:
    """Fit the FCN on ``source``'s (image, mask) batches with pixel-wise cross-entropy."""
    if not source.has_masks:
        raise ValueError("the segmentation source must provide masks (renderer or UnityEyes)")
    strategy = strategy or tf.distribute.get_strategy()
    ds = step_dataset(source, cfg.batch_size, 0, cfg.steps).map(lambda b: (b["image"], b["mask"]))
    with strategy.scope():
        model = build_fcn(NUM_CLASSES, base_filters=cfg.base_filters)
        schedule = keras.optimizers.schedules.CosineDecay(cfg.learning_rate, cfg.steps, alpha=0.05)
        model.compile(
            optimizer=keras.optimizers.Adam(schedule),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        )
    logging.info("Training the FCN for %d steps (batch %d)", cfg.steps, cfg.batch_size)
    model.fit(ds, epochs=1, steps_per_epoch=cfg.steps, verbose=2 if cfg.progress else 0)
    return model


def evaluate_fcn(model: keras.Model, images: np.ndarray, masks: np.ndarray, fix_orphans: bool = True) -> dict[str, float]:
    """Per-class IoU of the FCN's masks (after the orphan fix by default) on a held-out set."""
    pred = np.asarray(predict_masks(model, np.asarray(images, np.float32), fix_orphans=fix_orphans))
    iou = per_class_iou(pred, masks)
    iou["mean"] = float(np.nanmean(list(iou.values())))
    return iou


HELD_OUT_SEED = 999_983  # renderer seed of the FCN's held-out IoU set (never used in training)


def load_or_train_fcn(
    path: str | os.PathLike, height: int, width: int, steps: int, batch_size: int = 16, seed: int = 0,
    strategy: tf.distribute.Strategy | None = None, progress: bool = False,
) -> tuple[keras.Model, dict[str, float]]:
    """The FCN in ``path``, or one trained on both renderer domains and saved there (atomically);
    returns it with its held-out per-class IoU (32 eyes of each domain)."""
    from pathlib import Path

    from purify_tf.atomic import atomic_path
    from purify_tf.data.renderer import render_eyes
    from purify_tf.training.inputs import MixedSource, RendererSource

    path = Path(path)
    if path.is_file():
        logging.info("Using the FCN in %s", path)
        fcn = keras.models.load_model(path)
    else:
        source = MixedSource([RendererSource(height, width, "real", seed + 101),
                              RendererSource(height, width, "synthetic", seed + 202)])
        fcn = train_fcn(source, SegmentTrainConfig(steps=steps, batch_size=batch_size, progress=progress), strategy)
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp:
            fcn.save(str(tmp))
    held = [render_eyes(32, height, width, domain=d, seed=HELD_OUT_SEED) for d in ("real", "synthetic")]
    iou = evaluate_fcn(fcn, np.concatenate([e["image"] for e in held]), np.concatenate([e["mask"] for e in held]))
    logging.info("FCN held-out IoU: %s", {k: round(v, 3) for k, v in iou.items()})
    return fcn, iou


def predict_fn(fcn: keras.Model):
    """images (B, H, W, 3) [0, 255] -> int32 masks with the orphan-label fix, usable in tf.function:
    the masks S[I] the local losses use."""

    def mask_fn(images):
        return predict_masks(fcn, images, fix_orphans=True)

    return mask_fn
