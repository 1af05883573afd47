"""Training's default precision: mixed bfloat16 where the CPU has native bf16, float32 elsewhere."""

from __future__ import annotations

import keras
import pytest

from purify_tf.inference import runtimes
from purify_tf.training.strategy import configure_precision


@pytest.fixture
def restore_policy():
    previous = keras.mixed_precision.global_policy().name
    yield
    keras.mixed_precision.set_global_policy(previous)


@pytest.mark.parametrize(("native", "expected"), [("1", "mixed_bfloat16"), ("0", "float32")])
def test_unset_flag_follows_native_bf16(monkeypatch, restore_policy, native, expected):
    monkeypatch.setenv(runtimes.ENV_NATIVE_BF16, native)
    assert configure_precision(None) == expected
    assert keras.mixed_precision.global_policy().name == expected


def test_explicit_flag_wins(monkeypatch, restore_policy):
    monkeypatch.setenv(runtimes.ENV_NATIVE_BF16, "1")
    assert configure_precision(False) == "float32"
    monkeypatch.setenv(runtimes.ENV_NATIVE_BF16, "0")
    assert configure_precision(True) == "mixed_bfloat16"
