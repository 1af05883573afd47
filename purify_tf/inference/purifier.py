"""``Purifier``: one ``purify(uint8 images) -> uint8 images`` API over a .keras model or a SavedModel.

Any image size works (reflect-pad to a multiple of 4 and crop back); images of mixed sizes are
grouped by size and run in batches (``batch_size``, or by default as many as fit
``BATCH_PIXELS``: 64 eye crops, or one 512x512 image). A ``.keras`` model runs its inference graph
(``fold_for_inference``: batch norm folded, dropout gone) through the same ``ServingModule`` that
``export.saved_model`` exports, so local and served outputs agree; or through LiteRT / OpenVINO
(``runtime``, :mod:`purify_tf.inference.runtimes`).
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf
from absl import logging

from purify_tf.errors import ConfigError, DataError
from purify_tf.inference.serving import SIGNATURE_UINT8, ServingLimits, ServingModule
from purify_tf.model_io import load_keras_model, resolve_saved_model_dir

# Default batch: as many images as fit this many pixels (64 crops of 36x60 -- the best eye batch in
# docs/BENCHMARKS.md -- or one 512x512 image), at most MAX_AUTO_BATCH.
BATCH_PIXELS = 64 * 36 * 60
MAX_AUTO_BATCH = 64
# XLA (``jit``): the network compiled per input shape, its pads, slices and interleaves fused
# around the convolutions (float32: faster than the Eigen graph at 256 and up, and than oneDNN's
# graph at batch 1; docs/BENCHMARKS.md). A compile costs seconds, so ``auto`` compiles a shape the
# JIT_AFTER-th time it runs (a folder, a video or a stream of crops repeats its shape; a one-off
# size never pays it), and only for images of at least JIT_MIN_PIXELS: on batches of eye crops XLA
# buys nothing over Eigen and loses to oneDNN (docs/BENCHMARKS.md, ``peers``).
JIT_MODES = ("auto", "on", "off")
JIT_AFTER = 2
JIT_MIN_PIXELS = 128 * 128


def auto_batch_size(height: int, width: int) -> int:
    """Images per forward pass for one size when no batch size is given."""
    return max(1, min(MAX_AUTO_BATCH, BATCH_PIXELS // max(1, height * width)))


def _as_batch_list(images: Any) -> tuple[list[np.ndarray], str]:
    """Normalise the accepted inputs to a list of (H, W, 3) uint8 arrays and remember the form."""
    if isinstance(images, np.ndarray):
        if images.ndim == 4:
            return list(images), "batch"
        if images.ndim == 3:
            return [images], "single"
        raise DataError(f"images must be (N, H, W, 3) or (H, W, 3), got shape {images.shape}")
    if isinstance(images, Sequence):
        return [np.asarray(im) for im in images], "list"
    raise DataError(f"images must be a NumPy array or a list of arrays, got {type(images).__name__}")


class Purifier:
    """Purify uint8 RGB images with a trained transformer.

    ``model`` is a path to a ``.keras`` file, a SavedModel directory (``saved_model.pb`` inside, or
    the TF Serving ``<name>/`` directory whose latest numeric version is used), or a built Keras
    model. ``precision`` (``auto``, ``float32``, ``bfloat16``, ``mixed_bfloat16``, ``mixed_float16``)
    applies to Keras models; ``auto`` is bfloat16 (weights too) on CPUs with native bf16 where parity
    holds, else float32 (``runtimes.auto_precision``); a SavedModel runs in the precision it was
    exported with.
    ``runtime``: ``tensorflow``, or ``litert`` (float32) / ``openvino`` (``auto``: bfloat16 where native
    and within parity, else float32; ``runtimes.openvino_precision``) for Keras models; ``auto``: the
    measured-fastest installed runtime for this CPU (``runtimes.auto_runtime``; TensorFlow for a
    SavedModel or ``jit='on'``). ``self.runtime`` is the runtime that runs.
    ``self.precision`` is the precision that runs, once resolved.
    ``batch_size``: images per forward pass; ``None`` sizes batches by ``BATCH_PIXELS``.
    ``jit``: XLA for a ``.keras`` model on the TensorFlow runtime; ``auto`` (float32 only) compiles an
    image size of at least ``JIT_MIN_PIXELS`` once it repeats (``JIT_AFTER``), ``on`` always, ``off``
    never.
    """

    def __init__(
        self,
        model: Any,
        batch_size: int | None = None,
        limits: ServingLimits | None = None,
        precision: str = "auto",
        runtime: str = "tensorflow",
        jit: str = "auto",
    ) -> None:
        from purify_tf.inference.runtimes import RUNTIME_CHOICES, auto_runtime
        from purify_tf.models.transformer import PRECISIONS

        if batch_size is not None and batch_size < 1:
            raise ConfigError(f"batch_size must be a positive integer, got {batch_size}")
        if precision != "auto" and precision not in PRECISIONS:
            raise ConfigError(f"precision must be auto or one of {PRECISIONS}, got {precision!r}")
        if runtime not in RUNTIME_CHOICES:
            raise ConfigError(f"runtime must be one of {RUNTIME_CHOICES}, got {runtime!r}")
        if jit not in JIT_MODES:
            raise ConfigError(f"jit must be one of {JIT_MODES}, got {jit!r}")
        self.jit = jit
        self._jit_fn: Any = None
        self._shape_runs: dict[tuple[int, ...], int] = defaultdict(int)
        self.precision = precision
        self.runtime = runtime
        self.batch_size = None if batch_size is None else int(batch_size)
        self.source = str(model) if isinstance(model, (str, os.PathLike)) else type(model).__name__
        if runtime == "auto":
            keras_model = not isinstance(model, (str, os.PathLike)) or Path(model).is_file()
            # Only TensorFlow runs a SavedModel, XLA, and the mixed / float16 precisions.
            tf_only = jit == "on" or precision not in ("auto", "float32", "bfloat16")
            self.runtime = auto_runtime() if keras_model and not tf_only else "tensorflow"
        runtime = self.runtime
        if isinstance(model, (str, os.PathLike)):
            path = Path(model)
            if not path.exists():
                raise ConfigError(f"model path {path} does not exist")
            if path.is_file():
                self._fn = self._keras_fn(load_keras_model(path), limits)
                self.kind = "keras"
            else:
                if runtime != "tensorflow":
                    raise ConfigError(f"runtime {runtime!r} needs a .keras model, got the SavedModel {path}")
                if precision not in ("auto", "float32"):
                    raise ConfigError(
                        f"precision {precision!r} needs a .keras model; the SavedModel {path} runs "
                        "in the precision it was exported with"
                    )
                if jit == "on":
                    raise ConfigError(f"jit='on' needs a .keras model; the SavedModel {path} runs as exported")
                self._fn = self._saved_model_fn(resolve_saved_model_dir(path))
                self.kind = "saved_model"
        else:
            self._fn = self._keras_fn(model, limits)
            self.kind = "keras"

    def _keras_fn(self, model: Any, limits: ServingLimits | None) -> Any:
        from purify_tf.inference.runtimes import TFLiteRunner, auto_precision
        from purify_tf.models.inference_graph import fold_for_inference
        from purify_tf.models.transformer import with_precision

        if self.runtime != "tensorflow":
            if self.jit == "on":
                raise ConfigError(f"jit='on' compiles with XLA on the tensorflow runtime, not {self.runtime!r}")
            runner = TFLiteRunner(model, self.runtime, precision=self.precision)
            self.precision = runner.precision
            return lambda images: {"images": runner(images.numpy())}
        if self.precision == "auto":
            self.precision = auto_precision(model)
        # Folded in float32 first (batch-norm statistics folded in bfloat16 would lose precision),
        # then cast to the compute precision.
        try:
            model = fold_for_inference(model)
        except ValueError as exc:  # not a build_transformer model: run it as it is
            logging.info("Running %s unfolded: %s", model.name, exc)
        if self.precision != "float32":
            model = with_precision(model, self.precision)
        # tf.function methods hold their instance weakly: keep the module alive here.
        self._module = ServingModule(model, limits)
        if self.jit == "on" or (self.jit == "auto" and self.precision == "float32"):
            self._jit_fn = self._module.xla_uint8()
        return self._module.serve_uint8

    def _saved_model_fn(self, directory: Path) -> Any:
        try:
            loaded = tf.saved_model.load(str(directory))
        except Exception as exc:
            raise ConfigError(f"cannot load the SavedModel in {directory}: {exc}") from exc
        self._loaded = loaded  # keep the variables alive
        if SIGNATURE_UINT8 not in loaded.signatures:
            raise ConfigError(f"the SavedModel in {directory} has no {SIGNATURE_UINT8!r} signature")
        signature = loaded.signatures[SIGNATURE_UINT8]
        _, kwargs = signature.structured_input_signature
        if len(kwargs) != 1:
            raise ConfigError(f"{directory}: expected one input in {SIGNATURE_UINT8}, got {list(kwargs)}")
        (name, spec), = kwargs.items()
        logging.info("Loaded SavedModel %s (input %r, %s)", directory, name, spec.dtype.name)

        self.precision = "float32"

        def run(images: tf.Tensor) -> dict[str, tf.Tensor]:
            outputs = signature(**{name: tf.cast(images, spec.dtype)})
            out = next(iter(outputs.values()))
            if out.dtype != tf.uint8:  # a float model exported elsewhere
                out = tf.cast(tf.clip_by_value(tf.round(out), 0, 255), tf.uint8)
            return {"images": out}

        return run

    def _run(self, batch: np.ndarray) -> np.ndarray:
        fn = self._fn
        if self._jit_fn is not None:
            self._shape_runs[batch.shape] += 1
            large = batch.shape[1] * batch.shape[2] >= JIT_MIN_PIXELS
            if self.jit == "on" or (large and self._shape_runs[batch.shape] >= JIT_AFTER):
                fn = self._jit_fn
        out = next(iter(fn(tf.constant(batch)).values()))
        return out if isinstance(out, np.ndarray) else out.numpy()

    def batch_size_for(self, height: int, width: int) -> int:
        """Images per forward pass at this size."""
        return self.batch_size or auto_batch_size(height, width)

    def purify(self, images: Any) -> Any:
        """uint8 (N, H, W, 3) -> uint8 (N, H, W, 3); also (H, W, 3) -> (H, W, 3), and a list of
        arrays of mixed sizes -> a list in the same order."""
        items, form = _as_batch_list(images)
        for i, im in enumerate(items):
            if im.ndim != 3 or im.shape[-1] != 3:
                raise DataError(f"image {i} must be (H, W, 3) RGB, got shape {im.shape}")
            if im.dtype != np.uint8:
                raise DataError(f"image {i} must be uint8, got {im.dtype}")
        results: list[np.ndarray | None] = [None] * len(items)
        groups: dict[tuple[int, int], list[int]] = defaultdict(list)
        for i, im in enumerate(items):
            groups[im.shape[:2]].append(i)
        for (height, width), indices in groups.items():
            step = self.batch_size_for(height, width)
            for start in range(0, len(indices), step):
                chunk = indices[start : start + step]
                out = self._run(np.stack([items[i] for i in chunk]))
                for i, o in zip(chunk, out, strict=True):
                    results[i] = o
        if form == "batch":
            return np.stack(results) if results else np.array(images, copy=True)
        if form == "single":
            return results[0]
        return results
