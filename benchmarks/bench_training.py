"""Training speed of ``PurifyTrainer`` and whether the input pipeline keeps up with it.

    python -m benchmarks.bench_training [--quick] [--train_sizes=128,256] [--train_batch=4]

A few steps on rendered real-domain eyes with oracle masks (no FCN) after one untimed step that
traces the step function; the loss network is ``$PURIFY_VGG_WEIGHTS`` or a random VGG16 (speed
does not depend on the weights). The input pipeline (``step_dataset`` over a ``RendererSource``)
is then drained alone: it must deliver at least 5x the images/s that training consumes, or the
accelerator -- here the CPU -- would wait for data.
"""

from __future__ import annotations

import tempfile
import time
from typing import Any

from absl import app, flags

from benchmarks import common

flags.DEFINE_string("train_sizes", "128,256", "Square training image sides to time.")
flags.DEFINE_integer("train_batch", 4, "Global batch size (the trainer's default).", lower_bound=1)
flags.DEFINE_integer("train_steps", 3, "Timed training steps per size.", lower_bound=1)
flags.DEFINE_integer("pipeline_batches", 20, "Batches drained from the input pipeline per size.", lower_bound=1)
flags.DEFINE_boolean("train_jit", False, "Also time the trainer with --jit_compile (XLA).")

FLAGS = flags.FLAGS
PIPELINE_MIN_RATIO = 5.0


def time_training(
    height: int, width: int, batch: int, steps: int, loss_network: Any, jit_compile: bool = False
) -> dict[str, Any]:
    """Steps/s of ``PurifyTrainer.train_step`` (median step time) on renderer batches."""
    import tensorflow as tf

    from purify_tf.data.renderer import render_eyes
    from purify_tf.training.inputs import RendererSource
    from purify_tf.training.purify_loop import PurifyTrainConfig, PurifyTrainer

    style = render_eyes(1, height, width, domain="synthetic", seed=123)
    with tempfile.TemporaryDirectory() as tmp:
        cfg = PurifyTrainConfig(model_dir=tmp, batch_size=batch, progress=False, jit_compile=jit_compile)
        trainer = PurifyTrainer(
            cfg, tf.distribute.get_strategy(), loss_network, RendererSource(height, width, "real"),
            style["image"][0], style["mask"][0],
        )
        batches = list(trainer.distributed_dataset(0, steps + 1))
        start = time.perf_counter()
        trainer.train_step(batches[0])  # traces the step function
        first = time.perf_counter() - start
        times = []
        for b in batches[1:]:
            start = time.perf_counter()
            trainer.train_step(b)  # returns Python floats: the step has finished
            times.append(time.perf_counter() - start)
    times.sort()
    median = times[len(times) // 2]
    return {
        "batch": batch,
        "first_step_s": first,
        "median_step_s": median,
        "steps_per_s": 1.0 / median,
        "images_per_s": batch / median,
        "timed_steps": len(times),
        "jit_compile": jit_compile,
    }


def time_pipeline(height: int, width: int, batch: int, n_batches: int) -> dict[str, Any]:
    """Images/s of the training input stream alone (rendering, conversion, prefetch)."""
    from purify_tf.training.inputs import RendererSource, step_dataset

    ds = step_dataset(RendererSource(height, width, "real"), batch, 0, n_batches + 2)
    it = iter(ds)
    next(it)  # start the map workers and the prefetch buffer
    next(it)
    start = time.perf_counter()
    count = 0
    for _ in it:
        count += 1
    seconds = time.perf_counter() - start
    return {"batches": count, "images_per_s": count * batch / seconds}


def run(quick: bool = False) -> dict[str, Any]:
    sizes = [(32, 48)] if quick else common.parse_sizes(FLAGS.train_sizes)
    batch = 2 if quick else FLAGS.train_batch
    steps = 1 if quick else FLAGS.train_steps
    network, network_name = common.loss_network()
    out: dict[str, Any] = {"loss_network": network_name, "sizes": {}}
    for h, w in sizes:
        entry: dict[str, Any] = {"train": time_training(h, w, batch, steps, network)}
        if FLAGS.train_jit and not quick:
            entry["train_xla"] = time_training(h, w, batch, steps, network, jit_compile=True)
        best = max((v for k, v in entry.items() if k.startswith("train")), key=lambda v: v["images_per_s"])
        entry["pipeline"] = time_pipeline(h, w, batch, 3 if quick else FLAGS.pipeline_batches)
        entry["pipeline_over_training_ratio"] = entry["pipeline"]["images_per_s"] / best["images_per_s"]
        entry["pipeline_keeps_up"] = entry["pipeline_over_training_ratio"] >= PIPELINE_MIN_RATIO
        out["sizes"][common.size_key(h, w)] = entry
    return out


def rows(results: dict[str, Any]) -> list[tuple[str, str, str]]:
    out = []
    for key, e in results["sizes"].items():
        for name in ("train", "train_xla"):
            if name in e:
                t = e[name]
                out.append((f"training {key}", f"{'XLA ' if t['jit_compile'] else ''}batch {t['batch']}",
                            f"{common.fmt(t['steps_per_s'])} steps/s, {common.fmt(t['images_per_s'])} images/s "
                            f"({results['loss_network']})"))
        out.append((f"training {key}", "input pipeline alone", f"{common.fmt(e['pipeline']['images_per_s'])} images/s "
                    f"= {e['pipeline_over_training_ratio']:.1f}x training consumption"))
    return out


def main(argv: list[str]) -> None:
    del argv
    common.configure_tf()
    results = {"machine": common.machine_info(), "training": run(FLAGS.quick)}
    common.print_rows("Training", rows(results["training"]))
    common.write_json(results, FLAGS.out)


if __name__ == "__main__":
    app.run(main)
