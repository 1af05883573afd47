"""The serving graph: input checks, pad-to-4 and crop-back, rounding, and the three signatures.

The same ``tf.Module`` is exported as the SavedModel (``export.saved_model``) and used in-process by
``Purifier`` for ``.keras`` models, so a served model and a local one compute the same thing.

Serving boundary. A server must answer a bad request with an error, never crash or run out of
memory, so every signature checks its input before the network runs and fails with an
``InvalidArgumentError`` whose message starts with ``purify_tf serving:`` and says what was expected:

* rank 4 ``(N, H, W, 3)`` (rank 1 ``(N,)`` of encoded images for ``predict_bytes``);
* exactly 3 channels (RGB: convert grayscale / RGBA first; ``predict_bytes`` does it itself);
* a non-empty batch, and each side ``>= min_side`` (default ``MIN_SIDE`` = 4, which also rules out
  zero-size images);
* ``H * W <= max_image_pixels`` (default ``MAX_IMAGE_PIXELS`` = 4096 * 4096) and
  ``N * H * W <= max_batch_pixels`` (default ``MAX_BATCH_PIXELS`` = 4 * 4096 * 4096): the network's
  activations take about 1 KB per pixel, so these bound a request's memory to a few GB;
* finite values for the float signature (inputs are then clipped to [0, 255]);
* for encoded images, the size in the PNG/JPEG header is checked *before* decoding (a small file
  can declare a huge image).
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import keras
import tensorflow as tf

from purify_tf.models.transformer import crop_back, pad_to_multiple

MIN_SIDE = 4
MAX_IMAGE_PIXELS = 4096 * 4096
MAX_BATCH_PIXELS = 4 * 4096 * 4096
ERROR_PREFIX = "purify_tf serving:"
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_JPEG_SIGNATURE = b"\xff\xd8"
_SUMMARIZE = 8  # Assert prints this many entries of each tensor (a shape has at most a few)

SIGNATURE_UINT8 = "serving_default"
SIGNATURE_FLOAT = "predict_float"
SIGNATURE_BYTES = "predict_bytes"
INPUT_UINT8 = "images"
INPUT_FLOAT = "images"
INPUT_BYTES = "images_bytes"
OUTPUT_UINT8 = "images"
OUTPUT_FLOAT = "images"
# TF Serving's REST API base64-encodes string outputs whose name ends in "_bytes".
OUTPUT_BYTES = "png_bytes"


@dataclasses.dataclass(frozen=True)
class ServingLimits:
    """Input limits enforced by every signature (see the module docstring)."""

    min_side: int = MIN_SIDE
    max_image_pixels: int = MAX_IMAGE_PIXELS
    max_batch_pixels: int = MAX_BATCH_PIXELS

    def __post_init__(self) -> None:
        if self.min_side < 3:
            # Reflection padding to a multiple of 4 needs at least 3 pixels per side.
            raise ValueError(f"min_side must be >= 3, got {self.min_side}")
        if self.max_image_pixels < self.min_side**2:
            raise ValueError(f"max_image_pixels must be >= min_side**2, got {self.max_image_pixels}")
        if self.max_batch_pixels < self.max_image_pixels:
            raise ValueError(
                f"max_batch_pixels ({self.max_batch_pixels}) must be >= max_image_pixels "
                f"({self.max_image_pixels})"
            )


def _assert(condition: tf.Tensor, *message: Any) -> tf.Operation:
    return tf.debugging.Assert(condition, [ERROR_PREFIX, *message], summarize=_SUMMARIZE)


class _Checks:
    """A chain of assertions where each one only fires if all earlier ones held.

    Control dependencies alone do not order a failing check before a later op that would crash on
    the same bad input (e.g. indexing the 4th dimension of a rank-3 tensor), so each condition is
    computed on safe values and gated on the earlier ones: exactly the first failure is reported.
    """

    def __init__(self, skip: tf.Tensor | bool = False) -> None:
        self.skipped = tf.convert_to_tensor(skip, tf.bool)
        self.all_ok = tf.logical_not(self.skipped)
        self.ops: list[tf.Operation] = []

    def add(self, ok: tf.Tensor, *message: Any) -> None:
        self.ops.append(_assert(tf.logical_or(tf.logical_not(self.all_ok), ok), *message))
        self.all_ok = tf.logical_and(self.all_ok, ok)


class _PassIf:
    """View of a skippable ``_Checks`` for ``_gate``: passes when skipped or when all held."""

    def __init__(self, checks: _Checks) -> None:
        self.ops = checks.ops
        self.all_ok = tf.logical_or(checks.skipped, checks.all_ok)


def _add_size_checks(checks: _Checks, h: tf.Tensor, w: tf.Tensor, limits: ServingLimits, what: str) -> None:
    hw = tf.stack([h, w])
    checks.add((h > 0) & (w > 0), f"{what} has zero size, (height, width) =", hw)
    checks.add(
        (h >= limits.min_side) & (w >= limits.min_side),
        f"{what} sides must be >= {limits.min_side} pixels, got (height, width) =",
        hw,
    )
    checks.add(
        h * w <= limits.max_image_pixels,
        f"{what} is too large: height * width must be <= {limits.max_image_pixels}, "
        "got (height, width) =",
        hw,
    )


def check_batch(images: tf.Tensor, limits: ServingLimits) -> tf.Tensor:
    """Validate an image batch of unknown rank; returns it with static shape (None, None, None, 3)."""
    raw_shape = tf.shape(images, out_type=tf.int64)
    # Padded to 4 entries so that indexing is safe whatever the rank; the rank check fires first.
    shape = tf.concat([raw_shape, tf.ones([4], tf.int64)], axis=0)[:4]
    n, h, w, c = shape[0], shape[1], shape[2], shape[3]
    checks = _Checks()
    checks.add(
        tf.equal(tf.size(raw_shape), 4),
        "images must be a 4-D batch (N, height, width, 3), got shape",
        raw_shape,
    )
    checks.add(
        tf.equal(c, 3),
        "images must have 3 channels (RGB; convert grayscale or RGBA first), got shape",
        raw_shape,
    )
    checks.add(n > 0, "the batch is empty, got shape", raw_shape)
    _add_size_checks(checks, h, w, limits, "image")
    checks.add(
        n * h * w <= limits.max_batch_pixels,
        f"the batch is too large: N * height * width must be <= {limits.max_batch_pixels} "
        "(send fewer images per request), got shape",
        raw_shape,
    )
    return _gate(checks, lambda: tf.reshape(images, tf.stack([n, h, w, 3])), tf.zeros([1, 4, 4, 3], images.dtype))


def _gate(checks: _Checks | _PassIf, valid: Any, placeholder: tf.Tensor) -> tf.Tensor:
    """``valid()`` when every check held, else a small ``placeholder`` that is safe to run.

    The failed Assert still fails the call (stateful ops always run in a tf.function); the gate
    only guarantees that no other op sees the bad input first and reports a less clear error.
    """
    with tf.control_dependencies(checks.ops):
        ok = tf.identity(checks.all_ok)
    return tf.cond(ok, valid, lambda: placeholder)


def _to_uint8(pixels: tf.Tensor) -> tf.Tensor:
    return tf.cast(tf.clip_by_value(tf.round(pixels), 0.0, 255.0), tf.uint8)


def _big_endian(data: tf.Tensor, offset: int) -> tf.Tensor:
    raw = tf.cast(tf.io.decode_raw(tf.strings.substr(data, offset, 4), tf.uint8), tf.int64)
    return ((raw[0] * 256 + raw[1]) * 256 + raw[2]) * 256 + raw[3]


def header_size(data: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """(height, width) from a PNG or JPEG header without decoding; (-1, -1) for other formats."""
    is_png = tf.logical_and(
        tf.equal(tf.strings.substr(data, 0, 8), _PNG_SIGNATURE), tf.strings.length(data) >= 24
    )
    is_jpeg = tf.equal(tf.strings.substr(data, 0, 2), _JPEG_SIGNATURE)

    def png() -> tf.Tensor:
        return tf.stack([_big_endian(data, 20), _big_endian(data, 16)])

    def jpeg() -> tf.Tensor:
        return tf.cast(tf.io.extract_jpeg_shape(data)[:2], tf.int64)

    def unknown() -> tf.Tensor:
        return tf.constant([-1, -1], tf.int64)

    size = tf.cond(is_png, png, lambda: tf.cond(is_jpeg, jpeg, unknown))
    return size[0], size[1]


class _Untracked:
    """Holds an object out of tf.Module's attribute tracking."""

    def __init__(self, value: Any) -> None:
        self.value = value


def _tf_variable(variable: Any) -> tf.Variable:
    inner = getattr(variable, "value", variable)
    if not isinstance(inner, tf.Variable):
        raise TypeError(f"expected a TensorFlow-backed variable, got {type(variable).__name__}")
    return inner


class ServingModule(tf.Module):
    """Wraps a transformer with the three serving signatures and a JSON metadata string."""

    def __init__(
        self,
        model: keras.Model,
        limits: ServingLimits | None = None,
        metadata: dict | None = None,
    ) -> None:
        super().__init__(name="purifier")
        # Only the underlying tf.Variables are tracked (saved). Tracking the Keras model itself
        # saves every weight twice and, without the explicit list, TF1-style loaders (TF Serving,
        # saved_model_cli run) find the Keras variables unrestored.
        self._model = _Untracked(model)
        self.model_variables = [_tf_variable(v) for v in model.variables]
        self.limits = limits or ServingLimits()
        self._metadata_json = json.dumps(metadata or {}, sort_keys=True)

    @property
    def model(self) -> keras.Model:
        return self._model.value

    def _purify_float(self, images: tf.Tensor) -> tf.Tensor:
        padded, box = pad_to_multiple(images)
        return crop_back(self.model(padded, training=False), box)

    def _purify_uint8(self, images: tf.Tensor) -> tf.Tensor:
        return _to_uint8(self._purify_float(tf.cast(images, tf.float32)))

    @tf.function(input_signature=[tf.TensorSpec(None, tf.uint8, name=INPUT_UINT8)])
    def serve_uint8(self, images: tf.Tensor) -> dict[str, tf.Tensor]:
        """uint8 (N, H, W, 3) of any H, W -> purified uint8 of the same shape."""
        images = check_batch(images, self.limits)
        return {OUTPUT_UINT8: self._purify_uint8(images)}

    def xla_uint8(self) -> Any:
        """``serve_uint8`` with the network compiled by XLA for each input shape (local runs only).

        The checks stay outside the compiled part (XLA has no Assert). Not exported: a served model
        sees every size once, while XLA pays a compile (seconds on a CPU) per new shape.
        """
        network = tf.function(self._purify_uint8, jit_compile=True)

        @tf.function(input_signature=[tf.TensorSpec(None, tf.uint8, name=INPUT_UINT8)])
        def serve(images: tf.Tensor) -> dict[str, tf.Tensor]:
            return {OUTPUT_UINT8: network(check_batch(images, self.limits))}

        return serve

    @tf.function(input_signature=[tf.TensorSpec(None, tf.float32, name=INPUT_FLOAT)])
    def serve_float(self, images: tf.Tensor) -> dict[str, tf.Tensor]:
        """float32 (N, H, W, 3) in [0, 255] (clipped; NaN/Inf rejected) -> float32 in [0, 255]."""
        images = check_batch(images, self.limits)
        finite = _assert(
            tf.reduce_all(tf.math.is_finite(images)), "images contain NaN or Inf values"
        )
        with tf.control_dependencies([finite]):
            images = tf.clip_by_value(images, 0.0, 255.0)
        return {OUTPUT_FLOAT: self._purify_float(images)}

    @tf.function(input_signature=[tf.TensorSpec(None, tf.string, name=INPUT_BYTES)])
    def serve_bytes(self, images_bytes: tf.Tensor) -> dict[str, tf.Tensor]:
        """(N,) encoded JPEG/PNG/BMP/GIF (sizes may differ) -> (N,) purified PNG bytes, one by one."""
        checks = _Checks()
        checks.add(
            tf.equal(tf.rank(images_bytes), 1),
            "images_bytes must be a 1-D batch (N,) of encoded images, got shape",
            tf.shape(images_bytes),
        )
        checks.add(tf.size(images_bytes) > 0, "the batch is empty")
        data = _gate(checks, lambda: tf.reshape(images_bytes, [-1]), tf.constant([], tf.string))
        # One image at a time: sizes may differ, and memory stays bounded by one image.
        encoded = tf.map_fn(
            self._purify_encoded, data, fn_output_signature=tf.string, parallel_iterations=1
        )
        return {OUTPUT_BYTES: encoded}

    def _purify_encoded(self, data: tf.Tensor) -> tf.Tensor:
        h, w = header_size(data)
        checks = _Checks(skip=h < 0)  # sizes of formats other than PNG/JPEG are checked after decoding
        _add_size_checks(checks, h, w, self.limits, "encoded image")
        # Decoding only runs once the declared size passed: a small file can declare a huge image.
        image = _gate(
            _PassIf(checks),
            lambda: tf.io.decode_image(data, channels=3, dtype=tf.uint8, expand_animations=False),
            tf.zeros([4, 4, 3], tf.uint8),
        )
        image = check_batch(image[tf.newaxis], self.limits)
        return tf.io.encode_png(self._purify_uint8(image)[0])

    @tf.function(input_signature=[])
    def metadata(self) -> tf.Tensor:
        """The export metadata as a JSON string (also in assets.extra/purify_tf.json)."""
        return tf.constant(self._metadata_json)

    def signatures(self) -> dict[str, Any]:
        """Concrete functions keyed by signature name, for ``tf.saved_model.save``."""
        return {
            SIGNATURE_UINT8: self.serve_uint8.get_concrete_function(),
            SIGNATURE_FLOAT: self.serve_float.get_concrete_function(),
            SIGNATURE_BYTES: self.serve_bytes.get_concrete_function(),
        }
