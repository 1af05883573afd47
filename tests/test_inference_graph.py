"""fold_for_inference: the inference rewrite computes what the trained model computes."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from purify_tf.models.inference_graph import fold_for_inference, subpixel_kernel
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
    [{}, {"residual": True, "illumination": True}, {"norm": "instance"}, {"config": "johnson"}],
    ids=["paper", "front_end_residual", "instance_norm", "johnson"],
)
@pytest.mark.parametrize("upsample,output_filters", [("deconv", 3), ("subpixel", 8)])
def test_folded_model_matches(options, upsample, output_filters):
    keras.utils.set_random_seed(0)
    model = _trained_looking(build_transformer(**options))
    folded = fold_for_inference(model, upsample=upsample, output_filters=output_filters)
    x = np.random.default_rng(1).uniform(0, 255, (2, 36, 60, 3)).astype("float32")
    reference = model(x, training=False).numpy()
    out = folded(x).numpy()
    assert out.shape == reference.shape
    assert np.abs(out - reference).max() < 1e-2  # float rounding only (levels in [0, 255])
    kinds = {type(layer).__name__ for layer in folded.layers}
    assert "BatchNormalization" not in kinds and "Dropout" not in kinds
    if options.get("norm") == "instance":
        assert "GroupNormalization" in kinds  # image-dependent: stays


def test_subpixel_kernel_equals_transposed_conv():
    rng = np.random.default_rng(2)
    kernel = rng.normal(size=(4, 4, 5, 7)).astype("float32")  # (h, w, out, in)
    x = rng.normal(size=(1, 6, 9, 7)).astype("float32")
    reference = tf.nn.conv2d_transpose(x, kernel, (1, 12, 18, 5), strides=2, padding="SAME").numpy()
    sub = tf.nn.depth_to_space(tf.nn.conv2d(x, subpixel_kernel(kernel), 1, "SAME"), 2).numpy()
    np.testing.assert_allclose(sub, reference, atol=1e-4)


def test_fold_rejects_a_model_that_is_not_a_transformer():
    inputs = keras.Input((8, 8, 3))
    model = keras.Model(inputs, keras.layers.Conv2D(3, 3, padding="same")(inputs))
    with pytest.raises(ValueError, match="transformer head"):
        fold_for_inference(model)
    with pytest.raises(ValueError, match="upsample"):
        fold_for_inference(build_transformer(), upsample="bilinear")
