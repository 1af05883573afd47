"""Training the transformer f_W on the (masked) perceptual objective under a tf.distribute strategy.

The loop is a plain Python loop over a distributed dataset whose step function is a
``tf.function``: the gradient computation may be XLA-compiled (``jit_compile``), the update goes
through the Keras optimizer in replica context so gradients are summed across replicas.
"""

from __future__ import annotations

import dataclasses
import math
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import keras
import numpy as np
import tensorflow as tf
from absl import logging

from purify_tf.errors import PurifyError
from purify_tf.hyperparameters import (
    DOMAIN,
    ILLUMINATION_CENTRES,
    LR_SCHEDULES,
    PAIRED_TARGETS,
    PAPER,
    USE_MASKS,
)
from purify_tf.losses.objective import DomainWeights, LossWeights, build_objective
from purify_tf.losses.patch_nce import NCE_LAYERS, build_nce_heads
from purify_tf.luminance_prior import LuminancePrior, fit_luminance_prior, mean_coarse_map
from purify_tf.models.illumination import DEFAULT_TONE
from purify_tf.models.transformer import build_transformer, front_end_of
from purify_tf.palette import image_grid, mask_to_rgb
from purify_tf.progress import StepProgress
from purify_tf.training.checkpoints import CheckpointKeeper, StopSignal
from purify_tf.training.critic import SCORE_PREFIX, Critic, split_scores
from purify_tf.training.inputs import (
    PREVIEW_STEP,
    ContentSource,
    PairedRendererSource,
    step_dataset,
    take_batches,
)
from purify_tf.training.strategy import is_chief, loss_scaled_adam, replica_loss, worker_id
from purify_tf.training.summaries import SummaryLogger

MaskFn = Callable[[tf.Tensor], tf.Tensor]


STYLE_MODES = ("mean", "per_batch")
CENTRE_EYES = 1024  # content eyes whose mean coarse map centres the front end (illumination_centre="content")
NCE_SEED_SALT = 7  # folded into a step's seed for PatchNCE's patch positions (the critic reads the seed itself)


def learning_rate_schedule(rate: float, schedule: str, steps: int):
    """Adam's learning rate: constant, or cosine decay to 1% over ``steps`` (converges in fewer steps
    at a higher starting rate, measured in docs/report)."""
    if schedule == "constant":
        return rate
    if schedule == "cosine":
        return keras.optimizers.schedules.CosineDecay(rate, max(int(steps), 1), alpha=0.01)
    raise ValueError(f"lr_schedule must be one of {LR_SCHEDULES}, got {schedule!r}")


class NonFiniteLossError(PurifyError):
    """The objective became NaN or infinite; training stopped without saving the bad state."""


@dataclasses.dataclass
class PurifyTrainConfig:
    """Everything the purification training needs besides data and the loss network (defaults: the
    paper's; trainers.purify's flags default to the shipped configuration)."""

    model_dir: str
    config: str = "paper"
    norm: str = "batch"
    upsample: str = "deconv"
    dropout_rate: float | None = None
    batch_size: int = PAPER.batch_size  # global batch, split across replicas
    learning_rate: float = PAPER.learning_rate
    train_steps: int = PAPER.steps
    weights: LossWeights = dataclasses.field(default_factory=LossWeights)
    use_masks: bool = USE_MASKS
    layer_weighting: str = PAPER.layer_weighting  # "unit" | "balanced" (see losses.objective.balanced_layer_weights)
    # "mean": mean Grams of the style set; "per_batch": a new style eye per content eye (measured
    # no better and twice as slow: only the report's ablation row uses it).
    style_mode: str = "mean"
    illumination: bool = False  # the illumination-normalising front end (models.illumination)
    illumination_tone: str = DEFAULT_TONE  # its tone step: hyperparameters.ILLUMINATION_TONES
    # What its gain pulls towards (hyperparameters.ILLUMINATION_CENTRES): the prior's synthetic mean map,
    # or "content": the mean map of CENTRE_EYES content eyes (models.illumination.set_centre).
    illumination_centre: str = "synthetic"
    residual: bool = False  # identity-initialised residual output (models.transformer.ResidualOutput)
    raw_beside: bool = False  # f_W reads the raw eye beside the front end's output (needs illumination)
    lr_schedule: str = PAPER.lr_schedule  # "constant" | "cosine" (decays to 1% of the rate at train_steps)
    # The terms beyond the perceptual objective (losses.objective, training.critic); all 0: the perceptual step.
    adversarial: float = DOMAIN.adversarial
    identity: float = DOMAIN.identity
    paired: float = DOMAIN.paired
    paired_target: str = DOMAIN.paired_target  # "twin" | "structure" (losses.paired)
    # The eye size (times the renderer's) of the renderer pairs drawn beside content eyes without twins.
    pair_eye_scale: float = 1.0
    gaze: float = DOMAIN.gaze  # the gaze-consistency term (losses.gaze_consistency); needs a gaze_reader
    pupil: float = DOMAIN.pupil  # the pupil-shift term (losses.pupil_shift); needs the FCN as pupil_network
    pupil_contrast: float = DOMAIN.pupil_contrast  # the pupil-contrast term (losses.pupil_contrast); needs masks
    patch_nce: float = DOMAIN.patch_nce  # PatchNCE (losses.patch_nce); its projection heads train with f_W
    nce_layers: tuple[str, ...] = NCE_LAYERS  # the loss-network taps PatchNCE matches patches at
    critic_learning_rate: float = DOMAIN.critic_learning_rate
    critic_filters: int = DOMAIN.critic_filters
    critic_layers: int = DOMAIN.critic_layers
    history_size: int = DOMAIN.history_size
    eval_every: int = 0  # gaze evaluation every N steps (0: never); needs a GazeMonitor
    checkpoint_every: int = 500
    keep_checkpoints: int = 3
    log_every: int = 20
    image_every: int = 200
    histogram_every: int = 1000
    jit_compile: bool = False
    seed: int = 0
    progress: bool = True
    # A trained purifier (.keras) whose f_W weights the network starts from (models.warm_start):
    # fine-tuning. Read at step 0 only; a resumed run restores its own checkpoint over them.
    init_model: str | None = None
    # What the entry point knows about the run and its data (flags, dataset paths, style source),
    # copied into the metadata of the saved purifier (and from there into every export).
    provenance: dict = dataclasses.field(default_factory=dict)


def _check_config(cfg: PurifyTrainConfig, strategy: tf.distribute.Strategy, style_stream) -> None:
    if cfg.batch_size % strategy.num_replicas_in_sync:
        raise ValueError(
            f"--batch_size={cfg.batch_size} must be divisible by the {strategy.num_replicas_in_sync} replicas"
        )
    if cfg.style_mode not in STYLE_MODES:
        raise ValueError(f"style_mode must be one of {STYLE_MODES}, got {cfg.style_mode!r}")
    if cfg.style_mode == "per_batch" and style_stream is None:
        raise ValueError("style_mode='per_batch' needs a style_stream of synthetic eyes")
    if cfg.illumination_centre not in ILLUMINATION_CENTRES:
        raise ValueError(f"illumination_centre must be one of {ILLUMINATION_CENTRES}, got {cfg.illumination_centre!r}")
    if cfg.paired_target not in PAIRED_TARGETS:
        raise ValueError(f"paired_target must be one of {PAIRED_TARGETS}, got {cfg.paired_target!r}")
    if cfg.jit_compile and cfg.gaze > 0:
        raise ValueError("jit_compile with the gaze-consistency term: its reader's antialiased resize has no XLA "
                         "kernel; train with --nojit_compile (XLA was slower for this step anyway) or --gaze=0")
    if (cfg.adversarial > 0 or cfg.identity > 0) and style_stream is None:
        raise ValueError("the adversarial and identity terms need a style_stream of synthetic eyes")


class PurifyTrainer:
    """Owns f_W, its optimizer, the objective with the style targets, checkpoints and summaries."""

    def __init__(
        self,
        cfg: PurifyTrainConfig,
        strategy: tf.distribute.Strategy,
        loss_network,
        source: ContentSource,
        style_image: np.ndarray,
        style_mask: np.ndarray | None,
        mask_fn: MaskFn | None = None,
        style_stream: ContentSource | None = None,
        monitor: Any = None,
        prior_images: np.ndarray | None = None,
        pair_source: ContentSource | None = None,
        gaze_reader: Any = None,
        pupil_network: Any = None,
    ) -> None:
        """``style_image`` is one style image (H, W, 3) (the paper) or a set (N, H, W, 3) of synthetic
        eyes, with its labels ``style_mask`` ((H, W) or (N, H, W)) when the loss is masked and
        ``mask_fn`` is None. The set gives the mean Grams (``style_mode="mean"``), the balanced
        layer weights and the luminance prior; with ``style_mode="per_batch"``, ``style_stream``
        yields a new style eye per content eye at every step. ``monitor`` (a
        :class:`~purify_tf.gaze.monitor.GazeMonitor`) scores gaze every ``eval_every`` steps.
        ``prior_images`` (default: the style set) are the synthetic eyes the luminance prior is
        fitted on; it needs no VGG pass, so it can be larger than the style set. ``pair_source``
        (default: the content eyes' own twins when ``source`` has them, otherwise renderer pairs)
        yields real eyes and their synthetic twins for ``cfg.paired``. ``gaze_reader``: the frozen
        gaze network of ``cfg.gaze`` (:func:`~purify_tf.training.gaze_reader.load_or_train_gaze_reader`).
        ``pupil_network``: the coarse FCN (logits) whose soft pupil centre ``cfg.pupil`` keeps.
        """
        _check_config(cfg, strategy, style_stream)
        self.cfg, self.strategy, self.source, self.mask_fn = cfg, strategy, source, mask_fn
        self.style_stream, self.monitor = style_stream, monitor
        self.model_dir = Path(cfg.model_dir)
        self.chief = is_chief(strategy)
        self._build_model_and_optimizer(loss_network)
        self._build_objective(loss_network, style_image, style_mask, prior_images, gaze_reader, pupil_network)
        self.critic = Critic(cfg, strategy, (source.height, source.width, 3)) if cfg.adversarial > 0 else None
        # Content eyes that come with their synthetic twins (renderer content) serve the paired term
        # themselves: one f_W pass and one loss-network pass per step instead of two.
        self.pairs_in_content = cfg.paired > 0 and pair_source is None and getattr(source, "twins", False)
        self.pair_source = pair_source
        if self.pair_source is None and cfg.paired > 0 and not self.pairs_in_content:
            self.pair_source = PairedRendererSource(source.height, source.width, seed=cfg.seed + 1,
                                                    eye_scale=cfg.pair_eye_scale)
        self.checkpoints = CheckpointKeeper(
            self.model_dir, cfg.keep_checkpoints, chief=self.chief, worker_id=worker_id(strategy),
            model=self.model, optimizer=self.optimizer, step=self.step,
            optional={"rng": self._rng_states(), **(self.critic.trackables() if self.critic else {}),
                      **({"nce_heads": self._nce_head_states()} if self.nce_heads else {})},
        )
        self.summaries = SummaryLogger(self.model_dir, "train", enabled=self.chief)
        self._build_step_functions()
        self.history: list[dict[str, float]] = []
        self.gaze_history: list[dict[str, float]] = []
        # Steps taken and wall seconds of the last ``train`` call (the trainer's closing line).
        self.last_run: dict[str, float] = {"steps": 0, "seconds": 0.0}

    def _build_model_and_optimizer(self, loss_network) -> None:
        """f_W (and PatchNCE's projection heads, which train with it), Adam (loss-scaled under mixed
        precision) and the step counter, in the strategy's scope."""
        cfg = self.cfg
        with self.strategy.scope():
            self.model = build_transformer(
                cfg.config, norm=cfg.norm, upsample=cfg.upsample, dropout_rate=cfg.dropout_rate,
                illumination=cfg.illumination, residual=cfg.residual, raw_beside=cfg.raw_beside,
                illumination_tone=cfg.illumination_tone,
            )
            self.front_end = front_end_of(self.model)  # fixed (no trainable weights); None without one
            self.nce_heads = build_nce_heads(loss_network, cfg.nce_layers) if cfg.patch_nce > 0 else {}
            # What the generator's update trains: f_W's weights, then the heads'.
            self.trained_variables = list(self.model.trainable_variables) + [
                v for head in self.nce_heads.values() for v in head.trainable_variables]
            self.optimizer = loss_scaled_adam(learning_rate_schedule(cfg.learning_rate, cfg.lr_schedule, cfg.train_steps))
            self.optimizer.build(self.trained_variables)
            self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
            if cfg.init_model:
                from purify_tf.model_io import load_keras_model
                from purify_tf.models.warm_start import copy_transformer_weights

                copied = copy_transformer_weights(load_keras_model(cfg.init_model), self.model,
                                                  source_name=f"--init_model={cfg.init_model}")
                logging.info("f_W starts from %s (%d weights)", cfg.init_model, copied)

    def _build_objective(self, loss_network, style_image, style_mask, prior_images, gaze_reader=None,
                         pupil_network=None) -> None:
        """The luminance prior (and the front end's copy of it), then the whole objective (perceptual
        and domain terms) with its style targets (:func:`~purify_tf.losses.objective.build_objective`)."""
        cfg = self.cfg
        images = np.asarray(style_image, np.float32)
        self.style_image = images[None] if images.ndim == 3 else images
        masks = None if style_mask is None else np.asarray(style_mask).reshape(self.style_image.shape[:3])
        self.luminance_prior: LuminancePrior | None = None
        if cfg.weights.gamma > 0 or cfg.illumination:
            self.luminance_prior = fit_luminance_prior(
                self.style_image if prior_images is None else np.asarray(prior_images)
            )
        if self.front_end is not None:
            self.front_end.set_prior(self.luminance_prior)
            if cfg.illumination_centre == "content":
                # A pure function of the source, like every batch: a resumed run gets the same centre.
                eyes = self.source.batch(PREVIEW_STEP + 1, CENTRE_EYES)["image"]
                self.front_end.set_centre(mean_coarse_map(eyes))
        self.objective, self.targets = build_objective(
            loss_network, cfg.weights, use_masks=cfg.use_masks, layer_weighting=cfg.layer_weighting,
            style_images=self.style_image, style_masks=masks, mask_fn=self.mask_fn,
            luminance_prior=self.luminance_prior, domain=DomainWeights.from_settings(cfg), gaze_network=gaze_reader,
            pupil_network=pupil_network, nce_heads=self.nce_heads,
        )

    def _build_step_functions(self) -> None:
        """The gradient computation is XLA-compiled as a nested function. Synchronised batch norm
        needs a cross-replica merge, which a nested function cannot contain, so with several
        replicas and batch norm it stays part of the outer (non-XLA) step function."""
        cfg, strategy = self.cfg, self.strategy
        syncs = strategy.num_replicas_in_sync > 1 and cfg.norm == "batch"
        if cfg.jit_compile and syncs:
            logging.warning("--jit_compile is not applied: batch norm is synchronised across %d replicas "
                            "(PurifyTrainConfig(norm=\"instance\") compiles)", strategy.num_replicas_in_sync)
        if cfg.jit_compile and not syncs:
            self._grad_fn = tf.function(self.gradients, jit_compile=True, reduce_retracing=True, autograph=False)
        else:
            self._grad_fn = self.gradients
        # No data-dependent Python control flow in the step: autograph would only re-write the
        # objective's code at every trace (most of the tracing time).
        self._step_fn = tf.function(self._distributed_step, autograph=False)

    def _rng_states(self) -> tf.Module:
        """Dropout's random-stream counters, which ``tf.train.Checkpoint`` does not reach through
        the Keras model: without them a resumed run draws other dropout masks than an
        uninterrupted one and ends with different weights."""
        rng = tf.Module()
        rng.states = [v for v in self.model.variables if v.path.endswith("seed_generator_state")]
        return rng

    def _nce_head_states(self) -> tf.Module:
        """PatchNCE's heads in the checkpoint: a resumed run goes on with the heads it trained."""
        heads = tf.Module()
        heads.weights = [v for head in self.nce_heads.values() for v in head.variables]
        return heads

    # ------------------------------------------------------------------ step functions
    def content_masks(self, images: tf.Tensor, masks: tf.Tensor) -> tf.Tensor:
        """Masks S[I] for the loss: the FCN's (with the orphan fix) or the source's oracle masks."""
        return masks if self.mask_fn is None else tf.cast(self.mask_fn(images), tf.int32)

    def loss_contents(self, images: tf.Tensor) -> tf.Tensor:
        """The content the loss compares with: the front end's normalised image when there is one
        (otherwise the content loss would pull the shadows back in)."""
        return images if self.front_end is None else self.front_end(images)

    def loss_inputs(self, images: tf.Tensor, masks: tf.Tensor, style=None, style_masks=None):
        """(content masks, style targets, contents) of the objective for one batch."""
        masks = self.content_masks(images, masks)
        targets = self.targets
        if style is not None:
            targets = self.objective.style_targets(style, self.content_masks(style, style_masks))
        return masks, targets, self.loss_contents(images)

    def generator_inputs(self, batch: dict[str, tf.Tensor]) -> tf.Tensor:
        """Content eyes, then synthetic eyes (identity), then pair eyes (paired; none when the content
        eyes are their own pairs), in one batch: f_W runs once per step and batch norm sees one batch."""
        parts = [batch["image"]]
        if self.objective.domain.identity > 0:
            parts.append(batch["synthetic"])
        if self.objective.domain.paired > 0 and not self.pairs_in_content:
            parts.append(batch["pair"])
        return tf.concat(parts, axis=0) if len(parts) > 1 else batch["image"]

    def paired_targets(self, batch: dict[str, tf.Tensor]) -> dict[str, tf.Tensor] | None:
        """The paired term's targets: the twins, at the colour moments of the pair eyes as the front
        end leaves them for the structure target. None without the paired term."""
        domain = self.objective.domain
        if domain.paired <= 0:
            return None
        eyes, twins = ("image", "twin") if self.pairs_in_content else ("pair", "pair_twin")
        reference = None  # only the structure target reads the eyes' moments
        if domain.paired_target == "structure":
            reference = self.loss_contents(batch[eyes])
        return self.objective.paired_targets(batch[twins], reference)

    def step_seed(self) -> tf.Tensor:
        """Stateless seed of this step: (seed, step), so a resumed run draws what a straight one does."""
        return tf.stack([tf.cast(self.cfg.seed, tf.int64), tf.cast(self.step, tf.int64)])

    def gradients(self, batch: dict[str, tf.Tensor], seed: tf.Tensor | None = None):
        """One replica's share: forward -> named loss terms -> f_W's gradients, and the critic's.

        Returns (the gradients of ``trained_variables``, the critic's ([] without one), ``{term: value}``, purified content eyes).
        """
        images, n = batch["image"], tf.shape(batch["image"])[0]
        seed = self.step_seed() if seed is None else seed
        masks, targets, contents = self.loss_inputs(images, batch["mask"], batch.get("style"), batch.get("style_mask"))
        pair_targets = self.paired_targets(batch)  # no gradient flows into the targets
        with tf.GradientTape() as tape:
            outputs = self.model(self.generator_inputs(batch), training=True)
            purified, synthetic_out, pair_out = self._split_outputs(outputs, n)
            # D reads its own slice of the outputs: f_W's gradient then adds D's part to the objective's
            # in the order it always has (float32 sums; training stays bit for bit what it was).
            scores = None if self.critic is None else self.critic(outputs[:n])
            terms = self.objective(purified, contents, masks, targets, critic_scores=scores,
                                   identity=(synthetic_out, batch.get("synthetic")),
                                   paired=(pair_out, pair_targets),
                                   seed=tf.random.experimental.stateless_fold_in(seed, NCE_SEED_SALT))
            loss = replica_loss(terms["total"], self.optimizer, self.strategy.num_replicas_in_sync)
        grads = tape.gradient(loss, self.trained_variables)
        critic_grads: list = []
        if self.critic is not None:
            critic_grads, critic_terms = self.critic.gradients(purified, images, batch["synthetic"], seed)
            terms = {**terms, SCORE_PREFIX + "purified": tf.reduce_mean(tf.cast(scores, tf.float32)), **critic_terms}
        return grads, critic_grads, terms, purified

    def _split_outputs(self, outputs: tf.Tensor, n: tf.Tensor):
        """(content, synthetic, pair) parts of f_W's outputs over ``generator_inputs``."""
        domain = self.objective.domain
        if not domain.active():
            return outputs, None, None
        synthetic = outputs[n:2 * n] if domain.identity > 0 else None
        # Content eyes that are their own pairs: None, which the objective reads as "the content outputs".
        pairs = None
        if domain.paired > 0 and not self.pairs_in_content:
            pairs = outputs[(2 * n if domain.identity > 0 else n):]
        return outputs[:n], synthetic, pairs

    def replica_step(self, batch: dict[str, tf.Tensor]):
        """Both updates on one replica's share of the batch; returns its terms and purified eyes."""
        replica = tf.distribute.get_replica_context().replica_id_in_sync_group
        seed = tf.random.experimental.stateless_fold_in(self.step_seed(), tf.cast(replica, tf.int32) + 1)
        grads, critic_grads, terms, purified = self._grad_fn(batch, seed)
        self.optimizer.apply_gradients(zip(grads, self.trained_variables, strict=True))
        if self.critic is not None:
            self.critic.optimizer.apply_gradients(zip(critic_grads, self.critic.network.trainable_variables, strict=True))
        return terms, purified

    def _distributed_step(self, batch) -> dict[str, tf.Tensor]:
        """Replica steps, the mean terms, and the global batch of purified eyes into the critic's history."""
        terms, purified = self.strategy.run(self.replica_step, args=(batch,))
        reduced = {k: self.strategy.reduce(tf.distribute.ReduceOp.MEAN, v, axis=None) for k, v in terms.items()}
        if self.critic is not None and self.critic.history is not None:
            seed = tf.random.experimental.stateless_fold_in(self.step_seed(), 0)
            self.critic.history.push(self.strategy.gather(purified, axis=0), seed)
        return reduced

    def train_step(self, batch) -> dict[str, float]:
        """One distributed update on a (distributed) global batch; returns the loss terms."""
        terms = self._step_fn(batch)
        self.step.assign_add(1)
        return {k: float(v) for k, v in terms.items()}

    # ------------------------------------------------------------------ loop
    def restore(self) -> int:
        self.checkpoints.restore_latest()
        return int(self.step.numpy())

    def distributed_dataset(self, start: int, end: int):
        stream = self.style_stream if self.cfg.style_mode == "per_batch" else None
        domain = self.objective.domain
        extras = {"synthetic": self.style_stream} if domain.adversarial > 0 or domain.identity > 0 else {}
        if domain.paired > 0 and not self.pairs_in_content:
            extras["pair"] = self.pair_source
        ds = step_dataset(self.source, self.cfg.batch_size, start, end, style_source=stream, extras=extras or None)
        return self.strategy.experimental_distribute_dataset(ds)

    def preview_batch(self, n: int = 4) -> dict[str, np.ndarray]:
        return self.source.batch(PREVIEW_STEP, n)

    def preview_grid(self, n: int = 4) -> np.ndarray:
        """content | content mask | output | style, one row per preview image, and a mask legend."""
        batch = self.preview_batch(n)
        images = tf.constant(batch["image"], tf.float32)
        masks = self.content_masks(images, tf.constant(batch["mask"], tf.int32)).numpy()
        outputs = self.model(images, training=False).numpy()
        style = cv2.resize(self.style_image[0], (images.shape[2], images.shape[1]), interpolation=cv2.INTER_AREA)
        style = np.repeat(style[None], len(outputs), axis=0)
        cols = [batch["image"], mask_to_rgb(masks), outputs, style]
        return image_grid(cols, max_rows=n, tile_height=None, gap=0, legend=True)

    def train(self, train_steps: int | None = None) -> list[dict[str, float]]:
        """Train until ``train_steps`` (resuming from the latest checkpoint); returns logged terms."""
        cfg = self.cfg
        total = cfg.train_steps if train_steps is None else train_steps
        started = time.perf_counter()
        start = self.restore()
        if start >= total:
            logging.info("Already trained to step %d (>= %d); nothing to do", start, total)
            return self.history
        logging.info("Training %s from step %d to %d (global batch %d)", self.model.name, start, total, cfg.batch_size)
        last_time, last_step = time.perf_counter(), start
        traced = False
        with StopSignal() as stop, StepProgress(total, start, cfg.progress, prefix="purifier ") as progress:
            for batch in take_batches(self.distributed_dataset(start, total), total - start):
                if not traced:
                    self.summaries.trace_on()
                terms = self.train_step(batch)
                step = int(self.step.numpy())
                if not traced:
                    self.summaries.trace_export(step)
                    traced = True
                if not all(math.isfinite(v) for v in terms.values()):
                    raise NonFiniteLossError(
                        f"the objective became non-finite at step {step}: {terms}. Training stopped; the last "
                        f"good checkpoint is {self.checkpoints.latest or 'none (no checkpoint was written yet)'}. "
                        "Lower --learning_rate or --beta, or check the input images."
                    )
                progress.update(step, {k: v for k, v in terms.items() if k != "tv"})
                if step % cfg.log_every == 0 or step == total:
                    now = time.perf_counter()
                    rate = (step - last_step) / max(now - last_time, 1e-9)
                    last_time, last_step = now, step
                    losses, scores = split_scores(terms)
                    self.summaries.scalars(step, losses, prefix="loss/")
                    self.summaries.scalars(step, scores, prefix="critic/")
                    lr = self.optimizer.learning_rate
                    self.summaries.scalars(step, {
                        "learning_rate": float(lr.numpy() if hasattr(lr, "numpy") else lr),
                        "steps_per_second": rate,
                        "images_per_second": rate * cfg.batch_size,
                    }, prefix="train/")
                    self.history.append({"step": step, **terms})
                if self.monitor is not None and cfg.eval_every and (step % cfg.eval_every == 0 or step == total):
                    scores = self.monitor(self.model)
                    self.summaries.scalars(step, scores, prefix="gaze/")
                    self.gaze_history.append({"step": step, "total": terms["total"], **scores})
                if self.chief and (step % cfg.image_every == 0 or step == total):
                    self.summaries.image(step, "content|mask|output|style", self.preview_grid())
                if self.chief and cfg.histogram_every and step % cfg.histogram_every == 0:
                    self.summaries.histograms(step, self.model.trainable_variables)
                if step % cfg.checkpoint_every == 0 or step == total or stop.requested:
                    self.checkpoints.save(step)
                if stop.requested:
                    logging.warning("Stopped at step %d; rerun the same command to resume", step)
                    break
        self.summaries.flush()
        self.last_run = {"steps": int(self.step.numpy()) - start, "seconds": time.perf_counter() - started}
        return self.history

    # ------------------------------------------------------------------ artefacts
    def metadata(self) -> dict:
        """How this purifier was made: architecture, the whole objective and the data settings."""
        from purify_tf.training.artefacts import training_metadata

        return training_metadata(self)

    def save_final(self, name: str = "purifier") -> dict[str, Path]:
        """Write ``<name>.keras``, ``<name>.json`` (metadata) and ``<name>_grid.png`` atomically."""
        from purify_tf.training.artefacts import save_final

        return save_final(self, name)


def format_seconds(seconds: float) -> str:
    """``42.1 s`` under a minute, else ``3 min 05 s``."""
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest:02d} s"


def describe_training_time(last_run: dict[str, float], fcn_seconds: float | None = None,
                           reader_seconds: float | None = None) -> str:
    """What this run's training took, so that a user sees what their CPU does: the wall time of the
    FCN stage (None: no FCN stage), of the gaze reader's fit (None: no gaze-consistency term) and of
    the purifier's, and the purifier's steps/s over its stage (tracing, evaluations and checkpoints
    included)."""
    steps, seconds = int(last_run["steps"]), float(last_run["seconds"])
    rate = steps / seconds if seconds > 0 else 0.0
    stages = [f"{name} {format_seconds(value)}" for name, value in
              (("FCN stage", fcn_seconds), ("gaze reader", reader_seconds)) if value is not None]
    stages.append(f"purifier {steps} steps in {format_seconds(seconds)}, {rate:.2f} steps/s")
    total = seconds + sum(value for value in (fcn_seconds, reader_seconds) if value is not None)
    return f"Trained in {format_seconds(total)} ({'; '.join(stages)})."


def describe_outputs(paths: dict[str, Path], model_dir: str | os.PathLike, timing: str = "") -> str:
    """The closing line: how long training took (``timing``, from ``describe_training_time``), where
    the outputs are and how to open TensorBoard."""
    listed = ", ".join(f"{k}: {v}" for k, v in paths.items())
    prefix = f"{timing} " if timing else ""
    return f"{prefix}Outputs in {model_dir} ({listed}). TensorBoard: tensorboard --logdir {model_dir}"
