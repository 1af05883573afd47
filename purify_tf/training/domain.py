"""The terms beyond the perceptual objective, and the critic's update in the same compiled step.

* **adversarial** (SimGAN, Shrivastava et al. 2017, with least-squares scores): a local patch
  critic D (:mod:`purify_tf.models.critic`) learns to tell synthetic eyes (target 1) from purified
  real ones (target 0; half of its batch from the history of earlier purified eyes,
  :mod:`purify_tf.training.history`), and f_W is pulled towards outputs D scores as synthetic.
  Gram statistics sum over positions; D sees cast shadows, glints and local contrast.
* **identity**: a synthetic eye passed through f_W stays as it is (L1): the purifier learns what
  "already clean" looks like, and has no reason to redraw a clean eye.
* **paired**: on renderer pairs (a real-domain render and its synthetic twin, the same eye) the
  clean eye is known, so f_W is trained against it: L1 plus the VGG content error at the
  objective's global content layers (with its layer weights, a relative error like alpha's).
  The target is the exact twin or its structure at the front end's colour moments
  (``paired_target``, :mod:`purify_tf.losses.paired`).

f_W runs once per step on the content eyes, then the synthetic eyes (identity) and the pair eyes
(paired), concatenated, so batch norm sees one batch. Generator and critic gradients are taken
from the same critic weights (simultaneous updates, as in most TF2 GANs), then both applied.
With all weights 0 there is no ``DomainTerms`` and the step is the perceptual one, unchanged.
"""

from __future__ import annotations

from typing import Any

import keras
import tensorflow as tf

from purify_tf.losses.adversarial import lsgan_critic_loss, lsgan_generator_loss
from purify_tf.losses.content import global_content_loss
from purify_tf.losses.l1 import l1_loss
from purify_tf.losses.paired import paired_target
from purify_tf.models.critic import build_patch_critic, receptive_field
from purify_tf.training.history import ImageHistory

TERMS = ("adversarial", "identity", "paired")
SCORE_PREFIX = "score_"  # terms logged under critic/ (mean critic scores), not loss/


def _mean(x: tf.Tensor) -> tf.Tensor:
    return tf.reduce_mean(tf.cast(x, tf.float32))


def replica_loss(total: tf.Tensor, optimizer, replicas: int) -> tf.Tensor:
    """Each replica averages its share; dividing by the replica count makes the summed gradient
    the global-batch mean (and the loss is scaled under float16 loss scaling)."""
    loss = total / tf.cast(replicas, tf.float32)
    if isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
        loss = optimizer.scale_loss(loss)
    return loss


def split_scores(terms: dict[str, float]) -> tuple[dict[str, float], dict[str, float]]:
    """(loss terms, critic scores without their prefix): TensorBoard's loss/ and critic/ scalars."""
    scores = {k[len(SCORE_PREFIX):]: v for k, v in terms.items() if k.startswith(SCORE_PREFIX)}
    return {k: v for k, v in terms.items() if not k.startswith(SCORE_PREFIX)}, scores


class DomainTerms:
    """The weights, the critic with its Adam and history, and the step's extra computations."""

    def __init__(self, cfg: Any, strategy: tf.distribute.Strategy, objective, image_shape: tuple[int, int, int]):
        self.weights = {name: float(getattr(cfg, name)) for name in TERMS}
        self.paired_target = cfg.paired_target
        self.cfg, self.strategy, self.objective = cfg, strategy, objective
        self.critic = self.critic_optimizer = self.history = None
        if self.weights["adversarial"] > 0:
            with strategy.scope():
                self.critic = build_patch_critic(cfg.critic_filters, cfg.critic_layers)
                optimizer = keras.optimizers.Adam(cfg.critic_learning_rate, beta_1=0.5)
                if keras.mixed_precision.global_policy().name == "mixed_float16":
                    optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
                self.critic_optimizer = optimizer
                self.critic_optimizer.build(self.critic.trainable_variables)
                if cfg.history_size > 0:
                    self.history = ImageHistory(cfg.history_size, image_shape)

    @classmethod
    def from_config(cls, cfg: Any, strategy, objective, image_shape) -> DomainTerms | None:
        """The terms the config asks for; None when all their weights are 0."""
        return cls(cfg, strategy, objective, image_shape) if any(getattr(cfg, n) > 0 for n in TERMS) else None

    @property
    def needs_synthetic(self) -> bool:
        return self.weights["adversarial"] > 0 or self.weights["identity"] > 0

    def streams(self, synthetic, pairs) -> dict[str, Any]:
        """The extra input streams of the step dataset (see ``inputs.step_dataset``'s ``extras``)."""
        out = {"synthetic": synthetic} if self.needs_synthetic else {}
        return {**out, "pair": pairs} if self.weights["paired"] > 0 else out

    def trackables(self) -> dict[str, tf.Module]:
        """What a checkpoint must hold for a resumed run to continue exactly."""
        found = {"critic": self.critic, "critic_optimizer": self.critic_optimizer, "history": self.history}
        return {k: v for k, v in found.items() if v is not None}

    def describe(self) -> dict[str, Any]:
        """For the saved purifier's metadata."""
        out: dict[str, Any] = dict(self.weights)
        if self.weights["paired"] > 0:
            out["paired_target"] = self.paired_target
        if self.critic is not None:
            out["critic"] = {"filters": self.cfg.critic_filters, "layers": self.cfg.critic_layers,
                             "receptive_field_px": receptive_field(self.cfg.critic_layers),
                             "learning_rate": self.cfg.critic_learning_rate, "loss": "least squares",
                             "history_size": self.cfg.history_size}
        return out

    # ------------------------------------------------------------------ generator side
    def generator_inputs(self, images: tf.Tensor, extra: dict[str, tf.Tensor]) -> tf.Tensor:
        """Content eyes, then synthetic eyes (identity), then pair eyes (paired), in one batch."""
        parts = [images]
        if self.weights["identity"] > 0:
            parts.append(extra["synthetic"])
        if self.weights["paired"] > 0:
            parts.append(extra["pair"])
        return tf.concat(parts, axis=0) if len(parts) > 1 else images

    def paired_loss(self, outputs: tf.Tensor, twins: tf.Tensor, reference: tf.Tensor | None = None) -> tf.Tensor:
        """L1 + the layer-weighted VGG content error against the twins (as ``paired_target`` makes
        them from ``reference``, the pair eyes as the front end leaves them), per image (B,)."""
        n = tf.shape(outputs)[0]
        twins = paired_target(twins, twins if reference is None else reference, self.paired_target)
        features = self.objective.loss_network(tf.concat([tf.cast(outputs, tf.float32), twins], axis=0))
        content = tf.zeros([n], tf.float32)
        for name in self.objective.weights.layers["global_content"]:
            f = tf.cast(features[name], tf.float32)
            content += self.objective.weights.layer_weight("global_content", name) * global_content_loss(f[:n], f[n:])
        return l1_loss(outputs, twins) + content

    def add_generator_terms(self, terms: dict, outputs_all: tf.Tensor, n: tf.Tensor, extra: dict,
                            front_end: Any = None) -> dict:
        """The perceptual ``terms`` with the domain terms added (``total``: what f_W minimises;
        ``perceptual``: the perceptual objective alone) and D's mean score on the purified eyes.
        ``front_end`` (f_W's fixed front end, if any) gives the paired target's colour moments."""
        out = {**terms, "perceptual": terms["total"]}
        total, offset = terms["total"], n
        if self.critic is not None:
            scores = self.critic(outputs_all[:n], training=False)
            out["adversarial"] = _mean(lsgan_generator_loss(scores))
            out[SCORE_PREFIX + "purified"] = _mean(scores)
        if self.weights["identity"] > 0:
            out["identity"] = _mean(l1_loss(outputs_all[offset:offset + n], extra["synthetic"]))
            offset += n
        if self.weights["paired"] > 0:
            reference = None  # only the structure target reads the eyes' moments
            if self.paired_target == "structure":
                reference = extra["pair"] if front_end is None else front_end(extra["pair"])
            out["paired"] = _mean(self.paired_loss(outputs_all[offset:], extra["pair_twin"], reference))
        for name in TERMS:
            if name in out:
                total += self.weights[name] * out[name]
        out["total"] = total
        return out

    # ------------------------------------------------------------------ critic side
    def critic_gradients(self, purified: tf.Tensor, images: tf.Tensor, synthetic: tf.Tensor, seed: tf.Tensor):
        """D's gradients on (synthetic: 1, purified: 0), half the purified batch from the history
        once it holds a batch; and D's loss and mean scores on real / synthetic eyes."""
        purified = tf.stop_gradient(tf.cast(purified, tf.float32))
        n = tf.shape(purified)[0]
        fake = purified
        if self.history is not None:
            half = n // 2
            mixed = tf.concat([purified[:half], self.history.sample(n - half, seed)], axis=0)
            fake = tf.where(self.history.filled >= tf.cast(n, tf.int64), mixed, purified)
        with tf.GradientTape() as tape:
            scores = self.critic(tf.concat([synthetic, fake, images], axis=0), training=True)
            per_image = lsgan_critic_loss(scores[:n], scores[n:2 * n])
            loss = replica_loss(_mean(per_image), self.critic_optimizer, self.strategy.num_replicas_in_sync)
        grads = tape.gradient(loss, self.critic.trainable_variables)
        return grads, {"critic": _mean(per_image), SCORE_PREFIX + "synthetic": _mean(scores[:n]),
                       SCORE_PREFIX + "real": _mean(scores[2 * n:])}

    def gradients(self, trainer, images, masks, style, style_masks, extra, seed):
        """f_W's gradients on the whole objective, D's on its own loss, the terms and the purified
        content eyes (for the history)."""
        masks, targets, contents = trainer.loss_inputs(images, masks, style, style_masks)
        n = tf.shape(images)[0]
        with tf.GradientTape() as tape:
            outputs_all = trainer.model(self.generator_inputs(images, extra), training=True)
            terms = trainer.objective(outputs_all[:n], contents, masks, targets)
            terms = self.add_generator_terms(terms, outputs_all, n, extra, trainer.front_end)
            loss = replica_loss(terms["total"], trainer.optimizer, self.strategy.num_replicas_in_sync)
        grads = tape.gradient(loss, trainer.model.trainable_variables)
        outputs = outputs_all[:n]
        critic_grads: list = []
        if self.critic is not None:
            critic_grads, critic_terms = self.critic_gradients(outputs, images, extra["synthetic"], seed)
            terms = {**terms, **critic_terms}
        return grads, critic_grads, terms, outputs

    def replica_step(self, trainer, batch: dict[str, tf.Tensor]):
        """Both updates on one replica's share; returns its terms and purified eyes."""
        replica = tf.distribute.get_replica_context().replica_id_in_sync_group
        seed = tf.random.experimental.stateless_fold_in(self.step_seed(trainer), tf.cast(replica, tf.int32) + 1)
        extra = {k: batch[k] for k in ("synthetic", "pair", "pair_twin") if k in batch}
        grads, critic_grads, terms, outputs = trainer._grad_fn(
            batch["image"], batch["mask"], batch.get("style"), batch.get("style_mask"), extra, seed
        )
        trainer.optimizer.apply_gradients(zip(grads, trainer.model.trainable_variables, strict=True))
        if self.critic is not None:
            self.critic_optimizer.apply_gradients(zip(critic_grads, self.critic.trainable_variables, strict=True))
        return terms, outputs

    def step_seed(self, trainer) -> tf.Tensor:
        """Stateless seed of this step: (seed, step), so a resumed run draws what a straight one does."""
        return tf.stack([tf.cast(trainer.cfg.seed, tf.int64), tf.cast(trainer.step, tf.int64)])

    def distributed_step(self, trainer, batch) -> dict[str, tf.Tensor]:
        """Replica steps, the mean terms, and the global batch of purified eyes into the history."""
        terms, outputs = self.strategy.run(lambda b: self.replica_step(trainer, b), args=(batch,))
        reduced = {k: self.strategy.reduce(tf.distribute.ReduceOp.MEAN, v, axis=None) for k, v in terms.items()}
        if self.history is not None:
            seed = tf.random.experimental.stateless_fold_in(self.step_seed(trainer), 0)
            self.history.push(self.strategy.gather(outputs, axis=0), seed)
        return reduced
