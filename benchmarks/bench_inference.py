"""Inference speed of the ``paper`` and ``johnson`` transformers, and how close it is to the machine.

    python -m benchmarks.bench_inference [--quick] [--inference_sizes=36x60,256,512,1024]

For every size both networks run in the same process, each as a ``tf.function`` with a fixed
input signature and ``training=False``, once as a plain TF graph (oneDNN kernels) and once
XLA-compiled (``jit_compile=True``); the faster mode per size is the reported one and both are
kept in the JSON. 36x60 eye crops run batched (the best batch is searched first); the large
sizes run one image at a time, as in the paper's Table 2. Achieved GFLOP/s come from
``count_flops`` and are divided by the GFLOP/s of a large ``tf.matmul`` measured in the same
run, the practical peak of this machine for dense float32 arithmetic. A third variant runs
the ``paper`` network under the ``mixed_bfloat16`` policy (this CPU may have AVX512_BF16).
"""

from __future__ import annotations

import statistics
import time
from typing import Any

from absl import app, flags

from benchmarks import common

flags.DEFINE_string(
    "inference_sizes", "36x60,256,512,1024", "Comma-separated HxW (or one number for squares) to time."
)
flags.DEFINE_list("eye_batches", ["1", "8", "32", "64"], "Batch sizes tried for 36x60 eye crops.")
flags.DEFINE_list("inference_modes", ["graph", "xla"], "graph: tf.function; xla: tf.function(jit_compile=True).")
flags.DEFINE_string("bf16_sizes", "36x60,256,512", "Sizes at which mixed_bfloat16 is compared with float32.")
flags.DEFINE_integer("matmul_n", 2048, "Side of the square float32 matrices of the peak-GFLOP/s matmul.", lower_bound=64)

FLAGS = flags.FLAGS
CONFIGS = ("paper", "johnson")
EYE_SIZE = (36, 60)
# One call slower than this: fewer repeats (the spread at these sizes is small relative to the time).
SLOW_CALL_S = 2.0


def matmul_gflops(n: int) -> dict[str, Any]:
    """GFLOP/s of an n x n float32 matmul, graph and XLA; ``best`` is the machine's practical peak."""
    import tensorflow as tf

    a = tf.random.stateless_normal((n, n), seed=(1, 2))
    b = tf.random.stateless_normal((n, n), seed=(3, 4))
    out: dict[str, Any] = {"n": n}
    for mode in ("graph", "xla"):
        fn = tf.function(lambda x, y: tf.matmul(x, y), jit_compile=(mode == "xla"))
        t = common.time_call(lambda fn=fn: fn(a, b).numpy(), n_repeats=max(3, common.repeats()))
        out[f"{mode}_gflops"] = 2 * n**3 / t["median_s"] / 1e9
    out["best_gflops"] = max(out["graph_gflops"], out["xla_gflops"])
    return out


def inference_fn(model: Any, batch: int, height: int, width: int, mode: str):
    """A tf.function for one fixed input shape: no retracing, ``training=False`` (no dropout)."""
    import tensorflow as tf

    spec = tf.TensorSpec((batch, height, width, 3), tf.float32, name="image")
    return tf.function(
        lambda x: model(x, training=False),
        input_signature=[spec],
        jit_compile=(mode == "xla"),
        reduce_retracing=True,
    )


def time_interleaved(cases: dict[str, tuple[Any, int, int, int, str, int]]) -> dict[str, dict[str, Any]]:
    """Time several (model, batch, height, width, mode, flops_per_image) cases, alternating them.

    Repeats run round-robin (A, B, A, B, ...) so that a change in the machine's load during the
    measurement hits every case alike: ratios between cases stay fair on a shared machine.
    Returns per case the median seconds -> ms/image, images/s and achieved GFLOP/s.
    """
    import tensorflow as tf

    fns, first = {}, {}
    for name, (model, batch, height, width, mode, _) in cases.items():
        fn = inference_fn(model, batch, height, width, mode)
        x = tf.random.stateless_uniform((batch, height, width, 3), seed=(0, 1), maxval=255.0)
        start = time.perf_counter()
        fn(x).numpy()  # trace (and compile under XLA)
        first[name] = time.perf_counter() - start
        fns[name] = (fn, x)
    slow = max(first.values()) > SLOW_CALL_S and not FLAGS.quick
    n_warmup = 0 if slow else common.warmup()
    n_repeats = min(3, common.repeats()) if slow else common.repeats()
    for _ in range(n_warmup):
        for fn, x in fns.values():
            fn(x).numpy()
    times: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(n_repeats):
        for name, (fn, x) in fns.items():
            start = time.perf_counter()
            fn(x).numpy()
            times[name].append(time.perf_counter() - start)
    out = {}
    for name, (_, batch, _, _, _, flops_per_image) in cases.items():
        median = statistics.median(times[name])
        per_image = median / batch
        out[name] = {
            "batch": batch,
            "first_call_s": first[name],
            "median_s": median,
            "min_s": min(times[name]),
            "max_s": max(times[name]),
            "repeats": n_repeats,
            "ms_per_image": 1e3 * per_image,
            "images_per_s": 1.0 / per_image,
            "gflops": flops_per_image / per_image / 1e9,
        }
    return out


def time_model(model: Any, batch: int, height: int, width: int, mode: str, flops_per_image: int) -> dict[str, Any]:
    """One case of ``time_interleaved``."""
    return time_interleaved({"case": (model, batch, height, width, mode, flops_per_image)})["case"]


def build(config: str, dtype_policy: str = "float32", weights_from: Any = None) -> Any:
    """A transformer with random (seeded) weights; under ``dtype_policy``, copying ``weights_from``."""
    import keras

    from purify_tf.models.transformer import build_transformer

    previous = keras.mixed_precision.global_policy().name
    keras.mixed_precision.set_global_policy(dtype_policy)
    try:
        keras.utils.set_random_seed(0)
        model = build_transformer(config)
    finally:
        keras.mixed_precision.set_global_policy(previous)
    if weights_from is not None:
        model.set_weights(weights_from.get_weights())
    return model


def best_of(modes: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The faster mode's figures, with both modes' ms/image kept for the table."""
    best = min(modes, key=lambda m: modes[m]["ms_per_image"])
    return {
        "best_mode": best,
        "batch": modes[best]["batch"],
        "ms_per_image": modes[best]["ms_per_image"],
        "images_per_s": modes[best]["images_per_s"],
        "gflops": modes[best]["gflops"],
        "modes": modes,
    }


def run(quick: bool = False) -> dict[str, Any]:
    from purify_tf.data.renderer import render_eyes
    from purify_tf.models.transformer import count_flops

    sizes = common.parse_sizes("36x60" if quick else FLAGS.inference_sizes)
    eye_batches = [1, 2] if quick else [int(b) for b in FLAGS.eye_batches]
    bf16_sizes = common.parse_sizes("36x60" if quick else FLAGS.bf16_sizes)
    modes = list(FLAGS.inference_modes)
    matmul_n = 256 if quick else FLAGS.matmul_n

    models = {c: build(c) for c in CONFIGS}
    flops = {(c, h, w): count_flops(c, h, w) for c in CONFIGS for h, w in {*sizes, *bf16_sizes, EYE_SIZE}}
    results: dict[str, Any] = {"matmul_start": matmul_gflops(matmul_n)}

    # Eye crops: find the batch with the highest throughput for the paper network.
    sweep: dict[str, Any] = {}
    best_eye_batch = eye_batches[0]
    if EYE_SIZE in sizes:
        h, w = EYE_SIZE
        for batch in eye_batches:
            sweep[str(batch)] = time_interleaved(
                {m: (models["paper"], batch, h, w, m, flops[("paper", h, w)]) for m in modes}
            )
        best_eye_batch = int(
            max(sweep, key=lambda b: max(sweep[b][m]["images_per_s"] for m in modes))
        )
        results["eye_batch_sweep"] = {
            b: {m: {k: v[k] for k in ("ms_per_image", "images_per_s")} for m, v in r.items()}
            for b, r in sweep.items()
        }
        results["eye_best_batch"] = best_eye_batch

    per_size: dict[str, Any] = {}
    for h, w in sizes:
        batch = best_eye_batch if (h, w) == EYE_SIZE else 1
        entry: dict[str, Any] = {}
        # Both networks and both modes alternate, so the paper/johnson ratio is measured fairly.
        timed = time_interleaved({
            (config, m): (models[config], batch, h, w, m, flops[(config, h, w)]) for config in CONFIGS for m in modes
        })
        for config in CONFIGS:
            entry[config] = best_of({m: timed[(config, m)] for m in modes})
            entry[config]["gflop_per_image"] = flops[(config, h, w)] / 1e9
        entry["paper_vs_johnson_ratio"] = entry["paper"]["images_per_s"] / entry["johnson"]["images_per_s"]
        entry["flop_ratio_johnson_over_paper"] = flops[("johnson", h, w)] / flops[("paper", h, w)]
        per_size[common.size_key(h, w)] = entry
    results["sizes"] = per_size

    # Mixed precision (bfloat16 compute, float32 variables) against float32, paper network.
    bf16: dict[str, Any] = {}
    bf16_model = build("paper", "mixed_bfloat16", weights_from=models["paper"])
    for h, w in bf16_sizes:
        batch = best_eye_batch if (h, w) == EYE_SIZE else 1
        key = common.size_key(h, w)
        # float32 again, alternating with bfloat16, for a fair speed-up.
        both = time_interleaved({
            (p, m): (model, batch, h, w, m, flops[("paper", h, w)])
            for p, model in (("float32", models["paper"]), ("bfloat16", bf16_model)) for m in modes
        })
        timed = {m: both[("bfloat16", m)] for m in modes}
        f32 = best_of({m: both[("float32", m)] for m in modes})
        b = best_of(timed)
        eyes = render_eyes(batch, h, w, domain="real", seed=5)["image"].astype("float32")
        reference = models["paper"](eyes, training=False).numpy()
        diff = abs(bf16_model(eyes, training=False).numpy() - reference)
        bf16[key] = {
            "parity_max_abs_diff": float(diff.max()),
            "parity_mean_abs_diff": float(diff.mean()),
            "batch": batch,
            "float32_ms_per_image": f32["ms_per_image"],
            "bfloat16_ms_per_image": b["ms_per_image"],
            "bfloat16_best_mode": b["best_mode"],
            "bfloat16_modes_ms": {m: v["ms_per_image"] for m, v in timed.items()},
            "speedup": f32["ms_per_image"] / b["ms_per_image"],
        }
    results["bfloat16"] = bf16

    results["matmul_end"] = matmul_gflops(matmul_n)
    peak = max(results["matmul_start"]["best_gflops"], results["matmul_end"]["best_gflops"])
    results["matmul_peak_gflops"] = peak
    for entry in per_size.values():
        for config in CONFIGS:
            entry[config]["fraction_of_matmul"] = entry[config]["gflops"] / peak
    results["paper_vs_johnson_ratio"] = {k: v["paper_vs_johnson_ratio"] for k, v in per_size.items()}
    return results


def rows(results: dict[str, Any]) -> list[tuple[str, str, str]]:
    """Table rows: per size and network the best mode, both modes' ms/image and the ratio."""
    out: list[tuple[str, str, str]] = []
    peak = results["matmul_peak_gflops"]
    out.append(("matmul", f"{results['matmul_start']['n']}^2 float32", f"{common.fmt(peak)} GFLOP/s (best of graph/XLA, start/end)"))
    for key, entry in results["sizes"].items():
        for config in CONFIGS:
            e = entry[config]
            both = ", ".join(f"{m} {common.fmt(v['ms_per_image'])}" for m, v in e["modes"].items())
            out.append((
                f"inference {key}",
                f"{config} (batch {e['batch']})",
                f"{common.fmt(e['ms_per_image'])} ms/image, {common.fmt(e['images_per_s'])} images/s "
                f"[{e['best_mode']}; {both} ms] {common.fmt(e['gflops'])} GFLOP/s = "
                f"{100 * e['fraction_of_matmul']:.0f}% of matmul",
            ))
        out.append((f"inference {key}", "paper_vs_johnson_ratio", f"{entry['paper_vs_johnson_ratio']:.2f}x "
                     f"(FLOP ratio {entry['flop_ratio_johnson_over_paper']:.2f})"))
    for b, r in results.get("eye_batch_sweep", {}).items():
        out.append(("eye crops 36x60", f"paper batch {b}", ", ".join(
            f"{m} {common.fmt(v['images_per_s'])} images/s" for m, v in r.items())))
    for key, r in results.get("bfloat16", {}).items():
        out.append((f"bfloat16 {key}", f"paper (batch {r['batch']})",
                    f"{common.fmt(r['bfloat16_ms_per_image'])} ms vs float32 {common.fmt(r['float32_ms_per_image'])} ms "
                    f"({r['speedup']:.2f}x; |diff| mean {r['parity_mean_abs_diff']:.2g}, max {r['parity_max_abs_diff']:.2g} of 255)"))
    return out


def main(argv: list[str]) -> None:
    del argv
    common.configure_tf()
    results = {"machine": common.machine_info(), "inference": run(FLAGS.quick)}
    common.print_rows("Inference", rows(results["inference"]))
    common.write_json(results, FLAGS.out)


if __name__ == "__main__":
    app.run(main)
