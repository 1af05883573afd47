"""TFLite export: the variants at a fixed size, parity with Keras, LiteRT interpreter.

The session model is the tiny preset with randomised batch-norm statistics (the paper's layout);
the bounds are the ones asserted on the paper network before, with a margin: float32 and float16
within one grey level, dynamic-range int8 mean <= 1.5, int8_selective mean <= 1; the naive
full-integer ``int8_full`` is known to be poor and only has to run sanely.
tests/test_tflite_int8.py checks int8 on the trained purifier. The int8 conversions are slow tests.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from model_helpers import random_images

from export import tflite
from purify_tf.errors import ConfigError

HEIGHT, WIDTH = 38, 62  # not multiples of 4: the graph pads and crops back


FLOAT_VARIANTS = ("float32", "float16")


@pytest.fixture(scope="module")
def exported(keras_model_file, tmp_path_factory):
    """The float variants (the quick suite); the int8 conversions are in the slow tests below."""
    _, path = keras_model_file
    out = tmp_path_factory.mktemp("tflite")
    return out, tflite.export_tflite(path, out, HEIGHT, WIDTH, FLOAT_VARIANTS, parity_images=2)


@pytest.fixture(scope="module")
def exported_all(keras_model_file, tmp_path_factory):
    _, path = keras_model_file
    out = tmp_path_factory.mktemp("tflite_all")
    return out, tflite.export_tflite(path, out, HEIGHT, WIDTH, tflite.ALL_VARIANTS, calibration_images=8, parity_images=2)


def _conv_weights(model) -> int:
    import keras

    return sum(int(np.prod(w.shape)) for layer in model.layers
               if isinstance(layer, (keras.layers.Conv2D, keras.layers.Conv2DTranspose)) for w in layer.weights)


def test_files_and_metadata(keras_model_file, exported):
    out, result = exported
    for variant in FLOAT_VARIANTS:
        path = Path(result["files"][variant])
        assert path.name == f"purifier_{HEIGHT}x{WIDTH}_{variant}.tflite" and path.stat().st_size > 0
    sizes = {v: Path(p).stat().st_size for v, p in result["files"].items()}
    # float16 stores every convolution weight in 2 bytes instead of 4 (the graph itself stays).
    assert sizes["float32"] - sizes["float16"] >= 1.5 * _conv_weights(keras_model_file[0])
    meta = json.loads((out / f"purifier_{HEIGHT}x{WIDTH}.json").read_text())
    assert meta["export"]["height"] == HEIGHT and set(meta["parity"]) == set(FLOAT_VARIANTS)
    assert not [p for p in out.iterdir() if p.name.startswith(".")]


def test_float_parity_bounds(exported):
    parity = exported[1]["parity"]
    assert parity["float32"]["max_abs_diff"] <= 1.0
    assert parity["float16"]["max_abs_diff"] <= 1.0


def test_interpreter_runs_any_image_at_the_fixed_size(keras_model_file, exported):
    model, _ = keras_model_file
    images = random_images(1, HEIGHT, WIDTH, seed=9)
    result = tflite.tflite_parity(exported[1]["files"]["float32"], model, images)
    assert result["max_abs_diff"] <= 1.0 and result["within_1"] == 1.0


@pytest.mark.slow
def test_int8_variants_sizes_parity_and_uint8_io(keras_model_file, exported_all):
    out, result = exported_all
    sizes = {v: Path(p).stat().st_size for v, p in result["files"].items()}
    assert set(sizes) == set(tflite.ALL_VARIANTS)
    # int8 stores every convolution weight in 1 byte instead of 4.
    assert sizes["float32"] - sizes["int8"] >= 2.5 * _conv_weights(keras_model_file[0])
    parity = result["parity"]
    assert parity["int8"]["mean_abs_diff"] <= 1.5
    assert parity["int8"]["max_abs_diff"] <= 8.0
    assert parity["int8_selective"]["mean_abs_diff"] <= 1.0
    assert parity["int8_selective"]["max_abs_diff"] <= 8.0
    assert parity["int8_full"]["max_abs_diff"] <= 128.0  # known poor; only checks it runs sanely
    interpreter = tflite.make_interpreter(model_path=result["files"]["int8_full"])
    detail = interpreter.get_input_details()[0]
    assert detail["dtype"] == np.uint8 and tuple(detail["shape"]) == (1, HEIGHT, WIDTH, 3)
    out_image = tflite.run_tflite(interpreter, random_images(1, HEIGHT, WIDTH, seed=9)[0])
    assert out_image.shape == (HEIGHT, WIDTH, 3) and out_image.min() >= 0 and out_image.max() <= 255


def test_litert_is_used_when_installed():
    try:
        import ai_edge_litert  # noqa: F401
    except ImportError:
        assert tflite.interpreter_name() == "tf.lite.Interpreter"
    else:
        assert tflite.interpreter_name().startswith("ai_edge_litert")


def test_bad_arguments(tmp_path):
    with pytest.raises(ConfigError, match="--variants"):
        tflite.export_tflite(object(), tmp_path, 8, 8, variants=("int4",))
    with pytest.raises(ConfigError, match="--height"):
        tflite.export_tflite(object(), tmp_path, 2, 8)
