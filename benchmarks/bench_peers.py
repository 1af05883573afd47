"""purify-tf against what users would pick instead, on the same machine, in one run.

    python -m benchmarks.bench_peers [--quick] [--peer_sizes=36x60,256,512]

Needs the ``peers`` extra (``pip install -e '.[peers]'``: PyTorch, ONNX Runtime, OpenVINO,
tf2onnx); a peer whose package is missing is recorded as skipped. Every case runs the paper's
network (DESIGN.md's layer table, batch norm) on the same random input, round-robin (A, B, C, A, B,
C, ...) so that a change in the machine's load hits every case alike; the median is reported.

Ours:
* ``tf_keras_fp32``: the Keras model as a ``tf.function`` (the plain TF path).
* ``tf_folded_fp32`` / ``tf_folded_bf16``: the inference graph of ``fold_for_inference``.
* ``tf_folded_fp32_xla``: the same graph compiled by XLA (``Purifier``'s float32 default for a
  repeated size of at least ``JIT_MIN_PIXELS``, ``jit="auto"``).
* ``litert_fp32``: our exported float32 TFLite graph in LiteRT (XNNPACK).
* ``default``: per size, the case ``Purifier()`` runs by default on this machine (``default_case``).

TensorFlow's oneDNN switch is what ``purify-tf`` sets (``benchmarks.common`` asks for it before
TensorFlow loads); ``machine.onednn`` in the JSON records it.

Peers:
* ``torch_fp32`` / ``torch_bf16``: the same network written in PyTorch (``peers_torch.PaperNet``),
  eval mode, channels_last, fp32 and bf16 autocast.
* ``torch_examples_fp32``: pytorch/examples' TransformerNet architecture (a different network, for
  reference; not in the "best peer").
* ``onnxruntime_fp32``: our model converted by tf2onnx, in ONNX Runtime.
* ``openvino_fp32`` / ``openvino_bf16``: OpenVINO running our exported TFLite file (f32 and bf16
  inference-precision hints; bf16 only where the CPU has native bf16).

``ratio_vs_best_peer`` = best same-network peer's ms/image / our default's ms/image (>= 1: as fast
or faster).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from absl import app, flags

from benchmarks import common

flags.DEFINE_string("peer_sizes", "36x60,256,512", "Sizes to time against the peers (HxW or one number).")
flags.DEFINE_integer("peer_eye_batch", 64, "Batch for 36x60 eye crops (larger sizes run one image).", lower_bound=1)

FLAGS = flags.FLAGS
EYE_SIZE = (36, 60)
SAME_NETWORK_PEERS = ("torch_fp32", "torch_bf16", "onnxruntime_fp32", "openvino_fp32", "openvino_bf16")


def has_native_bf16() -> bool:
    """AVX512_BF16 or AMX: bf16 arithmetic in hardware (elsewhere it is emulated and slow)."""
    from purify_tf.inference.runtimes import native_bf16

    return native_bf16()


def _tf_cases(model: Any, x: np.ndarray) -> dict[str, Callable[[], Any]]:
    import tensorflow as tf

    from purify_tf.models.inference_graph import fold_for_inference
    from purify_tf.models.transformer import with_precision

    spec = tf.TensorSpec(x.shape, tf.float32)
    xt = tf.constant(x)

    def compiled(m: Any, jit: bool = False) -> Callable[[], Any]:
        fn = tf.function(lambda v: m(v, training=False), input_signature=[spec], jit_compile=jit)
        return lambda: fn(xt).numpy()

    folded = fold_for_inference(model)
    cases = {"tf_keras_fp32": compiled(model), "tf_folded_fp32": compiled(folded),
             "tf_folded_fp32_xla": compiled(folded, jit=True)}
    if has_native_bf16() or FLAGS.quick:
        cases["tf_folded_bf16"] = compiled(with_precision(folded, "bfloat16"))  # what Purifier runs
    return cases


def _litert_case(model: Any, x: np.ndarray) -> tuple[dict[str, Callable[[], Any]], bytes]:
    from purify_tf.inference.runtimes import make_interpreter, to_tflite

    flat = to_tflite(model, x.shape)
    interpreter = make_interpreter(flat)
    inp = interpreter.get_input_details()[0]["index"]
    out = interpreter.get_output_details()[0]["index"]

    def run() -> Any:
        interpreter.set_tensor(inp, x)
        interpreter.invoke()
        return interpreter.get_tensor(out)

    return {"litert_fp32": run}, flat


def _torch_cases(model: Any, x: np.ndarray) -> dict[str, Callable[[], Any]]:
    import torch

    from benchmarks.peers_torch import ExamplesTransformerNet, PaperNet, load_keras_weights

    nets = {
        "torch": load_keras_weights(PaperNet(), model).eval().to(memory_format=torch.channels_last),
        "torch_examples": ExamplesTransformerNet().eval().to(memory_format=torch.channels_last),
    }
    xt = torch.from_numpy(x).permute(0, 3, 1, 2).contiguous(memory_format=torch.channels_last)

    def run(net: Any, bf16: bool) -> Callable[[], Any]:
        def call() -> Any:
            with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                return net(xt).float().numpy()

        return call

    cases = {"torch_fp32": run(nets["torch"], False)}
    if has_native_bf16() or FLAGS.quick:
        cases["torch_bf16"] = run(nets["torch"], True)
    cases["torch_examples_fp32"] = run(nets["torch_examples"], False)
    return cases


def _onnx_case(model: Any, x: np.ndarray) -> dict[str, Callable[[], Any]]:
    import onnxruntime as ort
    import tensorflow as tf
    import tf2onnx

    spec = tf.TensorSpec(x.shape, tf.float32, name="image")
    fn = tf.function(lambda v: model(v, training=False), input_signature=[spec])
    proto, _ = tf2onnx.convert.from_function(fn, input_signature=[spec], opset=17)
    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return {"onnxruntime_fp32": lambda: session.run(None, {name: x})[0]}


def _openvino_cases(flat: bytes, x: np.ndarray, tmp_dir: str) -> dict[str, Callable[[], Any]]:
    import os

    import openvino as ov

    path = os.path.join(tmp_dir, "purifier.tflite")
    with open(path, "wb") as f:
        f.write(flat)
    core = ov.Core()
    cases = {}
    hints = ("f32", "bf16") if has_native_bf16() or FLAGS.quick else ("f32",)
    for hint in hints:
        compiled = core.compile_model(core.read_model(path), "CPU", {"INFERENCE_PRECISION_HINT": hint})
        request = compiled.create_infer_request()
        cases[f"openvino_{'fp32' if hint == 'f32' else hint}"] = (
            lambda r=request: r.infer({0: x})[0]
        )
    return cases


def _optional(name: str, build: Callable[[], dict], skipped: dict[str, str]) -> dict[str, Callable[[], Any]]:
    try:
        return build()
    except ImportError as exc:
        skipped[name] = f"not installed ({exc.name}); pip install -e '.[peers]'"
    except Exception as exc:  # a peer that fails to convert or run is recorded, not fatal
        skipped[name] = f"{type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}"
    return {}


def time_size(model: Any, height: int, width: int, batch: int, default: str) -> dict[str, Any]:
    """Every available case at one size, round-robin; ms/image and the ratio to the best peer."""
    import tempfile

    x = np.random.default_rng(0).uniform(0, 255, (batch, height, width, 3)).astype(np.float32)
    skipped: dict[str, str] = {}
    cases = _tf_cases(model, x)
    litert = _optional("litert_fp32", lambda: _litert_case(model, x), skipped)
    flat = None
    if litert:
        litert_cases, flat = litert
        cases.update(litert_cases)
    cases.update(_optional("torch", lambda: _torch_cases(model, x), skipped))
    cases.update(_optional("onnxruntime", lambda: _onnx_case(model, x), skipped))
    with tempfile.TemporaryDirectory() as tmp:
        if flat is not None:
            cases.update(_optional("openvino", lambda: _openvino_cases(flat, x, tmp), skipped))
        slow = batch * height * width >= 512 * 512
        timed = common.round_robin(cases, repeats=1 if FLAGS.quick else (5 if slow else 7), warmup=common.warmup())
    ms = {name: 1e3 * t["median_s"] / batch for name, t in timed.items()}
    peers = {n: v for n, v in ms.items() if n in SAME_NETWORK_PEERS}
    best_peer = min(peers, key=peers.get) if peers else None
    entry: dict[str, Any] = {
        "batch": batch,
        "ms_per_image": ms,
        "default": default,
        "best_peer": best_peer,
        "skipped": skipped,
    }
    if best_peer and default in ms:
        entry["ratio_vs_best_peer"] = ms[best_peer] / ms[default]
    fp32 = default if "fp32" in default else "tf_folded_fp32"  # our float32 path as Purifier runs it
    if "torch_fp32" in ms and fp32 in ms:
        entry["fp32_vs_torch_fp32"] = ms["torch_fp32"] / ms[fp32]
    return entry


def default_case(height: int, width: int) -> str:
    """The case that ``Purifier()`` runs by default here on a repeated size: bf16 where native, else
    float32, compiled by XLA from ``JIT_MIN_PIXELS`` up (``jit="auto"``)."""
    from purify_tf.inference.purifier import JIT_MIN_PIXELS

    if has_native_bf16():
        return "tf_folded_bf16"
    return "tf_folded_fp32_xla" if height * width >= JIT_MIN_PIXELS else "tf_folded_fp32"


def run(quick: bool = False) -> dict[str, Any]:
    from benchmarks.bench_inference import build
    from purify_tf.models.transformer import count_flops

    model = build("paper")
    _randomise_batch_norm(model)
    sizes = common.parse_sizes("36x60" if quick else FLAGS.peer_sizes)
    matmul_n = 256 if quick else 2048
    first_peaks = common.matmul_peaks(matmul_n)
    out: dict[str, Any] = {"native_bf16": has_native_bf16(), "sizes": {}}
    for h, w in sizes:
        batch = (2 if quick else FLAGS.peer_eye_batch) if (h, w) == EYE_SIZE else 1
        entry = time_size(model, h, w, batch, default_case(h, w))
        entry["gflop_per_image"] = count_flops("paper", h, w) / 1e9
        out["sizes"][common.size_key(h, w)] = entry
    # Measured before and after the cases, the better of the two.
    peaks = common.best_peaks(first_peaks, first_peaks if quick else common.matmul_peaks(matmul_n))
    out["matmul_peaks_gflops"] = peaks
    for entry in out["sizes"].values():
        # Share of this machine's dense-matmul peak of the matching type that each case reaches.
        entry["share_of_peak"] = {
            name: entry["gflop_per_image"] / (ms / 1e3) / peaks["best_bfloat16" if "bf16" in name else "best_float32"]
            for name, ms in entry["ms_per_image"].items()
        }
    return out


def _randomise_batch_norm(model: Any) -> None:
    """Trained-looking norm statistics, so that no runtime can skip an all-identity norm."""
    import keras

    rng = np.random.default_rng(1)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            n = layer.moving_mean.shape[0]
            layer.moving_mean.assign(rng.normal(0, 0.1, n).astype(np.float32))
            layer.moving_variance.assign(rng.uniform(0.5, 2.0, n).astype(np.float32))


def rows(results: dict[str, Any]) -> list[tuple[str, str, str]]:
    """Table rows: every case per size, fastest first, then the ratio to the best peer."""
    out = []
    for size, entry in results["sizes"].items():
        share = entry.get("share_of_peak", {})
        for name, value in sorted(entry["ms_per_image"].items(), key=lambda kv: kv[1]):
            mark = " (default)" if name == entry["default"] else ""
            out.append((f"peers {size} b{entry['batch']}", name + mark,
                        f"{common.fmt(value)} ms/image, {100 * share.get(name, 0):.0f}% of peak"))
        out.append((f"peers {size} b{entry['batch']}", "ratio_vs_best_peer", common.fmt(entry.get("ratio_vs_best_peer"))))
        for name, why in entry["skipped"].items():
            out.append((f"peers {size}", f"{name} skipped", why))
    return out


def main(argv: list[str]) -> None:
    del argv
    common.run_alone("peers", run, rows, "Peers (ms per image, median of round-robin repeats)")


if __name__ == "__main__":
    app.run(main)
