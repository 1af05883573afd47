"""The feed-forward transformer f_W (paper 3.2, Table 1, Fig. 4-5) and the Johnson baseline.

One builder makes both networks so that the baseline differs only where the papers differ:

* ``paper``: reflection padding 32, conv 32@9x9, 64@3x3/2, 128@3x3/2, four residual blocks
  (conv 3x3 valid -> dropout -> norm -> ReLU -> conv 3x3 valid -> norm, added to the input cropped
  by 2 px per side), two 4x4 stride-2 fractionally-strided convs (64, 32) -- kernel divisible by
  stride, which avoids checkerboard artefacts -- and an output conv 3@9x9 with a scaled tanh.
* ``johnson``: reflection padding 40, five residual blocks without dropout, 3x3 deconvs.

Table 1 of the paper is inconsistent (54*4 != 256); DESIGN.md's sizes are used: with padding P and
B blocks, (H + 2P)/4 - 4B = H/4 exactly, so the output has the input's size for any H, W divisible
by 4. ``apply_padded`` handles other sizes by reflect-padding and cropping back.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import keras
import tensorflow as tf
from keras import layers

from purify_tf.models.illumination import DEFAULT_TONE, IlluminationNormalization

_PACKAGE = "purify_tf"


@dataclasses.dataclass(frozen=True)
class TransformerConfig:
    """Architecture hyper-parameters; the presets are ``CONFIGS['paper' | 'reflect' | 'johnson' | 'tiny']``.

    ``conv_padding`` says how the borders are kept: ``"outer"`` (Johnson et al., the paper) pads
    the input once by ``padding`` px of reflection and lets the residual blocks' valid convolutions
    eat it; ``"reflect"`` (pytorch/examples fast_neural_style) reflection-pads each convolution by
    half its kernel, so every layer runs at the eye's own size (``padding`` must be 0).
    """

    name: str
    padding: int
    num_blocks: int
    deconv_kernel: int
    dropout_rate: float
    filters: tuple[int, int, int] = (32, 64, 128)
    edge_kernel: int = 9
    conv_padding: str = "outer"

    def __post_init__(self) -> None:
        if self.conv_padding not in CONV_PADDINGS:
            raise ValueError(f"conv_padding must be one of {CONV_PADDINGS}, got {self.conv_padding!r}")
        if self.conv_padding == "reflect" and self.padding:
            raise ValueError(f"conv_padding='reflect' pads each convolution; padding must be 0, got {self.padding}")


CONV_PADDINGS = ("outer", "reflect")


CONFIGS: dict[str, TransformerConfig] = {
    "paper": TransformerConfig("paper", padding=32, num_blocks=4, deconv_kernel=4, dropout_rate=0.1),
    # The paper's layers with each convolution reflection-padded instead of the 32 px outer pad:
    # at 48x72 the outer pad makes the network compute on 112x136 (2.3x the convolution FLOPs).
    "reflect": TransformerConfig("reflect", padding=0, num_blocks=4, deconv_kernel=4, dropout_rate=0.1,
                                 conv_padding="reflect"),
    "johnson": TransformerConfig("johnson", padding=40, num_blocks=5, deconv_kernel=3, dropout_rate=0.0),
    # The paper's layout at a fraction of the width and depth: unit tests and smoke runs only.
    "tiny": TransformerConfig("tiny", padding=8, num_blocks=1, deconv_kernel=4, dropout_rate=0.0, filters=(8, 16, 16)),
}
NORMS = ("batch", "instance")
UPSAMPLES = ("deconv", "resize")
ILLUMINATION_LAYER = "illumination"  # the front end's name in built (and shipped) models; found by type
NETWORK_INPUT_LAYER = "to_unit_range"  # the network's first layer, after the front end
NETWORK_OUTPUT_LAYER = "output_conv"  # the network's last conv (a residual model's correction before its tanh)
RESIDUAL_OUTPUT_LAYER = "residual_output"  # ResidualOutput in residual models
SIZE_MULTIPLE = 4
# Reflect steps: from a 4 px side, 3 + 9 + 27 + 81 px cover any preset padding.
_REFLECT_STEPS = 4


@keras.saving.register_keras_serializable(package=_PACKAGE)
class ReflectionPadding2D(layers.Layer):
    """Reflection padding (``tf.pad(..., 'REFLECT')``): no border artefacts, unlike zero padding."""

    def __init__(self, padding: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.padding = int(padding)

    def _static_steps(self, size: int | None) -> list[int] | None:
        """The reflect steps for a statically known side, without the zero-width ones."""
        if size is None:
            return None
        steps, remaining = [], self.padding
        for _ in range(_REFLECT_STEPS):
            step = min(remaining, max(size - 1, 0))
            if step == 0:
                break
            steps.append(step)
            remaining -= step
            size += 2 * step
        return steps

    def call(self, inputs: tf.Tensor) -> tf.Tensor:
        # A single MirrorPad needs padding < size. Small inputs (e.g. 36x60 eye crops under the
        # Johnson config's 40 px) are padded in a few reflect steps of at most size - 1 each,
        # which equals one reflection whenever that is possible (later steps pad 0).
        # When H and W are static (tf.function with a fixed signature, TFLite, XLA), the steps are
        # computed here and the zero-width pads dropped: usually one MirrorPad instead of eight
        # (the same values: reflection is separable per axis).
        h_steps, w_steps = (self._static_steps(inputs.shape[axis]) for axis in (1, 2))
        if h_steps is not None and w_steps is not None:
            x = inputs
            for i in range(max(len(h_steps), len(w_steps))):
                ph = h_steps[i] if i < len(h_steps) else 0
                pw = w_steps[i] if i < len(w_steps) else 0
                x = tf.pad(x, [[0, 0], [ph, ph], [pw, pw], [0, 0]], mode="REFLECT")
            return x
        x = inputs
        for axis in (1, 2):
            remaining = tf.constant(self.padding, tf.int32)
            for _ in range(_REFLECT_STEPS):
                size = tf.shape(x)[axis]
                step = tf.minimum(remaining, tf.maximum(size - 1, 0))
                pads = [[0, 0], [0, 0], [0, 0], [0, 0]]
                pads[axis] = [step, step]
                x = tf.pad(x, pads, mode="REFLECT")
                remaining -= step
        return x

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        b, h, w, c = input_shape
        grow = lambda d: None if d is None else d + 2 * self.padding  # noqa: E731
        return (b, grow(h), grow(w), c)

    def get_config(self) -> dict:
        return {**super().get_config(), "padding": self.padding}


@keras.saving.register_keras_serializable(package=_PACKAGE)
class ScaledTanh(layers.Layer):
    """``127.5 * (tanh(x) + 1)``: keeps output pixels in [0, 255]; always float32 (mixed precision)."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)

    def call(self, inputs: tf.Tensor) -> tf.Tensor:
        return 127.5 * (tf.tanh(tf.cast(inputs, tf.float32)) + 1.0)


@keras.saving.register_keras_serializable(package=_PACKAGE)
class ResidualOutput(layers.Layer):
    """``clip(I + 127.5 * tanh(x), 0, 255)``: f_W predicts a correction of its input ``I``.

    With the output conv initialised to zero, f_W starts as the identity (or as the front end
    alone), so training starts from a purifier that keeps every gaze cue and only learns what the
    objective asks to change; the paper's absolute output must first relearn the whole eye,
    which a few thousand CPU steps do not achieve (docs/report). Always float32.
    """

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)

    def call(self, inputs: list[tf.Tensor]) -> tf.Tensor:
        base, x = (tf.cast(t, tf.float32) for t in inputs)
        return tf.clip_by_value(base + 127.5 * tf.tanh(x), 0.0, 255.0)

    def compute_output_shape(self, input_shape: list) -> tuple:
        return tuple(input_shape[0])


def _norm(kind: str, name: str) -> layers.Layer:
    if kind == "batch":
        # synchronized: the global batch's statistics under a multi-replica strategy, so N replicas
        # train like one device. Momentum 0.9 (Torch's default, as in the paper's implementation)
        # lets the moving statistics settle within short trainings.
        return layers.BatchNormalization(momentum=0.9, synchronized=True, name=name)
    # Instance norm: one group per channel (tensorflow-addons is not used; see BUILD.md).
    return layers.GroupNormalization(groups=-1, epsilon=1e-5, name=name)


# Convolutions followed by a normalisation carry no bias: the norm's mean subtraction cancels it,
# and a parameter with an exactly-zero gradient only adds noise to Adam's updates.
def _conv(x, filters: int, kernel: int, name: str, conv_padding: str, strides: int = 1, valid: bool = False,
          **kwargs: Any):
    """A convolution that keeps the size (``"same"``), or, under ``conv_padding="reflect"``, a
    reflection pad of ``kernel // 2`` then a valid one; ``valid`` (outer padding only) shrinks."""
    if conv_padding == "reflect":
        x = ReflectionPadding2D(kernel // 2, name=f"{name}_pad")(x)
        return layers.Conv2D(filters, kernel, strides=strides, padding="valid", name=name, **kwargs)(x)
    return layers.Conv2D(filters, kernel, strides=strides, padding="valid" if valid else "same", name=name,
                         **kwargs)(x)


def _conv_norm_relu(x, filters: int, kernel: int, strides: int, norm: str, name: str, conv_padding: str):
    x = _conv(x, filters, kernel, f"{name}_conv", conv_padding, strides=strides, use_bias=False)
    x = _norm(norm, f"{name}_norm")(x)
    return layers.ReLU(name=f"{name}_relu")(x)


def _residual_block(x, filters: int, dropout_rate: float, norm: str, name: str, conv_padding: str):
    """conv 3x3 -> dropout -> norm -> ReLU -> conv 3x3 -> norm, plus the skip: valid convolutions
    and a 2 px-cropped skip under the outer padding, reflection-padded ones and the whole skip else."""
    y = _conv(x, filters, 3, f"{name}_conv1", conv_padding, valid=True, use_bias=False)
    if dropout_rate > 0:
        y = layers.Dropout(dropout_rate, name=f"{name}_dropout")(y)
    y = _norm(norm, f"{name}_norm1")(y)
    y = layers.ReLU(name=f"{name}_relu")(y)
    y = _conv(y, filters, 3, f"{name}_conv2", conv_padding, valid=True, use_bias=False)
    y = _norm(norm, f"{name}_norm2")(y)
    skip = x if conv_padding == "reflect" else layers.Cropping2D(2, name=f"{name}_crop")(x)
    return layers.Add(name=f"{name}_add")([skip, y])


def _upsample(x, filters: int, kernel: int, upsample: str, norm: str, name: str, conv_padding: str):
    if upsample == "deconv":
        x = layers.Conv2DTranspose(
            filters, kernel, strides=2, padding="same", use_bias=False, name=f"{name}_deconv"
        )(x)
    else:  # resize-convolution (Odena et al.): nearest x2 then a 3x3 conv.
        x = layers.UpSampling2D(2, interpolation="nearest", name=f"{name}_resize")(x)
        x = _conv(x, filters, 3, f"{name}_conv", conv_padding, use_bias=False)
    x = _norm(norm, f"{name}_norm")(x)
    return layers.ReLU(name=f"{name}_relu")(x)


def build_transformer(
    config: str | TransformerConfig = "paper",
    norm: str = "batch",
    upsample: str = "deconv",
    dropout_rate: float | None = None,
    input_shape: tuple[int | None, int | None] = (None, None),
    name: str | None = None,
    illumination: bool = False,
    residual: bool = False,
    raw_beside: bool = False,
    illumination_tone: str = DEFAULT_TONE,
) -> keras.Model:
    """Build f_W: (N, H, W, 3) float RGB in [0, 255] -> same shape in [0, 255].

    ``input_shape`` may fix (H, W) (both divisible by 4) for FLOP counting or TFLite; the default
    is dynamic. ``dropout_rate`` overrides the preset's rate. ``illumination`` puts the
    illumination-normalising front end (:mod:`purify_tf.models.illumination`, layer name
    ``illumination``) before the network; load its prior with ``set_prior`` before training;
    ``illumination_tone`` is its tone step (``hyperparameters.ILLUMINATION_TONES``).
    ``raw_beside`` (with ``illumination``) feeds f_W the raw eye beside the front end's output
    (6 channels): the front end is a fixed smooth gain, and only with the raw eye can f_W tell
    what it removed, e.g. undo it on an eye that was already clean (the identity term).
    """
    cfg = CONFIGS[config] if isinstance(config, str) and config in CONFIGS else config
    if not isinstance(cfg, TransformerConfig):
        raise ValueError(f"config must be one of {sorted(CONFIGS)}, got {config!r}")
    if norm not in NORMS:
        raise ValueError(f"norm must be one of {NORMS}, got {norm!r}")
    if upsample not in UPSAMPLES:
        raise ValueError(f"upsample must be one of {UPSAMPLES}, got {upsample!r}")
    for dim in input_shape:
        if dim is not None and dim % SIZE_MULTIPLE:
            raise ValueError(f"input height/width must be divisible by {SIZE_MULTIPLE}, got {input_shape}")
    if raw_beside and not illumination:
        raise ValueError("raw_beside needs the illumination front end (illumination=True): without it the "
                         "network's input already is the raw eye")
    rate = cfg.dropout_rate if dropout_rate is None else float(dropout_rate)
    f1, f2, f3 = cfg.filters

    inputs = keras.Input(shape=(*input_shape, 3), name="image")
    x = inputs
    if illumination:
        x = IlluminationNormalization(tone=illumination_tone, name=ILLUMINATION_LAYER)(x)
    base = x
    if raw_beside:
        x = layers.Concatenate(name="raw_beside")([x, inputs])
    x = layers.Rescaling(1.0 / 127.5, offset=-1.0, name=NETWORK_INPUT_LAYER)(x)
    pad = cfg.conv_padding
    if pad == "outer":
        x = ReflectionPadding2D(cfg.padding, name="reflection_pad")(x)
    x = _conv_norm_relu(x, f1, cfg.edge_kernel, 1, norm, "down1", pad)
    x = _conv_norm_relu(x, f2, 3, 2, norm, "down2", pad)
    x = _conv_norm_relu(x, f3, 3, 2, norm, "down3", pad)
    for i in range(cfg.num_blocks):
        x = _residual_block(x, f3, rate, norm, f"res{i + 1}", pad)
    x = _upsample(x, f2, cfg.deconv_kernel, upsample, norm, "up1", pad)
    x = _upsample(x, f1, cfg.deconv_kernel, upsample, norm, "up2", pad)
    if residual:
        x = _conv(x, 3, cfg.edge_kernel, NETWORK_OUTPUT_LAYER, pad, kernel_initializer="zeros")
        outputs = ResidualOutput(name=RESIDUAL_OUTPUT_LAYER)([base, x])
    else:
        x = _conv(x, 3, cfg.edge_kernel, NETWORK_OUTPUT_LAYER, pad)
        outputs = ScaledTanh(name="scaled_tanh")(x)
    return keras.Model(inputs, outputs, name=name or f"transformer_{cfg.name}")


PRECISIONS = ("float32", "mixed_bfloat16", "mixed_float16", "float16", "bfloat16")
# Layers that compute in float32 under every precision: the output heads and the front end.
FLOAT32_LAYERS = (ScaledTanh, ResidualOutput, IlluminationNormalization)


def front_end_of(model: keras.Model) -> IlluminationNormalization | None:
    """The illumination front end of a transformer (None without one), found by its type.

    Why by type: saved purifiers name it ``illumination``, but a name is not a contract, and
    a model has at most one front end, at its input.
    """
    found = [layer for layer in model.layers if isinstance(layer, IlluminationNormalization)]
    if len(found) > 1:
        raise ValueError(f"{model.name} has {len(found)} illumination front ends; a transformer has at most one")
    return found[0] if found else None


def with_precision(model: keras.Model, policy: str) -> keras.Model:
    """A copy of a trained transformer that computes under the dtype ``policy``, same weights.

    Why: a ``.keras`` file stores each layer's policy, so a global policy set before loading has
    no effect. bfloat16 is faster on CPUs with AVX512_BF16 or AMX (docs/BENCHMARKS.md) and
    float16 is the GPU choice; variables stay float32 and ``ScaledTanh`` keeps a float32 output.
    ``float16`` (variables too) halves the file for storage (the shipped pretrained purifier);
    convert it back with ``with_precision(model, "float32")`` before use. ``bfloat16`` (variables
    too) is the CPU inference choice: with float32 variables every call casts each kernel, and on
    AMX cores that made inference slower than with bfloat16 ones (docs/BENCHMARKS.md).
    """
    if policy not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {policy!r}")

    def clone(layer: layers.Layer) -> layers.Layer:
        config = layer.get_config()
        if not isinstance(layer, FLOAT32_LAYERS):
            config["dtype"] = policy
        return layer.__class__.from_config(config)

    copy = keras.models.clone_model(model, clone_function=clone, recursive=True)  # nested: flip_symmetric's f_W
    copy.set_weights(model.get_weights())
    return copy


def pad_amounts(size: tf.Tensor, multiple: int = SIZE_MULTIPLE) -> tuple[tf.Tensor, tf.Tensor]:
    """Split the padding that brings ``size`` to a multiple of ``multiple`` into (before, after)."""
    total = (-size) % multiple
    before = total // 2
    return before, total - before


def pad_to_multiple(images: tf.Tensor, multiple: int = SIZE_MULTIPLE) -> tuple[tf.Tensor, tf.Tensor]:
    """Reflect-pad (N, H, W, C) so H and W divide ``multiple``; returns (padded, [top, left, H, W])."""
    shape = tf.shape(images)
    h, w = shape[1], shape[2]
    top, bottom = pad_amounts(h, multiple)
    left, right = pad_amounts(w, multiple)
    padded = tf.pad(images, [[0, 0], [top, bottom], [left, right], [0, 0]], mode="REFLECT")
    return padded, tf.stack([top, left, h, w])


def crop_back(images: tf.Tensor, box: tf.Tensor) -> tf.Tensor:
    """Undo ``pad_to_multiple`` with the box it returned."""
    return images[:, box[0] : box[0] + box[2], box[1] : box[1] + box[3], :]


def apply_padded(model: keras.Model, images: tf.Tensor, training: bool = False) -> tf.Tensor:
    """Run the transformer on images of any H, W >= 4 (reflect-pad to a multiple of 4, crop back)."""
    images = tf.convert_to_tensor(images)
    padded, box = pad_to_multiple(tf.cast(images, tf.float32))
    return crop_back(model(padded, training=training), box)


def count_flops(
    config: str = "paper",
    height: int = 256,
    width: int = 256,
    upsample: str = "deconv",
    norm: str = "batch",
) -> int:
    """Multiply-add FLOPs (2 per MAC) of the convolutions for one image of height x width.

    Counted analytically from each layer's static shapes: convolutions and deconvolutions dominate;
    norms, ReLUs and padding are excluded (well under 1% of the total).
    """
    model = build_transformer(config, norm=norm, upsample=upsample, input_shape=(height, width))
    flops = 0
    for layer in model.layers:
        if isinstance(layer, layers.Conv2DTranspose):
            _, h_in, w_in, c_in = layer.input.shape
            kh, kw = layer.kernel_size
            flops += 2 * kh * kw * c_in * layer.filters * h_in * w_in
        elif isinstance(layer, layers.Conv2D):
            _, h_out, w_out, _ = layer.output.shape
            c_in = layer.input.shape[-1]
            kh, kw = layer.kernel_size
            flops += 2 * kh * kw * c_in * layer.filters * h_out * w_out
    return int(flops)
