"""fold_for_inference: the inference rewrite computes what the trained model computes."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from purify_tf.models.inference_graph import (
    RowSplitConv2D,
    SubPixelConv2D,
    fold_for_inference,
    row_split_kernel,
    subpixel_kernel,
)
from purify_tf.models.transformer import build_transformer


def _trained_looking(model: keras.Model, seed: int = 0) -> keras.Model:
    """Non-trivial batch-norm statistics and a non-zero residual head, as after training."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            n = layer.moving_mean.shape[0]
            layer.moving_mean.assign(rng.normal(0, 0.1, n).astype("float32"))
            layer.moving_variance.assign(rng.uniform(0.5, 2.0, n).astype("float32"))
            layer.gamma.assign(rng.uniform(0.5, 1.5, n).astype("float32"))
            layer.beta.assign(rng.normal(0, 0.1, n).astype("float32"))
    head = model.get_layer("output_conv")
    head.kernel.assign(rng.normal(0, 0.02, head.kernel.shape).astype("float32"))
    return model


@pytest.mark.parametrize(
    "options",
    [{}, {"residual": True, "illumination": True}, {"norm": "instance"}, {"config": "johnson"},
     {"config": "reflect", "residual": True, "illumination": True}],
    ids=["paper", "front_end_residual", "instance_norm", "johnson", "reflect"],
)
@pytest.mark.parametrize("upsample,output_conv", [("deconv", "direct"), ("subpixel", "rows")])
def test_folded_model_matches(options, upsample, output_conv):
    keras.utils.set_random_seed(0)
    model = _trained_looking(build_transformer(**options))
    folded = fold_for_inference(model, upsample=upsample, output_conv=output_conv)
    x = np.random.default_rng(1).uniform(0, 255, (2, 36, 60, 3)).astype("float32")
    reference = model(x, training=False).numpy()
    out = folded(x).numpy()
    assert out.shape == reference.shape
    assert np.abs(out - reference).max() < 1e-2  # float rounding only (levels in [0, 255])
    kinds = {type(layer).__name__ for layer in folded.layers}
    assert "BatchNormalization" not in kinds and "Dropout" not in kinds
    if options.get("norm") == "instance":
        assert "GroupNormalization" in kinds  # image-dependent: stays
    rewritten = upsample == "subpixel" and options.get("config") != "johnson"  # Johnson's deconvs are 3x3
    assert ("SubPixelConv2D" in kinds) == rewritten
    # The row split reproduces a 'same' conv; 'reflect' pads first and convolves 'valid': kept as it is.
    assert ("RowSplitConv2D" in kinds) == (output_conv == "rows" and options.get("config") != "reflect")


@pytest.mark.parametrize("height,width", [(6, 9), (1, 1), (5, 4)])
def test_subpixel_conv_equals_transposed_conv(height, width):
    rng = np.random.default_rng(2)
    kernel = rng.normal(size=(4, 4, 5, 7)).astype("float32")  # (h, w, out, in)
    bias = rng.normal(size=5).astype("float32")
    x = rng.normal(size=(2, height, width, 7)).astype("float32")
    shape = (2, 2 * height, 2 * width, 5)
    reference = tf.nn.conv2d_transpose(x, kernel, shape, strides=2, padding="SAME").numpy() + bias
    layer = SubPixelConv2D(5)
    layer.build(x.shape)
    layer.conv.set_weights([subpixel_kernel(kernel), np.tile(bias, 4)])
    np.testing.assert_allclose(layer(x).numpy(), reference, atol=1e-4)


@pytest.mark.parametrize("kernel_size", [1, 3, 9])
def test_row_split_conv_equals_conv(kernel_size):
    rng = np.random.default_rng(3)
    kernel = rng.normal(size=(kernel_size, kernel_size, 6, 3)).astype("float32")
    bias = rng.normal(size=3).astype("float32")
    x = rng.normal(size=(2, 7, 10, 6)).astype("float32")
    reference = tf.nn.conv2d(x, kernel, 1, "SAME").numpy() + bias
    layer = RowSplitConv2D(3, kernel_size)
    layer.build(x.shape)
    layer.conv.set_weights([row_split_kernel(kernel)])
    layer.bias.assign(bias)
    np.testing.assert_allclose(layer(x).numpy(), reference, atol=1e-4)
    with pytest.raises(ValueError, match="odd kernel"):
        RowSplitConv2D(3, 4)


def test_folded_flip_symmetric_model_matches():
    """The shipped purifier is flip-symmetric: its nested f_W is folded once and called on both eyes."""
    from purify_tf.models.symmetry import flip_symmetric

    keras.utils.set_random_seed(0)
    model = flip_symmetric(_trained_looking(build_transformer(config="reflect", residual=True, illumination=True)))
    folded = fold_for_inference(model)
    x = np.random.default_rng(1).uniform(0, 255, (2, 36, 60, 3)).astype("float32")
    assert np.abs(folded(x).numpy() - model(x, training=False).numpy()).max() < 1e-2
    nets = [layer for layer in folded.layers if isinstance(layer, keras.Model)]
    assert len(nets) == 1  # shared by the two passes, not cloned twice
    kinds = {type(layer).__name__ for layer in nets[0].layers}
    assert "BatchNormalization" not in kinds and "SubPixelConv2D" in kinds


def test_fold_rejects_a_model_that_is_not_a_transformer():
    inputs = keras.Input((8, 8, 3))
    model = keras.Model(inputs, keras.layers.Conv2D(3, 3, padding="same")(inputs))
    with pytest.raises(ValueError, match="transformer head"):
        fold_for_inference(model)
    with pytest.raises(ValueError, match="upsample"):
        fold_for_inference(build_transformer(), upsample="bilinear")
    with pytest.raises(ValueError, match="output_conv"):
        fold_for_inference(build_transformer(), output_conv="wide")
