"""Gatys et al.'s optimisation against one feed-forward pass: seconds per iteration and speed-up.

    python -m benchmarks.bench_gatys [--quick] [--gatys_size=256] [--gatys_iterations=3]

A few L-BFGS-B iterations of the masked purification objective are timed (tracing excluded) and
scaled linearly to the paper's 400 iterations (running 400 at 256x256 on a CPU takes far longer
than the whole benchmark; the per-iteration time is stable). The speed-up is that estimate
divided by one forward pass of the ``paper`` transformer at the same size, measured here too.
"""

from __future__ import annotations

from typing import Any

from absl import app, flags

from benchmarks import common

flags.DEFINE_integer("gatys_size", 256, "Square image side of the Gatys comparison.", lower_bound=32)
flags.DEFINE_integer("gatys_iterations", 5, "L-BFGS iterations actually timed.", lower_bound=1)

FLAGS = flags.FLAGS


def run(quick: bool = False) -> dict[str, Any]:
    import numpy as np

    from benchmarks.bench_inference import best_of, build, time_model
    from purify_tf.baselines.gatys import (
        PAPER_ITERATIONS,
        init_image,
        make_gatys_objective,
        time_gatys_iterations,
    )
    from purify_tf.data.renderer import render_eyes
    from purify_tf.losses.objective import LossWeights, build_objective
    from purify_tf.models.transformer import count_flops

    size = 64 if quick else FLAGS.gatys_size
    iterations = 1 if quick else FLAGS.gatys_iterations
    network, network_name = common.loss_network()
    style = render_eyes(1, size, size, domain="synthetic", seed=1)
    content = render_eyes(1, size, size, domain="real", seed=2)
    # The paper's objective (its weights, unit layer weights) towards one style image.
    objective, targets = build_objective(network, LossWeights(), use_masks=True, layer_weighting="unit",
                                         style_images=style["image"], style_masks=style["mask"])
    fn = make_gatys_objective(objective, content["image"][0].astype(np.float32), content["mask"][0], targets)
    timing = time_gatys_iterations(fn, init_image(content["image"][0], "noise"), n_iter=iterations)

    model = build("paper")
    flops = count_flops("paper", size, size)
    forward = best_of({m: time_model(model, 1, size, size, m, flops) for m in ("graph", "xla")})
    forward_s = forward["ms_per_image"] / 1e3
    gatys_400 = timing.seconds_per_iteration * PAPER_ITERATIONS
    return {
        "size": size,
        "loss_network": network_name,
        "seconds_per_iteration": timing.seconds_per_iteration,
        "measured_iterations": timing.measured_iterations,
        "note": timing.note,
        "iterations_scaled_to": PAPER_ITERATIONS,
        "gatys_400_iterations_s": gatys_400,
        "feed_forward_s": forward_s,
        "feed_forward_mode": forward["best_mode"],
        "speedup_at_400": gatys_400 / forward_s,
    }


def rows(results: dict[str, Any]) -> list[tuple[str, str, str]]:
    s = results["size"]
    return [
        (f"gatys {s}x{s}", "seconds/iteration", f"{common.fmt(results['seconds_per_iteration'])} s "
         f"({results['measured_iterations']} L-BFGS iterations, {results['loss_network']})"),
        (f"gatys {s}x{s}", "400 iterations (scaled)", f"{common.fmt(results['gatys_400_iterations_s'])} s"),
        (f"gatys {s}x{s}", "paper feed-forward", f"{common.fmt(1e3 * results['feed_forward_s'])} ms "
         f"[{results['feed_forward_mode']}]"),
        (f"gatys {s}x{s}", "speed-up at 400 iterations", f"{common.fmt(results['speedup_at_400'])}x"),
    ]


def main(argv: list[str]) -> None:
    del argv
    common.configure_tf()
    results = {"machine": common.machine_info(), "gatys": run(FLAGS.quick)}
    common.print_rows("Gatys", rows(results["gatys"]))
    common.write_json(results, FLAGS.out)


if __name__ == "__main__":
    app.run(main)
