r"""The report: ``python -m trainers.report --flagfile=configs/report.flags``.

Trains the coarse FCN and every purifier of the ablation on the built-in renderer, then measures
what matters: gaze error on purified real eyes against their synthetic twins (gap share with
bootstrap intervals, every estimator, and the difference to the front end alone), pupil shifts (FCN
and an independent detector), real crops (KID to synthetic eyes against a per-eye mean/contrast
match, pupil shift), the objective vs Gatys on the final objective (Fig. 8) and speed (Table 2).
Writes ``<out_dir>/REPORT.md``, PNG plots and ``results.json``. A rerun resumes trainings. The
purifiers' progress bars show when stdout is a terminal; a log gets the stage lines only.
"""

from __future__ import annotations

import datetime
import resource
import sys
import time
from pathlib import Path

from absl import app, flags, logging

from purify_tf.hyperparameters import REPORT
from trainers import common

FLAGS = flags.FLAGS
SECTIONS = ("real_gaze", "gaze", "pupil", "objective", "speed", "real_eyes")
VARIANT_NAMES = ("paper", "johnson", "residual", "style_set", "style_per_batch", "luminance_loss", "front_end",
                 "front_end_luminance", "critic", "critic_identity", "paired", "paired_critic",
                 "paired_strong", "paired_only", "critic_identity_raw", "paired_structure", "real_paired",
                 "paired_gaze")

flags.DEFINE_string("out_dir", None, "Report folder (default: reports/<YYYY-MM-DD>).")
flags.DEFINE_list("sections", list(SECTIONS), f"Experiments to run, of {', '.join(SECTIONS)}.")
flags.DEFINE_list("variants", ["paper", "johnson", "style_set", "luminance_loss", "front_end"],
                  f"Purifiers to train and compare (the ablation), of {', '.join(VARIANT_NAMES)}.")
flags.DEFINE_enum("best", "front_end", list(VARIANT_NAMES),
                  "The purifier Fig. 8, the sample grids and the claims single out (must be in --variants).")
common.define_purifier_flags(REPORT, images="Training and test image")
flags.DEFINE_integer("steps", REPORT.steps, "Training steps of every purifier (but --best, see --best_steps).")
flags.DEFINE_integer("best_steps", 0, "Training steps of the --best purifier (0: --steps). The learned part needs "
                     "more steps than a CPU report can give every row; one longer row shows what it adds.")
common.define_style_set_flags(REPORT)
flags.DEFINE_integer("eval_every", 100, "Score gaze (kNN, SVR) on held-out real eyes every N training steps.")
common.define_fcn_flags(steps=300)
flags.DEFINE_integer("gaze_train_n", 2000, "Synthetic training eyes for the gaze estimators.")
flags.DEFINE_integer("gaze_test_n", 600, "Real-domain test eyes (and their twins) for gaze and pupil measures.")
common.define_estimator_flags()
flags.DEFINE_integer("n_boot", 2000, "Bootstrap draws for the gap-share intervals.")
flags.DEFINE_list("curve_sizes", ["48", "96"], "Image heights for Fig. 8 (width keeps the training aspect).")
flags.DEFINE_integer("curve_n", 2, "Test images per size for Fig. 8.")
flags.DEFINE_integer("curve_iterations", 100, "Gatys L-BFGS iterations per image for Fig. 8.")
flags.DEFINE_enum("gatys_init", "noise", ["noise", "content"], "Gatys start: white noise or the content image.")
flags.DEFINE_list("speed_sizes", ["256", "512"], "Square sizes for Table 2.")
flags.DEFINE_integer("speed_gatys_iterations", 3,
                     "L-BFGS iterations timed per size up to 512x512, proportionally fewer above (scaled to 400).")
flags.DEFINE_integer("speed_repeats", 3, "Timed forward passes per network and size (median).")
flags.DEFINE_string("real_dir", None, "Folder of real eye crops for the label-free section: KID to synthetic eyes and "
                    "pupil shift of every purifier (skipped when absent).")
flags.DEFINE_string("real_gaze_dir", None, "Labelled real eyes (labels.csv with file, subject and gaze columns, e.g. "
                    "../shared/data/mpiigaze-gaze): the real_gaze section (synthetic-trained estimators on the "
                    "evaluation subjects' eyes, raw vs purified; the measure that decides) and the real content of "
                    "variants that train on real eyes (the training subjects' images only; skipped when absent).")
flags.DEFINE_integer("real_gaze_draws", 1, "Synthetic training sets the real_gaze section fits its estimators on, "
                     "each a new draw of the renderer; each eye's error is the mean over them (one set decides SVR "
                     "by itself: docs/DESIGN.md, \"How much one synthetic set decides\").", lower_bound=1)
common.define_loss_network_flags()
common.define_runtime_flags(jit_compile=False)  # the report's rows train without XLA

for _name in ("steps", "gaze_train_n", "gaze_test_n", "n_boot", "curve_n", "curve_iterations",
              "speed_gatys_iterations", "speed_repeats"):
    common.require_positive_int(_name)
common.require_non_negative("eval_every")
common.require_non_negative("best_steps")
common.require_not_a_file("out_dir")
flags.register_validator("sections", lambda v: all(s in SECTIONS for s in v),
                         message=f"--sections must list some of {', '.join(SECTIONS)}.")
flags.register_validator("variants", lambda v: bool(v) and all(s in VARIANT_NAMES for s in v),
                         message=f"--variants must list some of {', '.join(VARIANT_NAMES)}.")
for _name in ("curve_sizes", "speed_sizes"):
    flags.register_validator(
        _name, lambda v: bool(v) and all(s.isdigit() and int(s) % 8 == 0 and int(s) > 0 for s in v),
        message=f"--{_name} must be positive integers divisible by 8.")


def config_from_flags():
    """The ReportConfig the flags describe."""
    from purify_tf.experiments.pipeline import ReportConfig
    from purify_tf.experiments.purifiers import TrainSettings

    train = TrainSettings(
        height=FLAGS.height, width=FLAGS.width, steps=FLAGS.steps, batch_size=FLAGS.batch_size,
        learning_rate=FLAGS.learning_rate, lr_schedule=FLAGS.lr_schedule, alpha=FLAGS.alpha, beta=FLAGS.beta,
        theta=FLAGS.theta, style_seed=FLAGS.style_seed, style_set_size=FLAGS.style_set_size,
        eval_every=FLAGS.eval_every, seed=FLAGS.seed,
        progress=sys.stdout.isatty())  # a log: the stage lines only
    return ReportConfig(
        out_dir=FLAGS.out_dir or f"reports/{datetime.date.today().isoformat()}", sections=tuple(FLAGS.sections),
        variants=tuple(FLAGS.variants), best=FLAGS.best, train=train, best_steps=FLAGS.best_steps, fcn_steps=FLAGS.fcn_steps,
        gaze_train_n=FLAGS.gaze_train_n, gaze_test_n=FLAGS.gaze_test_n,
        estimators=tuple(FLAGS.estimators), cnn_epochs=FLAGS.cnn_epochs, cnn_batch_size=FLAGS.cnn_batch_size,
        n_boot=FLAGS.n_boot, curve_sizes=tuple(int(s) for s in FLAGS.curve_sizes), curve_n=FLAGS.curve_n,
        curve_iterations=FLAGS.curve_iterations, gatys_init=FLAGS.gatys_init,
        speed_sizes=tuple(int(s) for s in FLAGS.speed_sizes), speed_gatys_iterations=FLAGS.speed_gatys_iterations,
        speed_repeats=FLAGS.speed_repeats, real_dir=FLAGS.real_dir, real_gaze_dir=FLAGS.real_gaze_dir,
        real_gaze_draws=FLAGS.real_gaze_draws, seed=FLAGS.seed)


def main(argv: list[str]) -> int:
    del argv
    t0 = time.perf_counter()
    from purify_tf.experiments.pipeline import run_report
    from purify_tf.experiments.report import write_report
    from purify_tf.training.checkpoints import TrainingStopped

    if not FLAGS["verbosity"].present:  # stage lines only; checkpoint chatter with --verbosity=0
        logging.set_verbosity(logging.WARNING)
    cfg = config_from_flags()
    if cfg.best not in cfg.variants:
        raise app.UsageError(f"--best={cfg.best} must be one of --variants={','.join(cfg.variants)}")
    runtime = common.setup_runtime()
    Path(cfg.out_dir).mkdir(parents=True, exist_ok=True)

    def stage(msg: str) -> None:
        peak_gib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2  # Linux: KiB
        print(f"[{(time.perf_counter() - t0) / 60:5.1f} min, peak {peak_gib:4.1f} GiB] {msg}", flush=True)

    try:
        results = run_report(cfg, common.loss_network_from_flags(), runtime.strategy, stage)
    except TrainingStopped as stopped:  # SIGTERM / Ctrl-C while the FCN or a purifier trained: checkpointed
        print(stopped)
        return 0
    stage(f"report written: {write_report(results, cfg.out_dir)}")
    return 0


def run() -> None:
    app.run(lambda argv: sys.exit(main(argv)))


if __name__ == "__main__":
    run()
