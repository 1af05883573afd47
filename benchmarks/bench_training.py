"""Training throughput of ``PurifyTrainer``, measured like inference, and whether the input pipeline
keeps up with it.

    python -m benchmarks.bench_training [--quick] [--train_sizes=48x72,256] [--train_batch=4]

What is timed is the library's own training step (``PurifyTrainer.train_step``: FCN masks, f_W
forward and backward, the VGG loss network, Adam) in the configuration of ``configs/demo.flags``
(read from that file: illumination front end, residual output, masked objective with balanced
layer weights towards the mean Grams of a rendered synthetic style set, FCN masks). The FCN has
random weights of its architecture and the loss network is ``$PURIFY_VGG_WEIGHTS`` or a random
VGG16: speed depends on the architectures, not on the weights' values.

Per size, the variants (float32, mixed_bfloat16, XLA on the gradient step) are timed round-robin
(A, B, C, A, B, C, ...) after one untimed step each that traces (and compiles) it; the median is
reported. GFLOP/s count the convolutions of one step (``flops_per_image``) and are divided by the
same run's dense-matmul peaks (``common.matmul_peaks``, before and after the sizes). One step of
each ``--train_profile`` variant is traced by TensorFlow's profiler and summarised as the top ops.
The input pipeline (``step_dataset`` over a ``RendererSource``) is then drained alone: it must
deliver at least 5x the images/s that training consumes, or the accelerator -- here the CPU --
would wait for data.
"""

from __future__ import annotations

import contextlib
import itertools
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from absl import app, flags

from benchmarks import common

VARIANTS = ("float32", "mixed_bfloat16", "xla", "float32_before")
flags.DEFINE_string("train_sizes", "48x72,256", "Training image sizes to time (HxW or one number): 48x72 as "
                    "`make demo` trains, 256 as the paper.")
flags.DEFINE_integer("train_batch", 4, "Global batch size (configs/demo.flags and the paper use 4).", lower_bound=1)
flags.DEFINE_list("train_variants", list(VARIANTS), "Variants timed round-robin: float32, mixed_bfloat16 (Keras "
                  "policy for f_W and the loss network), xla (jit_compile on the float32 gradient step), "
                  "float32_before (A/B only: the former float32 step, one loss-network pass over outputs and "
                  "contents recorded by the tape and einsum Grams).")
flags.DEFINE_list("train_profile", ["float32"], "Variants of which one step is traced into a per-op profile "
                  "(empty: none).")
flags.DEFINE_enum("train_masks", "fcn", ["fcn", "oracle"], "Masks of the step: fcn = an FCN forward per step as "
                  "configs/demo.flags trains (random FCN weights); oracle = the renderer's labels, no FCN.")
flags.DEFINE_integer("pipeline_batches", 20, "Batches drained from the input pipeline per size.", lower_bound=1)
flags.DEFINE_integer("train_matmul_n", 2048, "Side of the square matrices of the peak-GFLOP/s matmuls.",
                     lower_bound=64)

FLAGS = flags.FLAGS
PIPELINE_MIN_RATIO = 5.0
DEMO_FLAGS = Path(__file__).resolve().parents[1] / "configs" / "demo.flags"
QUICK_SIZE = (32, 48)
QUICK_STYLE_SET = 4
PROFILE_TOP = 15
FLOPS_NOTE = (
    "per image and step: 3x the forward convolutions of f_W (forward, and a backward of about twice "
    "the forward: gradients w.r.t. activations and weights), 3x those of the loss network (a forward "
    "pass over the outputs and one over the contents, and the backward of the outputs' pass w.r.t. "
    "its input only: its weights are frozen), plus the FCN's forward when its masks are used; "
    "convolutions only (2 FLOPs per multiply-add), counted from each traced network's ops"
)


def demo_settings(path: Path = DEMO_FLAGS) -> dict[str, str]:
    """``--name=value`` lines of a flag file (boolean ``--name`` -> "true", ``--noname`` -> "false"),
    comments skipped."""
    out: dict[str, str] = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line.startswith("--"):
            continue
        name, _, value = line[2:].partition("=")
        if not value and name.startswith("no"):
            out[name[2:]] = "false"
        else:
            out[name] = value if value else "true"
    return out


def _flag_bool(value: str) -> bool:
    return value.lower() in ("true", "1", "yes")


@contextlib.contextmanager
def _policy(name: str) -> Iterator[None]:
    """The Keras global dtype policy for the models built inside, restored afterwards."""
    import keras

    previous = keras.mixed_precision.global_policy().name
    keras.mixed_precision.set_global_policy(name)
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy(previous)


def build_trainer(height: int, width: int, batch: int, variant: str, masks: str, model_dir: str,
                  style_set_size: int | None = None) -> Any:
    """A ``PurifyTrainer`` in the configuration of configs/demo.flags at ``height`` x ``width``."""
    import keras
    import tensorflow as tf

    from purify_tf.losses.objective import LossWeights
    from purify_tf.models.segmentation import build_fcn
    from purify_tf.training.inputs import RendererSource
    from purify_tf.training.purify_loop import PurifyTrainConfig, PurifyTrainer
    from purify_tf.training.segment_loop import predict_fn
    from purify_tf.training.style_source import load_style_set

    demo = demo_settings()
    with _policy("mixed_bfloat16" if variant == "mixed_bfloat16" else "float32"):
        keras.utils.set_random_seed(0)
        network, _ = common.loss_network()
        style = load_style_set(demo["style_source"], height, width,
                               set_size=style_set_size or int(demo["style_set_size"]), seed=int(demo["style_seed"]))
        mask_fn = predict_fn(build_fcn()) if masks == "fcn" else None
        cfg = PurifyTrainConfig(
            model_dir=model_dir, config=demo["config"], batch_size=batch,
            learning_rate=float(demo["learning_rate"]), lr_schedule=demo["lr_schedule"],
            train_steps=int(demo["train_steps"]),
            weights=LossWeights(alpha=float(demo["alpha"]), beta=float(demo["beta"]), theta=float(demo["theta"]),
                                gamma=float(demo["gamma"])),
            use_masks=_flag_bool(demo.get("use_masks", "true")), layer_weighting=demo["layer_weighting"],
            illumination=_flag_bool(demo.get("illumination", "false")),
            residual=_flag_bool(demo.get("residual", "false")),
            jit_compile=variant == "xla", progress=False,
        )
        return PurifyTrainer(
            cfg, tf.distribute.get_strategy(), network, RendererSource(height, width, "real"), style.images,
            None if mask_fn is not None else style.masks, mask_fn=mask_fn, style_stream=style.stream,
            prior_images=style.prior_images,
        )


@contextlib.contextmanager
def _einsum_grams() -> Iterator[None]:
    """The former einsum Grams in the style losses while a step is traced (A/B timing only)."""
    import tensorflow as tf

    from purify_tf.losses import style

    def gram(features):
        f = tf.cast(features, tf.float32)
        return tf.einsum("bhwc,bhwd->bcd", f, f)

    def class_grams(features, masks):
        f = tf.cast(features, tf.float32)
        return tf.einsum("bhwk,bhwc,bhwd->bkcd", tf.square(tf.cast(masks, tf.float32)), f, f)

    saved = style.gram_matrix, style.class_gram_matrices
    style.gram_matrix, style.class_gram_matrices = gram, class_grams
    try:
        yield
    finally:
        style.gram_matrix, style.class_gram_matrices = saved


def one_pass_feature_pairs(objective: Any) -> Any:
    """The objective's former ``_feature_pairs`` (for A/B timing only): outputs and contents through
    the loss network in one pass inside the tape, so its backward covers both halves."""
    import tensorflow as tf

    from purify_tf.losses.roles import as_one_hot

    def pairs(outputs, contents, content_masks, content_targets):
        batch = tf.shape(outputs)[0]
        both = objective._features(tf.concat([outputs, tf.cast(contents, tf.float32)], axis=0))
        one_hot = as_one_hot(content_masks) if objective.use_masks else None
        return {n: f[:batch] for n, f in both.items()}, {n: f[batch:] for n, f in both.items()}, one_hot

    return pairs


def flops_per_image(trainer: Any, height: int, width: int, fcn: bool) -> dict[str, float]:
    """GFLOP per image: the forward passes of f_W, the loss network and the FCN, and a training
    step as ``FLOPS_NOTE`` counts it."""
    f_w = common.conv_flops(lambda x: trainer.model(x, training=False), height, width)
    vgg = common.conv_flops(trainer.objective.loss_network.model, height, width)
    mask = 0
    if fcn:
        mask = common.conv_flops(lambda x: trainer.content_masks(x, None), height, width)
    return {
        "f_w_forward": f_w / 1e9,
        "loss_network_forward": vgg / 1e9,
        "fcn_forward": mask / 1e9,
        "step": (3 * f_w + 3 * vgg + mask) / 1e9,
    }


def time_size(height: int, width: int, batch: int, variants: list[str], masks: str, quick: bool) -> dict[str, Any]:
    """Every variant at one size, round-robin; steps/s, images/s, GFLOP/s and the per-op profiles."""
    n_warmup, n_repeats = common.warmup(), common.repeats()
    style_set = QUICK_STYLE_SET if quick else None
    entry: dict[str, Any] = {"batch": batch, "variants": {}, "skipped": {}, "profile": {}}
    steps: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for variant in variants:
            try:
                trainer = build_trainer(height, width, batch, variant, masks, f"{tmp}/{variant}", style_set)
                before = variant == "float32_before"
                if before:
                    trainer.objective._feature_pairs = one_pass_feature_pairs(trainer.objective)
                batches = list(trainer.distributed_dataset(0, n_warmup + n_repeats + 1))
                start = time.perf_counter()
                with _einsum_grams() if before else contextlib.nullcontext():
                    trainer.train_step(batches[0])  # traces (and under XLA compiles) the step function
                first = time.perf_counter() - start
            except Exception as exc:  # a variant that cannot build or compile is recorded, not fatal
                entry["skipped"][variant] = f"{type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}"
                continue
            if "gflop_per_image" not in entry:
                entry["gflop_per_image"] = flops_per_image(trainer, height, width, masks == "fcn")
            cycle = itertools.cycle(batches[1:])
            # train_step returns Python floats: the step has finished when the call returns.
            steps[variant] = lambda t=trainer, c=cycle: t.train_step(next(c))
            entry["variants"][variant] = {"first_step_s": first}
        timed = common.round_robin(steps, repeats=n_repeats, warmup=n_warmup)
        for variant, t in timed.items():
            median = t["median_s"]
            entry["variants"][variant].update({
                "median_step_s": median, "min_step_s": t["min_s"], "repeats": t["repeats"],
                "steps_per_s": 1.0 / median, "images_per_s": batch / median,
                "gflops": batch * entry["gflop_per_image"]["step"] / median,
            })
        for variant in FLAGS.train_profile:
            if variant in steps:
                entry["profile"][variant] = common.profile_ops(steps[variant], top=PROFILE_TOP)
    return entry


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
    from purify_tf.cpu import native_bf16

    unknown = [v for v in FLAGS.train_variants if v not in VARIANTS]
    if unknown:
        raise ValueError(f"--train_variants: unknown {unknown}; expected some of {list(VARIANTS)}")
    sizes = [QUICK_SIZE] if quick else common.parse_sizes(FLAGS.train_sizes)
    batch = 2 if quick else FLAGS.train_batch
    matmul_n = 256 if quick else FLAGS.train_matmul_n
    first_peaks = common.matmul_peaks(matmul_n)
    _, network_name = common.loss_network()
    out: dict[str, Any] = {
        "loss_network": network_name,
        "configuration": f"{DEMO_FLAGS.relative_to(DEMO_FLAGS.parents[1])}, masks {FLAGS.train_masks}",
        "native_bf16": native_bf16(),
        "flops_note": FLOPS_NOTE,
        "sizes": {},
    }
    for h, w in sizes:
        entry = time_size(h, w, batch, list(FLAGS.train_variants), FLAGS.train_masks, quick)
        entry["pipeline"] = time_pipeline(h, w, batch, 3 if quick else FLAGS.pipeline_batches)
        if entry["variants"]:
            best = max(entry["variants"].values(), key=lambda v: v["images_per_s"])
            entry["pipeline_over_training_ratio"] = entry["pipeline"]["images_per_s"] / best["images_per_s"]
            entry["pipeline_keeps_up"] = entry["pipeline_over_training_ratio"] >= PIPELINE_MIN_RATIO
        out["sizes"][common.size_key(h, w)] = entry
    peaks = common.best_peaks(first_peaks, first_peaks if quick else common.matmul_peaks(matmul_n))
    out["matmul_peaks_gflops"] = peaks
    for entry in out["sizes"].values():
        for v in entry["variants"].values():
            v["share_of_fp32_peak"] = v["gflops"] / peaks["best_float32"]
            v["share_of_bf16_peak"] = v["gflops"] / peaks["best_bfloat16"]
    return out


def rows(results: dict[str, Any]) -> list[tuple[str, str, str]]:
    out = [("training", "configuration", f"{results['configuration']}; loss network {results['loss_network']}; "
            f"native bf16: {results['native_bf16']}")]
    peaks = results["matmul_peaks_gflops"]
    out.append(("training", "matmul peaks", f"float32 {common.fmt(peaks['best_float32'])}, bfloat16 "
                f"{common.fmt(peaks['best_bfloat16'])} GFLOP/s"))
    for key, e in results["sizes"].items():
        where = f"training {key} b{e['batch']}"
        for name, t in e["variants"].items():
            out.append((where, name, f"{common.fmt(t['steps_per_s'])} steps/s, {common.fmt(t['images_per_s'])} "
                        f"images/s, {common.fmt(t['gflops'])} GFLOP/s = {100 * t['share_of_fp32_peak']:.0f}% of fp32 / "
                        f"{100 * t['share_of_bf16_peak']:.0f}% of bf16 peak"))
        for name, why in e["skipped"].items():
            out.append((where, f"{name} skipped", why))
        for name, p in e["profile"].items():
            top = ", ".join(f"{r['op']} {100 * r['share']:.0f}%" for r in p["by_type"][:5])
            out.append((where, f"profile {name}", f"{common.fmt(p['wall_ms'])} ms step: {top}"))
        if "pipeline_over_training_ratio" in e:
            out.append((where, "input pipeline alone", f"{common.fmt(e['pipeline']['images_per_s'])} images/s = "
                        f"{e['pipeline_over_training_ratio']:.1f}x training consumption"))
    return out


def main(argv: list[str]) -> None:
    del argv
    common.run_alone("training", run, rows, "Training (median of round-robin repeats)")


if __name__ == "__main__":
    app.run(main)
