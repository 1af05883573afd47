"""Peak resident memory of inference at 1024x1024 and of a training step at 256x256.

    python -m benchmarks.bench_memory [--quick] [--memory_inference_size=1024] [--memory_train_size=256]

Each measurement runs in a fresh child process (``--memory_child``) so that nothing the parent
allocated counts: the child reports its high-water mark ``VmHWM`` from ``/proc/self/status``
after the setup (imports, model, loss network) and after the measured work; the parent also
records ``getrusage(RUSAGE_CHILDREN).ru_maxrss``, the largest child so far.
"""

from __future__ import annotations

import json
import resource
import tempfile
from pathlib import Path
from typing import Any

from absl import app, flags

from benchmarks import bench_training, common

flags.DEFINE_integer("memory_inference_size", 1024, "Square side for peak inference memory.", lower_bound=8)
flags.DEFINE_integer("memory_train_size", 256, "Square side for peak training-step memory.", lower_bound=8)
flags.DEFINE_enum("memory_child", None, ["inference", "training"], "Internal: run one measurement and print JSON.")
flags.DEFINE_integer("memory_size", 0, "Internal: the child's image side.", lower_bound=0)

FLAGS = flags.FLAGS
MARKER = "MEMORY_RESULT "
REPO = Path(__file__).resolve().parents[1]


def status_mb(field: str) -> float:
    """A ``/proc/self/status`` memory field (VmHWM, VmRSS) in MiB; 0 where /proc is missing."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def child(kind: str, size: int) -> dict[str, Any]:
    """Runs in the child: set up, note the high-water mark, do the work twice, note it again."""
    import tensorflow as tf

    from benchmarks.bench_inference import build, inference_fn

    if kind == "inference":
        model = build("paper")
        fn = inference_fn(model, 1, size, size, "graph")
        x = tf.random.stateless_uniform((1, size, size, 3), seed=(0, 1), maxval=255.0)
        setup = status_mb("VmHWM")
        fn(x).numpy()
        fn(x).numpy()
    else:
        with tempfile.TemporaryDirectory() as tmp:
            trainer = bench_training.build_trainer(
                size, size, 2 if FLAGS.quick else FLAGS.train_batch, "float32", FLAGS.train_masks, tmp,
                style_set_size=bench_training.QUICK_STYLE_SET if FLAGS.quick else None)
            batches = list(trainer.distributed_dataset(0, 2))
            setup = status_mb("VmHWM")
            for batch in batches:
                trainer.train_step(batch)
    return {"size": size, "setup_hwm_mb": setup, "peak_rss_mb": status_mb("VmHWM")}


def measure(kind: str, size: int) -> dict[str, Any]:
    """Run one child and parse its result line."""
    result = common.run_child("benchmarks.bench_memory", [f"--memory_child={kind}", f"--memory_size={size}"],
                              MARKER, f"memory child {kind}")
    result["rusage_children_maxrss_mb"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return result


def run(quick: bool = False) -> dict[str, Any]:
    inference_size = 64 if quick else FLAGS.memory_inference_size
    train_size = 32 if quick else FLAGS.memory_train_size
    return {
        "inference": {"config": "paper", "batch": 1, **measure("inference", inference_size)},
        "training": {"config": "paper", "batch": 2 if quick else FLAGS.train_batch, **measure("training", train_size)},
    }


def rows(results: dict[str, Any]) -> list[tuple[str, str, str]]:
    out = []
    for kind in ("inference", "training"):
        r = results[kind]
        out.append((f"peak RSS {kind}", f"{r['size']}x{r['size']} batch {r['batch']}",
                    f"{r['peak_rss_mb']:.0f} MiB (after setup {r['setup_hwm_mb']:.0f} MiB)"))
    return out


def main(argv: list[str]) -> None:
    del argv
    common.configure_tf()
    if FLAGS.memory_child:
        print(MARKER + json.dumps(child(FLAGS.memory_child, FLAGS.memory_size)), flush=True)
        return
    results = {"machine": common.machine_info(), "memory": run(FLAGS.quick)}
    common.print_rows("Memory", rows(results["memory"]))
    common.write_json(results, FLAGS.out)


if __name__ == "__main__":
    app.run(main)
