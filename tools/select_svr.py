r"""SVR's settings by cross-validation on synthetic eyes only (no real eye, no real label):

    python -m tools.select_svr --labels=../shared/data/mpiigaze-gaze

With ``--labels`` the synthetic sets are the real-eye table's own (gaze and head pose resampled from
the training subjects' labels, same seeds); without, renderer eyes in its own gaze range. Prints the
cross-validated error of every (C, gamma) per set and their mean; ``estimators.SVR_C`` is the choice.
"""

from __future__ import annotations

import json
from pathlib import Path

from absl import app, flags

FLAGS = flags.FLAGS
flags.DEFINE_string("labels", None, "A labelled folder (e.g. ../shared/data/mpiigaze-gaze): its training subjects' "
                    "gaze and head pose shape the synthetic sets, as in the real-eye table. Default: none, the "
                    "renderer's own gaze range.")
flags.DEFINE_list("C", ["1", "3", "10", "30"], "SVR box constraints to try.")
flags.DEFINE_list("gamma_scale", ["0.3", "1", "3"], "RBF widths to try, as multiples of sklearn's gamma='scale'.")
flags.DEFINE_integer("n", 4000, "Synthetic eyes per set (the real-eye table's 4000).")
flags.DEFINE_integer("draws", 3, "Synthetic sets, each cross-validated on its own (the model card's 3).")
flags.DEFINE_integer("folds", 3, "Cross-validation folds.")
flags.DEFINE_integer("seed", 0, "Seed of the synthetic sets (the table's 0) and of the folds.")
flags.DEFINE_string("json", None, "Also write the whole result here.")
flags.register_validator("n", lambda v: v > 0, message="--n must be > 0.")
flags.register_validator("draws", lambda v: v > 0, message="--draws must be > 0.")
flags.register_validator("folds", lambda v: v >= 2, message="--folds must be >= 2.")


def main(argv: list[str]) -> int:
    del argv
    from purify_tf.experiments.svr_selection import svr_selection

    result = svr_selection(FLAGS.labels, [float(c) for c in FLAGS.C], [float(g) for g in FLAGS.gamma_scale],
                           n_synthetic=FLAGS.n, draws=FLAGS.draws, folds=FLAGS.folds, seed=FLAGS.seed,
                           progress=lambda line: print(line, flush=True))
    print(f"{result['folds']}-fold cross-validated angular error (deg) on {result['source']}, "
          f"{result['n_synthetic']} eyes per set:")
    print("| C | gamma x 'scale' | " + " | ".join(f"set {i + 1}" for i in range(len(result["per_set"]))) + " | mean |")
    print("|---|---|" + "---|" * (len(result["per_set"]) + 1))
    for i, row in enumerate(result["mean"]):
        cells = [f"{t[i]['cv_error_deg']:.3f}" for t in result["per_set"]]
        print(f"| {row['C']:g} | {row['gamma_scale']:g} | " + " | ".join(cells) + f" | {row['cv_error_deg']:.3f} |")
    print(f"best per set: {result['best_per_set']}; best on the mean: {result['best']}")
    if FLAGS.json:
        Path(FLAGS.json).write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    app.run(main)
