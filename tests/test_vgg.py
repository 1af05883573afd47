"""The VGG loss network: taps, weights resolution, errors, caching. Never touches the network."""

from __future__ import annotations

import h5py
import keras
import numpy as np
import pytest

from purify_tf.errors import ConfigError
from purify_tf.losses.layers import LOSS_LAYERS, layer_stride
from purify_tf.models import vgg

SHARED_WEIGHTS = "weights/vgg16_imagenet_notop.weights.h5"


@pytest.fixture(autouse=True)
def _offline(monkeypatch, tmp_path):
    """No downloads, no user weights, an empty Keras cache."""
    monkeypatch.setenv(vgg.ENV_OFFLINE, "1")
    monkeypatch.delenv(vgg.ENV_WEIGHTS, raising=False)
    cache = tmp_path / "keras_cache"
    cache.mkdir()
    monkeypatch.setattr(vgg, "keras_cache_dirs", lambda: [cache])
    yield cache


def _image(h: int = 32, w: int = 32, batch: int = 2) -> np.ndarray:
    return np.random.default_rng(0).uniform(0, 255, size=(batch, h, w, 3)).astype(np.float32)


@pytest.mark.parametrize("architecture", ["vgg19", "vgg16"])
def test_random_network_taps_shapes_and_scale(architecture):
    net = vgg.build_loss_network(architecture, "random", layers=LOSS_LAYERS, allow_download=False)
    assert net.info == {
        "architecture": architecture,
        "weights": "random(seed=0)",
        "layers": list(LOSS_LAYERS),
    }
    assert not net.model.trainable_weights
    features = net(_image())
    assert list(features) == list(LOSS_LAYERS)
    channels = {1: 64, 2: 128, 3: 256, 4: 512, 5: 512}
    for name, f in features.items():
        block = int(name[5])
        assert tuple(f.shape) == (
            2,
            32 // 2 ** (block - 1),
            32 // 2 ** (block - 1),
            channels[block],
        )
        assert 32 // layer_stride(name) == f.shape[1]
    deep = features["block5_conv3"].numpy()
    assert np.all(np.isfinite(deep))
    assert 1e-2 < np.abs(deep).mean() < 1e4  # He init: neither vanishes nor explodes
    # Truncated after block5_conv3: VGG19's block5_conv4 is not in the model.
    names = {layer.name for layer in net.model.layers}
    assert "block5_conv4" not in names and "preprocess" in names


def test_built_once_per_process_and_truncated():
    a = vgg.build_loss_network("vgg16", "random", layers=LOSS_LAYERS, allow_download=False)
    assert vgg.build_loss_network("vgg16", "random", layers=LOSS_LAYERS, allow_download=False) is a
    assert vgg.build_loss_network("vgg16", "random", layers=LOSS_LAYERS, seed=1, allow_download=False) is not a
    small = vgg.build_loss_network("vgg16", "random", layers=["block2_conv1"])
    assert list(small(_image(16, 16, 1))) == ["block2_conv1"]
    assert small.count_params() == (3 * 9 * 64 + 64) + (64 * 9 * 64 + 64) + (64 * 9 * 128 + 128)


def test_preprocessing_inside_matches_keras_applications():
    net = vgg.build_loss_network("vgg16", "random", layers=["block1_conv1"])
    x = _image(8, 8, 1)
    kernel, bias = net.model.get_layer("block1_conv1").get_weights()
    pre = keras.applications.vgg16.preprocess_input(x.copy())
    padded = np.pad(pre[0], ((1, 1), (1, 1), (0, 0)))
    # 'same' 3x3 conv at output (3, 3) reads padded rows/cols 3..5; ReLU after.
    expected = np.maximum(np.einsum("yxc,yxcd->d", padded[3:6, 3:6], kernel) + bias, 0)
    np.testing.assert_allclose(
        net(x)["block1_conv1"].numpy()[0, 3, 3], expected, rtol=1e-4, atol=1e-3
    )


def test_auto_picks_vgg16_for_the_shared_file(shared_dir, monkeypatch):
    path = shared_dir / SHARED_WEIGHTS
    if not path.is_file():
        pytest.skip(f"{path} is not present")
    assert vgg.weights_file_architecture(path) == "vgg16"
    monkeypatch.setenv(vgg.ENV_WEIGHTS, str(path))
    net = vgg.build_loss_network(layers=["block1_conv1", "block3_conv2"])
    assert net.info["architecture"] == "vgg16"
    assert net.info["weights"] == str(path.resolve())
    with h5py.File(path, "r") as f:
        kernel = f["layers/conv2d/vars/0"][()]
    np.testing.assert_array_equal(net.model.get_layer("block1_conv1").get_weights()[0], kernel)
    with pytest.raises(ConfigError, match="vgg16 weights"):
        vgg.build_loss_network("vgg19", str(path), layers=LOSS_LAYERS)


def test_keras_cache_is_used_for_imagenet(shared_dir, _offline):
    path = shared_dir / SHARED_WEIGHTS
    if not path.is_file():
        pytest.skip(f"{path} is not present")
    cached = _offline / "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5"
    cached.symlink_to(path)  # a Keras 3 file under the legacy cache name
    net = vgg.build_loss_network("auto", "imagenet", layers=["block1_conv1"])
    assert net.info["architecture"] == "vgg16"
    assert net.info["weights"].startswith("imagenet:")
    with h5py.File(path, "r") as f:
        kernel = f["layers/conv2d/vars/0"][()]
    np.testing.assert_array_equal(net.model.get_layer("block1_conv1").get_weights()[0], kernel)


def test_wrong_architecture_file_is_a_config_error(tmp_path):
    tiny = keras.Sequential(
        [keras.Input((8, 8, 3)), keras.layers.Conv2D(4, 3), keras.layers.Dense(2)]
    )
    path = tmp_path / "tiny.weights.h5"
    tiny.save_weights(path)
    with pytest.raises(ConfigError, match="tiny.weights.h5.*expected a VGG16"):
        vgg.build_loss_network("auto", str(path), layers=LOSS_LAYERS)
    not_h5 = tmp_path / "notes.txt"
    not_h5.write_text("hello")
    with pytest.raises(ConfigError, match="notes.txt"):
        vgg.build_loss_network("vgg19", str(not_h5), layers=LOSS_LAYERS)


def test_missing_path_is_a_config_error(tmp_path, monkeypatch):
    missing = tmp_path / "nope.weights.h5"
    with pytest.raises(ConfigError, match="nope.weights.h5.*does not exist"):
        vgg.build_loss_network("auto", str(missing), layers=LOSS_LAYERS)
    monkeypatch.setenv(vgg.ENV_WEIGHTS, str(missing))
    with pytest.raises(ConfigError, match="nope.weights.h5"):
        vgg.build_loss_network(layers=LOSS_LAYERS)


def test_legacy_h5_layout_is_recognised(tmp_path):
    """The layout of Keras's cached ``*_notop.h5`` files (shapes only; no data written)."""
    path = tmp_path / "legacy.h5"
    names = vgg.conv_layer_names("vgg19")
    with h5py.File(path, "w") as f:
        f.attrs["layer_names"] = [n.encode() for n in ["input_1", *names]]
        f.create_group("input_1").attrs["weight_names"] = []
        for name, shape in zip(names, vgg.expected_kernel_shapes("vgg19"), strict=True):
            g = f.create_group(name)
            g.attrs["weight_names"] = [f"{name}_W:0".encode(), f"{name}_b:0".encode()]
            g.create_dataset(f"{name}_W:0", shape=shape, dtype="f4")
            g.create_dataset(f"{name}_b:0", shape=(shape[-1],), dtype="f4")
    assert vgg.weights_file_architecture(path) == "vgg19"


def test_bad_arguments_are_config_errors():
    with pytest.raises(TypeError, match="layers"):  # the caller says what to tap
        vgg.build_loss_network("vgg16", "random")
    with pytest.raises(ConfigError, match="loss_network"):
        vgg.build_loss_network("vgg11", "random", layers=LOSS_LAYERS)
    with pytest.raises(ConfigError, match="block5_conv4"):
        vgg.build_loss_network("vgg16", "random", layers=["block5_conv4"])
    with pytest.raises(ConfigError, match="imagenet"):
        vgg.build_loss_network("vgg19", "imagenet", layers=LOSS_LAYERS)


def test_random_fallback_warns_once(monkeypatch):
    warnings: list[str] = []
    monkeypatch.setattr(vgg, "_random_warning_issued", False)
    monkeypatch.setattr(vgg.logging, "warning", lambda msg, *args: warnings.append(msg % args))
    first = vgg.build_loss_network(layers=["block1_conv1"])
    second = vgg.build_loss_network(layers=["block1_conv1"])
    assert first is second
    assert first.info["architecture"] == "vgg19" and first.info["weights"] == "random(seed=0)"
    assert len(warnings) == 1
    assert "RANDOM" in warnings[0] and vgg.ENV_WEIGHTS in warnings[0]


def test_mixed_precision_features_give_float32_losses():
    from purify_tf.losses import LossWeights, PurificationObjective

    keras.config.set_dtype_policy("mixed_float16")
    try:
        net = vgg.build_loss_network("vgg16", "random", layers=["block1_conv1", "block1_conv2"])
        assert net(_image(16, 16, 1))["block1_conv1"].dtype == "float16"
        weights = LossWeights(
            layers={"global_content": ("block1_conv2",), "local_content": ("block1_conv2",),
                    "global_style": ("block1_conv2",), "local_style": ("block1_conv1",)},
        )
        objective = PurificationObjective(net, weights)
        labels = np.zeros((1, 16, 16), np.int32)
        labels[0, 4:12, 4:12] = 1
        targets = objective.style_targets(_image(16, 16, 1), labels)
        terms = objective(
            _image(16, 16, 2), _image(16, 16, 2)[::-1], np.repeat(labels, 2, 0), targets
        )
        assert all(v.dtype == "float32" and np.isfinite(float(v)) for v in terms.values())
    finally:
        keras.config.set_dtype_policy("float32")
    float32_net = vgg.build_loss_network("vgg16", "random", layers=["block1_conv1", "block1_conv2"])
    assert float32_net is not net
