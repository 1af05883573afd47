r"""The paper's experiments end to end: ``python -m trainers.report --flagfile=configs/report.flags``.

On the built-in renderer: trains the coarse FCN, the ``paper`` transformer on the masked loss and
the ``johnson`` one on the plain loss; then the gaze experiment raw vs purified (Table 3, Fig. 10),
pupil-centre preservation, the objective vs Gatys iterations (Fig. 8), speed (Table 2) and, when
``--real_dir`` and ``--style_image`` exist, the label-free real-eye measures. Writes
``<out_dir>/REPORT.md`` with the paper's numbers beside each table, PNG plots and results.json.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import sys
import time
from pathlib import Path

from absl import app, flags, logging

from trainers import common

FLAGS = flags.FLAGS

SECTIONS = ("gaze", "pupil", "objective", "speed", "real_eyes")

flags.DEFINE_string("out_dir", None, "Report folder (default: reports/<YYYY-MM-DD>).")
flags.DEFINE_list("sections", list(SECTIONS), f"Experiments to run, of {', '.join(SECTIONS)}.")
flags.DEFINE_integer("height", 48, "Training (and test) image height of the transformers and the FCN (divisible by 8).")
flags.DEFINE_integer("width", 72, "Training (and test) image width (divisible by 8).")
flags.DEFINE_integer("fcn_steps", 300, "Coarse-FCN training steps.")
flags.DEFINE_integer("fcn_batch_size", 16, "Coarse-FCN batch size.")
flags.DEFINE_integer("paper_steps", 300, "Training steps of the paper's transformer (masked loss).")
flags.DEFINE_integer("johnson_steps", 300, "Training steps of Johnson et al.'s transformer (plain loss).")
flags.DEFINE_integer("batch_size", 4, "Transformer batch size.")
flags.DEFINE_float("learning_rate", 2e-3, "Adam learning rate of the transformers.")
flags.DEFINE_float("alpha", 1.0, "Weight alpha of the feature (content) terms.")
flags.DEFINE_float("beta", 1e-6, "Weight beta of the style terms.")
flags.DEFINE_float("theta", 1e-6, "Weight theta of total variation.")
flags.DEFINE_float("lambda_g", 1.0, "Weight lambda_g of the global terms.")
flags.DEFINE_float("lambda_l", 1.0, "Weight lambda_l of the local (masked) terms.")
flags.DEFINE_enum("layer_weights", "balanced", ["balanced", "unit"],
                  "Per-layer loss weights (see trainers.purify --layer_weights).")
flags.DEFINE_list("local_style_layers", None, "Layers of the local style term (default: block1..5_conv1).")
flags.DEFINE_list("global_style_layers", None, "Layers of the global style term (default: DESIGN.md's taps).")
flags.DEFINE_integer("style_seed", 7, "Renderer seed of the synthetic style image for the renderer experiments.")
flags.DEFINE_integer("gaze_train_n", 3000, "Synthetic training eyes for the gaze estimators.")
flags.DEFINE_integer("gaze_test_n", 300, "Real-domain test eyes for gaze and pupil measures.")
flags.DEFINE_list("estimators", ["cnn", "knn", "svr", "rf", "alr"], "Gaze estimators: cnn, knn, svr, rf, alr.")
flags.DEFINE_integer("cnn_epochs", 30, "Gaze-CNN epochs (early stopping on a held-out 10%; ~30 needed at batch 512 with a few thousand eyes).")
flags.DEFINE_integer("cnn_batch_size", 512, "Gaze-CNN batch size.")
flags.DEFINE_list("curve_sizes", ["48", "96", "192"], "Image heights for Fig. 8 (width keeps the training aspect); the first is the training size in the paper.")
flags.DEFINE_integer("curve_n", 2, "Test images per size for Fig. 8.")
flags.DEFINE_integer("curve_iterations", 60, "Gatys L-BFGS iterations per image for Fig. 8.")
flags.DEFINE_enum("gatys_init", "noise", ["noise", "content"], "Gatys start: white noise (Gatys et al., the paper) or the content image.")
flags.DEFINE_list("speed_sizes", ["256", "512", "1024"], "Square sizes for Table 2.")
flags.DEFINE_integer("speed_gatys_iterations", 3, "L-BFGS iterations timed per size (scaled to 400).")
flags.DEFINE_integer("speed_repeats", 5, "Timed forward passes per network and size (median).")
flags.DEFINE_string("real_dir", None, "Folder of real eye crops for the label-free section (skipped with a note when absent).")
flags.DEFINE_string("style_image", None, "Style image for the real-eye section (a synthetic render); its folder is the synthetic reference set.")
flags.DEFINE_integer("real_steps", 200, "Training steps of the transformer on the real eye crops.")
flags.DEFINE_integer("real_limit", 1000, "At most this many real crops.")
common.define_loss_network_flags()
common.define_runtime_flags()

for _name in ("height", "width", "fcn_steps", "fcn_batch_size", "paper_steps", "johnson_steps", "batch_size",
              "gaze_train_n", "gaze_test_n", "cnn_epochs", "cnn_batch_size", "curve_n", "curve_iterations",
              "speed_gatys_iterations", "speed_repeats", "real_steps", "real_limit"):
    common.require_positive_int(_name)
common.require_positive("learning_rate")
for _name in ("alpha", "beta", "theta", "lambda_g", "lambda_l"):
    common.require_non_negative(_name)
common.require_multiple("height", 8)
common.require_multiple("width", 8)
common.require_not_a_file("out_dir")
flags.register_validator("sections", lambda v: all(s in SECTIONS for s in v),
                         message=f"--sections must list some of {', '.join(SECTIONS)}.")
for _name in ("curve_sizes", "speed_sizes"):
    flags.register_validator(
        _name, lambda v: bool(v) and all(s.isdigit() and int(s) % 8 == 0 and int(s) > 0 for s in v),
        message=f"--{_name} must be positive integers divisible by 8.")


def _loss_weights():
    from purify_tf.losses.objective import LossWeights

    return LossWeights(
        alpha=FLAGS.alpha, beta=FLAGS.beta, theta=FLAGS.theta, lambda_g=FLAGS.lambda_g, lambda_l=FLAGS.lambda_l,
        **common.layer_overrides(local_style=FLAGS.local_style_layers, global_style=FLAGS.global_style_layers),
    )


def _aspect_size(height: int) -> tuple[int, int]:
    """(height, width) with the training aspect ratio, width rounded to a multiple of 8."""
    w = max(8, int(round(height * FLAGS.width / FLAGS.height / 8.0)) * 8)
    return height, w


def machine_info(strategy) -> dict:
    import keras
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    return {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpu cores (os.cpu_count)": os.cpu_count(),
        "accelerators": ", ".join(g.name for g in gpus) or "none (CPU only)",
        "tensorflow / keras": f"{tf.__version__} / {keras.__version__}",
        "replicas": strategy.num_replicas_in_sync,
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
    }


def loss_balance(objective, fcn_masks, style, style_mask) -> dict:
    """How the weighted terms compare on rendered eyes: a real-domain eye scored as its own output
    (pure style gap) and its synthetic-domain twin (same geometry) as the output (what a perfect
    purifier might return). Used to state the weights' balance in the report."""
    import numpy as np
    import tensorflow as tf

    from purify_tf.data.renderer import render_eyes

    h, w = FLAGS.height, FLAGS.width
    real = render_eyes(8, h, w, domain="real", seed=424_242)
    twin = render_eyes(8, h, w, domain="synthetic", seed=424_242)
    masks = fcn_masks(real["image"].astype(np.float32))
    targets = objective.style_targets(tf.constant(style[None], tf.float32), tf.constant(style_mask[None]))
    wts = objective.weights
    out = {}
    for name, o in (("raw", real["image"]), ("synthetic_twin", twin["image"])):
        t = objective(tf.constant(o, tf.float32), tf.constant(real["image"], tf.float32), masks, targets)
        t = {k: float(v) for k, v in t.items()}
        out[name] = {
            "content": wts.alpha * (wts.lambda_g * t["global_content"] + wts.lambda_l * t["local_content"]),
            "style": wts.beta * (wts.lambda_g * t["global_style"] + wts.lambda_l * t["local_style"]),
            "tv": wts.theta * t["tv"],
            "terms": t,
        }
    return out


def weights_note(balance: dict) -> str:
    w = _loss_weights()
    raw, twin = balance["raw"], balance["synthetic_twin"]
    return (
        f"alpha = {w.alpha:g}, beta = {w.beta:g}, theta = {w.theta:g}, lambda_g = {w.lambda_g:g}, "
        f"lambda_l = {w.lambda_l:g}; local style layers {', '.join(w.local_style_layers)}; global style "
        f"layers {', '.join(w.global_style_layers)}; per-layer weights: {FLAGS.layer_weights}. With unit "
        "per-layer weights, the unnormalised Gram terms of ImageNet VGG16 differ by orders of magnitude "
        "between layers (block3/4_conv1 decide everything, colour is left free) and DESIGN.md's alpha 1e2 / "
        "beta 1e4 make style outweigh content by ~1e8; 'balanced' divides each layer's term by its value "
        "for zero features against the style image (a relative error of order 1 per layer), and beta/alpha "
        "is then chosen so that content and style are of the same order, measured on 8 rendered eyes in "
        "this run: with the raw real-domain eye as the output, "
        f"beta * style = {raw['style']:.3g} (content 0); with its synthetic-domain twin (same geometry, "
        f"the ideal purified eye) as the output, alpha * content = {twin['content']:.3g} and beta * "
        f"style = {twin['style']:.3g}; theta * TV = {raw['tv']:.3g}."
    )


def train_transformer(name, config, use_masks, steps, source, style, style_mask, mask_fn, loss_network, strategy, out_dir):
    from purify_tf.training.purify_loop import PurifyTrainConfig, PurifyTrainer

    cfg = PurifyTrainConfig(
        model_dir=str(out_dir / "runs" / name), config=config, batch_size=FLAGS.batch_size,
        learning_rate=FLAGS.learning_rate, train_steps=steps, weights=_loss_weights(), use_masks=use_masks,
        layer_weighting=FLAGS.layer_weights,
        checkpoint_every=max(steps, 1), log_every=max(1, steps // 10), image_every=max(steps, 1),
        histogram_every=0, seed=FLAGS.seed, progress=FLAGS.progress,
    )
    trainer = PurifyTrainer(cfg, strategy, loss_network, source, style, style_mask if use_masks else None,
                            mask_fn=mask_fn if use_masks else None)
    summary_path = Path(cfg.model_dir) / "training_summary.json"
    start = time.perf_counter()
    history = trainer.train()
    seconds = time.perf_counter() - start
    if history:
        summary = {"seconds": seconds, "final_terms": history[-1]}
        summary_path.write_text(json.dumps(summary))
    elif summary_path.is_file():  # resumed a finished run: report what it logged then
        summary = json.loads(summary_path.read_text())
    else:
        summary = {"seconds": None, "final_terms": _last_logged_terms(Path(cfg.model_dir) / "train")}
    trainer.save_final()
    return trainer.model, {"config": config, "loss": "masked" if use_masks else "plain", "steps": steps, **summary}


def _last_logged_terms(log_dir: Path) -> dict:
    """The last loss/* scalars in a TensorBoard log (for a run finished by an earlier process)."""
    import tensorflow as tf
    from tensorflow.core.util import event_pb2

    terms: dict = {}
    for path in sorted(log_dir.glob("events.out.tfevents.*")):
        for record in tf.data.TFRecordDataset(str(path)):
            event = event_pb2.Event.FromString(record.numpy())
            for v in event.summary.value:
                if v.tag.startswith("loss/"):
                    terms[v.tag[5:]] = float(tf.make_ndarray(v.tensor))
                    terms["step"] = int(event.step)
    return terms


def main(argv: list[str]) -> int:
    del argv
    t0 = time.perf_counter()
    import numpy as np
    import tensorflow as tf

    from purify_tf.data.renderer import render_eyes
    from purify_tf.experiments import gaze as gaze_exp
    from purify_tf.experiments.common import purify
    from purify_tf.experiments.report import write_report
    from purify_tf.losses.objective import PurificationObjective, balanced_layer_weights
    from purify_tf.training.inputs import MixedSource, RendererSource
    from purify_tf.training.segment_loop import SegmentTrainConfig, evaluate_fcn, train_fcn

    runtime = common.setup_runtime()
    strategy = runtime.strategy
    out_dir = Path(FLAGS.out_dir or f"reports/{datetime.date.today().isoformat()}")
    out_dir.mkdir(parents=True, exist_ok=True)
    h, w = FLAGS.height, FLAGS.width
    sections = set(FLAGS.sections)
    results: dict = {"settings": {k: FLAGS[k].value for k in sorted(FLAGS) if FLAGS[k].present or k in (
        "height", "width", "alpha", "beta", "theta", "paper_steps", "johnson_steps", "learning_rate")}}
    results["machine"] = machine_info(strategy)
    gaps: list[str] = []

    def stage(msg: str) -> None:
        print(f"[{(time.perf_counter() - t0) / 60:5.1f} min] {msg}", flush=True)

    loss_network = common.loss_network_from_flags()
    results["machine"]["loss network"] = f"{loss_network.info['architecture']} ({loss_network.info['weights']})"
    if "random" in str(loss_network.info["weights"]):
        gaps.append("The loss network has random weights (no ImageNet weights found): set "
                    "PURIFY_VGG_WEIGHTS or --vgg_weights for meaningful perceptual features.")

    # ---- coarse FCN
    stage("training the coarse FCN")
    fcn_source = MixedSource([RendererSource(h, w, "real", FLAGS.seed + 101), RendererSource(h, w, "synthetic", FLAGS.seed + 202)])
    fcn_path = out_dir / "runs" / "fcn.keras"
    if fcn_path.is_file():  # a rerun reuses the FCN the transformers were trained with
        import keras

        fcn = keras.models.load_model(fcn_path)
    else:
        fcn = train_fcn(fcn_source, SegmentTrainConfig(steps=FLAGS.fcn_steps, batch_size=FLAGS.fcn_batch_size,
                                                       progress=FLAGS.progress), strategy)
        fcn_path.parent.mkdir(parents=True, exist_ok=True)
        fcn.save(fcn_path)
    held = [render_eyes(32, h, w, domain=d, seed=999_983) for d in ("real", "synthetic")]
    iou = evaluate_fcn(fcn, np.concatenate([e["image"] for e in held]), np.concatenate([e["mask"] for e in held]))
    results["fcn"] = {"iou": iou, "steps": FLAGS.fcn_steps}
    mask_fn = common.fcn_mask_fn(fcn)

    def fcn_masks(images):
        return np.asarray(mask_fn(tf.constant(np.asarray(images, np.float32))))

    # ---- style image and the loss balance
    style_eye = render_eyes(1, h, w, domain="synthetic", seed=FLAGS.style_seed)
    style, style_mask = style_eye["image"][0], fcn_masks(style_eye["image"])[0]
    objective = PurificationObjective(loss_network, _loss_weights(), use_masks=True)
    if FLAGS.layer_weights == "balanced":  # the objective the paper transformer is trained on
        objective.weights = balanced_layer_weights(
            objective, tf.constant(style[None], tf.float32), tf.constant(style_mask[None]))
    balance = loss_balance(objective, fcn_masks, style, style_mask)
    results["loss_balance"] = balance
    results["weights_note"] = weights_note(balance)

    # ---- transformers
    content = RendererSource(h, w, "real", FLAGS.seed)
    stage(f"training the paper transformer ({FLAGS.paper_steps} steps, masked loss)")
    paper, t_paper = train_transformer("paper", "paper", True, FLAGS.paper_steps, content, style, style_mask,
                                       mask_fn, loss_network, strategy, out_dir)
    stage(f"training the johnson transformer ({FLAGS.johnson_steps} steps, plain loss)")
    johnson, t_johnson = train_transformer("johnson", "johnson", False, FLAGS.johnson_steps, content, style,
                                           style_mask, mask_fn, loss_network, strategy, out_dir)
    results["training"] = {"paper": t_paper, "johnson": t_johnson}
    purifiers = {"paper": paper, "johnson": johnson}

    # ---- test eyes shared by gaze and pupil experiments
    sets = gaze_exp.render_gaze_sets(FLAGS.gaze_train_n, FLAGS.gaze_test_n, h, w, seed=FLAGS.seed + 1000)
    purified = {name: purify(m, sets["test_images"]) for name, m in purifiers.items()}
    results["grids"] = {"renderer": {
        "columns": [sets["test_images"], purified["paper"], purified["johnson"],
                    np.repeat(style[None], 8, axis=0)],
        "labels": ["real (rendered)", "purified: paper", "purified: johnson", "style"],
    }}

    if "gaze" in sections:
        stage("gaze experiment")
        ests = gaze_exp.make_estimators(FLAGS.estimators, FLAGS.cnn_epochs, FLAGS.cnn_batch_size, FLAGS.seed, n_jobs=2)
        test_sets = {"raw": sets["test_images"], **{f"purified ({k})": v for k, v in purified.items()}}
        res = gaze_exp.gaze_experiment(ests, sets["train_X"], sets["train_gaze"], sets["test_gaze"], test_sets)
        results["gaze"] = {**gaze_exp.summarise(res), "n_train": FLAGS.gaze_train_n, "n_test": FLAGS.gaze_test_n}

    if "pupil" in sections:
        stage("pupil-centre preservation")
        from purify_tf.experiments.pupil import pupil_preservation

        results["pupil"] = {name: pupil_preservation(fcn, sets["test_images"], p, sets["test_pupil_center"])
                            for name, p in purified.items()}

    if "objective" in sections:
        from purify_tf.experiments.objective_curve import objective_curves

        curves = []
        for s in FLAGS.curve_sizes:
            ch, cw = _aspect_size(int(s))
            stage(f"objective vs Gatys at {ch}x{cw}")
            eyes = render_eyes(FLAGS.curve_n, ch, cw, domain="real", seed=FLAGS.seed + 31_337)
            st = render_eyes(1, ch, cw, domain="synthetic", seed=FLAGS.style_seed)
            curves.append(objective_curves(
                paper, objective, eyes["image"], fcn_masks(eyes["image"]), st["image"][0],
                fcn_masks(st["image"])[0], gatys_iterations=FLAGS.curve_iterations, init=FLAGS.gatys_init,
                seed=FLAGS.seed))
        results["objective"] = {"curves": curves, "train_size": f"{h}x{w}"}

    if "speed" in sections:
        from purify_tf.baselines.gatys import init_image, make_gatys_objective
        from purify_tf.experiments.speed import speed_table

        def gatys_setup(sh: int, sw: int):
            eye = render_eyes(1, sh, sw, domain="real", seed=FLAGS.seed + 77)
            st = render_eyes(1, sh, sw, domain="synthetic", seed=FLAGS.style_seed)
            targets = objective.style_targets(tf.constant(st["image"], tf.float32), tf.constant(fcn_masks(st["image"])))
            fn = make_gatys_objective(objective, eye["image"][0], fcn_masks(eye["image"])[0], targets)
            return fn, init_image(eye["image"][0], "noise", FLAGS.seed)

        stage("speed")
        sizes = [(int(s), int(s)) for s in FLAGS.speed_sizes]
        results["speed"] = speed_table(purifiers, sizes, gatys_setup, FLAGS.speed_gatys_iterations,
                                       repeats=FLAGS.speed_repeats)

    if "real_eyes" in sections:
        results["real_eyes"] = real_eyes_section(fcn, mask_fn, fcn_masks, loss_network, strategy, out_dir, results, stage)

    results["runtime_seconds"] = time.perf_counter() - t0
    gaps += [
        "CPU-sized settings: few training steps at small images; the paper trains 50k steps at 256x256.",
        "Gaze test eyes are the renderer's real domain, not MPIIGaze (no labelled MPIIGaze here).",
    ]
    results["gaps"] = gaps
    path = write_report(results, out_dir)
    stage(f"report written: {path}")
    return 0


def real_eyes_section(fcn, mask_fn, fcn_masks, loss_network, strategy, out_dir, results, stage) -> dict:
    """Train f_W on the real crops towards --style_image and measure without labels."""
    import numpy as np

    from purify_tf.data.image_io import read_image
    from purify_tf.experiments.common import as_rgb_uint8, purify, resize_images
    from purify_tf.experiments.real_eyes import load_eye_folder, real_eyes_measures
    from purify_tf.training.inputs import ArraySource

    missing = [f"--{k}={FLAGS[k].value}" for k in ("real_dir", "style_image")
               if not FLAGS[k].value or not Path(FLAGS[k].value).exists()]
    if missing:
        note = f"{' and '.join(missing)} not given or not found."
        logging.warning("Real-eye section skipped: %s", note)
        return {"skipped": note}
    h, w = FLAGS.height, FLAGS.width
    stage(f"real eyes from {FLAGS.real_dir}")
    real = load_eye_folder(FLAGS.real_dir, h, w, limit=FLAGS.real_limit)
    style = resize_images(as_rgb_uint8(read_image(FLAGS.style_image)[None]), h, w)[0]
    synthetic = load_eye_folder(Path(FLAGS.style_image).parent, h, w)
    style_mask = fcn_masks(style[None])[0]
    source = ArraySource(real, h, w, seed=FLAGS.seed)
    model, info = train_transformer("real_eyes", "paper", True, FLAGS.real_steps, source, style, style_mask,
                                    mask_fn, loss_network, strategy, out_dir)
    purified = purify(model, real)
    out = real_eyes_measures(real, purified, synthetic, fcn, loss_network)
    out["training"] = info
    out["description"] = (
        f"The paper's transformer trained for {FLAGS.real_steps} steps on {len(real)} real crops from "
        f"`{FLAGS.real_dir}` (resized to {h}x{w}) towards `{Path(FLAGS.style_image).name}`; the synthetic "
        f"reference set is the {len(synthetic)} images in its folder. Gram distance: relative Frobenius "
        "distance between the mean normalised VGG Gram matrices of two image sets (lower = closer).")
    results.setdefault("grids", {})["real_eyes"] = {
        "columns": [real, purified, np.repeat(style[None], 8, axis=0)],
        "labels": ["real (MPIIGaze crop)", "purified: paper", "style"],
    }
    return out


def run() -> None:
    app.run(lambda argv: sys.exit(main(argv)))


if __name__ == "__main__":
    run()
