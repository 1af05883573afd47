"""SimGAN's history of purified images (Shrivastava et al. 2017, section 2.3).

Why: a critic that only sees the purifier's latest outputs forgets the artefacts it penalised
earlier, and the purifier can cycle back to them. Half of each critic batch of purified eyes is
drawn from a buffer of earlier outputs once the buffer holds enough of them.

The buffer is a ``tf.Module`` of fixed-size variables (the images, stored as float16 to halve the
checkpoint, and a count of the images ever stored), updated with tf ops inside the compiled
training step, so ``tf.train.Checkpoint`` saves and restores it. Its randomness is stateless,
seeded by the caller (the trainer passes (seed, step)): a resumed run draws and replaces exactly
the images an uninterrupted one does.
"""

from __future__ import annotations

import tensorflow as tf

STORE_DTYPE = tf.float16  # RGB [0, 255]: 0.125 grey levels of precision at 255


class ImageHistory(tf.Module):
    """A buffer of ``capacity`` images of shape ``image_shape`` (H, W, C).

    ``push`` fills the empty slots in order, then replaces distinct random slots; ``sample``
    draws images with replacement from the filled part.
    """

    def __init__(self, capacity: int, image_shape: tuple[int, int, int], name: str = "history") -> None:
        super().__init__(name=name)
        if capacity < 1:
            raise ValueError(f"ImageHistory needs capacity >= 1, got {capacity}")
        self.capacity = int(capacity)
        self.images = tf.Variable(tf.zeros((self.capacity, *image_shape), STORE_DTYPE), trainable=False,
                                  name="images")
        self.pushed = tf.Variable(0, dtype=tf.int64, trainable=False, name="pushed")

    @property
    def filled(self) -> tf.Tensor:
        """How many slots hold an image (int64 scalar)."""
        return tf.minimum(self.pushed, self.capacity)

    def slots(self, count: int | tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
        """Where ``count`` (<= capacity) new images go: the next empty slots, then distinct random
        slots among those filled before this push (never two images in one slot)."""
        pushed = tf.cast(tf.minimum(self.pushed, self.capacity), tf.int32)
        index = tf.range(count, dtype=tf.int32)
        order = pushed + index
        filled_first = tf.where(tf.range(self.capacity) < pushed, tf.random.stateless_uniform([self.capacity], seed), 2.0)
        rank = tf.clip_by_value(index - (self.capacity - pushed), 0, self.capacity - 1)
        return tf.where(order < self.capacity, order, tf.gather(tf.argsort(filled_first), rank))

    def push(self, images: tf.Tensor, seed: tf.Tensor) -> tf.Operation:
        """Store ``images`` (N, H, W, C) in the buffer (with N > capacity, only the last ones)."""
        images = images[-self.capacity:]
        count = tf.shape(images)[0]
        slots = self.slots(count, seed)
        updated = tf.tensor_scatter_nd_update(self.images, slots[:, None], tf.cast(images, STORE_DTYPE))
        with tf.control_dependencies([self.images.assign(updated)]):
            return self.pushed.assign_add(tf.cast(count, tf.int64))

    def sample(self, count: int, seed: tf.Tensor) -> tf.Tensor:
        """``count`` float32 images drawn uniformly (with replacement) from the filled slots;
        zeros while the buffer is empty."""
        high = tf.maximum(tf.cast(self.filled, tf.int32), 1)
        index = tf.random.stateless_uniform([count], seed=seed, minval=0, maxval=high, dtype=tf.int32)
        return tf.cast(tf.gather(self.images, index), tf.float32)
