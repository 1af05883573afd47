"""The one tf.data input path: training streams whose every batch is a pure function of (seed, step).

Making a batch depend only on the step means a resumed run sees exactly the data it would have
seen without the interruption: the checkpointed step *is* the data position. Sources are either the
built-in renderer (fresh eyes every step) or arrays loaded by any reader (reshuffled each epoch
with a seed derived from the epoch).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Protocol

import numpy as np
import tensorflow as tf

from purify_tf.data.image_io import resize_images
from purify_tf.errors import DataError

# Steps at or above this index are reserved for fixed preview batches (never used in training).
PREVIEW_STEP = 2**40


class ContentSource(Protocol):
    """Anything that yields the batch for a step: ``{"image": uint8 (B,H,W,3), "mask": uint8 (B,H,W)}``."""

    height: int
    width: int
    has_masks: bool

    def batch(self, step: int, batch_size: int) -> dict[str, np.ndarray]: ...


def _step_seed(seed: int, step: int) -> int:
    return int(np.random.SeedSequence([int(seed), int(step)]).generate_state(1)[0])


class RendererSource:
    """Eyes from the built-in renderer in one appearance domain, with exact (oracle) masks."""

    has_masks = True

    def __init__(self, height: int, width: int, domain: str = "real", seed: int = 0, eye_scale: float = 1.0) -> None:
        self.height, self.width, self.domain, self.seed, self.eye_scale = height, width, domain, seed, eye_scale

    def batch(self, step: int, batch_size: int) -> dict[str, np.ndarray]:
        from purify_tf.data.renderer import render_eyes

        eyes = render_eyes(
            batch_size, height=self.height, width=self.width, domain=self.domain,
            seed=_step_seed(self.seed, step), eye_scale=self.eye_scale,
        )
        return {"image": eyes["image"], "mask": eyes["mask"]}


class PairedRendererSource:
    """Renderer eyes in pairs: the real-domain look (``image``, ``mask``) and its synthetic twin
    (``twin``), the same eye (geometry, gaze, labels) rendered with the same seed in both domains:
    the one place where the clean version of a "real" eye is known exactly."""

    has_masks = True
    twins = True

    def __init__(self, height: int, width: int, seed: int = 1, eye_scale: float = 1.0) -> None:
        self.height, self.width, self.seed, self.eye_scale = height, width, seed, eye_scale
        self.domain = "real -> synthetic twin"

    def batch(self, step: int, batch_size: int) -> dict[str, np.ndarray]:
        from purify_tf.data.renderer import render_eyes

        seed = _step_seed(self.seed, step)
        real, twin = (render_eyes(batch_size, height=self.height, width=self.width, domain=d, seed=seed,
                                  eye_scale=self.eye_scale) for d in ("real", "synthetic"))
        return {"image": real["image"], "mask": real["mask"], "twin": twin["image"], "twin_mask": twin["mask"],
                "gaze": real["gaze"], "twin_gaze": twin["gaze"]}


def renderer_content(height: int, width: int, seed: int = 0, twins: bool = False, eye_scale: float = 1.0) -> ContentSource:
    """The renderer's real-domain eyes as training content; with ``twins`` each comes with its
    synthetic twin (the same eyes either way: the twins are rendered beside them). ``eye_scale``
    draws them smaller (< 1) or larger in the crop."""
    if twins:
        return PairedRendererSource(height, width, seed=seed, eye_scale=eye_scale)
    return RendererSource(height, width, domain="real", seed=seed, eye_scale=eye_scale)


class ArraySource:
    """Images (and optional masks) already in memory, e.g. from a dataset reader.

    Each epoch is a fresh permutation seeded by (seed, epoch); batch ``step`` takes the next
    ``batch_size`` indices of the concatenated epochs, so it is reproducible from the step alone.
    """

    def __init__(
        self, images: np.ndarray, height: int, width: int, masks: np.ndarray | None = None, seed: int = 0
    ) -> None:
        images = np.asarray(images)
        if images.ndim == 3:
            images = images[..., None]
        if images.ndim != 4 or len(images) == 0:
            raise ValueError(f"ArraySource needs a non-empty (N, H, W, C) image array, got {images.shape}")
        if images.shape[-1] == 1:
            images = np.repeat(images, 3, axis=-1)
        images = images[..., :3]
        if images.dtype != np.uint8:
            # A plain astype wraps around (-5 -> 251, 300 -> 44) and turns NaN into garbage.
            if np.issubdtype(images.dtype, np.floating) and not np.isfinite(images).all():
                raise DataError("ArraySource: images hold non-finite (NaN or inf) pixel values")
            images = np.clip(np.rint(images), 0, 255).astype(np.uint8)
        self.images = resize_images(images, height, width)
        self.masks = None if masks is None else resize_images(np.asarray(masks, np.uint8), height, width, labels=True)
        self.height, self.width, self.seed = height, width, seed
        self.has_masks = masks is not None

    def _indices(self, start: int, count: int) -> np.ndarray:
        n = len(self.images)
        out = []
        pos = start
        while len(out) < count:
            epoch, offset = divmod(pos, n)
            perm = np.random.default_rng([self.seed, epoch]).permutation(n)
            take = perm[offset : offset + count - len(out)]
            out.extend(take.tolist())
            pos += len(take)
        return np.asarray(out)

    def batch(self, step: int, batch_size: int) -> dict[str, np.ndarray]:
        idx = self._indices(step * batch_size, batch_size)
        masks = self.masks[idx] if self.masks is not None else np.zeros((batch_size, self.height, self.width), np.uint8)
        return {"image": self.images[idx], "mask": masks}


def step_dataset(
    source: ContentSource, global_batch: int, start_step: int, end_step: int,
    style_source: ContentSource | None = None, extras: Mapping[str, ContentSource] | None = None,
) -> tf.data.Dataset:
    """tf.data stream of the global batches for steps [start_step, end_step), in order, prefetched.

    With ``style_source`` every batch also carries ``style`` / ``style_mask``: one style eye per
    content eye, also a pure function of the step. Each stream of ``extras`` adds ``<name>`` and
    ``<name>_mask`` (and ``<name>_twin`` from a paired source), e.g. the synthetic eyes of the
    domain critic and the renderer pairs (:mod:`purify_tf.training.critic`, :mod:`purify_tf.losses.objective`).
    """
    h, w = source.height, source.width
    named = {"": source, **({"style": style_source} if style_source is not None else {}), **dict(extras or {})}
    fields: list[tuple[str, str, str]] = []  # (stream name, its batch key, the dataset key)
    for name, src in named.items():
        for part in ("image", "mask", *(("twin",) if getattr(src, "twins", False) else ())):
            key = {"image": name, "mask": f"{name}_mask", "twin": f"{name}_twin"}[part]
            fields.append((name, part, key.lstrip("_") or part))

    def make(step: np.int64) -> tuple[np.ndarray, ...]:
        batches = {name: src.batch(int(step), global_batch) for name, src in named.items()}
        return tuple(batches[name][part].astype(np.int32 if part == "mask" else np.float32)
                     for name, part, _ in fields)

    def load(step: tf.Tensor) -> dict[str, tf.Tensor]:
        types = tuple(tf.int32 if part == "mask" else tf.float32 for _, part, _ in fields)
        parts = tf.numpy_function(make, [step], types, stateful=False)
        for (_, part, _), tensor in zip(fields, parts, strict=True):
            tensor.set_shape((global_batch, h, w) if part == "mask" else (global_batch, h, w, 3))
        return {key: tensor for (_, _, key), tensor in zip(fields, parts, strict=True)}

    ds = tf.data.Dataset.range(start_step, end_step)
    ds = ds.map(load, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return ds.with_options(options).prefetch(tf.data.AUTOTUNE)


def take_batches(batches: Iterable, count: int) -> Iterator:
    """Exactly ``count`` batches of ``batches`` (fewer if it ends first), without asking it for more.

    A loop that knows its step count stops by itself: a one-replica MirroredStrategy iterator took
    5 to 62 s to report the end of its sequence on a 2-core AVX2 CPU (idle, after the last step), a
    wait every training stage paid while the trainers used it (docs/BENCHMARKS.md, "Native AVX2")."""
    iterator = iter(batches)
    for _ in range(max(int(count), 0)):
        try:
            yield next(iterator)
        except StopIteration:
            return


class MixedSource:
    """Concatenates equal shares of several sources per batch (e.g. both renderer domains for the FCN)."""

    def __init__(self, sources: list[ContentSource]) -> None:
        if not sources:
            raise ValueError("MixedSource needs at least one source")
        self.sources = sources
        self.height, self.width = sources[0].height, sources[0].width
        self.has_masks = all(s.has_masks for s in sources)

    def batch(self, step: int, batch_size: int) -> dict[str, np.ndarray]:
        shares = np.diff(np.linspace(0, batch_size, len(self.sources) + 1).round().astype(int))
        parts = [s.batch(step, int(k)) for s, k in zip(self.sources, shares, strict=True) if k > 0]
        return {key: np.concatenate([p[key] for p in parts]) for key in ("image", "mask")}
