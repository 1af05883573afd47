"""An inference-only rewrite of a trained transformer: the same function, fewer and faster ops.

Training needs batch norm as its own op (batch statistics, moving averages) and dropout; inference
needs neither. ``fold_for_inference`` clones a trained ``build_transformer`` model with:

* **batch norm folded** into the convolution before it (``W' = W * g/s``, ``b' = beta - m * g/s``):
  one pass over each activation instead of three (conv, scale, shift). Instance norm depends on the
  image and stays.
* **dropout removed** (the identity at inference).
* **fractionally-strided convs as sub-pixel convs** (``upsample="subpixel"``): each of the four
  output phases of a 4x4 stride-2 transposed conv reads a 2x2 input window, so the layer is one
  2x2 conv to 4x the filters over the input padded by one, read at the phase's offset, then the
  phases interleaved (a ``depth_to_space``, Shi et al. 2016). Same FLOPs as the transposed conv, but a forward conv with
  a wide output: TF's CPU transposed conv runs as a backward-data convolution (slower on CPU;
  docs/BENCHMARKS_HISTORY.md).
* **the output conv split into rows** (``output_conv="rows"``): a 9x9 conv to 3 filters is a
  matrix product with 3 columns, which the CPU kernels serve far below their speed (the patch
  packing dominates). As a 1x9 conv to 9 * 3 channels (one group per kernel row) followed by
  the sum of the 9 groups shifted by their row, it is the same arithmetic with 27 columns
  (faster on CPU; docs/BENCHMARKS_HISTORY.md).

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
OUTPUT_CONV_REWRITES = ("direct", "rows")
# Phase -> input offset (-1, 0) or (0, +1) -> tap of the 4-tap transposed kernel, for stride 2 and
# 'same' padding (pad 1 before): output 2m reads inputs m-1, m with taps 3, 1; output 2m+1 reads
# m, m+1 with taps 2, 0. On the input padded by one, phase p's window starts at row m + p.
_SUBPIXEL_TAPS = ((3, 1), (2, 0))


@keras.saving.register_keras_serializable(package=_PACKAGE)
class SubPixelConv2D(layers.Layer):
    """A 4x4 stride-2 'same' transposed conv: 2x2 conv to 4 * filters, phase windows, depth_to_space."""

    def __init__(self, filters: int, use_bias: bool = True, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.filters = int(filters)
        self.use_bias = bool(use_bias)
        self.conv = layers.Conv2D(4 * self.filters, 2, padding="valid", use_bias=use_bias, dtype=self.dtype_policy)

    def build(self, input_shape: tuple) -> None:
        b, h, w, c = input_shape
        self.conv.build((b, None if h is None else h + 2, None if w is None else w + 2, c))

    def call(self, inputs: tf.Tensor) -> tf.Tensor:
        shape = tf.shape(inputs)
        n, h, w, f = shape[0], shape[1], shape[2], self.filters
        z = self.conv(tf.pad(inputs, [[0, 0], [1, 1], [1, 1], [0, 0]]))  # (N, H + 1, W + 1, 4F)
        # Channel group 2a + b holds phase (row a, column b). Interleaving columns, then rows, by
        # stack-and-reshape is one copy each: faster on CPU than slice + concat + depth_to_space
        # (docs/BENCHMARKS_HISTORY.md).
        rows = []
        for a in (0, 1):
            left = z[:, a : a + h, 0:w, 2 * a * f : (2 * a + 1) * f]
            right = z[:, a : a + h, 1 : w + 1, (2 * a + 1) * f : (2 * a + 2) * f]
            rows.append(tf.reshape(tf.stack([left, right], axis=3), [n, h, 2 * w, f]))
        return tf.reshape(tf.stack(rows, axis=2), [n, 2 * h, 2 * w, f])

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        b, h, w, _ = input_shape
        return (b, None if h is None else 2 * h, None if w is None else 2 * w, self.filters)

    def get_config(self) -> dict:
        return {**super().get_config(), "filters": self.filters, "use_bias": self.use_bias}


@keras.saving.register_keras_serializable(package=_PACKAGE)
class RowSplitConv2D(layers.Layer):
    """A k x k 'same' conv as a 1 x k conv to k * filters channels plus k row-shifted sums."""

    def __init__(self, filters: int, kernel_size: int, use_bias: bool = True, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.filters, self.kernel_size, self.use_bias = int(filters), int(kernel_size), bool(use_bias)
        if self.kernel_size % 2 != 1:
            raise ValueError(f"RowSplitConv2D needs an odd kernel size, got {kernel_size}")
        self.conv = layers.Conv2D(
            self.kernel_size * self.filters, (1, self.kernel_size), padding="same", use_bias=False,
            dtype=self.dtype_policy,
        )

    def build(self, input_shape: tuple) -> None:
        self.conv.build(input_shape)
        if self.use_bias:
            self.bias = self.add_weight(shape=(self.filters,), initializer="zeros", name="bias")

    def call(self, inputs: tf.Tensor) -> tf.Tensor:
        k, f, half = self.kernel_size, self.filters, self.kernel_size // 2
        h = tf.shape(inputs)[1]
        z = self.conv(inputs)  # channel group dy: kernel row dy applied along the row
        # Zero rows of the input give zero rows of z: padding z is padding the input ('same').
        z = tf.pad(z, [[0, 0], [half, half], [0, 0], [0, 0]])
        y = tf.add_n([z[:, dy : dy + h, :, dy * f : (dy + 1) * f] for dy in range(k)])
        return y + tf.cast(self.bias, y.dtype) if self.use_bias else y

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return (*input_shape[:-1], self.filters)

    def get_config(self) -> dict:
        return {**super().get_config(), "filters": self.filters, "kernel_size": self.kernel_size,
                "use_bias": self.use_bias}


def subpixel_kernel(kernel: np.ndarray) -> np.ndarray:
    """A (4, 4, out, in) stride-2 'same' transposed-conv kernel as a (2, 2, in, 4 * out) conv kernel.

    Output channel ``(2 * a + b) * out + c`` is phase (row a, column b) of channel c, the order
    that ``depth_to_space`` expects.
    """
    kh, kw, c_out, c_in = kernel.shape
    if (kh, kw) != (4, 4):
        raise ValueError(f"sub-pixel rewrite needs a 4x4 transposed kernel, got {kh}x{kw}")
    out = np.zeros((2, 2, c_in, 4, c_out), kernel.dtype)
    for a, row_taps in enumerate(_SUBPIXEL_TAPS):
        for b, col_taps in enumerate(_SUBPIXEL_TAPS):
            for i, ti in enumerate(row_taps):
                for j, tj in enumerate(col_taps):
                    out[i, j, :, 2 * a + b, :] = kernel[ti, tj].T
    return out.reshape(2, 2, c_in, 4 * c_out)


def row_split_kernel(kernel: np.ndarray) -> np.ndarray:
    """A (k, k, in, out) conv kernel as the (1, k, in, k * out) kernel of ``RowSplitConv2D``."""
    k, kw, c_in, c_out = kernel.shape
    if k != kw:
        raise ValueError(f"row split needs a square kernel, got {k}x{kw}")
    return np.transpose(kernel, (1, 2, 0, 3)).reshape(1, k, c_in, k * c_out)


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


def _row_splittable(layer: layers.Layer) -> bool:
    """A stride-1, undilated, odd square 'same' conv: what ``RowSplitConv2D`` reproduces."""
    if not isinstance(layer, layers.Conv2D):
        return False
    k = tuple(layer.kernel_size)
    return (layer.padding == "same" and k[0] == k[1] and k[0] % 2 == 1
            and tuple(layer.strides) == (1, 1) and tuple(layer.dilation_rate) == (1, 1) and layer.groups == 1)


def _rewritten_layer(layer: layers.Layer, folded: dict, upsample: str, row_split: str | None) -> layers.Layer:
    """The inference twin of one layer (built later by ``clone_model``)."""
    if isinstance(layer, (layers.BatchNormalization, layers.Dropout)):
        return layers.Identity(name=layer.name)
    config = layer.get_config()
    if layer.name in folded:
        config["use_bias"] = True
    if isinstance(layer, layers.Conv2DTranspose) and upsample == "subpixel":
        return SubPixelConv2D(layer.filters, use_bias=config["use_bias"], name=layer.name, dtype=layer.dtype_policy)
    if layer.name == row_split:
        return RowSplitConv2D(layer.filters, layer.kernel_size[0], use_bias=config["use_bias"], name=layer.name,
                              dtype=layer.dtype_policy)
    return layer.__class__.from_config(config)


def fold_for_inference(model: keras.Model, upsample: str = "subpixel", output_conv: str = "rows") -> keras.Model:
    """An inference-only copy of ``model`` (see the module docstring); same input and output.

    ``upsample``: ``subpixel`` rewrites 4x4 stride-2 transposed convs, ``deconv`` keeps them.
    ``output_conv``: ``rows`` splits the output conv into rows, ``direct`` keeps it.
    """
    if upsample not in UPSAMPLE_REWRITES:
        raise ValueError(f"upsample must be one of {UPSAMPLE_REWRITES}, got {upsample!r}")
    if output_conv not in OUTPUT_CONV_REWRITES:
        raise ValueError(f"output_conv must be one of {OUTPUT_CONV_REWRITES}, got {output_conv!r}")
    head = _producer(model.output)
    if not isinstance(head, (ScaledTanh, ResidualOutput)):
        raise ValueError(f"{model.name} does not end in a transformer head (got {head.name})")
    nested = {layer.name: layer for layer in model.layers if isinstance(layer, keras.Model)}
    if nested:  # a flip-symmetric purifier (models.symmetry): f_W is one network, called on the eye and its mirror
        return _with_folded_networks(model, {name: _fold_network(net, _producer(net.output), upsample, output_conv)
                                             for name, net in nested.items()})
    conv_in = head.input[-1] if isinstance(head, ResidualOutput) else head.input
    return _fold_network(model, _producer(conv_in), upsample, output_conv)


def _with_folded_networks(model: keras.Model, networks: dict[str, keras.Model]) -> keras.Model:
    """``model`` with its nested networks replaced by ``networks`` (each keeps its call sites)."""

    def clone(layer: layers.Layer) -> layers.Layer:
        network = networks.get(layer.name)
        return network if network is not None else layer.__class__.from_config(layer.get_config())

    copy = keras.models.clone_model(model, clone_function=clone)
    for layer in model.layers:
        if layer.name not in networks and layer.weights:
            copy.get_layer(layer.name).set_weights([w.numpy() for w in layer.weights])
    return copy


def _fold_network(model: keras.Model, head_conv: layers.Layer, upsample: str, output_conv: str) -> keras.Model:
    """The rewrite of one network whose last conv is ``head_conv``."""
    folded = _folded_weights(model)
    deconvs = [la for la in model.layers if isinstance(la, layers.Conv2DTranspose)]
    if upsample == "subpixel" and any(tuple(la.kernel_size) != (4, 4) or la.strides != (2, 2) for la in deconvs):
        upsample = "deconv"  # only the paper's 4x4/2 deconvs have an exact 2x2 sub-pixel twin
    row_split = head_conv.name if output_conv == "rows" and _row_splittable(head_conv) else None

    def clone(layer: layers.Layer) -> layers.Layer:
        return _rewritten_layer(layer, folded, upsample, row_split)

    def call(layer: layers.Layer, *args: Any, **kwargs: Any) -> Any:
        if isinstance(layer, layers.Identity):  # batch norm and dropout: drop their call options
            return layer(args[0])
        return layer(*args, **kwargs)

    copy = keras.models.clone_model(model, clone_function=clone, call_function=call)
    for layer in model.layers:
        _copy_weights(layer, copy.get_layer(layer.name), folded)
    return copy


def _copy_weights(src: layers.Layer, dst: layers.Layer, folded: dict) -> None:
    if isinstance(src, (layers.BatchNormalization, layers.Dropout)) or not src.weights:
        return
    if src.name in folded:
        kernel, bias = folded[src.name]
    elif isinstance(dst, (SubPixelConv2D, RowSplitConv2D)):
        kernel, bias = src.kernel.numpy(), (src.bias.numpy() if src.use_bias else None)
    else:
        dst.set_weights([w.numpy() for w in src.weights])
        return
    if isinstance(dst, SubPixelConv2D):
        dst.conv.set_weights([subpixel_kernel(kernel)] + ([np.tile(bias, 4)] if bias is not None else []))
    elif isinstance(dst, RowSplitConv2D):
        dst.conv.set_weights([row_split_kernel(kernel)])
        if bias is not None:
            dst.bias.assign(bias)
    else:
        dst.set_weights([kernel, bias])
