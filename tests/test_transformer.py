"""The transformer f_W: shape and range, the identity at init of the residual output, batch
independence at inference, dropout only in training, padding, gradients, FLOPs and precision."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from purify_tf.models.transformer import (
    ReflectionPadding2D,
    apply_padded,
    build_transformer,
    count_flops,
)


def _images(n, h, w, seed=0):
    return np.random.default_rng(seed).uniform(0, 255, (n, h, w, 3)).astype("float32")


@pytest.mark.parametrize("config", ["paper", "reflect", "johnson"])
@pytest.mark.parametrize("hw", [(36, 60), (64, 96)])
def test_output_shape_and_range(config, hw):
    model = build_transformer(config)
    out = model(_images(2, *hw), training=False).numpy()
    assert out.shape == (2, *hw, 3)
    assert out.min() >= 0.0 and out.max() <= 255.0


def test_paper_maps_256_to_256_and_each_image_alone():
    """At inference an image's output does not depend on the batch it is in (batch norm uses its
    moving statistics), at the paper's 256x256."""
    model = build_transformer("paper")
    x = _images(2, 256, 256)
    out = model(x, training=False).numpy()
    assert out.shape == (2, 256, 256, 3)
    np.testing.assert_allclose(out[1:], model(x[1:], training=False).numpy(), atol=1e-3)


@pytest.mark.parametrize("config", ["paper", "reflect", "johnson", "tiny"])
def test_residual_output_is_the_identity_at_init(config):
    """The zero-initialised output conv makes f_W start as the identity, whatever the size, the
    mode (dropout and batch statistics in training) and the weights before it."""
    model = build_transformer(config, residual=True, dropout_rate=0.5 if config != "tiny" else None)
    for h, w in ((36, 60), (64, 96)):
        x = _images(2, h, w, seed=h)
        np.testing.assert_array_equal(model(x, training=False).numpy(), x)
        np.testing.assert_array_equal(model(x, training=True).numpy(), x)
    np.testing.assert_array_equal(apply_padded(model, _images(1, 37, 61)).numpy(), _images(1, 37, 61))


def test_dropout_acts_in_training_only():
    model = build_transformer("paper", dropout_rate=0.5)
    x = _images(1, 36, 60)
    np.testing.assert_array_equal(model(x, training=False).numpy(), model(x, training=False).numpy())
    assert np.abs(model(x, training=True).numpy() - model(x, training=True).numpy()).max() > 1e-3


@pytest.mark.parametrize("config", ["paper", "reflect", "johnson"])
def test_wrapper_handles_sizes_not_divisible_by_four(config):
    model = build_transformer(config)
    x = _images(1, 37, 61)
    out = apply_padded(model, x).numpy()
    assert out.shape == (1, 37, 61, 3)
    assert 0.0 <= out.min() and out.max() <= 255.0
    # Cropping back must return the same pixels as running on the padded image directly.
    padded = np.pad(x, [(0, 0), (1, 2), (1, 2), (0, 0)], mode="reflect")
    direct = model(padded, training=False).numpy()[:, 1:38, 1:62]
    np.testing.assert_allclose(out, direct, atol=1e-3)


@pytest.mark.parametrize("size", [(2, 3), (8, 12), (50, 70)])
def test_reflection_padding_matches_numpy(size):
    x = np.random.default_rng(1).normal(size=(1, *size, 2)).astype("float32")
    got = ReflectionPadding2D(10)(x).numpy()
    want = np.pad(x, [(0, 0), (10, 10), (10, 10), (0, 0)], mode="reflect")
    np.testing.assert_allclose(got, want)


def test_gradients_reach_every_trainable_weight_and_are_finite():
    model = build_transformer("paper", dropout_rate=0.0)
    x = tf.constant(_images(2, 36, 60))
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(tf.square(model(x, training=True) - 100.0))
    grads = tape.gradient(loss, model.trainable_variables)
    assert len(grads) == len(model.trainable_variables) > 0
    for var, g in zip(model.trainable_variables, grads, strict=True):
        assert g is not None, var.path
        assert np.all(np.isfinite(g.numpy())), var.path
    assert any(float(tf.reduce_max(tf.abs(g))) > 0 for g in grads)


def test_paper_has_fewer_flops_than_johnson():
    for size in (256, 512):
        paper, johnson = count_flops("paper", size, size), count_flops("johnson", size, size)
        assert paper < johnson
        # DESIGN.md: the FLOP ratio is about 1.18.
        assert 1.1 < johnson / paper < 1.25


def test_reflect_preset_computes_at_the_eye_size():
    """'reflect' has the paper's layers and weights, but no outer pad: at 48x72 every layer runs at
    the eye's own size, hand-counted here (MACs per output pixel x pixels, 2 FLOPs per MAC)."""
    from purify_tf.models.transformer import CONFIGS, TransformerConfig

    paper, reflect = build_transformer("paper"), build_transformer("reflect")
    assert paper.count_params() == reflect.count_params()
    h, w = 48, 72
    macs = (81 * 3 * 32 * h * w + 9 * 32 * 64 * (h // 2) * (w // 2) + 9 * 64 * 128 * (h // 4) * (w // 4)
            + 8 * 9 * 128 * 128 * (h // 4) * (w // 4)  # 4 residual blocks of 2 convolutions
            + 16 * 128 * 64 * (h // 4) * (w // 4) + 16 * 64 * 32 * (h // 2) * (w // 2)  # the deconvolutions
            + 81 * 32 * 3 * h * w)
    assert count_flops("reflect", h, w) == 2 * macs
    assert 2.2 < count_flops("paper", h, w) / count_flops("reflect", h, w) < 2.5
    assert CONFIGS["reflect"].conv_padding == "reflect"
    with pytest.raises(ValueError, match="padding must be 0"):
        TransformerConfig("x", padding=8, num_blocks=1, deconv_kernel=4, dropout_rate=0.0, conv_padding="reflect")
    with pytest.raises(ValueError, match="conv_padding"):
        TransformerConfig("x", padding=8, num_blocks=1, deconv_kernel=4, dropout_rate=0.0, conv_padding="zero")


def test_flop_count_of_first_conv():
    # Hand count for the 9x9 conv at 64x64 after 32 px padding: 2 * 81 * 3 * 32 * 128 * 128.
    model_flops = count_flops("paper", 64, 64)
    assert model_flops > 2 * 81 * 3 * 32 * 128 * 128


@pytest.mark.parametrize("norm,upsample", [("instance", "deconv"), ("batch", "resize")])
def test_options(norm, upsample):
    model = build_transformer("paper", norm=norm, upsample=upsample)
    out = model(_images(1, 40, 48), training=False)
    assert out.shape == (1, 40, 48, 3)
    if norm == "instance":
        assert not any(isinstance(layer, keras.layers.BatchNormalization) for layer in model.layers)


def test_bad_arguments_are_rejected():
    with pytest.raises(ValueError, match="config"):
        build_transformer("gatys")
    with pytest.raises(ValueError, match="norm"):
        build_transformer(norm="layer")
    with pytest.raises(ValueError, match="divisible by 4"):
        build_transformer(input_shape=(30, 32))


def test_keras_round_trip(tmp_path):
    model = build_transformer("paper")
    x = _images(1, 36, 60)
    path = tmp_path / "f_w.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    np.testing.assert_allclose(model(x, training=False), loaded(x, training=False), atol=1e-4)


def test_mixed_precision_output_is_float32_and_near_the_float32_model():
    """Under mixed float16 the output stays float32 and, with the same weights, within one grey
    level of the float32 network (tiny preset; measured: at most 0.03)."""
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        mixed = build_transformer("tiny")
        x = _images(1, 36, 60)
        out = mixed(x, training=False)
        assert out.dtype == tf.float32
    finally:
        keras.mixed_precision.set_global_policy("float32")
    full = build_transformer("tiny")
    full.set_weights(mixed.get_weights())
    diff = np.abs(out.numpy() - full(x, training=False).numpy())
    assert diff.max() <= 1.0 and diff.mean() <= 0.1, (diff.max(), diff.mean())


@pytest.mark.parametrize("config", ["paper", "reflect", "johnson"])
def test_described_preset_is_the_built_one(config):
    """Exports name the preset read off the layers; 'paper' and 'reflect' share every weight shape."""
    from purify_tf.inference.metadata import describe_transformer

    facts = describe_transformer(build_transformer(config))
    assert facts["config"] == config
    assert facts["conv_padding"] == ("reflect" if config == "reflect" else "outer")
