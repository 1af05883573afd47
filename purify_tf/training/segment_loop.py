"""Training the coarse segmentation FCN (paper 3.1) and measuring per-class IoU.

Masks need not be pixel-accurate (the loss network constrains the output), so a small FCN trained
for a few hundred steps on rendered eyes of both domains is enough; the orphan-label fix covers
the pupils it misses under outdoor light.
"""

from __future__ import annotations

import dataclasses

import keras
import numpy as np
import tensorflow as tf
from absl import logging

from purify_tf.losses.masks import NUM_CLASSES
from purify_tf.models.segmentation import build_fcn, predict_masks
from purify_tf.training.inputs import ContentSource, step_dataset

CLASS_NAMES = ("other", "iris", "pupil")


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
