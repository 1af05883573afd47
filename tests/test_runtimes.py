"""Other runtimes for the exported graph (LiteRT, OpenVINO), auto precision and auto batch size."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
from model_helpers import random_images

from purify_tf.errors import ConfigError, DataError
from purify_tf.inference import runtimes
from purify_tf.inference.purifier import BATCH_PIXELS, Purifier, auto_batch_size

pytest.importorskip("ai_edge_litert", reason="LiteRT is in the test extra")




@pytest.fixture(scope="module")
def model(keras_model_file):
    return keras_model_file[0]


def test_litert_runtime_matches_tensorflow(model):
    tf_purifier = Purifier(model, precision="float32")
    lite = Purifier(model, runtime="litert")
    assert lite.precision == "float32"
    for shape in [(3, 36, 60), (1, 37, 61)]:  # the second needs the reflect-pad to a multiple of 4
        images = random_images(shape[0], shape[1], shape[2], seed=shape[1])
        diff = np.abs(lite.purify(images).astype(int) - tf_purifier.purify(images).astype(int))
        assert diff.max() <= 1 and diff.mean() < 0.05


def test_runner_caches_a_few_shapes_and_rejects_tiny_images(model, monkeypatch):
    monkeypatch.setattr(runtimes, "MAX_CACHED_SHAPES", 1)  # each shape is a conversion: keep few
    runner = runtimes.TFLiteRunner(model, "litert")
    for width in range(8, 8 + 4 * (runtimes.MAX_CACHED_SHAPES + 2), 4):
        runner(random_images(1, 8, width, seed=width))
    assert len(runner._compiled) == runtimes.MAX_CACHED_SHAPES
    with pytest.raises(DataError, match="sides >= 4"):
        runner(np.zeros((1, 3, 8, 3), np.uint8))


def test_openvino_runtime_matches_tensorflow(model):
    pytest.importorskip("openvino", reason="OpenVINO is in the openvino/peers extras")
    images = random_images(2, 36, 60, seed=4)
    ov = Purifier(model, runtime="openvino").purify(images)
    reference = Purifier(model, precision="float32").purify(images)
    assert np.abs(ov.astype(int) - reference.astype(int)).max() <= 1


def test_openvino_runs_bfloat16_where_native_within_one_level(model, monkeypatch):
    pytest.importorskip("openvino", reason="OpenVINO is in the openvino/peers extras")
    images = random_images(2, 36, 60, seed=5)
    reference = Purifier(model, precision="float32").purify(images)
    monkeypatch.setenv(runtimes.ENV_NATIVE_BF16, "0")
    assert Purifier(model, runtime="openvino").precision == "float32"
    monkeypatch.setenv(runtimes.ENV_NATIVE_BF16, "1")
    ov = Purifier(model, runtime="openvino")
    assert ov.precision == "bfloat16"
    diff = np.abs(ov.purify(images).astype(int) - reference.astype(int))
    assert diff.mean() <= runtimes.BF16_PARITY_LEVELS
    assert Purifier(model, runtime="openvino", precision="float32").precision == "float32"
    monkeypatch.setattr(runtimes, "BF16_PARITY_LEVELS", -1.0)  # parity fails: float32
    assert Purifier(model, runtime="openvino").precision == "float32"
    with pytest.raises(ConfigError, match="float32 or bfloat16"):
        Purifier(model, runtime="openvino", precision="mixed_float16")


def test_runtime_and_precision_errors(model, tmp_path):
    with pytest.raises(ConfigError, match="runtime must be one of"):
        Purifier(model, runtime="tvm")
    with pytest.raises(ConfigError, match="runs float32"):
        Purifier(model, runtime="litert", precision="mixed_bfloat16")
    with pytest.raises(ConfigError, match="runs float32"):
        Purifier(model, runtime="litert", precision="bfloat16")


def test_auto_precision_is_float32_without_native_bf16(model, monkeypatch):
    monkeypatch.setattr(runtimes, "native_bf16", lambda: False)
    assert runtimes.auto_precision(model) == "float32"
    monkeypatch.setattr(runtimes, "native_bf16", lambda: True)
    # With native bf16 the choice follows parity: the model's bf16 output is within one level here.
    assert runtimes.auto_precision(model) == "bfloat16"
    monkeypatch.setattr(runtimes, "BF16_PARITY_LEVELS", 0.0)
    assert runtimes.auto_precision(model) == "float32"


@pytest.mark.parametrize("value, expected", [("1", True), ("on", True), ("0", False), ("off", False)])
def test_native_bf16_override(monkeypatch, value, expected):
    monkeypatch.setenv(runtimes.ENV_NATIVE_BF16, value)
    assert runtimes.native_bf16() is expected


def test_native_bf16_detection_and_bad_override(monkeypatch):
    monkeypatch.setenv(runtimes.ENV_NATIVE_BF16, "auto")
    flags = next((line.split() for line in open("/proc/cpuinfo") if line.startswith("flags")), [])
    assert runtimes.native_bf16() is any(f in flags for f in ("avx512_bf16", "amx_bf16"))
    monkeypatch.setenv(runtimes.ENV_NATIVE_BF16, "maybe")
    with pytest.raises(ConfigError, match="PURIFY_NATIVE_BF16"):
        runtimes.native_bf16()


def test_cpu_class_detection_and_override(monkeypatch):
    from purify_tf import cpu

    monkeypatch.setenv(cpu.ENV_CPU_CLASS, "auto")
    flags = next((line.split() for line in open("/proc/cpuinfo") if line.startswith("flags")), [])
    detected = cpu.cpu_class()
    assert detected in cpu.CPU_CLASSES
    assert (detected == "amx") is ("amx_bf16" in flags)
    assert (detected in ("amx", "avx512_bf16")) is any(f in flags for f in ("avx512_bf16", "amx_bf16"))
    for name in cpu.CPU_CLASSES:
        monkeypatch.setenv(cpu.ENV_CPU_CLASS, name)
        assert cpu.cpu_class() == name
    monkeypatch.setenv(cpu.ENV_CPU_CLASS, "sse9")
    with pytest.raises(ConfigError, match="PURIFY_CPU_CLASS"):
        cpu.cpu_class()


@pytest.mark.parametrize("cpu_class, openvino_installed, expected", [
    ("amx", True, "openvino"), ("amx", False, "tensorflow"), ("avx512_bf16", True, "tensorflow"),
    ("avx512", True, "tensorflow"), ("avx2", True, "tensorflow"), ("baseline", True, "tensorflow"),
])
def test_auto_runtime_follows_the_measured_rule(monkeypatch, cpu_class, openvino_installed, expected):
    from purify_tf import cpu

    monkeypatch.setenv(cpu.ENV_CPU_CLASS, cpu_class)
    monkeypatch.setattr(runtimes, "runtime_installed",
                        lambda r: r == "tensorflow" or (r == "openvino" and openvino_installed))
    assert set(runtimes.AUTO_RUNTIMES) == set(cpu.CPU_CLASSES)
    assert runtimes.auto_runtime() == expected


def test_purifier_auto_runtime_resolves_to_what_runs(model, saved_model_dir, monkeypatch):
    from purify_tf import cpu

    monkeypatch.setenv(cpu.ENV_CPU_CLASS, "avx2")
    assert Purifier(model, runtime="auto", precision="float32").runtime == "tensorflow"
    # Where the rule says OpenVINO, only a .keras model in a precision OpenVINO runs goes there.
    monkeypatch.setenv(cpu.ENV_CPU_CLASS, "amx")
    monkeypatch.setattr(runtimes, "runtime_installed", lambda r: True)
    assert Purifier(saved_model_dir, runtime="auto").runtime == "tensorflow"
    assert Purifier(model, runtime="auto", precision="mixed_bfloat16").runtime == "tensorflow"
    assert Purifier(model, runtime="auto", precision="float32", jit="on").runtime == "tensorflow"
    if importlib.util.find_spec("openvino") is not None:  # in the openvino / peers extras
        images = random_images(2, 36, 60, seed=6)
        auto = Purifier(model, runtime="auto", precision="float32")
        assert auto.runtime == "openvino" and auto.precision == "float32"
        reference = Purifier(model, runtime="tensorflow", precision="float32").purify(images)
        assert np.abs(auto.purify(images).astype(int) - reference.astype(int)).max() <= 1


def test_auto_batch_size_follows_the_pixel_budget():
    assert auto_batch_size(36, 60) == 64
    assert auto_batch_size(512, 512) == 1
    assert auto_batch_size(128, 128) == BATCH_PIXELS // (128 * 128)
    assert Purifier.batch_size_for(type("P", (), {"batch_size": 5})(), 36, 60) == 5
