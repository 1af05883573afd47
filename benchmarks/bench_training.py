"""Training throughput of ``PurifyTrainer``, measured like inference, and whether the input pipeline
keeps up with it.

    python -m benchmarks.bench_training [--quick] [--train_sizes=40x64,48x72,256] [--train_batch=4]
        [--train_config=demo|pretrained] [--train_profile=float32]

What is timed is the library's own training step (``PurifyTrainer.train_step``: FCN masks, f_W
forward and backward, the VGG loss network, Adam) in the configuration of ``configs/demo.flags``
or, with ``--train_config=pretrained``, of ``configs/pretrained.flags`` (the one that ships: the
demo's plus the paired term), read from the file: illumination front end, residual output, masked
objective with balanced layer weights towards the mean Grams of a rendered synthetic style set,
FCN masks, the domain terms' weights. The FCN has random weights of its architecture and the loss
network is ``$PURIFY_VGG_WEIGHTS`` or a random VGG16: speed depends on the architectures, not on
the weights' values.

Per size, the variants (float32, mixed_bfloat16, XLA on the gradient step) are timed round-robin
(A, B, C, A, B, C, ...) after one untimed step each that traces (and compiles) it; the median is
reported. mixed_bfloat16 and the bfloat16 matmul peak run only where bf16 is native
(``purify_tf.cpu.native_bf16``, ``$PURIFY_NATIVE_BF16``); elsewhere both are recorded as "not
native" (oneDNN has no bf16 kernels there: emulated bf16 takes minutes and measures nothing the
trainers would run). GFLOP/s count the convolutions of one step (``flops_per_image``) and are
divided by the same run's dense-matmul peaks (``common.matmul_peaks``, best of before and after the
sizes) and by TensorFlow's float32 matmul timed round-robin with the steps (median: on a shared
machine it meets the same load as the steps, where a best-of peak does not). On request (``--train_profile``), one step of each variant named is traced by
TensorFlow's profiler and summarised as the top ops. The input pipeline (the trainer's own
``step_dataset``) is then drained alone: it must deliver at least 5x the images/s that training
consumes, or the accelerator -- here the CPU -- would wait for data.
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
from purify_tf.hyperparameters import PURIFY, SHIPPED

VARIANTS = ("float32", "mixed_bfloat16", "xla", "separate_pairs", "paper_layout", "block4_taps")
# The former paired step, float32: the pairs as a second batch of renderer eyes beside the content
# (f_W and the loss network over both), timed beside the step that pairs the content eyes with their twins.
SEPARATE_PAIRS = "separate_pairs"
# float32 with f_W in the paper's layout (one 32 px outer reflection pad, valid residual convolutions),
# timed beside the configuration's own ('reflect' since 2026-12-03: every layer at the eye's size).
PAPER_LAYOUT = "paper_layout"
# float32 with the objective reading VGG block 4 as the shipped step did until 2026-12-04: style Grams of
# blocks 1-4 and the local content at block4_conv2 (the paper's).
BLOCK4_TAPS = "block4_taps"
BLOCK4_SETTINGS = {"style_blocks": "4", "local_content_layers": "block4_conv2"}
CONFIGS_DIR = Path(__file__).resolve().parents[1] / "configs"
TRAIN_CONFIGS = ("demo", "pretrained")
flags.DEFINE_string("train_sizes", f"{PURIFY.height}x{PURIFY.width}", "Training image sizes to time (HxW or one "
                    f"number): {PURIFY.height}x{PURIFY.width} as `make demo` and the shipped purifier train; 48x72 "
                    "as they did before; 256 as the paper (minutes per size on 2 cores).")
flags.DEFINE_integer("train_batch", 4, "Global batch size (configs/demo.flags and the paper use 4).", lower_bound=1)
flags.DEFINE_list("train_variants", ["float32", "mixed_bfloat16", "xla"], "Variants timed round-robin: float32, mixed_bfloat16 (Keras "
                  "policy for f_W and the loss network; only where bf16 is native, else recorded as not "
                  "native), xla (jit_compile on the float32 gradient step), separate_pairs (float32 with the paired term on a "
                  "second batch of renderer pairs, as before the content eyes brought their own twins; only "
                  "for a configuration with the paired term), paper_layout (float32 with f_W in the paper's layout: one "
                  "32 px outer reflection pad instead of the configuration's per-convolution padding), block4_taps (float32 "
                  "with the objective reading VGG block 4: style from blocks 1-4, local content at block4_conv2).")
flags.DEFINE_list("train_profile", [], "Variants of which one step is traced into a per-op profile "
                  "(default: none; e.g. float32).")
flags.DEFINE_enum("train_config", "demo", list(TRAIN_CONFIGS), "The training configuration timed: "
                  "configs/<name>.flags (demo: `make demo`'s; pretrained: the shipped purifier's, the demo's "
                  "plus the paired term).")
flags.DEFINE_enum("train_masks", "fcn", ["fcn", "oracle"], "Masks of the step: fcn = an FCN forward per step as "
                  "configs/demo.flags trains (random FCN weights); oracle = the renderer's labels, no FCN.")
flags.DEFINE_integer("pipeline_batches", 20, "Batches drained from the input pipeline per size.", lower_bound=1)
flags.DEFINE_integer("train_sustained_steps", 100, "Steps of the first variant timed in a row from the live "
                     "input pipeline, as a training loop runs them (the rate make demo's closing line reports; "
                     "the round-robin median of single steps can overstate it); 0: not timed.", lower_bound=0)
flags.DEFINE_integer("train_matmul_n", 2048, "Side of the square matrices of the peak-GFLOP/s matmuls.",
                     lower_bound=64)

FLAGS = flags.FLAGS
PIPELINE_MIN_RATIO = 5.0
NOT_NATIVE = "not native"
MATMUL_CASE = "matmul_float32"
QUICK_SIZE = (32, 48)
QUICK_STYLE_SET = 4
PROFILE_TOP = 15
FLOPS_NOTE = (
    "per image and step: 3x the forward convolutions of f_W (forward, and a backward of about twice "
    "the forward: gradients w.r.t. activations and weights), 3x those of the loss network (a forward "
    "pass over the outputs and one over the contents, and the backward of the outputs' pass w.r.t. "
    "its input only: its weights are frozen), plus the FCN's forward when its masks are used; with "
    "the paired term on the content eyes also one forward of the loss network up to the global content layers "
    "over their twins (outside the tape; the outputs' features are the perceptual pass's); with the pairs as a "
    "second batch (separate_pairs) instead 3x f_W's on the pair eyes and 3x the loss network up to those layers "
    "(a forward over the pair outputs and one over their twins, and the backward of the outputs' pass); "
    "with the gaze-consistency term 3x the gaze reader's (a forward and an input backward over the outputs, a "
    "forward over the twins); "
    "convolutions only (2 FLOPs per multiply-add), counted from each traced network's ops"
)


def config_path(name: str) -> Path:
    if name not in TRAIN_CONFIGS:
        raise ValueError(f"training configuration must be one of {TRAIN_CONFIGS}, got {name!r}")
    return CONFIGS_DIR / f"{name}.flags"


def flag_settings(path: Path) -> dict[str, str]:
    """``--name=value`` lines of a flag file (boolean ``--name`` -> "true", ``--noname`` -> "false"),
    comments skipped; a ``--flagfile=`` line is read in its place (relative to the repository root)."""
    out: dict[str, str] = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line.startswith("--"):
            continue
        name, _, value = line[2:].partition("=")
        if name == "flagfile":
            included = Path(value)
            out.update(flag_settings(included if included.is_absolute() else CONFIGS_DIR.parent / included))
        elif not value and name.startswith("no"):
            out[name[2:]] = "false"
        else:
            out[name] = value if value else "true"
    return out


def plan_variants(requested: list[str], native: bool) -> tuple[list[str], dict[str, str]]:
    """The variants to time and those skipped with why: mixed_bfloat16 only where bf16 is native."""
    unknown = [v for v in requested if v not in VARIANTS]
    if unknown:
        raise ValueError(f"--train_variants: unknown {unknown}; expected some of {list(VARIANTS)}")
    if native:
        return list(requested), {}
    why = f"{NOT_NATIVE}: no bfloat16 arithmetic on this CPU (or $PURIFY_NATIVE_BF16=0); the trainers run float32"
    return [v for v in requested if v != "mixed_bfloat16"], {v: why for v in requested if v == "mixed_bfloat16"}


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
                  style_set_size: int | None = None, config: str = "demo") -> Any:
    """A ``PurifyTrainer`` in the configuration of configs/<config>.flags at ``height`` x ``width``."""
    import keras
    import tensorflow as tf

    from purify_tf.losses.objective import LossWeights
    from purify_tf.models.segmentation import build_fcn
    from purify_tf.training.inputs import renderer_content
    from purify_tf.training.purify_loop import PurifyTrainConfig, PurifyTrainer
    from purify_tf.training.segment_loop import predict_fn
    from purify_tf.training.style_source import load_style_set, style_arguments

    demo = flag_settings(config_path(config))
    if variant == SEPARATE_PAIRS and float(demo.get("paired", 0.0)) <= 0:
        raise ValueError(f"{SEPARATE_PAIRS}: configs/{config}.flags has no paired term")
    with _policy("mixed_bfloat16" if variant == "mixed_bfloat16" else "float32"):
        keras.utils.set_random_seed(0)
        network, _ = common.loss_network()
        style = load_style_set(**style_arguments(demo.get("style", "renderer")), height=height, width=width,
                               set_size=style_set_size or int(demo["style_set_size"]), seed=int(demo["style_seed"]))
        mask_fn = predict_fn(build_fcn()) if masks == "fcn" else None
        cfg = PurifyTrainConfig(
            model_dir=model_dir, config="paper" if variant == PAPER_LAYOUT else demo["config"], batch_size=batch,
            learning_rate=float(demo["learning_rate"]), lr_schedule=demo["lr_schedule"],
            train_steps=int(demo["train_steps"]),
            weights=LossWeights.from_settings({"style_blocks": SHIPPED.style_blocks, **demo,
                                               **(BLOCK4_SETTINGS if variant == BLOCK4_TAPS else {})}),
            use_masks=demo.get("masks", "fcn") != "none", layer_weighting=demo["layer_weighting"],
            illumination=_flag_bool(demo.get("illumination", "false")),
            residual=_flag_bool(demo.get("residual", "false")),
            **{term: float(demo.get(term, 0.0)) for term in ("adversarial", "identity", "paired", "gaze")},
            **({"paired_target": demo["paired_target"]} if "paired_target" in demo else {}),
            jit_compile=variant == "xla", progress=False,
        )
        reader = None
        if cfg.gaze > 0:  # the shipped reader's architecture, untrained: the same arithmetic as a fitted one
            from purify_tf.training.gaze_reader import build_reader

            reader = build_reader()
            reader.trainable = False
        return PurifyTrainer(
            cfg, tf.distribute.get_strategy(), network,
            renderer_content(height, width, twins=cfg.paired > 0 and variant != SEPARATE_PAIRS), style.images,
            None if mask_fn is not None else style.masks, mask_fn=mask_fn, style_stream=style.stream,
            prior_images=style.prior_images, gaze_reader=reader,
        )


def flops_per_image(trainer: Any, height: int, width: int, fcn: bool) -> dict[str, float]:
    """GFLOP per image: the forward passes of f_W, the loss network and the FCN, and a training
    step as ``FLOPS_NOTE`` counts it (per content image; a paired step adds one pair per image)."""
    f_w = common.conv_flops(lambda x: trainer.model(x, training=False), height, width)
    network = trainer.objective.loss_network
    vgg = common.conv_flops(trainer.objective.perceptual_network.model, height, width)
    mask = 0
    if fcn:
        mask = common.conv_flops(lambda x: trainer.content_masks(x, None), height, width)
    out = {"f_w_forward": f_w / 1e9, "loss_network_forward": vgg / 1e9, "fcn_forward": mask / 1e9}
    step = 3 * f_w + 3 * vgg + mask
    if trainer.cfg.paired > 0:
        # The paired term runs the loss network up to its content layers only (LossNetwork.tap).
        to_content = common.conv_flops(network.tap(trainer.objective.weights.layers["global_content"]).model,
                                       height, width)
        out["loss_network_to_paired_layers"] = to_content / 1e9
        step += to_content if trainer.pairs_in_content else 3 * f_w + 3 * to_content
    if trainer.cfg.gaze > 0:
        from purify_tf.losses.gaze_consistency import gaze_network_input

        reader = common.conv_flops(lambda x: trainer.objective.gaze_network(gaze_network_input(x)), height, width)
        out["gaze_reader_forward"] = reader / 1e9
        step += 3 * reader
    out["step"] = step / 1e9
    return out


def float32_matmul(n: int) -> tuple[int, Any]:
    """(FLOPs, a call) of TensorFlow's n x n float32 matmul: timed round-robin with the steps, it
    shares their load, so a step's share of it stays fair on a shared machine (TensorFlow's, as it
    honours oneDNN's instruction-set cap like the steps' kernels)."""
    import tensorflow as tf

    a = tf.random.stateless_normal((n, n), seed=(1, 2))
    fn = tf.function(lambda x: tf.matmul(x, x))
    fn(a).numpy()
    return 2 * n**3, lambda: fn(a).numpy()


def time_size(height: int, width: int, batch: int, variants: list[str], masks: str, quick: bool,
              config: str = "demo", pipeline_batches: int = 20, matmul_n: int = 2048,
              sustained_steps: int = 0) -> dict[str, Any]:
    """Every variant at one size, round-robin with a float32 matmul; steps/s, images/s, GFLOP/s, the
    per-op profiles and the input pipeline of the first trainer drained alone."""
    n_warmup, n_repeats = common.warmup(), common.repeats()
    style_set = QUICK_STYLE_SET if quick else None
    entry: dict[str, Any] = {"batch": batch, "variants": {}, "skipped": {}, "profile": {}}
    steps: dict[str, Any] = {}
    trainers: list[Any] = []
    with tempfile.TemporaryDirectory() as tmp:
        for variant in variants:
            try:
                trainer = build_trainer(height, width, batch, variant, masks, f"{tmp}/{variant}", style_set, config)
                batches = list(trainer.distributed_dataset(0, n_warmup + n_repeats + 1))
                start = time.perf_counter()
                trainer.train_step(batches[0])  # traces (and under XLA compiles) the step function
                first = time.perf_counter() - start
            except Exception as exc:  # a variant that cannot build or compile is recorded, not fatal
                entry["skipped"][variant] = f"{type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}"
                continue
            flops = flops_per_image(trainer, height, width, masks == "fcn")
            entry.setdefault("gflop_per_image", flops)
            trainers.append(trainer)
            cycle = itertools.cycle(batches[1:])
            # train_step returns Python floats: the step has finished when the call returns.
            steps[variant] = lambda t=trainer, c=cycle: t.train_step(next(c))
            entry["variants"][variant] = {"first_step_s": first, "gflop_per_image_step": flops["step"]}
        matmul_flops, matmul = float32_matmul(matmul_n)
        timed = common.round_robin({**steps, MATMUL_CASE: matmul} if steps else {}, repeats=n_repeats,
                                   warmup=n_warmup)
        if MATMUL_CASE in timed:
            entry["matmul_round_robin_gflops"] = matmul_flops / timed.pop(MATMUL_CASE)["median_s"] / 1e9
        for variant, t in timed.items():
            median = t["median_s"]
            entry["variants"][variant].update({
                "median_step_s": median, "min_step_s": t["min_s"], "repeats": t["repeats"],
                "steps_per_s": 1.0 / median, "images_per_s": batch / median,
                "gflops": batch * entry["variants"][variant]["gflop_per_image_step"] / median,
            })
            entry["variants"][variant]["share_of_fp32_matmul_round_robin"] = (
                entry["variants"][variant]["gflops"] / entry["matmul_round_robin_gflops"])
        for variant in FLAGS.train_profile:
            if variant in steps:
                entry["profile"][variant] = common.profile_ops(steps[variant], top=PROFILE_TOP)
        if trainers:
            entry["pipeline"] = time_pipeline(trainers[0], batch, pipeline_batches)
        if trainers and sustained_steps:
            entry["sustained"] = {"variant": next(iter(steps)), **time_sustained(trainers[0], batch, sustained_steps)}
    return entry


SUSTAINED_FIRST_STEP = 100_000  # the sustained run's batches: steps no other measurement here draws


def time_sustained(trainer: Any, batch: int, n_steps: int) -> dict[str, Any]:
    """Steps/s of ``n_steps`` steps in a row from the trainer's live input pipeline (rendering on the
    same cores), as a training loop runs them. On a 2-core AMD EPYC the round-robin median of single
    steps between matmuls said 4.2-4.8 steps/s and training loops sustained 3.2-3.4
    (docs/BENCHMARKS.md, "Native AVX2"): this is the figure to expect of ``make demo``."""
    from purify_tf.training.inputs import take_batches

    first = SUSTAINED_FIRST_STEP
    batches = take_batches(trainer.distributed_dataset(first, first + n_steps + 1), n_steps + 1)
    trainer.train_step(next(batches))  # fills the pipeline's prefetch buffer; not timed
    start = time.perf_counter()
    for b in batches:
        trainer.train_step(b)
    seconds = time.perf_counter() - start
    return {"steps": n_steps, "steps_per_s": n_steps / seconds, "images_per_s": n_steps * batch / seconds}


def time_pipeline(trainer: Any, batch: int, n_batches: int) -> dict[str, Any]:
    """Images/s of the trainer's input stream alone (rendering, conversion, prefetch; the pairs and
    their twins too when the configuration has the paired term), counted in content images."""
    ds = trainer.distributed_dataset(0, n_batches + 2)
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

    native = native_bf16()
    variants, not_run = plan_variants(list(FLAGS.train_variants), native)
    sizes = [QUICK_SIZE] if quick else common.parse_sizes(FLAGS.train_sizes)
    batch = 2 if quick else FLAGS.train_batch
    matmul_n = 256 if quick else FLAGS.train_matmul_n
    first_peaks = common.matmul_peaks(matmul_n, bfloat16=native)
    _, network_name = common.loss_network()
    path = config_path(FLAGS.train_config)
    out: dict[str, Any] = {
        "loss_network": network_name,
        "configuration": f"{path.relative_to(CONFIGS_DIR.parent)}, masks {FLAGS.train_masks}",
        "native_bf16": native,
        "bf16_peak": "measured" if native else NOT_NATIVE,
        "flops_note": FLOPS_NOTE,
        "sizes": {},
    }
    for h, w in sizes:
        entry = time_size(h, w, batch, variants, FLAGS.train_masks, quick, FLAGS.train_config,
                          3 if quick else FLAGS.pipeline_batches, matmul_n,
                          3 if quick else FLAGS.train_sustained_steps)
        entry["skipped"].update(not_run)
        if entry["variants"] and "pipeline" in entry:
            best = max(entry["variants"].values(), key=lambda v: v["images_per_s"])
            entry["pipeline_over_training_ratio"] = entry["pipeline"]["images_per_s"] / best["images_per_s"]
            entry["pipeline_keeps_up"] = entry["pipeline_over_training_ratio"] >= PIPELINE_MIN_RATIO
        out["sizes"][common.size_key(h, w)] = entry
    peaks = common.best_peaks(first_peaks, first_peaks if quick else common.matmul_peaks(matmul_n, bfloat16=native))
    out["matmul_peaks_gflops"] = peaks
    for entry in out["sizes"].values():
        for v in entry["variants"].values():
            v["share_of_fp32_peak"] = v["gflops"] / peaks["best_float32"]
            if "best_bfloat16" in peaks:
                v["share_of_bf16_peak"] = v["gflops"] / peaks["best_bfloat16"]
    return out


def _share(value: float | None) -> str:
    return NOT_NATIVE if value is None else f"{100 * value:.0f}%"


def rows(results: dict[str, Any]) -> list[tuple[str, str, str]]:
    out = [("training", "configuration", f"{results['configuration']}; loss network {results['loss_network']}; "
            f"native bf16: {results['native_bf16']}")]
    peaks = results["matmul_peaks_gflops"]
    bf16 = f"{common.fmt(peaks['best_bfloat16'])} GFLOP/s" if "best_bfloat16" in peaks else NOT_NATIVE
    out.append(("training", "matmul peaks", f"float32 {common.fmt(peaks['best_float32'])} GFLOP/s, bfloat16 {bf16}"))
    for key, e in results["sizes"].items():
        where = f"training {key} b{e['batch']}"
        for name, t in e["variants"].items():
            out.append((where, name, f"{common.fmt(t['steps_per_s'])} steps/s, {common.fmt(t['images_per_s'])} "
                        f"images/s, {common.fmt(t['gflops'])} GFLOP/s = {100 * t['share_of_fp32_peak']:.0f}% of fp32 / "
                        f"bf16 peak {_share(t.get('share_of_bf16_peak'))}; "
                        f"{100 * t['share_of_fp32_matmul_round_robin']:.0f}% of the round-robin fp32 matmul"))
        if "matmul_round_robin_gflops" in e:
            out.append((where, "fp32 matmul, round-robin", f"{common.fmt(e['matmul_round_robin_gflops'])} GFLOP/s "
                        "(TensorFlow, median, timed between the steps)"))
        for name, why in e["skipped"].items():
            out.append((where, f"{name} skipped", why))
        for name, p in e["profile"].items():
            top = ", ".join(f"{r['op']} {100 * r['share']:.0f}%" for r in p["by_type"][:5])
            out.append((where, f"profile {name}", f"{common.fmt(p['wall_ms'])} ms step: {top}"))
        if "sustained" in e:
            t = e["sustained"]
            out.append((where, f"{t['variant']} sustained", f"{common.fmt(t['steps_per_s'])} steps/s, "
                        f"{t['steps']} steps in a row from the live input pipeline (what a training loop runs at)"))
        if "pipeline_over_training_ratio" in e:
            out.append((where, "input pipeline alone", f"{common.fmt(e['pipeline']['images_per_s'])} images/s = "
                        f"{e['pipeline_over_training_ratio']:.1f}x training consumption"))
    return out


def main(argv: list[str]) -> None:
    del argv
    common.run_alone("training", run, rows, "Training (median of round-robin repeats)")


if __name__ == "__main__":
    app.run(main)
