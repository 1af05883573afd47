"""int8 TFLite parity on a TRAINED purifier: the one shipped in the package, at the eye size.

The issue's target is mean <= 1 and max <= 8 grey levels (absolute difference from the Keras
float32 output, uint8 scale) on held-out real-domain eyes. Calibration (seed 0) and evaluation
(seed 1) use different rendered real-domain eyes, the domain the purifier was trained on.

Measured here at 36x60 with these 8 calibration and 4 evaluation images, on the shipped file of
2026-12-03 (f_W at the eye's size): dynamic-range ``int8`` mean 0.12, max 0.70; ``int8_selective``
mean 0.46, max 3.4; the naive full-integer ``int8_full`` (illumination front end and output head in
int8 too, uint8 in/out) mean 1.31, max 11.2, i.e. outside the target, which the last test checks so
that the bounds stay meaningful. (The file before it, in the paper's layout: 0.017 / 0.35, 0.16 /
0.95 and 1.19 / 6.8.) About a minute on a loaded 2-core machine, most of it the conversions.
"""

from __future__ import annotations

import numpy as np
import pytest

from export import tflite

pytestmark = pytest.mark.slow  # int8 conversions of the trained purifier

HEIGHT, WIDTH = 36, 60
MEAN_BOUND, MAX_BOUND = 1.0, 8.0


@pytest.fixture(scope="module")
def trained():
    from purify_tf import pretrained

    if not pretrained.is_installed():
        pytest.skip("the pretrained purifier is not installed")
    model = pretrained.load_pretrained()
    calibration, source = tflite.representative_images(8, HEIGHT, WIDTH, seed=0)
    assert source.startswith("renderer")
    images, _ = tflite.representative_images(4, HEIGHT, WIDTH, seed=1)
    return model, calibration, images


@pytest.fixture(scope="module")
def converted(trained):
    model, calibration, _ = trained
    return {v: tflite.convert(model, HEIGHT, WIDTH, v, calibration) for v in ("int8", "int8_selective", "int8_full")}


@pytest.mark.parametrize("variant", ["int8", "int8_selective"])
def test_int8_meets_the_target_on_a_trained_purifier(trained, converted, variant):
    model, _, images = trained
    parity = tflite.tflite_parity(converted[variant], model, images)
    assert parity["mean_abs_diff"] <= MEAN_BOUND, parity
    assert parity["max_abs_diff"] <= MAX_BOUND, parity


def test_selective_keeps_the_front_end_and_head_in_float(converted):
    interpreter = tflite.make_interpreter(model_content=converted["int8_selective"])
    dtypes: dict[str, set] = {}
    for t in interpreter.get_tensor_details():
        for key in ("/illumination", "/residual_output", "/down2_relu", "/res4_add"):
            if key in t["name"]:
                dtypes.setdefault(key, set()).add(np.dtype(t["dtype"]).name)
    for key in ("/illumination", "/residual_output"):  # float32 (and int32 shapes), nothing int8
        assert "float32" in dtypes[key] and not dtypes[key] & {"int8", "uint8", "int16"}, (key, dtypes[key])
    for key in ("/down2_relu", "/res4_add"):  # the trunk: int8 (int32 biases), nothing float
        assert "int8" in dtypes[key] and "float32" not in dtypes[key], (key, dtypes[key])
    io = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    assert all(d["dtype"] == np.float32 for d in io)
    # Weights are int8: the file is a quarter of float32's (5.8 MB for this network).
    assert len(converted["int8_selective"]) < 2_000_000


def test_naive_full_integer_misses_the_target(trained, converted):
    """The bounds above would fail for naive full-integer int8 (everything quantised)."""
    model, _, images = trained
    parity = tflite.tflite_parity(converted["int8_full"], model, images)
    assert parity["mean_abs_diff"] > MEAN_BOUND or parity["max_abs_diff"] > MAX_BOUND, parity
    selective = tflite.tflite_parity(converted["int8_selective"], model, images)
    assert selective["mean_abs_diff"] < parity["mean_abs_diff"] / 2, (selective, parity)
