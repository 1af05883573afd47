"""purify-tf against what users would pick instead, on the same machine, in one run.

    python -m benchmarks.bench_peers [--quick] [--peer_sizes=36x60,256,512]

Needs the ``peers`` extra (``pip install -e '.[peers]'``: PyTorch, ONNX Runtime, OpenVINO,
tf2onnx); a peer whose package is missing is recorded as skipped. Every case runs the paper's
network (DESIGN.md's layer table, batch norm) on the same random input, round-robin (A, B, C, A, B,
C, ...) so that a change in the machine's load hits every case alike; the median is reported.

``--peers_mode=subprocess`` (the default of a full run) runs each library's cases in its own fresh
process on the same saved input and weights, so that PyTorch's and TensorFlow's thread pools do not
disturb each other; ``inprocess`` (the default under ``--quick``) runs them all round-robin in one.
The matmul peaks are measured in the parent process either way.

Ours:
* ``tf_keras_fp32``: the Keras model as a ``tf.function`` (the plain TF path).
* ``tf_folded_fp32`` / ``tf_folded_bf16``: the inference graph of ``fold_for_inference``.
* ``tf_folded_fp32_xla``: the same graph compiled by XLA (``Purifier``'s float32 default for a
  repeated size of at least ``JIT_MIN_PIXELS``, ``jit="auto"``).
* ``litert_fp32``: our exported float32 TFLite graph in LiteRT (XNNPACK).
* ``default``: per size, the case ``purify-tf purify`` runs by default on this machine
  (``default_case``: ``--runtime=auto`` and ``--precision=auto``); where that is OpenVINO on our
  exported graph (AMX CPUs), the best peer is taken among the other libraries.

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

import json
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from absl import app, flags

from benchmarks import common

# The children of the subprocess mode, one library each (LiteRT apart from TensorFlow: its own
# thread pool).
CHILD_LIBRARIES = ("tensorflow", "litert_fp32", "torch", "onnxruntime", "openvino")
CHILD_MARKER = "PEERS_RESULT "
REPO = Path(__file__).resolve().parents[1]

flags.DEFINE_string("peer_sizes", "36x60,256,512", "Sizes to time against the peers (HxW or one number).")
flags.DEFINE_integer("peer_eye_batch", 64, "Batch for 36x60 eye crops (larger sizes run one image).", lower_bound=1)

flags.DEFINE_enum(
    "peers_mode", "auto", ["auto", "inprocess", "subprocess"],
    "inprocess: every case round-robin in this process (quick; PyTorch's and TensorFlow's thread pools "
    "share the cores); subprocess: one fresh process per library on the same saved inputs and weights; "
    "auto: inprocess under --quick, else subprocess.")
flags.DEFINE_enum("peers_child", None, list(CHILD_LIBRARIES), "Internal: time one library's cases and print JSON.")
flags.DEFINE_string("peers_dir", None, "Internal: the folder of the child's inputs and weights.")

FLAGS = flags.FLAGS
EYE_SIZE = (36, 60)
SAME_NETWORK_PEERS = ("torch_fp32", "torch_bf16", "onnxruntime_fp32", "openvino_fp32", "openvino_bf16")


# Set in a child of the subprocess mode from the parent's answer, so that a child that does not
# load TensorFlow (PyTorch, ONNX Runtime, OpenVINO) need not import it to ask.
_NATIVE_BF16: bool | None = None


def has_native_bf16() -> bool:
    """AVX512_BF16 or AMX: bf16 arithmetic in hardware (elsewhere it is emulated and slow)."""
    if _NATIVE_BF16 is not None:
        return _NATIVE_BF16
    from purify_tf.cpu import native_bf16

    return native_bf16()


def _with_bf16() -> bool:
    """bf16 cases run where bf16 is native, and under --quick to smoke-test their code."""
    return has_native_bf16() or FLAGS.quick


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
    if _with_bf16():
        cases["tf_folded_bf16"] = compiled(with_precision(folded, "bfloat16"))  # what Purifier runs
    return cases


def _tflite_bytes(model: Any, x: np.ndarray) -> bytes:
    from purify_tf.inference.runtimes import to_tflite

    return to_tflite(model, x.shape)


def _litert_case(flat: bytes, x: np.ndarray) -> dict[str, Callable[[], Any]]:
    from purify_tf.inference.runtimes import make_interpreter

    interpreter = make_interpreter(flat)
    inp = interpreter.get_input_details()[0]["index"]
    out = interpreter.get_output_details()[0]["index"]

    def run() -> Any:
        interpreter.set_tensor(inp, x)
        interpreter.invoke()
        return interpreter.get_tensor(out)

    return {"litert_fp32": run}


def _torch_paper_net(model: Any) -> Any:
    from benchmarks.peers_torch import PaperNet, load_keras_weights

    return load_keras_weights(PaperNet(), model)


def _torch_cases(paper_net: Any, x: np.ndarray) -> dict[str, Callable[[], Any]]:
    import torch

    from benchmarks.peers_torch import ExamplesTransformerNet

    torch.manual_seed(0)
    nets = {
        "torch": paper_net.eval().to(memory_format=torch.channels_last),
        "torch_examples": ExamplesTransformerNet().eval().to(memory_format=torch.channels_last),
    }
    xt = torch.from_numpy(x).permute(0, 3, 1, 2).contiguous(memory_format=torch.channels_last)

    def run(net: Any, bf16: bool) -> Callable[[], Any]:
        def call() -> Any:
            with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                return net(xt).float().numpy()

        return call

    cases = {"torch_fp32": run(nets["torch"], False)}
    if _with_bf16():
        cases["torch_bf16"] = run(nets["torch"], True)
    cases["torch_examples_fp32"] = run(nets["torch_examples"], False)
    return cases


def _onnx_bytes(model: Any, x: np.ndarray) -> bytes:
    import tensorflow as tf
    import tf2onnx

    spec = tf.TensorSpec(x.shape, tf.float32, name="image")
    fn = tf.function(lambda v: model(v, training=False), input_signature=[spec])
    proto, _ = tf2onnx.convert.from_function(fn, input_signature=[spec], opset=17)
    return proto.SerializeToString()


def _onnx_case(onnx: bytes, x: np.ndarray) -> dict[str, Callable[[], Any]]:
    import onnxruntime as ort

    session = ort.InferenceSession(onnx, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return {"onnxruntime_fp32": lambda: session.run(None, {name: x})[0]}


def _openvino_cases(tflite_path: str, x: np.ndarray) -> dict[str, Callable[[], Any]]:
    import openvino as ov

    core = ov.Core()
    cases = {}
    for hint in ("f32", "bf16") if _with_bf16() else ("f32",):
        compiled = core.compile_model(core.read_model(tflite_path), "CPU", {"INFERENCE_PRECISION_HINT": hint})
        request = compiled.create_infer_request()
        cases[f"openvino_{'fp32' if hint == 'f32' else hint}"] = (
            lambda r=request: r.infer({0: x})[0]
        )
    return cases


def _skip_reason(exc: Exception) -> str:
    if isinstance(exc, ImportError):
        return f"not installed ({exc.name}); pip install -e '.[peers]'"
    return f"{type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}"


def _optional(name: str, build: Callable[[], Any], skipped: dict[str, str]) -> Any:
    """``build()``, or None with the reason in ``skipped[name]``: a peer that is not installed or
    fails to convert or run is recorded, never silently left out and never fatal."""
    try:
        return build()
    except Exception as exc:
        skipped[name] = _skip_reason(exc)
    return None


def _input(batch: int, height: int, width: int) -> np.ndarray:
    """The one input every case of a size runs (also saved for the children of the subprocess mode)."""
    return np.random.default_rng(0).uniform(0, 255, (batch, height, width, 3)).astype(np.float32)


def _repeats(batch: int, height: int, width: int) -> int:
    slow = batch * height * width >= 512 * 512
    return 1 if FLAGS.quick else (5 if slow else 7)


def _time_cases(cases: dict[str, Callable[[], Any]], batch: int, height: int, width: int) -> dict[str, float]:
    """ms per image of each case, timed round-robin."""
    timed = common.round_robin(cases, repeats=_repeats(batch, height, width), warmup=common.warmup())
    return {name: 1e3 * t["median_s"] / batch for name, t in timed.items()}


def time_size_inprocess(model: Any, height: int, width: int, batch: int) -> tuple[dict[str, float], dict[str, str]]:
    """Every available case at one size in this process, round-robin: ms/image and what was skipped."""
    x = _input(batch, height, width)
    skipped: dict[str, str] = {}
    cases = _tf_cases(model, x)
    flat = _optional("litert_fp32", lambda: _tflite_bytes(model, x), skipped)
    if flat is not None:
        cases.update(_optional("litert_fp32", lambda: _litert_case(flat, x), skipped) or {})
    cases.update(_optional("torch", lambda: _torch_cases(_torch_paper_net(model), x), skipped) or {})
    onnx = _optional("onnxruntime", lambda: _onnx_bytes(model, x), skipped)
    if onnx is not None:
        cases.update(_optional("onnxruntime", lambda: _onnx_case(onnx, x), skipped) or {})
    with tempfile.TemporaryDirectory() as tmp:
        if flat is not None:
            path = Path(tmp) / "purifier.tflite"
            path.write_bytes(flat)
            cases.update(_optional("openvino", lambda: _openvino_cases(str(path), x), skipped) or {})
        return _time_cases(cases, batch, height, width), skipped


# ------------------------------------------------------------------------------ subprocess mode
#
# The parent writes, per size, the input (npz) and our model in each peer's format (Keras weights,
# TFLite, ONNX, the PyTorch state dict) to a temporary folder with spec.json, then starts one
# ``python -m benchmarks.bench_peers --peers_child=LIBRARY`` per library: each times its own cases
# round-robin on those files and prints one result line. Only the parent measures the matmul peaks.


def _prepare(model: Any, sizes: list[tuple[int, int, int]], folder: Path) -> dict[str, Any]:
    """The shared files of the children; libraries the parent cannot prepare land in ``skipped``."""
    model.save_weights(folder / "paper.weights.h5")
    skipped: dict[str, str] = {}
    torch_net = _optional("torch", lambda: _torch_paper_net(model), skipped)
    if torch_net is not None:
        import torch

        torch.save(torch_net.state_dict(), folder / "paper_net.pt")
    spec: dict[str, Any] = {"native_bf16": has_native_bf16(), "sizes": {}, "skipped": {}}
    for h, w, batch in sizes:
        key = common.size_key(h, w)
        x = _input(batch, h, w)
        np.savez(folder / f"{key}.npz", x=x)
        size_skipped = dict(skipped)
        flat = _optional("litert_fp32", lambda x=x: _tflite_bytes(model, x), size_skipped)
        if flat is None:
            size_skipped["openvino"] = "needs our TFLite file, which did not convert"
        else:
            (folder / f"{key}.tflite").write_bytes(flat)
        onnx = _optional("onnxruntime", lambda x=x: _onnx_bytes(model, x), size_skipped)
        if onnx is not None:
            (folder / f"{key}.onnx").write_bytes(onnx)
        spec["sizes"][key] = {"height": h, "width": w, "batch": batch}
        spec["skipped"][key] = size_skipped
    (folder / "spec.json").write_text(json.dumps(spec))
    return spec


def _child_cases(library: str, folder: Path, key: str, x: np.ndarray) -> dict[str, Callable[[], Any]]:
    """One library's cases on the parent's files (runs in the child)."""
    if library == "tensorflow":
        from benchmarks.bench_inference import build

        model = build("paper")
        model.load_weights(folder / "paper.weights.h5")
        return _tf_cases(model, x)
    if library == "litert_fp32":
        return _litert_case((folder / f"{key}.tflite").read_bytes(), x)
    if library == "torch":
        import torch

        from benchmarks.peers_torch import PaperNet

        net = PaperNet()
        net.load_state_dict(torch.load(folder / "paper_net.pt"))
        return _torch_cases(net, x)
    if library == "onnxruntime":
        return _onnx_case((folder / f"{key}.onnx").read_bytes(), x)
    if library == "openvino":
        return _openvino_cases(str(folder / f"{key}.tflite"), x)
    raise ValueError(f"unknown library {library!r}")


def child(library: str, folder: Path) -> dict[str, Any]:
    """The child's work: every size of spec.json, this library's cases round-robin."""
    global _NATIVE_BF16
    spec = json.loads((folder / "spec.json").read_text())
    _NATIVE_BF16 = spec["native_bf16"]
    if library == "tensorflow":
        common.configure_tf()
    out: dict[str, Any] = {}
    for key, size in spec["sizes"].items():
        if library in spec["skipped"][key]:
            continue
        x = np.load(folder / f"{key}.npz")["x"]
        skipped: dict[str, str] = {}
        cases = _optional(library, lambda key=key, x=x: _child_cases(library, folder, key, x), skipped) or {}
        ms = _time_cases(cases, size["batch"], size["height"], size["width"]) if cases else {}
        out[key] = {"ms_per_image": ms, "skipped": skipped}
    return out


def _run_child(library: str, folder: Path) -> dict[str, Any]:
    return common.run_child("benchmarks.bench_peers", [f"--peers_child={library}", f"--peers_dir={folder}",
                                                        f"--warmup={FLAGS.warmup}"], CHILD_MARKER, f"{library} child")


def time_sizes_subprocess(
    model: Any, sizes: list[tuple[int, int, int]]
) -> dict[str, tuple[dict[str, float], dict[str, str]]]:
    """Each library in its own fresh process on the same files: per size ms/image and skipped."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        spec = _prepare(model, sizes, folder)
        results = {key: ({}, dict(spec["skipped"][key])) for key in spec["sizes"]}
        for library in CHILD_LIBRARIES:
            if all(library in s for s in spec["skipped"].values()):
                continue
            try:
                per_size = _run_child(library, folder)
            except Exception as exc:  # one library's crash must not lose the others
                for _, skipped in results.values():
                    skipped.setdefault(library, _skip_reason(exc))
                continue
            for key, r in per_size.items():
                results[key][0].update(r["ms_per_image"])
                results[key][1].update(r["skipped"])
    return results


def _entry(ms: dict[str, float], skipped: dict[str, str], batch: int, default: str) -> dict[str, Any]:
    """A size's JSON entry: ms/image per case, the best same-network peer and the ratios."""
    # Where our default runs in OpenVINO, OpenVINO is ours there, not a peer.
    library = default.split("_")[0]
    peers = {n: v for n, v in ms.items() if n in SAME_NETWORK_PEERS and not n.startswith(library + "_")}
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
    """The case that ``purify-tf purify`` runs by default here on a repeated size: the runtime of
    ``auto_runtime``; on TensorFlow bf16 where native, else float32, compiled by XLA from
    ``JIT_MIN_PIXELS`` up (``jit="auto"``)."""
    from purify_tf.inference.purifier import JIT_MIN_PIXELS
    from purify_tf.inference.runtimes import auto_runtime

    if auto_runtime() == "openvino":
        return "openvino_bf16" if has_native_bf16() else "openvino_fp32"
    if has_native_bf16():
        return "tf_folded_bf16"
    return "tf_folded_fp32_xla" if height * width >= JIT_MIN_PIXELS else "tf_folded_fp32"


def peers_mode(quick: bool) -> str:
    """``--peers_mode``; ``auto``: in-process under --quick, one process per library otherwise."""
    if FLAGS.peers_mode != "auto":
        return FLAGS.peers_mode
    return "inprocess" if quick else "subprocess"


def run(quick: bool = False) -> dict[str, Any]:
    from benchmarks.bench_inference import build
    from purify_tf.models.transformer import count_flops

    model = build("paper")
    _randomise_batch_norm(model)
    sizes = common.parse_sizes("36x60" if quick else FLAGS.peer_sizes)
    matmul_n = 256 if quick else 2048
    first_peaks = common.matmul_peaks(matmul_n)
    mode = peers_mode(quick)
    out: dict[str, Any] = {"native_bf16": has_native_bf16(), "mode": mode, "sizes": {}}
    plan = [(h, w, (2 if quick else FLAGS.peer_eye_batch) if (h, w) == EYE_SIZE else 1) for h, w in sizes]
    if mode == "subprocess":
        timed = time_sizes_subprocess(model, plan)
    else:
        timed = {common.size_key(h, w): time_size_inprocess(model, h, w, b) for h, w, b in plan}
    for h, w, batch in plan:
        key = common.size_key(h, w)
        entry = _entry(*timed[key], batch, default_case(h, w))
        entry["gflop_per_image"] = count_flops("paper", h, w) / 1e9
        out["sizes"][key] = entry
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
    if FLAGS.peers_child:
        print(CHILD_MARKER + json.dumps(child(FLAGS.peers_child, Path(FLAGS.peers_dir))))
        return
    common.run_alone("peers", run, rows, "Peers (ms per image, median of round-robin repeats)")


if __name__ == "__main__":
    app.run(main)
