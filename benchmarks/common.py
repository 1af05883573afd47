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
