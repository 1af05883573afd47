"""An inference-only rewrite of a trained transformer: the same function, fewer and faster ops.

Training needs batch norm as its own op (batch statistics, moving averages) and dropout; inference
needs neither. ``fold_for_inference`` clones a trained ``build_transformer`` model with:

* **batch norm folded** into the convolution before it (``W' = W * g/s``, ``b' = beta - m * g/s``):
  one pass over each activation instead of three (conv, scale, shift). Instance norm depends on the
  image and stays.
* **dropout removed** (the identity at inference).
* **fractionally-strided convs as sub-pixel convs** (``upsample="subpixel"``): a 4x4 stride-2
  transposed conv equals a 3x3 conv with 4x the filters followed by ``depth_to_space`` (Shi et al.
  2016): each of the four output phases reads a 2x2 input window, placed inside a 3x3 kernel. TF's
  CPU transposed conv runs as a backward-data convolution, which oneDNN serves far more slowly than
  a forward one (docs/BENCHMARKS.md).
* **a wider output conv** (``output_filters``): oneDNN's forward conv blocks output channels by
  8 or 16, so a 3-filter 9x9 conv wastes most of each vector. Zero filters up to the block and a
  slice afterwards cost nothing in accuracy.

Every rewrite is exact up to float rounding; ``tests/test_inference_graph.py`` checks each against
the original model.
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
import tensorflow as tf
from keras import layers

from purify_tf.models.transformer import ResidualOutput, ScaledTanh

_PACKAGE = "purify_tf"
UPSAMPLE_REWRITES = ("deconv", "subpixel")
# Phase -> (input offset -1, 0, +1) -> tap of the 4-tap transposed kernel, for stride 2 and
# 'same' padding (pad 1 before): output 2m reads inputs m-1, m with taps 3, 1; output 2m+1 reads
# m, m+1 with taps 2, 0. ``None``: that offset does not contribute to the phase.
_SUBPIXEL_TAPS = ((3, 1, None), (None, 2, 0))


@keras.saving.register_keras_serializable(package=_PACKAGE)
class SubPixelConv2D(layers.Layer):
    """3x3 'same' conv to 4 * filters channels, then ``depth_to_space(2)``: a 2x upsampling conv."""

    def __init__(self, filters: int, use_bias: bool = True, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.filters = int(filters)
        self.use_bias = bool(use_bias)
        self.conv = layers.Conv2D(4 * self.filters, 3, padding="same", use_bias=use_bias, dtype=self.dtype_policy)

    def build(self, input_shape: tuple) -> None:
        self.conv.build(input_shape)

    def call(self, inputs: tf.Tensor) -> tf.Tensor:
        return tf.nn.depth_to_space(self.conv(inputs), 2)

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        b, h, w, _ = input_shape
        return (b, None if h is None else 2 * h, None if w is None else 2 * w, self.filters)

    def get_config(self) -> dict:
        return {**super().get_config(), "filters": self.filters, "use_bias": self.use_bias}


@keras.saving.register_keras_serializable(package=_PACKAGE)
class SliceChannels(layers.Layer):
    """The first ``channels`` channels: drops the zero filters that widened a conv."""

    def __init__(self, channels: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.channels = int(channels)

    def call(self, inputs: tf.Tensor) -> tf.Tensor:
        return inputs[..., : self.channels]

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return (*input_shape[:-1], self.channels)

    def get_config(self) -> dict:
        return {**super().get_config(), "channels": self.channels}


def subpixel_kernel(kernel: np.ndarray) -> np.ndarray:
    """A (4, 4, out, in) stride-2 'same' transposed-conv kernel as a (3, 3, in, 4 * out) conv kernel.

    Output channel ``(2 * a + b) * out + c`` is phase (row a, column b) of channel c, the order
    that ``depth_to_space`` expects.
    """
    kh, kw, c_out, c_in = kernel.shape
    if (kh, kw) != (4, 4):
        raise ValueError(f"sub-pixel rewrite needs a 4x4 transposed kernel, got {kh}x{kw}")
    out = np.zeros((3, 3, c_in, 4, c_out), kernel.dtype)
    for a, row_taps in enumerate(_SUBPIXEL_TAPS):
        for b, col_taps in enumerate(_SUBPIXEL_TAPS):
            for i, ti in enumerate(row_taps):
                for j, tj in enumerate(col_taps):
                    if ti is not None and tj is not None:
                        out[i, j, :, 2 * a + b, :] = kernel[ti, tj].T
    return out.reshape(3, 3, c_in, 4 * c_out)


def _producer(tensor: Any) -> layers.Layer:
    """The layer that computed ``tensor``, looking through dropout (the identity at inference)."""
    layer = tensor._keras_history.operation
    while isinstance(layer, layers.Dropout):
        layer = layer.input._keras_history.operation
    return layer


def _bn_scale_shift(bn: layers.BatchNormalization) -> tuple[np.ndarray, np.ndarray]:
    """Inference batch norm as ``x * scale + shift``."""
    gamma = bn.gamma.numpy() if bn.scale else 1.0
    beta = bn.beta.numpy() if bn.center else 0.0
    scale = gamma / np.sqrt(bn.moving_variance.numpy() + bn.epsilon)
    return scale, beta - bn.moving_mean.numpy() * scale


def _folded_weights(model: keras.Model) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """conv layer name -> (kernel, bias) with the following batch norm folded in."""
    folded = {}
    for bn in model.layers:
        if not isinstance(bn, layers.BatchNormalization):
            continue
        conv = _producer(bn.input)
        if not isinstance(conv, (layers.Conv2D, layers.Conv2DTranspose)) or conv.use_bias:
            raise ValueError(f"cannot fold {bn.name}: its input comes from {conv.name}, not a bias-free conv")
        scale, shift = _bn_scale_shift(bn)
        kernel = conv.kernel.numpy()
        # Conv2D kernels are (h, w, in, out); Conv2DTranspose kernels (h, w, out, in).
        kernel = kernel * (scale[None, None, :, None] if isinstance(conv, layers.Conv2DTranspose) else scale)
        folded[conv.name] = (kernel.astype(np.float32), shift.astype(np.float32))
    return folded


def _rewritten_layer(
    layer: layers.Layer, folded: dict, upsample: str, output_filters: int, output_conv: str
) -> layers.Layer:
    """The inference twin of one layer (built later by ``clone_model``)."""
    if isinstance(layer, (layers.BatchNormalization, layers.Dropout)):
        return layers.Identity(name=layer.name)
    config = layer.get_config()
    if layer.name in folded:
        config["use_bias"] = True
    if isinstance(layer, layers.Conv2DTranspose) and upsample == "subpixel":
        return SubPixelConv2D(layer.filters, use_bias=config["use_bias"], name=layer.name, dtype=layer.dtype_policy)
    if layer.name == output_conv and output_filters > layer.filters:
        config["filters"] = output_filters
    return layer.__class__.from_config(config)


def fold_for_inference(
    model: keras.Model, upsample: str = "subpixel", output_filters: int = 8
) -> keras.Model:
    """An inference-only copy of ``model`` (see the module docstring); same input and output.

    ``upsample``: ``subpixel`` rewrites 4x4 stride-2 transposed convs, ``deconv`` keeps them.
    ``output_filters``: the output conv's width before the slice back to 3 (3 keeps it as is).
    """
    if upsample not in UPSAMPLE_REWRITES:
        raise ValueError(f"upsample must be one of {UPSAMPLE_REWRITES}, got {upsample!r}")
    folded = _folded_weights(model)
    head = _producer(model.output)
    if not isinstance(head, (ScaledTanh, ResidualOutput)):
        raise ValueError(f"{model.name} does not end in a transformer head (got {head.name})")
    conv_in = head.input[-1] if isinstance(head, ResidualOutput) else head.input
    output_conv = _producer(conv_in)
    deconvs = [la for la in model.layers if isinstance(la, layers.Conv2DTranspose)]
    if upsample == "subpixel" and any(tuple(la.kernel_size) != (4, 4) or la.strides != (2, 2) for la in deconvs):
        upsample = "deconv"  # only the paper's 4x4/2 deconvs have an exact 3x3 sub-pixel twin
    widen = max(int(output_filters), output_conv.filters)

    def clone(layer: layers.Layer) -> layers.Layer:
        return _rewritten_layer(layer, folded, upsample, widen, output_conv.name)

    def call(layer: layers.Layer, *args: Any, **kwargs: Any) -> Any:
        if isinstance(layer, layers.Identity):  # batch norm and dropout: drop their call options
            return layer(args[0])
        out = layer(*args, **kwargs)
        if layer.name == output_conv.name and widen > output_conv.filters:
            out = SliceChannels(output_conv.filters, name=f"{layer.name}_slice")(out)
        return out

    copy = keras.models.clone_model(model, clone_function=clone, call_function=call)
    for layer in model.layers:
        _copy_weights(layer, copy.get_layer(layer.name), folded, widen if layer is output_conv else 0)
    return copy


def _copy_weights(src: layers.Layer, dst: layers.Layer, folded: dict, widen: int) -> None:
    if isinstance(src, (layers.BatchNormalization, layers.Dropout)) or not src.weights:
        return
    if src.name in folded:
        kernel, bias = folded[src.name]
    else:
        kernel, bias = None, None
    if isinstance(dst, SubPixelConv2D):
        kernel = src.kernel.numpy() if kernel is None else kernel
        bias = bias if bias is not None else (src.bias.numpy() if src.use_bias else None)
        weights = [subpixel_kernel(kernel)] + ([np.tile(bias, 4)] if bias is not None else [])
        dst.conv.set_weights(weights)
        return
    if kernel is not None:
        weights = [kernel, bias]
    else:
        weights = [w.numpy() for w in src.weights]
    if widen:
        kernel, *rest = weights
        pad = widen - kernel.shape[-1]
        weights = [np.pad(kernel, [(0, 0)] * 3 + [(0, pad)])] + [np.pad(b, (0, pad)) for b in rest]
    dst.set_weights(weights)
