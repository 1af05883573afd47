"""Training the coarse segmentation FCN (paper 3.1) and measuring per-class IoU.

Masks need not be pixel-accurate (the loss network constrains the output), so a small FCN trained
for a few hundred steps on rendered eyes of both domains is enough; the orphan-label fix covers
the pupils it misses under outdoor light.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
from absl import logging

from purify_tf.conventions import CLASS_NAMES, NUM_CLASSES
from purify_tf.errors import ConfigError
from purify_tf.hyperparameters import FCN_BATCH_SIZE
from purify_tf.models.segmentation import build_fcn, predict_masks
from purify_tf.progress import StepProgress
from purify_tf.training.checkpoints import CheckpointKeeper, StopSignal, TrainingStopped
from purify_tf.training.inputs import ContentSource, step_dataset, take_batches
from purify_tf.training.strategy import is_chief, loss_scaled_adam, replica_loss, worker_id

FCN_CHECKPOINT_EVERY = 50  # FCN steps between checkpoints: a kill costs at most 1/12 of the default 600


@dataclasses.dataclass
class SegmentTrainConfig:
    steps: int = 600
    batch_size: int = FCN_BATCH_SIZE
    learning_rate: float = 2e-3
    base_filters: int = 16
    progress: bool = True
    # Where checkpoints go and training resumes from; None: no checkpoints, and signals are not caught.
    checkpoint_dir: str | None = None
    checkpoint_every: int = FCN_CHECKPOINT_EVERY
    keep_checkpoints: int = 2


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


def _build_fcn_and_optimizer(cfg: SegmentTrainConfig, strategy: tf.distribute.Strategy):
    """The FCN, Adam on a cosine schedule over ``cfg.steps`` (loss-scaled under mixed float16) and the
    step counter, built in the strategy's scope so that a checkpoint can restore all three."""
    with strategy.scope():
        model = build_fcn(NUM_CLASSES, base_filters=cfg.base_filters)
        schedule = keras.optimizers.schedules.CosineDecay(cfg.learning_rate, cfg.steps, alpha=0.05)
        optimizer = loss_scaled_adam(schedule)
        optimizer.build(model.trainable_variables)
        step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
    return model, optimizer, step


def _fcn_step_function(model: keras.Model, optimizer, strategy: tf.distribute.Strategy):
    """One distributed update with pixel-wise cross-entropy; returns the global-batch mean loss."""
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    def replica_step(images: tf.Tensor, masks: tf.Tensor) -> tf.Tensor:
        with tf.GradientTape() as tape:
            loss = loss_fn(masks, model(images, training=True))
            scaled = replica_loss(loss, optimizer, strategy.num_replicas_in_sync)
        grads = tape.gradient(scaled, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables, strict=True))
        return loss

    @tf.function(autograph=False)  # no tensor-dependent Python control flow: faster tracing
    def step_fn(batch: dict[str, tf.Tensor]) -> tf.Tensor:
        per_replica = strategy.run(replica_step, args=(batch["image"], batch["mask"]))
        return strategy.reduce(tf.distribute.ReduceOp.MEAN, per_replica, axis=None)

    return step_fn


def train_fcn(
    source: ContentSource, cfg: SegmentTrainConfig, strategy: tf.distribute.Strategy | None = None,
    until: int | None = None,
) -> keras.Model:
    """Fit the FCN on ``source``'s (image, mask) batches with pixel-wise cross-entropy, to step
    ``until`` (default: ``cfg.steps``; the schedule always spans ``cfg.steps``).

    With ``cfg.checkpoint_dir`` it resumes from the latest checkpoint there, saves one every
    ``cfg.checkpoint_every`` steps and at the end, and on SIGTERM / Ctrl-C saves one and raises
    :class:`TrainingStopped`. Batches are a pure function of (seed, step), so a resumed run ends
    with the weights of an uninterrupted one.
    """
    if not source.has_masks:
        raise ValueError("the segmentation source must provide masks (renderer or UnityEyes)")
    if cfg.checkpoint_every < 1:
        raise ConfigError(f"SegmentTrainConfig.checkpoint_every must be >= 1, got {cfg.checkpoint_every}")
    strategy = strategy or tf.distribute.get_strategy()
    model, optimizer, step = _build_fcn_and_optimizer(cfg, strategy)
    keeper = None
    if cfg.checkpoint_dir is not None:
        folder = Path(cfg.checkpoint_dir)
        keeper = CheckpointKeeper(folder.parent, cfg.keep_checkpoints, chief=is_chief(strategy),
                                  worker_id=worker_id(strategy), subdir=folder.name,
                                  model=model, optimizer=optimizer, step=step)
        keeper.restore_latest()
    start, end = int(step.numpy()), cfg.steps if until is None else min(until, cfg.steps)
    if start >= end:
        logging.info("The FCN is already trained to step %d (>= %d)", start, end)
        return model
    logging.info("Training the FCN from step %d to %d (batch %d)", start, end, cfg.batch_size)
    step_fn = _fcn_step_function(model, optimizer, strategy)
    batches = strategy.experimental_distribute_dataset(step_dataset(source, cfg.batch_size, start, end))
    # Without checkpoints there is nothing to save on a signal: leave the signals alone.
    signals = StopSignal() if keeper is not None else StopSignal(signals=())
    with signals as stop, StepProgress(end, start, cfg.progress, prefix="fcn ") as progress:
        for batch in take_batches(batches, end - start):
            loss = float(step_fn(batch))
            step.assign_add(1)
            current = int(step.numpy())
            progress.update(current, {"loss": loss})
            if keeper is not None and (current % cfg.checkpoint_every == 0 or current == end or stop.requested):
                keeper.save(current)
            if stop.requested and current < end:
                raise TrainingStopped(current, "training the FCN")
    return model


def evaluate_fcn(model: keras.Model, images: np.ndarray, masks: np.ndarray, fix_orphans: bool = True) -> dict[str, float]:
    """Per-class IoU of the FCN's masks (after the orphan fix by default) on a held-out set."""
    pred = np.asarray(predict_masks(model, np.asarray(images, np.float32), fix_orphans=fix_orphans))
    iou = per_class_iou(pred, masks)
    iou["mean"] = float(np.nanmean(list(iou.values())))
    return iou


HELD_OUT_SEED = 999_983  # renderer seed of the FCN's held-out IoU set (never used in training)
HELD_OUT_EYES = 64  # held-out renders for the IoU, half of each domain


def renderer_held_out(height: int, width: int, n: int = HELD_OUT_EYES) -> tuple[np.ndarray, np.ndarray]:
    """(images, masks) of the FCN's held-out IoU set: ``n // 2`` renders of each domain, seed
    :data:`HELD_OUT_SEED`."""
    from purify_tf.data.renderer import render_eyes

    held = [render_eyes(n // 2, height, width, domain=d, seed=HELD_OUT_SEED) for d in ("real", "synthetic")]
    return np.concatenate([e["image"] for e in held]), np.concatenate([e["mask"] for e in held])


def load_or_train_fcn(
    path: str | os.PathLike, height: int, width: int, steps: int, batch_size: int = FCN_BATCH_SIZE, seed: int = 0,
    strategy: tf.distribute.Strategy | None = None, progress: bool = False,
    checkpoint_every: int = FCN_CHECKPOINT_EVERY, *,
    learning_rate: float = SegmentTrainConfig.learning_rate, base_filters: int = SegmentTrainConfig.base_filters,
    source: ContentSource | None = None, held_out: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[keras.Model, dict[str, float]]:
    """The FCN in ``path``, or one trained and saved there (atomically); returns it with its
    held-out per-class IoU after the orphan-label fix. The one way the FCN is trained: by
    ``trainers.segment``, ``trainers.purify`` and the report.

    ``source`` (default: renderer eyes of both domains, seeds ``seed + 101`` and ``seed + 202``)
    gives the training batches; ``held_out`` the (images, masks) the IoU is measured on (default
    :func:`renderer_held_out`). Training checkpoints go to ``<path's folder>/<path's
    stem>_checkpoints`` (``fcn_checkpoints``), so an interrupted call resumes where it stopped; on
    SIGTERM / Ctrl-C it saves and raises
    :class:`~purify_tf.training.checkpoints.TrainingStopped` without writing ``path``."""
    from purify_tf.atomic import atomic_path
    from purify_tf.training.inputs import MixedSource, RendererSource

    path = Path(path)
    if path.is_file():
        logging.info("Using the FCN in %s", path)
        fcn = keras.models.load_model(path)
    else:
        if source is None:
            source = MixedSource([RendererSource(height, width, "real", seed + 101),
                                  RendererSource(height, width, "synthetic", seed + 202)])
        cfg = SegmentTrainConfig(steps=steps, batch_size=batch_size, learning_rate=learning_rate,
                                 base_filters=base_filters, progress=progress,
                                 checkpoint_dir=str(path.parent / f"{path.stem}_checkpoints"),
                                 checkpoint_every=checkpoint_every)
        fcn = train_fcn(source, cfg, strategy)
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp:
            fcn.save(str(tmp))
    images, masks = renderer_held_out(height, width) if held_out is None else held_out
    iou = evaluate_fcn(fcn, images, masks)
    logging.info("FCN held-out IoU: %s", {k: round(v, 3) for k, v in iou.items()})
    return fcn, iou


def predict_fn(fcn: keras.Model):
    """images (B, H, W, 3) [0, 255] -> int32 masks with the orphan-label fix, usable in tf.function:
    the masks S[I] the local losses use."""

    def mask_fn(images):
        return predict_masks(fcn, images, fix_orphans=True)

    return mask_fn
