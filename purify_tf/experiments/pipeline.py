"""The report's experiments end to end, judged by the task: gaze error on purified real eyes.

``run_report(cfg)`` trains the coarse FCN and every purifier of the ablation
(:mod:`purify_tf.experiments.purifiers`), scores each with every gaze estimator on in-domain
synthetic, raw real, synthetic-twin and purified eyes (gap share with bootstrap intervals),
measures pupil shifts with the FCN and with an FCN-independent detector (renderer and, when
present, real crops), redoes Fig. 8 on the final objective, times Table 2, and writes the report.
"""

from __future__ import annotations

import dataclasses
import datetime
import os
import platform
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from purify_tf.errors import ConfigError
from purify_tf.experiments.common import FRONT_END_CENTRED, FRONT_END_ONLY, MEAN_CONTRAST
from purify_tf.experiments.purifiers import VARIANTS, TrainSettings, train_variant
from purify_tf.hyperparameters import FCN_BATCH_SIZE, REPORT

SECTIONS = ("real_gaze", "gaze", "pupil", "objective", "speed", "real_eyes")
MONITOR_ESTIMATORS = ("knn", "svr")  # fast enough to score during training
# Table 2 times --speed_gatys_iterations Gatys iterations up to 512x512 and proportionally fewer
# above (1 at 1024x1024), so the 1024 row costs about what the 512 row does.
GATYS_MAX_PIXELS = 512 * 512
BASELINE_LABELS = {FRONT_END_ONLY: "illumination front end alone (no network)",
                   FRONT_END_CENTRED: "the front end alone, its gain centred on the training subjects' unlabelled eyes",
                   MEAN_CONTRAST: "each eye's per-channel mean and std set to the synthetic set's (no network)"}


@dataclasses.dataclass(frozen=True)
class ReportConfig:
    """Everything the report needs; ``trainers.report`` fills it from flags."""

    out_dir: str
    sections: tuple[str, ...] = SECTIONS
    variants: tuple[str, ...] = ("paper", "johnson", "style_set", "luminance_loss", "front_end")
    best: str = "front_end"
    train: TrainSettings = TrainSettings(height=REPORT.height, width=REPORT.width, steps=REPORT.steps)
    best_steps: int = 0  # training steps of ``best`` (0: ``train.steps``): the learned part needs more
    fcn_steps: int = 300
    fcn_batch_size: int = FCN_BATCH_SIZE
    gaze_train_n: int = 2000
    gaze_test_n: int = 600
    estimators: tuple[str, ...] = ("cnn", "knn", "svr", "rf", "alr")
    cnn_epochs: int = 30
    cnn_batch_size: int = 512
    monitor_n: int = 200
    n_boot: int = 2000
    curve_sizes: tuple[int, ...] = (48, 96)
    curve_n: int = 2
    curve_iterations: int = 100
    gatys_init: str = "noise"
    speed_sizes: tuple[int, ...] = (256, 512)
    speed_gatys_iterations: int = 3
    speed_repeats: int = 3
    real_dir: str | None = None
    real_gaze_dir: str | None = None  # a labelled real-eye folder: the real_gaze section, and real content
    real_gaze_per_subject: int = 200  # test eyes per evaluation subject
    real_gaze_draws: int = 1  # synthetic training sets of the real-gaze table, each eye's error their mean
    seed: int = 0

    def settings_for(self, name: str) -> TrainSettings:
        """The training settings of variant ``name``: those of every row, with ``best_steps`` for
        the best one, so that one long run fits where every row at that length would not."""
        if name == self.best and self.best_steps > 0:
            return dataclasses.replace(self.train, steps=self.best_steps)
        return self.train


def machine_info(strategy: Any) -> dict[str, Any]:
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


def _aspect_size(cfg: ReportConfig, height: int) -> tuple[int, int]:
    """(height, width) with the training aspect ratio, width rounded to a multiple of 8."""
    w = max(8, int(round(height * cfg.train.width / cfg.train.height / 8.0)) * 8)
    return height, w


def run_report(cfg: ReportConfig, loss_network: Any, strategy: Any,
               stage: Callable[[str], None] = print) -> dict[str, Any]:
    """Run the sections of ``cfg`` and return the results dict that ``write_report`` renders."""
    from purify_tf.experiments import gaze as gaze_exp
    from purify_tf.training.segment_loop import load_or_train_fcn, predict_fn

    t0 = time.perf_counter()
    runs = Path(cfg.out_dir) / "runs"
    h, w = cfg.train.height, cfg.train.width
    sections = set(cfg.sections)
    results: dict[str, Any] = {"settings": _settings(cfg), "machine": machine_info(strategy)}
    results["machine"]["loss network"] = f"{loss_network.info['architecture']} ({loss_network.info['weights']})"

    stage("coarse FCN")
    fcn, iou = load_or_train_fcn(runs / "fcn.keras", h, w, cfg.fcn_steps, cfg.fcn_batch_size, cfg.seed, strategy)
    results["fcn"] = {"iou": iou, "steps": cfg.fcn_steps}
    mask_fn = predict_fn(fcn)
    if "speed" in sections:
        # Table 2 first, in a process that holds little yet: here it takes 1.5 minutes on 2 cores;
        # timed after the other sections it had not finished after 41. The networks are untrained
        # stand-ins: speed does not depend on the weights.
        stage("speed")
        results["speed"] = _speed_section(cfg, _speed_networks(), loss_network, mask_fn)

    stage("gaze estimators on synthetic eyes")
    sets = gaze_exp.render_gaze_sets(cfg.gaze_train_n, cfg.gaze_test_n, h, w, seed=cfg.seed + 1000)
    ests, monitor = _fit_estimators(cfg, sets)
    real_gaze = _real_gaze_data(cfg, stage)
    purifiers: dict[str, Any] = {}
    training: dict[str, Any] = {}
    for name in cfg.variants:
        variant = VARIANTS[name]
        settings = cfg.settings_for(name)
        stage(f"purifier '{name}': {variant.label} ({settings.steps} steps)")
        content = None
        if variant.content == "real":
            if real_gaze is None:
                raise ConfigError(f"variant {name!r} trains on real eyes: give --real_gaze_dir (a labelled folder)")
            content = real_gaze[1].train["image"]
        model, summary = train_variant(variant, settings, loss_network, strategy, mask_fn, runs, monitor,
                                       real_content=content)
        purifiers[name], training[name] = model, summary
    results["training"] = training
    prior_images = _render_images(512, h, w, "synthetic", cfg.train.style_seed + 1)
    purified = _purified_test_sets(cfg, purifiers, sets, prior_images, results)

    if "real_gaze" in sections:
        results["real_gaze"] = _real_gaze(cfg, real_gaze, purifiers, stage)
    if "gaze" in sections:
        stage("gaze benchmark")
        # The estimators were fitted once above (the monitor uses them too).
        results["gaze"] = gaze_exp.gaze_benchmark(ests, sets, purified, n_boot=cfg.n_boot, seed=cfg.seed, fit=False,
                                                  reference=FRONT_END_ONLY)
        results["gaze"]["labels"] = {**{n: _label(cfg, n) for n in purifiers}, **BASELINE_LABELS}
    if "pupil" in sections:
        stage("pupil-centre preservation")
        results["pupil"] = _pupil_section(fcn, sets, purified)
    best = purifiers.get(cfg.best)
    if "real_eyes" in sections:
        results["real_eyes"] = _real_eyes(cfg, purifiers, loss_network, prior_images, results, stage, fcn)
    if "objective" in sections and best is not None:
        results["objective"] = _objective_section(cfg, best, training[cfg.best], loss_network, mask_fn, stage,
                                                  runs / cfg.best)
    results["runtime_seconds"] = time.perf_counter() - t0
    results["gaps"] = _gaps(cfg, loss_network)
    return results


def _render_images(n: int, h: int, w: int, domain: str, seed: int) -> np.ndarray:
    from purify_tf.data.renderer import render_eyes

    return render_eyes(n, h, w, domain=domain, seed=seed)["image"]


def _real_gaze_data(cfg: ReportConfig, stage: Callable[[str], None]) -> tuple[Any, Any] | None:
    """(config, data) of the real-gaze table when ``cfg.real_gaze_dir`` is a labelled folder: the
    subject split, the training subjects' eyes (real content of the variants that train on real
    eyes; their labels only shape the synthetic set's gaze and train the floor) and the test eyes."""
    from purify_tf.data.labelled import is_labelled_folder
    from purify_tf.experiments.real_gaze import RealGazeConfig, load_real_gaze_data

    if not cfg.real_gaze_dir or not is_labelled_folder(cfg.real_gaze_dir):
        return None
    stage(f"real labelled eyes from {cfg.real_gaze_dir}")
    rg = RealGazeConfig(labels_dir=cfg.real_gaze_dir, test_per_subject=cfg.real_gaze_per_subject,
                        n_synthetic=cfg.gaze_train_n, n_floor=cfg.gaze_train_n, seed=cfg.seed, n_boot=cfg.n_boot,
                        synthetic_draws=cfg.real_gaze_draws)
    return rg, load_real_gaze_data(rg)


def _real_gaze(cfg: ReportConfig, real_gaze: tuple[Any, Any] | None, purifiers: dict[str, Any],
               stage: Callable[[str], None]) -> dict[str, Any]:
    """The measure that decides (docs/DESIGN.md): synthetic-trained estimators on real eyes of the
    evaluation subjects, raw vs every purifier and the shipped one, against the mean and the floor."""
    from purify_tf.experiments import gaze as gaze_exp
    from purify_tf.experiments.common import front_end_only
    from purify_tf.experiments.real_eyes import SHIPPED, shipped_purifier
    from purify_tf.experiments.real_gaze import compact, keras_purifier, run_real_gaze

    if real_gaze is None:
        return {"skipped": f"--real_gaze_dir={cfg.real_gaze_dir} not given or has no labels.csv."}
    stage("real-eye gaze table")
    rows = {name: keras_purifier(model) for name, model in purifiers.items()}
    shipped = shipped_purifier()
    if shipped is not None:
        rows[SHIPPED] = keras_purifier(shipped)
    result = run_real_gaze(
        real_gaze[0], lambda: gaze_exp.make_estimators(cfg.estimators, cfg.cnn_epochs, cfg.cnn_batch_size, cfg.seed,
                                                       n_jobs=2),
        rows, front_end=front_end_only, data=real_gaze[1])
    out = compact(result)
    out["labels"] = {**{n: _label(cfg, n) for n in purifiers}, **BASELINE_LABELS}
    return out


def _fit_estimators(cfg: ReportConfig, sets: dict[str, Any]) -> tuple[dict[str, Any], Any]:
    """Every gaze estimator fitted once on the synthetic eyes, and the training monitor that
    reuses the fast ones on held-out real eyes and their twins."""
    from purify_tf.data.renderer import render_eyes
    from purify_tf.experiments import gaze as gaze_exp
    from purify_tf.gaze.monitor import MONITOR_SEED, GazeMonitor

    h, w = cfg.train.height, cfg.train.width
    ests = gaze_exp.make_estimators(cfg.estimators, cfg.cnn_epochs, cfg.cnn_batch_size, cfg.seed, n_jobs=2)
    for est in ests.values():
        est.fit(sets["train_X"], sets["train_gaze"])
    val = render_eyes(cfg.monitor_n, h, w, domain="real", seed=cfg.seed + MONITOR_SEED)
    val_twin = render_eyes(cfg.monitor_n, h, w, domain="synthetic", seed=cfg.seed + MONITOR_SEED)
    monitor = GazeMonitor({k: v for k, v in ests.items() if k.lower() in MONITOR_ESTIMATORS},
                          val["image"], val_twin["image"], val["gaze"])
    return ests, monitor


def _purified_test_sets(cfg: ReportConfig, purifiers: dict[str, Any], sets: dict[str, Any],
                        prior_images: np.ndarray, results: dict[str, Any]) -> dict[str, np.ndarray]:
    """The test eyes through every purifier and through the two baselines (front end alone,
    mean/contrast match); the renderer grid raw | front end | purified | twin."""
    from purify_tf.experiments.common import front_end_only, purify
    from purify_tf.experiments.real_eyes import mean_contrast_match

    purified = {name: purify(m, sets["test_images"]) for name, m in purifiers.items()}
    purified[FRONT_END_ONLY] = front_end_only(sets["test_images"], prior_images)
    purified[MEAN_CONTRAST] = mean_contrast_match(sets["test_images"], prior_images)
    grid_names = [FRONT_END_ONLY] + [n for n in (cfg.best,) if n in purifiers]
    results["grids"] = {"renderer": {
        "columns": [sets["test_images"]] + [purified[n] for n in grid_names] + [sets["test_twin_images"]],
        "labels": ["raw (real domain)"] + [n if n == FRONT_END_ONLY else f"purified: {n}" for n in grid_names]
        + ["synthetic twin"],
    }}
    return purified


def _pupil_section(fcn: Any, sets: dict[str, Any], purified: dict[str, np.ndarray]) -> dict[str, Any]:
    """Pupil shifts of every purifier and baseline, and of the twins: raw -> twin is what a perfect
    purifier scores, since shadows and glints move the detector's centre on the raw eye."""
    from purify_tf.experiments.common import TWIN
    from purify_tf.experiments.pupil import detector_shift, pupil_preservation

    purified = {**purified, TWIN: sets["test_twin_images"]}
    return {name: {"fcn": pupil_preservation(fcn, sets["test_images"], p, sets["test_pupil_center"]),
                   "detector": detector_shift(sets["test_images"], p, sets["test_pupil_center"])}
            for name, p in purified.items()}


def _label(cfg: ReportConfig, name: str) -> str:
    """The variant's label, with its step count where it differs from the other rows'."""
    steps = cfg.settings_for(name).steps
    return VARIANTS[name].label + (f", {steps} steps" if steps != cfg.train.steps else "")


def _gaps(cfg: ReportConfig, loss_network: Any) -> list[str]:
    """What this run did not do as the paper did, from its own settings."""
    h, w = cfg.train.height, cfg.train.width
    gaps = []
    if "random" in str(loss_network.info["weights"]):
        gaps.append("The loss network has random weights (no ImageNet weights found): set "
                    "PURIFY_VGG_WEIGHTS or --vgg_weights for meaningful perceptual features.")
    if cfg.train.steps < 50_000 or (h, w) != (256, 256):
        longer = (f" ({cfg.best}: {cfg.best_steps})" if cfg.best_steps > 0 and cfg.best_steps != cfg.train.steps
                  else "")
        gaps.append(f"Training: {cfg.train.steps} steps{longer} at {h}x{w}; the paper trains 50k steps at 256x256.")
    if not ("real_gaze" in cfg.sections and cfg.real_gaze_dir and Path(cfg.real_gaze_dir).is_dir()):
        gaps.append("Gaze test eyes are the renderer's real domain only: no labelled real eyes were given "
                    "(--real_gaze_dir), so the table that decides on real eyes is missing.")
    gaps += [
        "The synthetic twins share each test eye's geometry but draw their own skin and iris colours, so "
        "the 'ideal' also differs in iris darkness: a gap share of 100% is not reachable by restyling alone.",
    ]
    return gaps


def _settings(cfg: ReportConfig) -> dict[str, Any]:
    out = {k: v for k, v in dataclasses.asdict(cfg).items() if k != "train"}
    out.update({f"train.{k}": v for k, v in dataclasses.asdict(cfg.train).items()})
    return out


def _real_eyes(cfg, purifiers, loss_network, prior_images, results, stage, fcn=None) -> dict[str, Any]:
    """Every purifier (trained on the renderer only), the two baselines and the shipped purifier on
    the real crops: KID to synthetic eyes and pupil shift (:mod:`purify_tf.experiments.real_eyes`)."""
    from purify_tf.experiments.common import front_end_only
    from purify_tf.experiments.kid import feature_network
    from purify_tf.experiments.real_eyes import real_eyes_section

    h, w = cfg.train.height, cfg.train.width
    if cfg.real_dir and Path(cfg.real_dir).is_dir():
        stage(f"real eyes from {cfg.real_dir}")
    # KID's reference: synthetic eyes the baselines and the front end's prior did not see.
    reference = _render_images(512, h, w, "synthetic", cfg.seed + 4242)
    section, grid = real_eyes_section(
        cfg.real_dir, (h, w), purifiers, cfg.best, lambda x: front_end_only(x, prior_images), prior_images,
        reference, feature_network(loss_network), seed=cfg.seed, fcn=fcn)
    if grid is not None:
        results.setdefault("grids", {})["real_eyes"] = grid
    return section


def _objective_section(cfg, model, summary, loss_network, mask_fn, stage, model_dir) -> dict[str, Any]:
    """Fig. 8 on the objective the best row was trained with (its weights, style set, luminance,
    front end, paired term and gaze reader, from ``model_dir``; each eye its own pair, its twin
    rendered with its seed), restricted to the terms a function of one output image
    (``of_one_image``: the section names the others)."""
    import tensorflow as tf

    from purify_tf.data.renderer import render_eyes
    from purify_tf.experiments.objective_curve import objective_curves
    from purify_tf.experiments.purifiers import objective_weights
    from purify_tf.losses.objective import build_objective
    from purify_tf.luminance_prior import fit_luminance_prior
    from purify_tf.models.transformer import front_end_of

    variant, settings = VARIANTS[cfg.best], cfg.settings_for(cfg.best)
    weights, domain = objective_weights(variant, settings)
    reader = None
    if domain.gaze > 0:  # the row's own reader (it reads any eye size: it resizes to 35x55 first)
        from purify_tf.training.gaze_reader import load_or_train_gaze_reader

        reader = load_or_train_gaze_reader(model_dir, settings.height, settings.width, settings.seed)
    layer = front_end_of(model)
    front_end = None
    if layer is not None:

        def front_end(x: np.ndarray) -> np.ndarray:
            return layer(tf.constant(x, tf.float32)).numpy()

    curves, terms, left_out = [], [], {}
    for size in cfg.curve_sizes:
        ch, cw = _aspect_size(cfg, int(size))
        stage(f"objective vs Gatys at {ch}x{cw}")
        styles = render_eyes(cfg.train.style_set_size, ch, cw, domain="synthetic", seed=cfg.train.style_seed)
        prior = fit_luminance_prior(render_eyes(512, ch, cw, domain="synthetic", seed=cfg.train.style_seed + 1)["image"])
        trained, targets = build_objective(
            loss_network, weights, use_masks=variant.use_masks, layer_weighting=settings.layer_weighting,
            style_images=styles["image"], mask_fn=mask_fn, luminance_prior=prior, domain=domain,
            gaze_network=reader)
        objective, left_out = trained.of_one_image()
        terms = list(dict.fromkeys(t.role for t in objective.terms()))
        eyes = render_eyes(cfg.curve_n, ch, cw, domain="real", seed=cfg.seed + 31_337)
        twins = render_eyes(cfg.curve_n, ch, cw, domain="synthetic", seed=cfg.seed + 31_337)["image"]
        curves.append(objective_curves(
            model, objective, eyes["image"], np.asarray(mask_fn(tf.constant(eyes["image"], tf.float32))),
            styles["image"][0], None, gatys_iterations=cfg.curve_iterations, init=cfg.gatys_init,
            seed=cfg.seed, targets=targets,
            loss_contents=front_end, twins=twins))
    return {"curves": curves, "train_size": f"{cfg.train.height}x{cfg.train.width}", "variant": cfg.best,
            "terms": terms, "left_out": left_out, "objective_table": objective.describe()}


def _speed_networks() -> dict[str, Any]:
    """The paper's and Johnson's networks for Table 2, untrained: speed does not depend on the weights."""
    from purify_tf.models.transformer import build_transformer

    return {name: build_transformer(name) for name in ("paper", "johnson")}


def _speed_section(cfg, purifiers, loss_network, mask_fn) -> dict[str, Any]:
    import tensorflow as tf

    from purify_tf.baselines.gatys import init_image, make_gatys_objective
    from purify_tf.data.renderer import render_eyes
    from purify_tf.experiments.speed import speed_table
    from purify_tf.losses.objective import LossWeights, build_objective

    def gatys_setup(sh: int, sw: int):
        """Table 2's Gatys: the paper's objective (its weights, unit layer weights) towards one style image."""
        eye = render_eyes(1, sh, sw, domain="real", seed=cfg.seed + 77)
        st = render_eyes(1, sh, sw, domain="synthetic", seed=cfg.train.style_seed)
        objective, targets = build_objective(loss_network, LossWeights(), use_masks=True, layer_weighting="unit",
                                             style_images=st["image"], mask_fn=mask_fn)
        eye_mask = np.asarray(mask_fn(tf.constant(eye["image"], tf.float32)))[0]
        fn = make_gatys_objective(objective, eye["image"][0], eye_mask, targets)
        return fn, init_image(eye["image"][0], "noise", cfg.seed)

    sizes = [(int(s), int(s)) for s in cfg.speed_sizes]
    return speed_table(purifiers, sizes, gatys_setup, cfg.speed_gatys_iterations, repeats=cfg.speed_repeats,
                       gatys_max_pixels=GATYS_MAX_PIXELS)
