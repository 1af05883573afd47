"""Export the transformer to TFLite (float32, float16, int8) at a fixed input size, with parity.

    python -m export.tflite --model=transformer.keras --out_dir=tflite --height=256 --width=256 \\
        [--variants=float32,float16,int8]

TFLite needs static shapes, so each file is for one (height, width); any size works (the graph
reflect-pads to a multiple of 4 and crops back), but a different size needs another export.
Batch size is 1. Files: ``purifier_<H>x<W>_<variant>.tflite`` plus ``purifier_<H>x<W>.json`` with
metadata and the parity measured at export time.

* ``float32``: input float32 (1, H, W, 3) RGB in [0, 255] -> float32 in [0, 255].
* ``float16``: float16 weights (half the size), same float32 input/output; computed in float32 on
  CPUs (weights dequantised at load), in float16 on GPU delegates.
* ``int8``: dynamic-range quantisation: int8 weights (a quarter of the size), activations
  quantised to int8 on the fly inside each conv/deconv; float32 input/output as above.
* ``int8_selective`` (not a default): full-integer int8 for the convolutional trunk (per-channel
  int8 weights, static int8 activations calibrated on rendered real-domain eyes, i.e. the training
  domain's inputs) with **float fallbacks** for the ops where int8 costs most, found with
  ``tf.lite.experimental.QuantizationDebugger``: the illumination front end (``illumination``:
  log/exp, reductions and a tiny matmul whose int8 error multiplies the whole image), the output
  head (``residual_output`` / ``scaled_tanh``: an int8 tanh has a step of 1/128, i.e. one grey
  level after the x127.5, and an int8 residual sum re-rounds every pixel) and every op outside a
  Keras layer (input padding, output crop: an int8 output adds up to half a level). Everything
  from ``to_unit_range`` to ``output_conv`` runs in int8. Float32 input/output as ``float32``.
  See ``FLOAT_FALLBACK_LAYERS`` and docs/BENCHMARKS.md (int8 section) for what each buys.
* ``int8_full`` (not a default): naive full-integer quantisation (every op int8, the illumination
  front end included) calibrated on rendered real-domain eyes, **uint8** (1, H, W, 3) input and
  output. Its parity is poor (far beyond a grey level at 256x256 on the shipped trained purifier;
  docs/BENCHMARKS.md), so check the reported parity before using it; ``int8_selective`` is the
  full-integer variant to use.

On the shipped trained purifier (``purify_tf/pretrained``), against Keras float32 on held-out
rendered real-domain eyes: dynamic-range ``int8`` is the most faithful int8 variant and the
recommended one; ``int8_selective`` is less faithful, more so at 256x256 and depending on the
calibration and evaluation eyes, and was the fastest int8 variant on an AVX2 machine; see
docs/BENCHMARKS.md, "int8 on the trained purifier", and docs/BENCHMARKS_HISTORY.md for the figures.

Interpreter: LiteRT (``ai_edge_litert``) when installed, else ``tf.lite.Interpreter``.
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf
from absl import app, flags, logging

from purify_tf.atomic import atomic_write_bytes
from purify_tf.errors import ConfigError
from purify_tf.inference.metadata import build_metadata
from purify_tf.inference.runtimes import make_interpreter
from purify_tf.model_io import load_keras_model
from purify_tf.models.transformer import FLOAT32_LAYERS, apply_padded, crop_back, pad_to_multiple

VARIANTS = ("float32", "float16", "int8")
# Full-integer int8 (selective: float fallbacks; naive: uint8 in/out, every op int8) is available
# on request; see the module docstring for why neither is a default.
ALL_VARIANTS = (*VARIANTS, "int8_selective", "int8_full")
CALIBRATED_VARIANTS = ("int8_selective", "int8_full")
# Types of the Keras layers whose ops stay float in ``int8_selective`` (the illumination front end
# and the output heads; ops outside every Keras layer -- the reflect-pad to a multiple of 4 and the
# crop back -- stay float too).
FLOAT_FALLBACK_LAYERS: tuple[type, ...] = FLOAT32_LAYERS


def interpreter_name() -> str:
    """Which interpreter ``make_interpreter`` uses here."""
    try:
        import ai_edge_litert.interpreter  # noqa: F401
    except ImportError:
        return "tf.lite.Interpreter"
    return "ai_edge_litert.interpreter.Interpreter"


def representative_images(n: int, height: int, width: int, seed: int = 0) -> tuple[np.ndarray, str]:
    """Calibration images: rendered real-domain eyes, or uniform noise if the renderer is missing."""
    try:
        from purify_tf.data.renderer import render_eyes

        return np.asarray(render_eyes(n, height, width, domain="real", seed=seed)["image"]), "renderer (real domain)"
    except Exception as exc:  # missing module or renderer error: calibration still possible
        logging.warning(
            "Eye renderer unavailable (%s); calibrating int8 on uniform random images, which "
            "makes the int8 model less accurate on real eyes.",
            exc,
        )
        rng = np.random.default_rng(seed)
        return rng.integers(0, 256, (n, height, width, 3), dtype=np.uint8), "uniform random"


def _fixed_size_function(model: Any, height: int, width: int) -> tuple[tf.types.experimental.ConcreteFunction, tf.Module]:
    holder = tf.Module()
    holder.model = model

    @tf.function(input_signature=[tf.TensorSpec([1, height, width, 3], tf.float32, name="image")])
    def purify(image: tf.Tensor) -> tf.Tensor:
        padded, box = pad_to_multiple(image)
        out = crop_back(model(padded, training=False), box)
        return tf.ensure_shape(out, [1, height, width, 3])

    holder.purify = purify
    return purify.get_concrete_function(), holder


def _layer_pattern(names: list[str]) -> re.Pattern[str]:
    """Matches a TFLite tensor name produced inside one of the Keras layers ``names``.

    Tensor names carry the layer's call scope, e.g. ``transformer_paper_1/down1_relu_1/Relu``
    (Keras appends ``_<n>`` per call); fused ops join several names with ``;``.
    """
    alternatives = "|".join(re.escape(n) for n in sorted(names, key=len, reverse=True))
    return re.compile(rf"/(?:{alternatives})(?:_\d+)?/")


def selective_denylist(
    model: Any, calibrated: bytes, fallback_layers: tuple[type, ...] = FLOAT_FALLBACK_LAYERS
) -> list[str]:
    """Output tensor names of the ops of ``calibrated`` that ``int8_selective`` keeps in float.

    An op is quantised only when its name shows it comes from a Keras layer of ``model`` that is
    none of the ``fallback_layers`` types; the rest (fallback layers, padding and cropping around
    the model) stay float.
    """
    fallback_names = [layer.name for layer in model.layers if isinstance(layer, fallback_layers)]
    fallback = _layer_pattern(fallback_names) if fallback_names else None
    trunk_names = [layer.name for layer in model.layers if not isinstance(layer, fallback_layers)]
    trunk = _layer_pattern(trunk_names) if trunk_names else None
    interpreter = make_interpreter(model_content=calibrated)
    names = {t["index"]: t["name"] for t in interpreter.get_tensor_details()}
    denied = []
    for op in interpreter._get_ops_details():  # noqa: SLF001 (the debugger itself uses it)
        for index in op["outputs"]:
            name = names.get(index, "")
            if (fallback is not None and fallback.search(name)) or trunk is None or not trunk.search(name):
                denied.append(name)
    return denied


def _representative_dataset(calibration: np.ndarray | None) -> Any:
    if calibration is None:
        raise ValueError("int8 conversion needs calibration images")

    def dataset() -> Iterator[list[np.ndarray]]:
        for image in calibration:
            yield [np.asarray(image, np.float32)[np.newaxis]]

    return dataset


def quantize_selective(
    model: Any,
    converter: Any,
    calibration: np.ndarray | None,
    fallback_layers: tuple[type, ...] = FLOAT_FALLBACK_LAYERS,
) -> bytes:
    """Full-integer int8 with the ops of ``fallback_layers`` (and outside the model) in float.

    Calibrates once with ``tf.lite.experimental.QuantizationDebugger`` (per-channel int8 weights,
    min/max int8 activations over ``calibration``), then quantises with the denylist of
    ``selective_denylist``. ``fallback_layers=()`` still keeps the ops outside the model float.
    """
    dataset = _representative_dataset(calibration)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = dataset
    debugger = tf.lite.experimental.QuantizationDebugger(converter=converter, debug_dataset=dataset)
    denied = selective_denylist(model, debugger.calibrated_model, fallback_layers)
    debugger.options = tf.lite.experimental.QuantizationDebugOptions(denylisted_nodes=denied)
    return debugger.get_nondebug_quantized_model()


def convert(
    model: Any,
    height: int,
    width: int,
    variant: str,
    calibration: np.ndarray | None = None,
) -> bytes:
    """TFLite flatbuffer of ``model`` at (1, height, width, 3) for one of ``ALL_VARIANTS``.

    ``calibration`` (N, height, width, 3) images are needed by ``CALIBRATED_VARIANTS``.
    """
    if variant not in ALL_VARIANTS:
        raise ConfigError(f"--variants: unknown variant {variant!r}, expected some of {ALL_VARIANTS}")
    fn, holder = _fixed_size_function(model, height, width)
    # Freeze the weights into constants: Keras 3 variables otherwise stay resource variables in the
    # flatbuffer (READ_VARIABLE ops, no weights), which calibration and most runtimes reject.
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    frozen = convert_variables_to_constants_v2(fn)
    converter = tf.lite.TFLiteConverter.from_concrete_functions([frozen], holder)
    if variant == "int8_selective":
        return quantize_selective(model, converter, calibration)
    if variant == "float16":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    elif variant == "int8":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]  # no dataset: dynamic range
    elif variant == "int8_full":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = _representative_dataset(calibration)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.uint8
        converter.inference_output_type = tf.uint8
    return converter.convert()


def quantize_input(x: np.ndarray, detail: dict) -> np.ndarray:
    """Pixels in [0, 255] -> what the input tensor of ``detail`` takes (float32, or quantised:
    real = scale * (q - zero_point))."""
    x = np.asarray(x, np.float32).reshape(detail["shape"])
    if detail["dtype"] == np.float32:
        return x
    scale, zero = detail["quantization"]
    return np.clip(np.round(x / (scale or 1.0) + zero), 0, 255).astype(detail["dtype"])


def dequantize_output(y: np.ndarray, detail: dict) -> np.ndarray:
    """An output of the tensor of ``detail`` -> float32 pixels (H, W, 3) of its first image."""
    y = np.asarray(y)
    if detail["dtype"] != np.float32:
        scale, zero = detail["quantization"]
        y = (y.astype(np.float32) - zero) * (scale or 1.0)
    return y[0].astype(np.float32)


def run_tflite(interpreter: Any, image: np.ndarray) -> np.ndarray:
    """Run one (H, W, 3) or (1, H, W, 3) image; returns float32 (H, W, 3) pixels in [0, 255]."""
    inp = interpreter.get_input_details()[0]
    out = interpreter.get_output_details()[0]
    interpreter.set_tensor(inp["index"], quantize_input(image, inp))
    interpreter.invoke()
    return dequantize_output(interpreter.get_tensor(out["index"]), out)


def parity_stats(run: Any, reference: np.ndarray, images: np.ndarray) -> dict[str, float]:
    """Mean / max |run(image) - reference| in grey levels over ``images``, and the share of pixels
    within one level."""
    diffs = np.stack([np.abs(run(im) - ref) for im, ref in zip(images, reference, strict=True)])
    return {
        "mean_abs_diff": float(diffs.mean()),
        "max_abs_diff": float(diffs.max()),
        "within_1": float((diffs <= 1.0).mean()),
        "images": int(len(images)),
    }


def tflite_parity(
    tflite: bytes | str | os.PathLike, keras_model: Any, images: np.ndarray
) -> dict[str, float]:
    """Mean and max |TFLite - Keras| in pixel units (0-255) over ``images`` (N, H, W, 3).

    Keras runs in float32 with ``apply_padded``; TFLite outputs are compared as they come
    (float32, or uint8 for int8). ``within_1`` is the fraction of pixels within 1 level.
    """
    if isinstance(tflite, (bytes, bytearray)):
        interpreter = make_interpreter(model_content=bytes(tflite))
    else:
        interpreter = make_interpreter(model_path=str(tflite))
    reference = apply_padded(keras_model, np.asarray(images, np.float32)).numpy()
    return parity_stats(lambda im: run_tflite(interpreter, im), reference, images)


def export_tflite(
    model: Any,
    out_dir: str | os.PathLike,
    height: int = 256,
    width: int = 256,
    variants: tuple[str, ...] = VARIANTS,
    calibration_images: int = 64,
    parity_images: int = 4,
    overwrite: bool = True,
    seed: int = 0,
) -> dict[str, Any]:
    """Convert, write atomically and measure parity; returns {"files": {...}, "parity": {...}}."""
    if height < 4 or width < 4:
        raise ConfigError(f"--height and --width must be >= 4, got {height}x{width}")
    unknown = [v for v in variants if v not in ALL_VARIANTS]
    if unknown or not variants:
        raise ConfigError(f"--variants must be a non-empty subset of {ALL_VARIANTS}, got {list(variants)}")
    model_path = None
    if isinstance(model, (str, os.PathLike)):
        model_path = Path(model)
        # A model stored with float16 weights (the shipped pretrained purifier) computes in
        # float16 as loaded; export (and compare against) its float32 copy, same weights.
        from purify_tf.pretrained import as_float32

        model = as_float32(load_keras_model(model_path))
    out = Path(out_dir)
    calibration, source = (None, None)
    if any(v in CALIBRATED_VARIANTS for v in variants):
        calibration, source = representative_images(calibration_images, height, width, seed)
    test_images, _ = representative_images(parity_images, height, width, seed + 1)
    files: dict[str, str] = {}
    parity: dict[str, dict[str, float]] = {}
    for variant in variants:
        flatbuffer = convert(model, height, width, variant, calibration)
        path = atomic_write_bytes(out / f"purifier_{height}x{width}_{variant}.tflite", flatbuffer, overwrite)
        files[variant] = str(path)
        parity[variant] = tflite_parity(flatbuffer, model, test_images)
        logging.info("%s: %s (%d bytes), parity %s", variant, path, len(flatbuffer), parity[variant])
    metadata = build_metadata(
        model,
        model_path,
        export={"format": "tflite", "height": height, "width": width, "batch": 1},
        files={v: Path(p).name for v, p in files.items()},
        sizes={v: Path(p).stat().st_size for v, p in files.items()},
        parity=parity,
        int8_calibration=source,
        interpreter=interpreter_name(),
    )
    atomic_write_bytes(out / f"purifier_{height}x{width}.json", json.dumps(metadata, indent=2).encode(), overwrite)
    return {"files": files, "parity": parity, "calibration": source}


def define_flags(flag_values: flags.FlagValues = flags.FLAGS) -> None:
    """Flags of this command; defined on demand so that importing the module defines none."""
    flags.DEFINE_string("model", None, "Path to the trained transformer (.keras).", flag_values=flag_values)
    flags.DEFINE_string("out_dir", None, "Directory for the .tflite files and their metadata.", flag_values=flag_values)
    flags.DEFINE_integer("height", 256, "Fixed input height (TFLite needs static shapes).", lower_bound=4, flag_values=flag_values)
    flags.DEFINE_integer("width", 256, "Fixed input width (TFLite needs static shapes).", lower_bound=4, flag_values=flag_values)
    flags.DEFINE_list("variants", list(VARIANTS), f"Which of {','.join(ALL_VARIANTS)} to write.", flag_values=flag_values)
    flags.DEFINE_integer(
        "calibration_images", 64, "Rendered real-domain eyes (the training domain) used to calibrate int8_selective and int8_full.", lower_bound=1, flag_values=flag_values
    )
    flags.DEFINE_integer("parity_images", 4, "Images used to measure parity against Keras.", lower_bound=1, flag_values=flag_values)
    flags.DEFINE_boolean("overwrite", True, "Replace existing files in out_dir.", flag_values=flag_values)
    flags.mark_flags_as_required(["model", "out_dir"], flag_values=flag_values)


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    fv = flags.FLAGS
    try:
        result = export_tflite(
            fv.model, fv.out_dir, fv.height, fv.width, tuple(fv.variants),
            fv.calibration_images, fv.parity_images, fv.overwrite,
        )
    except (ConfigError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(1)
    print(f"interpreter: {interpreter_name()}; int8 calibration: {result['calibration'] or 'n/a'}")
    for variant, path in result["files"].items():
        p = result["parity"][variant]
        print(
            f"{variant:14s} {path} {os.path.getsize(path) / 1e6:.2f} MB  parity vs Keras: "
            f"mean {p['mean_abs_diff']:.3f}, max {p['max_abs_diff']:.2f} levels, "
            f"{100 * p['within_1']:.1f}% within 1"
        )


if __name__ == "__main__":
    define_flags()
    app.run(main)
