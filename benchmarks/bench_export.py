"""CPU latency of the same ``paper`` network as Keras, SavedModel and TFLite float32/float16/int8.

    python -m benchmarks.bench_export [--quick] [--export_size=256]

One image (batch 1, as TFLite exports are) at ``--export_size``; weights are random (seeded), so
parity says how faithfully each format computes the same function, not how good the output is.
The SavedModel is timed through its ``predict_float`` signature (input checks and padding
included, as a serving client would see it); TFLite through the interpreter with one thread per
core (``--tflite_threads``). Skipped with a note when the export modules are missing.
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

FLAGS = flags.FLAGS


def _interpreter(flatbuffer: bytes, threads: int) -> Any:
    from export.tflite import make_interpreter

    return make_interpreter(model_content=flatbuffer, num_threads=threads)


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
