r"""Gaze experiment (the paper's Table 3 and Fig. 10): ``python -m trainers.gaze --flagfile=configs/gaze.flags``.

Trains each estimator (CNN, kNN, SVR, RF, ALR) on synthetic eyes (the renderer's ``synthetic``
domain, or ``--train_unityeyes``) and reports the mean angular error on real eyes (the renderer's
``real`` domain, or ``--test_mpiigaze``) raw and purified by each ``--purifier``. On rendered test
eyes it also scores their synthetic twins and in-domain synthetic eyes and reports the share of
the raw -> twin gap each purifier closes, with 95% bootstrap intervals. Purifiers run at
the resolution they were trained at (their ``.json`` metadata; else ``--height``/``--width``), then
the eyes go to the estimators' 35x55 grayscale input like the raw ones.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from absl import app, flags, logging

from trainers import common

FLAGS = flags.FLAGS

flags.DEFINE_string("out_dir", "runs/gaze", "Where results.json goes (with --test_mpiigaze also table.md and the cumulative-error PNG).")
flags.DEFINE_multi_string(
    "purifier", [],
    "A trained transformer (.keras), as PATH or NAME=PATH; repeat for several. Its test column is "
    "'purified (NAME)' (default NAME: the file's stem).",
)
flags.DEFINE_integer("train_n", 4000, "Synthetic training eyes rendered (ignored with --train_unityeyes).")
flags.DEFINE_integer("test_n", 500, "Real-domain test eyes rendered (ignored with --test_mpiigaze).")
flags.DEFINE_integer("height", 64, "Render height of the eyes (and purification size when a purifier has no metadata).")
flags.DEFINE_integer("width", 96, "Render width of the eyes (and purification size when a purifier has no metadata).")
flags.DEFINE_string("train_unityeyes", None, "Train on a UnityEyes folder (N.jpg + N.json) instead of the renderer.")
flags.DEFINE_string("test_mpiigaze", None, "Test on normalised MPIIGaze (Data/Normalized/pXX/dayYY.mat) instead of the renderer.")
flags.DEFINE_integer("max_images", 20_000, "At most this many images from each dataset reader.")
common.define_estimator_flags()
flags.DEFINE_integer("n_jobs", 2, "Parallel jobs for kNN and the random forest.")
flags.DEFINE_integer("seed", 0, "Random seed (renderer seeds, estimator seeds).")
for _name in ("train_n", "test_n", "height", "width", "max_images", "n_jobs"):
    common.require_positive_int(_name)
for _name in ("train_unityeyes", "test_mpiigaze"):
    flags.register_validator(_name, lambda v: v is None or Path(v).exists(),
                             message=f"--{_name} must name an existing path.")


def parse_purifiers(specs: list[str]) -> dict[str, Path]:
    """``NAME=PATH`` or ``PATH`` -> {name: path}; raises UsageError for a missing file."""
    out = {}
    for spec in specs:
        name, _, path = spec.rpartition("=") if "=" in spec else ("", "", spec)
        path = Path(path)
        if not path.is_file():
            raise app.UsageError(f"--purifier={spec}: {path} does not exist")
        out[name or path.stem] = path
    return out


def load_data() -> dict:
    """Training and test arrays from the renderer or the readers the flags name."""
    import numpy as np

    from purify_tf.data.image_io import to_gaze_input
    from purify_tf.experiments.gaze import render_gaze_sets
    from purify_tf.palette import as_rgb_uint8

    data = render_gaze_sets(FLAGS.train_n, FLAGS.test_n, FLAGS.height, FLAGS.width, seed=FLAGS.seed)
    data["train_source"], data["test_source"] = "renderer (synthetic)", "renderer (real)"
    if FLAGS.train_unityeyes:
        train = common.read_content("unityeyes", FLAGS.train_unityeyes, limit=FLAGS.max_images)
        data["train_X"], data["train_gaze"] = to_gaze_input(train["image"]), train["gaze"]
        data["train_source"] = f"UnityEyes {FLAGS.train_unityeyes}"
    if FLAGS.test_mpiigaze:
        test = common.read_content("mpiigaze", FLAGS.test_mpiigaze, limit=FLAGS.max_images)
        data["test_images"] = as_rgb_uint8(test["image"])
        data["test_gaze"] = np.asarray(test["gaze"], np.float32)
        data["test_source"] = f"MPIIGaze {FLAGS.test_mpiigaze}"
    return data


def main(argv: list[str]) -> int:
    del argv
    import keras

    from purify_tf.experiments.common import load_purifier, purify
    from purify_tf.experiments.gaze import (
        gaze_benchmark,
        gaze_experiment,
        make_estimators,
        summarise,
    )
    from purify_tf.gaze.evaluation import plot_cumulative_curves

    keras.utils.set_random_seed(FLAGS.seed)
    purifiers = parse_purifiers(FLAGS.purifier)
    out_dir = Path(FLAGS.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    data = load_data()
    test_sets = {"raw": data["test_images"]}
    for name, path in purifiers.items():
        model, size = load_purifier(path)
        size = size or (FLAGS.height, FLAGS.width)
        logging.info("Purifying %d test eyes with %s at %dx%d", len(data["test_images"]), path, *size)
        test_sets[f"purified ({name})"] = purify(model, data["test_images"], size)
    estimators = make_estimators(FLAGS.estimators, FLAGS.cnn_epochs, FLAGS.cnn_batch_size, FLAGS.seed, FLAGS.n_jobs)
    if not FLAGS.test_mpiigaze:  # rendered test eyes have synthetic twins: report the gap share
        bench = gaze_benchmark(estimators, data, {k: v for k, v in test_sets.items() if k != "raw"}, seed=FLAGS.seed)
        (out_dir / "results.json").write_text(json.dumps(
            {**bench, "train_source": data["train_source"], "test_source": data["test_source"],
             "purifiers": {k: str(v) for k, v in purifiers.items()}}, indent=1))
        print(f"Mean angular error (degrees), train: {data['train_source']}, test: {data['test_source']}")
        for est, by_set in bench["errors"].items():
            shares = ", ".join(f"{n} {100 * g['gap_share']:+.0f}% [{100 * g['gap_share_lo']:+.0f}, "
                               f"{100 * g['gap_share_hi']:+.0f}]" for n, g in bench["gap_share"][est].items())
            print(f"{est}: " + ", ".join(f"{k} {v:.2f}" for k, v in by_set.items()) + (f"; gap closed: {shares}" if shares else ""))
        print(f"Outputs in {out_dir} (results.json)")
        return 0
    results = gaze_experiment(estimators, data["train_X"], data["train_gaze"], data["test_gaze"], test_sets)
    summary = summarise(results)
    summary.update(n_train=int(len(data["train_X"])), n_test=int(len(data["test_gaze"])),
                   train_source=data["train_source"], test_source=data["test_source"],
                   purifiers={k: str(v) for k, v in purifiers.items()})
    (out_dir / "results.json").write_text(json.dumps(summary, indent=1))
    table = results.to_markdown()
    (out_dir / "table.md").write_text(table + "\n")
    png = plot_cumulative_curves(results.curves(), out_dir / "gaze_cumulative_error.png",
                                 title="Cumulative gaze error (Fig. 10)")
    print(f"Mean angular error (degrees), train: {data['train_source']}, test: {data['test_source']}")
    print(table)
    print(f"Outputs in {out_dir} (results.json, table.md, {png.name})")
    return 0


def run() -> None:
    app.run(lambda argv: sys.exit(main(argv)))


if __name__ == "__main__":
    run()
