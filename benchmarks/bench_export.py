"""CPU latency of the same ``paper`` network as Keras, SavedModel and TFLite float32/float16/int8.

    python -m benchmarks.bench_export [--quick] [--export_size=256]

One image (batch 1, as TFLite exports are) at ``--export_size``; weights are random (seeded), so
parity says how faithfully each format computes the same function, not how good the output is.
The SavedModel is timed through its ``predict_float`` signature (input checks and padding
included, as a serving client would see it); TFLite through the interpreter with one thread per
core (``--tflite_threads``). Skipped with a note when the export modules are missing.

``trained_int8``: the int8 variants on a TRAINED purifier, the one shipped in the package
(``purify_tf/pretrained``, float16 weights converted to float32), at the eye-crop size 36x60 and
at ``--export_size``: for each TFLite variant the mean/max absolute difference from the Keras
float32 output in grey levels (uint8 scale) on held-out rendered real-domain eyes (seed 1; the
int8 calibration uses other eyes, seed 0, of the same training domain) and its speed against Keras
float32 and against the default path of ``purify-tf purify`` (``Purifier()``: runtime and precision
``auto``, so bf16 where the CPU has it natively), timed round-robin in the same run (Keras and the
default at batch 64 for eye crops, per image; TFLite one image per call, as exported). Where
OpenVINO is installed, each int8 file also runs in OpenVINO (``openvino_<variant>``: its int8
kernels, AMX / VNNI where the CPU has them), with its own parity. An int8 option pays where it is
faster than the default with a mean difference of at most one grey level.
"""

from __future__ import annotations

import os
import tempfile
from typing import Any

from absl import app, flags

from benchmarks import common

flags.DEFINE_integer("export_size", 256, "Square image side for the format comparison.", lower_bound=8)
flags.DEFINE_integer("tflite_threads", 0, "TFLite interpreter threads (0: one per available core).", lower_bound=0)
flags.DEFINE_integer("parity_images", 2, "Rendered eyes used to measure TFLite parity.", lower_bound=1)
flags.DEFINE_integer("int8_calibration_images", 64, "Rendered real-domain eyes calibrating the trained purifier's "
                     "int8_selective and int8_full.", lower_bound=1)
flags.DEFINE_integer("int8_eval_images", 8, "Held-out rendered real-domain eyes for the trained purifier's parity.",
                     lower_bound=1)

TRAINED_VARIANTS = ("float32", "int8", "int8_selective", "int8_full")
TRAINED_VARIANTS_QUICK = ("int8", "int8_selective")  # --quick: a smoke test, kept short
EYE_SIZE, EYE_BATCH = (36, 60), 64

FLAGS = flags.FLAGS


def _interpreter(flatbuffer: bytes, threads: int) -> Any:
    from export.tflite import make_interpreter

    return make_interpreter(model_content=flatbuffer, num_threads=threads)


def _round_robin(fns: dict[str, tuple[Any, int]], n_warmup: int, n_repeats: int) -> dict[str, float]:
    """Median seconds per image of each (fn, images per call), timed round-robin (A, B, A, B...)."""
    import statistics
    import time

    for _ in range(n_warmup):
        for fn, _ in fns.values():
            fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(n_repeats):
        for name, (fn, n) in fns.items():
            start = time.perf_counter()
            fn()
            times[name].append((time.perf_counter() - start) / n)
    return {name: statistics.median(t) for name, t in times.items()}


def _openvino_runner(flatbuffer: bytes, threads: int) -> Any:
    """OpenVINO's CPU plugin on a TFLite flatbuffer (int8 kernels where the file is quantised, AMX /
    VNNI where the CPU has them): (H, W, 3) -> float32 (H, W, 3) like ``export.tflite.run_tflite``."""
    from export.tflite import dequantize_output, quantize_input
    from purify_tf.inference.runtimes import _openvino_callable

    details = _interpreter(flatbuffer, 1)
    inp, out = details.get_input_details()[0], details.get_output_details()[0]
    run = _openvino_callable(flatbuffer, threads, "float32")
    return lambda image: dequantize_output(run(quantize_input(image, inp)), out)


def run_trained_int8(quick: bool, threads: int) -> dict[str, Any]:
    """Parity and speed of the TFLite variants of the shipped trained purifier vs Keras float32."""
    import numpy as np
    import tensorflow as tf

    from benchmarks.bench_inference import inference_fn
    from export import tflite as tflite_export
    from purify_tf import pretrained
    from purify_tf.inference.purifier import Purifier
    from purify_tf.inference.runtimes import runtime_installed
    from purify_tf.models.transformer import apply_padded

    if not pretrained.is_installed():
        return {"skipped": "the pretrained purifier is not installed"}
    model = pretrained.load_pretrained()
    sizes = [EYE_SIZE] if quick else [EYE_SIZE, (FLAGS.export_size, FLAGS.export_size)]
    n_cal = 4 if quick else FLAGS.int8_calibration_images
    n_eval = 2 if quick else FLAGS.int8_eval_images
    out: dict[str, Any] = {"model": "purify_tf/pretrained/purifier.keras (float32 copy)",
                           "calibration": None, "tflite_threads": threads, "sizes": {}}
    for h, w in sizes:
        calibration, source = tflite_export.representative_images(n_cal, h, w, seed=0)
        images, _ = tflite_export.representative_images(n_eval, h, w, seed=1)
        out["calibration"] = f"{source}, {n_cal} images, seed 0; parity on {n_eval} others, seed 1"
        batch = 2 if quick else (EYE_BATCH if (h, w) == EYE_SIZE else 1)
        x = np.random.default_rng(0).uniform(0, 255, (batch, h, w, 3)).astype(np.float32)
        xt = tf.constant(x)
        keras_fn = inference_fn(model, batch, h, w, "graph")
        fns: dict[str, tuple[Any, int]] = {"keras_float32": (lambda fn=keras_fn, xt=xt: fn(xt).numpy(), batch)}
        # What `purify-tf purify` runs by default (runtime and precision auto: bf16 where native).
        default = Purifier(model)
        x_uint8 = np.clip(np.rint(x), 0, 255).astype(np.uint8)
        fns["default"] = (lambda p=default, xu=x_uint8: p.purify(xu), batch)
        entry: dict[str, Any] = {"keras_batch": batch, "tflite_batch": 1, "variants": {},
                                 "default": {"runtime": default.runtime, "precision": default.precision}}
        variants = TRAINED_VARIANTS_QUICK if quick else TRAINED_VARIANTS
        reference = apply_padded(model, np.asarray(images, np.float32)).numpy()
        has_openvino = runtime_installed("openvino")
        if not has_openvino:
            entry["openvino"] = "skipped: OpenVINO is not installed (the openvino / peers extras)"
        timed = list(variants)
        for variant in variants:
            flatbuffer = tflite_export.convert(model, h, w, variant, calibration)
            parity = tflite_export.tflite_parity(flatbuffer, model, images)
            entry["variants"][variant] = {"bytes": len(flatbuffer), **parity}
            if has_openvino and variant != "float32":
                ov = _openvino_runner(flatbuffer, threads)
                name = f"openvino_{variant}"
                entry["variants"][name] = {"bytes": len(flatbuffer),
                                           **tflite_export.parity_stats(ov, reference, images)}
                fns[name] = (lambda ov=ov, im=x[0]: ov(im), 1)
                timed.append(name)
            interpreter = _interpreter(flatbuffer, threads)
            inp = interpreter.get_input_details()[0]
            feed = x[:1].astype(inp["dtype"]) if inp["dtype"] == np.float32 else np.clip(np.rint(x[:1]), 0, 255).astype(inp["dtype"])

            def invoke(interpreter: Any = interpreter, inp: dict = inp, feed: np.ndarray = feed) -> None:
                interpreter.set_tensor(inp["index"], feed)
                interpreter.invoke()

            fns[variant] = (invoke, 1)
        seconds = _round_robin(fns, common.warmup(), common.repeats())
        keras_s, default_s = seconds["keras_float32"], seconds["default"]
        entry["keras_float32_ms_per_image"] = 1e3 * keras_s
        entry["default"]["ms_per_image"] = 1e3 * default_s
        for variant in timed:
            entry["variants"][variant]["ms_per_image"] = 1e3 * seconds[variant]
            entry["variants"][variant]["speedup_vs_keras_float32"] = keras_s / seconds[variant]
            entry["variants"][variant]["speedup_vs_default"] = default_s / seconds[variant]
        out["sizes"][f"{h}x{w}"] = entry
    return out


def run(quick: bool = False) -> dict[str, Any]:
    try:
        from export import saved_model as saved_model_export
        from export import tflite as tflite_export
    except ImportError as exc:
        return {"skipped": f"export modules not importable ({exc})"}
    import numpy as np
    import tensorflow as tf

    from benchmarks.bench_inference import build, inference_fn
    from purify_tf.inference import serving

    size = 32 if quick else FLAGS.export_size
    threads = FLAGS.tflite_threads or common.machine_info()["cores_available"]
    model = build("paper")
    x = np.random.default_rng(0).uniform(0, 255, (1, size, size, 3)).astype(np.float32)
    xt = tf.constant(x)
    out: dict[str, Any] = {"size": size, "batch": 1, "tflite_threads": threads, "latency_ms": {}, "parity": {}}

    for mode in ("graph", "xla"):
        fn = inference_fn(model, 1, size, size, mode)
        out["latency_ms"][f"keras_float32_{mode}"] = 1e3 * common.time_call(lambda fn=fn: fn(xt).numpy())["median_s"]
    reference = model(xt, training=False).numpy()

    with tempfile.TemporaryDirectory() as tmp:
        path = saved_model_export.export_saved_model(model, tmp, name="bench", version=1)
        loaded = tf.saved_model.load(str(path))
        signature = loaded.signatures[serving.SIGNATURE_FLOAT]
        run_sm = lambda: signature(**{serving.INPUT_FLOAT: xt})[serving.OUTPUT_FLOAT].numpy()  # noqa: E731
        out["latency_ms"]["saved_model_float32"] = 1e3 * common.time_call(run_sm)["median_s"]
        out["parity"]["saved_model_float32"] = {"max_abs_diff": float(np.abs(run_sm() - reference).max())}

    calibration, source = tflite_export.representative_images(2 if quick else 16, size, size, seed=0)
    test_images, _ = tflite_export.representative_images(1 if quick else FLAGS.parity_images, size, size, seed=1)
    out["int8_calibration"] = source
    out["tflite_bytes"] = {}
    for variant in tflite_export.VARIANTS:
        flatbuffer = tflite_export.convert(model, size, size, variant, calibration)
        out["tflite_bytes"][variant] = len(flatbuffer)
        interpreter = _interpreter(flatbuffer, threads)
        inp = interpreter.get_input_details()[0]
        feed = x.astype(inp["dtype"]) if inp["dtype"] == np.float32 else np.clip(np.rint(x), 0, 255).astype(inp["dtype"])

        def invoke(interpreter: Any = interpreter, inp: dict = inp, feed: np.ndarray = feed) -> None:
            interpreter.set_tensor(inp["index"], feed)
            interpreter.invoke()

        out["latency_ms"][f"tflite_{variant}"] = 1e3 * common.time_call(invoke)["median_s"]
        out["parity"][f"tflite_{variant}"] = tflite_export.tflite_parity(flatbuffer, model, test_images)

    keras_ms = min(out["latency_ms"]["keras_float32_graph"], out["latency_ms"]["keras_float32_xla"])
    out["keras_float32_best_ms"] = keras_ms
    out["speedup_vs_keras_float32"] = {k: keras_ms / v for k, v in out["latency_ms"].items()}
    try:
        out["trained_int8"] = run_trained_int8(quick, threads)
    except Exception as exc:  # the random-weight figures above stay useful without it
        out["trained_int8"] = {"error": f"{type(exc).__name__}: {exc}"}
    return out


def rows(results: dict[str, Any]) -> list[tuple[str, str, str]]:
    if "skipped" in results:
        return [("formats", "skipped", results["skipped"])]
    size = results["size"]
    out = []
    for name, ms in results["latency_ms"].items():
        parity = results["parity"].get(name)
        note = ""
        if parity:
            note = f"; max |diff| {parity['max_abs_diff']:.3g}"
            if "mean_abs_diff" in parity:
                note = f"; mean |diff| {parity['mean_abs_diff']:.3g}, max {parity['max_abs_diff']:.3g} (0-255)"
        out.append((f"formats {size}x{size} CPU", name,
                    f"{common.fmt(ms)} ms ({results['speedup_vs_keras_float32'][name]:.2f}x Keras float32{note})"))
    trained = results.get("trained_int8", {})
    if "sizes" not in trained:
        out.append(("trained int8", "skipped", str(trained.get("skipped") or trained.get("error"))))
    for key, entry in trained.get("sizes", {}).items():
        for variant, v in entry["variants"].items():
            out.append((f"trained purifier {key} CPU", variant,
                        f"mean {v['mean_abs_diff']:.3g} / max {v['max_abs_diff']:.3g} levels vs Keras fp32, "
                        f"{common.fmt(v['ms_per_image'])} ms ({v['speedup_vs_keras_float32']:.2f}x Keras float32 at "
                        f"{common.fmt(entry['keras_float32_ms_per_image'])} ms/image, batch {entry['keras_batch']}; "
                        f"{v['speedup_vs_default']:.2f}x the default, {entry['default']['runtime']} "
                        f"{entry['default']['precision']}), {v['bytes'] / 1e6:.2f} MB"))
    return out


def main(argv: list[str]) -> None:
    del argv
    common.configure_tf()
    results = {"machine": common.machine_info(), "export": run(FLAGS.quick)}
    common.print_rows("Formats", rows(results["export"]))
    common.write_json(results, FLAGS.out)


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    app.run(main)
