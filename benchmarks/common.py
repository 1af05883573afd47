"""Shared pieces of the benchmarks: flags, TF threading, the machine, timing and JSON output.

Every benchmark module exposes ``run(quick: bool) -> dict`` and a ``main`` for running it alone;
``benchmarks.run_all`` imports them all, so module-specific flags carry distinct names and the
flags below are defined exactly once, here.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# The benchmarks time what the ``purify-tf`` command runs: oneDNN as its --onednn=auto sets it,
# which has to happen before TensorFlow is imported (machine_info records the outcome).
from purify_tf.inference.onednn import request_onednn  # noqa: E402

request_onednn("auto")

from absl import flags  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_boolean("quick", False, "Small sizes and one repeat (smoke test); numbers are not meaningful.")
flags.DEFINE_string("out", "benchmarks/results/latest.json", "Where to write the JSON results.")
flags.DEFINE_integer("repeats", 5, "Timed repeats per measurement (the median is reported).", lower_bound=1)
flags.DEFINE_integer("warmup", 2, "Untimed runs before timing (tracing, XLA compilation, caches).", lower_bound=0)
flags.DEFINE_integer(
    "intra_op_threads", 0, "TF intra-op threads (0: TF's default, one per available core).", lower_bound=0
)
flags.DEFINE_integer("inter_op_threads", 0, "TF inter-op threads (0: TF's default).", lower_bound=0)

QUICK_REPEATS = 1
QUICK_WARMUP = 1


def repeats() -> int:
    """Timed repeats: 1 under ``--quick`` so that the smoke test stays short."""
    return QUICK_REPEATS if FLAGS.quick else FLAGS.repeats


def warmup() -> int:
    return QUICK_WARMUP if FLAGS.quick else FLAGS.warmup


def configure_tf() -> None:
    """Apply the thread flags before TF starts its thread pools (later calls are ignored by TF)."""
    import logging

    import tensorflow as tf
    from absl import logging as absl_logging

    absl_logging.set_verbosity(absl_logging.WARNING)
    # Each measured size gets its own tf.function on purpose; TF's retracing advice does not apply.
    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    try:
        if FLAGS.intra_op_threads:
            tf.config.threading.set_intra_op_parallelism_threads(FLAGS.intra_op_threads)
        if FLAGS.inter_op_threads:
            tf.config.threading.set_inter_op_parallelism_threads(FLAGS.inter_op_threads)
    except RuntimeError:  # the runtime is already initialised (e.g. within run_all); keep it
        pass


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def cpu_flags() -> list[str]:
    """The vector-extension flags that matter for the convolution kernels (AVX-512, BF16, AMX)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                names = line.split(":", 1)[1].split()
                return sorted(f for f in names if f.startswith(("avx512", "amx", "avx2", "fma")))
    except OSError:
        pass
    return []


def onednn_enabled() -> bool:
    """Whether TF was built with oneDNN and ``TF_ENABLE_ONEDNN_OPTS`` does not switch it off."""
    if os.environ.get("TF_ENABLE_ONEDNN_OPTS", "").strip() in ("0", "false", "False"):
        return False
    try:
        from tensorflow.python.util import _pywrap_util_port

        return bool(_pywrap_util_port.IsMklEnabled())
    except Exception:  # private module moved: report the default of x86 Linux builds
        return platform.machine() in ("x86_64", "AMD64")


def machine_info() -> dict[str, Any]:
    """What a reader needs to compare numbers between machines."""
    import keras
    import numpy as np
    import tensorflow as tf

    return {
        "cpu_model": cpu_model(),
        "cpu_flags": cpu_flags(),
        "logical_cores": os.cpu_count(),
        "cores_available": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
        "onednn": onednn_enabled(),
        # Instruction-set caps (e.g. AVX2 on an AVX-512 CPU): oneDNN's (TensorFlow's kernels) and
        # OpenBLAS's (NumPy's matmul peak); the kernels then run as on that CPU class.
        "onednn_max_cpu_isa": os.environ.get("ONEDNN_MAX_CPU_ISA", "") or None,
        "openblas_coretype": os.environ.get("OPENBLAS_CORETYPE", "") or None,
        "intra_op_threads": tf.config.threading.get_intra_op_parallelism_threads(),
        "inter_op_threads": tf.config.threading.get_inter_op_parallelism_threads(),
        "gpus": [d.name for d in tf.config.list_physical_devices("GPU")],
        "load_average": list(os.getloadavg()),
    }


def time_call(fn: Callable[[], Any], n_warmup: int | None = None, n_repeats: int | None = None) -> dict[str, Any]:
    """Median/min/max seconds of ``fn()`` after warm-up; ``fn`` must block until its result exists.

    The median is the reported figure: on a shared machine single runs are disturbed by other
    processes, and the median ignores a minority of disturbed runs.
    """
    for _ in range(warmup() if n_warmup is None else n_warmup):
        fn()
    times = []
    for _ in range(repeats() if n_repeats is None else n_repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return {
        "median_s": statistics.median(times),
        "min_s": min(times),
        "max_s": max(times),
        "repeats": len(times),
    }


def parse_sizes(text: str) -> list[tuple[int, int]]:
    """``"36x60,256"`` -> ``[(36, 60), (256, 256)]``."""
    sizes = []
    for item in text.split(","):
        item = item.strip().lower()
        if not item:
            continue
        h, _, w = item.partition("x")
        sizes.append((int(h), int(w or h)))
    return sizes


def size_key(h: int, w: int) -> str:
    return f"{h}x{w}"


def write_json(results: dict[str, Any], path: str | os.PathLike) -> Path:
    """Write ``results`` (indented, keys in insertion order) creating parent folders."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(out.suffix + ".tmp")
    tmp.write_text(json.dumps(results, indent=2, default=float) + "\n")
    tmp.replace(out)
    return out


def print_rows(title: str, rows: list[tuple[str, str, str]]) -> None:
    """A plain three-column table: section | item | value."""
    if not rows:
        return
    w0 = max(len(r[0]) for r in rows)
    w1 = max(len(r[1]) for r in rows)
    print(f"\n{title}")
    print("-" * min(110, w0 + w1 + 40))
    for a, b, c in rows:
        print(f"{a:<{w0}}  {b:<{w1}}  {c}")


def fmt(value: float | None, digits: int = 3) -> str:
    """Numbers with ``digits`` significant figures; '-' for missing values."""
    if value is None:
        return "-"
    return f"{value:.{digits}g}" if abs(value) < 10 ** digits else f"{value:.0f}"


def loss_network() -> tuple[Any, str]:
    """The VGG loss network: ``$PURIFY_VGG_WEIGHTS`` when set (``make bench`` sets it from the
    shared folder), else VGG16 with random weights -- never a download. Speed does not depend on
    the weights' values, only on the architecture."""
    from purify_tf.losses.layers import LOSS_LAYERS
    from purify_tf.models.vgg import ENV_WEIGHTS, build_loss_network

    if os.environ.get(ENV_WEIGHTS, "").strip():
        network = build_loss_network("auto", "auto", layers=LOSS_LAYERS, allow_download=False)
    else:
        network = build_loss_network("vgg16", "random", layers=LOSS_LAYERS, seed=0, allow_download=False)
    info = getattr(network, "info", {})
    return network, f"{info.get('architecture', '?')} ({info.get('weights', '?')})"


def run_alone(name: str, run: Callable[[bool], dict[str, Any]], rows: Callable[[dict], list], title: str) -> None:
    """``main`` of a section run by itself: machine facts, the section, its table, the JSON."""
    configure_tf()
    results = {"machine": machine_info(), name: run(FLAGS.quick)}
    print_rows(title, rows(results[name]))
    print(f"\nwritten: {write_json(results, FLAGS.out)}")


def round_robin(cases: dict[str, Callable[[], Any]], repeats: int, warmup: int) -> dict[str, dict[str, float]]:
    """Median/min seconds per case; repeats alternate between the cases (A, B, C, A, B, C, ...), so
    that a change in the machine's load hits every case alike and ratios between them stay fair."""
    for _ in range(warmup):
        for fn in cases.values():
            fn()
    times: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(repeats):
        for name, fn in cases.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {n: {"median_s": statistics.median(t), "min_s": min(t), "repeats": len(t)} for n, t in times.items()}


def matmul_peaks(n: int, bfloat16: bool = True) -> dict[str, float]:
    """GFLOP/s of an n x n matmul in float32 and bfloat16, per library (fastest repeat); ``best_*``
    is the machine's practical peak for dense arithmetic of that type. ``bfloat16=False`` measures
    float32 only: where bf16 is not native, oneDNN has no bf16 matmul (TensorFlow falls back to slow
    Eigen code, or aborts when oneDNN is capped below AVX-512) and there is no peak to speak of."""
    import numpy as np
    import tensorflow as tf

    peaks: dict[str, float] = {}
    dtypes = ("float32", "bfloat16") if bfloat16 else ("float32",)

    def gflops(fn: Callable[[], Any]) -> float:
        return 2 * n**3 / time_call(fn, n_warmup=1, n_repeats=max(3, repeats()))["min_s"] / 1e9

    for dtype in dtypes:
        a = tf.cast(tf.random.stateless_normal((n, n), seed=(1, 2)), dtype)
        fn = tf.function(lambda x: tf.matmul(x, x))
        peaks[f"tensorflow_{dtype}"] = gflops(lambda fn=fn, a=a: fn(a).numpy())
    a32 = np.random.default_rng(0).standard_normal((n, n)).astype(np.float32)
    peaks["numpy_float32"] = gflops(lambda: a32 @ a32)
    try:
        import torch

        for dtype, name in ((torch.float32, "float32"), (torch.bfloat16, "bfloat16")):
            if name in dtypes:
                t = torch.from_numpy(a32).to(dtype)
                peaks[f"torch_{name}"] = gflops(lambda t=t: t @ t)
    except ImportError:
        pass
    for dtype in dtypes:
        peaks[f"best_{dtype}"] = max(v for k, v in peaks.items() if k.endswith(dtype))
    return peaks


def best_peaks(first: dict[str, float], last: dict[str, float]) -> dict[str, float]:
    """Per key the better of two ``matmul_peaks`` runs (before and after the cases): a shared
    machine's load moves a single measurement, and a peak below what a network reaches is no peak."""
    return {k: max(first[k], last.get(k, 0.0)) for k in first}


def conv_flops(fn: Callable[[Any], Any], height: int, width: int) -> int:
    """Multiply-add FLOPs (2 per MAC) of the convolutions ``fn`` runs on one (1, H, W, 3) image.

    Read from the ops of the traced graph (``Conv2D`` and ``Conv2DBackpropInput``, the transposed
    convolutions) with their static shapes, so it counts what the model really runs, whatever its
    layers; the same rule as ``purify_tf.models.transformer.count_flops`` (convolutions only).
    """
    import tensorflow as tf

    graph = tf.function(fn).get_concrete_function(tf.TensorSpec((1, height, width, 3), tf.float32)).graph
    total = 0
    for op in graph.get_operations():
        if op.type == "Conv2D":
            _, h, w, _ = op.outputs[0].shape
            kh, kw, c_in, c_out = op.inputs[1].shape
        elif op.type == "Conv2DBackpropInput":
            _, h, w, _ = op.inputs[2].shape  # the transposed conv's input: every input pixel x kernel
            kh, kw, c_out, c_in = op.inputs[1].shape
        else:
            continue
        total += 2 * kh * kw * c_in * c_out * h * w
    return int(total)


def profile_ops(fn: Callable[[], Any], top: int = 15) -> dict[str, Any]:
    """Where one call of ``fn`` spends its time: TensorFlow's profiler traces it and the op events
    (``name:Type``) are summed per op type and per op; ``top`` of each, slowest first.

    Op times are summed over threads, so with several cores they can add up to more than the
    wall time; ``share`` is of the summed op time. XLA-compiled code shows as its cluster ops.
    """
    import glob
    import tempfile

    import tensorflow as tf

    try:
        from tsl.profiler.protobuf import xplane_pb2
    except ImportError:
        from tensorflow.tsl.profiler.protobuf import xplane_pb2

    with tempfile.TemporaryDirectory() as logdir:
        tf.profiler.experimental.start(logdir)
        start = time.perf_counter()
        try:
            fn()
        finally:
            wall = time.perf_counter() - start
            tf.profiler.experimental.stop()
        space = xplane_pb2.XSpace()
        for path in glob.glob(f"{logdir}/**/*.xplane.pb", recursive=True):
            space.MergeFromString(Path(path).read_bytes())
    by_type: dict[str, float] = {}
    by_name: dict[str, float] = {}
    for plane in space.planes:
        for line in plane.lines:
            for event in line.events:
                label = plane.event_metadata[event.metadata_id].name
                name, sep, op_type = label.rpartition(":")
                # Op events are "node_name:OpType"; runtime events have spaces or "::" in them.
                if not sep or not name or not op_type or " " in label or "::" in label:
                    continue
                ms = event.duration_ps / 1e9
                by_type[op_type] = by_type.get(op_type, 0.0) + ms
                by_name[label] = by_name.get(label, 0.0) + ms
    total = sum(by_type.values())

    def ranked(table: dict[str, float]) -> list[dict[str, Any]]:
        rows = sorted(table.items(), key=lambda kv: kv[1], reverse=True)[:top]
        return [{"op": k, "ms": v, "share": v / total if total else 0.0} for k, v in rows]

    return {"wall_ms": 1e3 * wall, "op_ms_total": total, "by_type": ranked(by_type), "by_op": ranked(by_name)}


def run_child(module: str, args: list[str], marker: str, what: str) -> dict[str, Any]:
    """Run ``python -m module args`` (with the thread flags and ``--quick`` passed on) in a fresh
    process and return the JSON it printed after ``marker``; a failed child raises, naming ``what``."""
    cmd = [sys.executable, "-m", module, *args, f"--intra_op_threads={FLAGS.intra_op_threads}",
           f"--inter_op_threads={FLAGS.inter_op_threads}", *(["--quick"] if FLAGS.quick else [])]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    proc = subprocess.run(cmd, cwd=Path(__file__).resolve().parents[1], env=env, capture_output=True, text=True,
                          check=False)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith(marker)]
    if proc.returncode or not lines:
        raise RuntimeError(f"{what} failed (exit {proc.returncode}): {proc.stderr[-2000:]}")
    return json.loads(lines[-1][len(marker):])
