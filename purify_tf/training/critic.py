"""The patch critic of the adversarial term: its network, its Adam, its history, its gradients.

SimGAN (Shrivastava et al. 2017) with least-squares scores: a local patch critic D
(:mod:`purify_tf.models.critic`) learns to tell synthetic eyes (target 1) from purified real ones
(target 0; half of its batch from the history of earlier purified eyes,
:mod:`purify_tf.training.history`), while the objective's adversarial term
(:mod:`purify_tf.losses.objective`) pulls f_W towards outputs D scores as synthetic. Gram
statistics sum over positions; D sees cast shadows, glints and local contrast.

This module computes; the trainer's step (:mod:`purify_tf.training.purify_loop`) applies both
updates. Generator and critic gradients are taken from the same critic weights (simultaneous
updates, as in most TF2 GANs).
"""

from __future__ import annotations

from typing import Any

import tensorflow as tf

from purify_tf.losses.adversarial import lsgan_critic_loss
from purify_tf.models.critic import build_patch_critic, receptive_field
from purify_tf.training.history import ImageHistory
from purify_tf.training.strategy import loss_scaled_adam, replica_loss

SCORE_PREFIX = "score_"  # terms logged under critic/ (mean critic scores), not loss/


def _mean(x: tf.Tensor) -> tf.Tensor:
    return tf.reduce_mean(tf.cast(x, tf.float32))


def split_scores(terms: dict[str, float]) -> tuple[dict[str, float], dict[str, float]]:
    """(loss terms, critic scores without their prefix): TensorBoard's loss/ and critic/ scalars."""
    scores = {k[len(SCORE_PREFIX):]: v for k, v in terms.items() if k.startswith(SCORE_PREFIX)}
    return {k: v for k, v in terms.items() if not k.startswith(SCORE_PREFIX)}, scores


class Critic:
    """D, its Adam (beta_1 0.5) and its history of purified eyes, built in the strategy's scope."""

    def __init__(self, cfg: Any, strategy: tf.distribute.Strategy, image_shape: tuple[int, int, int]):
        self.cfg, self.strategy = cfg, strategy
        self.history: ImageHistory | None = None
        with strategy.scope():
            self.network = build_patch_critic(cfg.critic_filters, cfg.critic_layers)
            self.optimizer = loss_scaled_adam(cfg.critic_learning_rate, beta_1=0.5)
            self.optimizer.build(self.network.trainable_variables)
            if cfg.history_size > 0:
                self.history = ImageHistory(cfg.history_size, image_shape)

    def __call__(self, images: tf.Tensor) -> tf.Tensor:
        """D's per-patch scores of ``images`` (as the generator's adversarial term reads them)."""
        return self.network(images, training=False)

    def trackables(self) -> dict[str, tf.Module]:
        """What a checkpoint must hold for a resumed run to continue exactly (the keys are the
        checkpoint's: ``critic``, ``critic_optimizer``, ``history``)."""
        found = {"critic": self.network, "critic_optimizer": self.optimizer, "history": self.history}
        return {k: v for k, v in found.items() if v is not None}

    def describe(self) -> dict[str, Any]:
        """For the saved purifier's metadata."""
        cfg = self.cfg
        return {"filters": cfg.critic_filters, "layers": cfg.critic_layers,
                "receptive_field_px": receptive_field(cfg.critic_layers),
                "learning_rate": cfg.critic_learning_rate, "loss": "least squares",
                "history_size": cfg.history_size}

    def gradients(self, purified: tf.Tensor, images: tf.Tensor, synthetic: tf.Tensor, seed: tf.Tensor):
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
            scores = self.network(tf.concat([synthetic, fake, images], axis=0), training=True)
            per_image = lsgan_critic_loss(scores[:n], scores[n:2 * n])
            loss = replica_loss(_mean(per_image), self.optimizer, self.strategy.num_replicas_in_sync)
        grads = tape.gradient(loss, self.network.trainable_variables)
        return grads, {"critic": _mean(per_image), SCORE_PREFIX + "synthetic": _mean(scores[:n]),
                       SCORE_PREFIX + "real": _mean(scores[2 * n:])}
