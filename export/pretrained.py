r"""Ship a trained purifier as the package's pretrained model: ``make pretrained``.

    python -m export.pretrained --model=runs/pretrained/purifier.keras

Scores the model on fresh renderer eyes (gap share per estimator, pupil shift), then writes it
with float16 variables to ``purify_tf/pretrained/purifier.keras`` with a signed card
(``purifier.json``: how it was trained, the scores, sha256). f_W is trained on the renderer only:
the real crops of ../shared are used to *measure* the pupil shift, never to train. With
``--centre_dir`` the front end is centred on the unlabelled eyes of the real-gaze table's training
subjects (images only; ``purify_tf.inference.centre``), and the card names that dataset and its licence.
With ``--flip_symmetric`` f_W's residual is averaged with the mirrored eye's (``models.symmetry``):
the pupil's systematic sideways move goes, at one more f_W pass per eye.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from absl import app, flags

FLAGS = flags.FLAGS
flags.DEFINE_string("model", None, "Trained purifier (.keras) with its training metadata (.json) beside it.")
flags.DEFINE_string("out_dir", None, "Destination folder (default: the package's purify_tf/pretrained/).")
flags.DEFINE_integer("test_n", 600, "Fresh real-domain test eyes (and twins) for the scores.")
flags.DEFINE_list("estimators", ["knn", "svr", "rf", "alr"], "Gaze estimators for the gap shares.")
flags.DEFINE_string("real_dir", None, "Real eye crops for the pupil shift on real eyes (measured only).")
flags.DEFINE_string("real_gaze_dir", None, "A labelled real-eye folder (labels.csv; e.g. ../shared/data/mpiigaze-gaze): "
                    "the card's real_gaze table (synthetic-trained estimators on real eyes of the evaluation "
                    "subjects, raw vs purified; measured only).")
flags.DEFINE_list("real_gaze_eval_subjects", None, "Evaluation subjects of --real_gaze_dir (default: the second half "
                  "of the sorted subjects); a model trained on real eyes must not have seen them.")
flags.DEFINE_string("centre_dir", None, "Unlabelled real eyes to centre the front end on (a folder, or a labelled folder "
                    "whose labels are not read; e.g. ../shared/data/mpiigaze-gaze): the shipped file's centre.")
flags.DEFINE_list("centre_subjects", None, "With a labelled --centre_dir: the subjects whose images give the centre "
                  "(default: the first half of the sorted subjects, the real-gaze table's training subjects); "
                  "never the evaluation subjects.")
flags.DEFINE_bool("symmetric_centre", True, "With --centre_dir: make the centre mirror-symmetric (each row of the "
                  "eyes' mean coarse map averaged with itself reversed), so that the gain keeps no left-right "
                  "asymmetry that synthetic eyes lack (inference.centre; docs/DESIGN.md, \"A mirror-symmetric centre\"). "
                  "--nosymmetric_centre: the mean map as measured.")
flags.DEFINE_bool("flip_symmetric", False, "Ship the purifier flip-symmetric (models.symmetry: f_W's residual averaged "
                  "with the mirrored eye's, one more f_W pass). With --update_card the shipped file becomes so, its "
                  "scores move to scores_before_flip_symmetry and are measured again.")
flags.DEFINE_string("command", None, "The command that trained the model (recorded in the card).")
flags.DEFINE_bool("update_card", False, "Measure --real_gaze_dir for the already shipped purifier (--out_dir's, "
                  "default the package's) and add the table and the datasets/licence to its card, leaving the "
                  "weights untouched (--model is then not needed); a card without scores (a flip-symmetric "
                  "copy's) gets the renderer and --real_dir scores measured too.")
flags.DEFINE_bool("rescore", False, "With --update_card: measure the renderer and --real_dir scores again too, not "
                  "only the real-eye table (e.g. after an estimator's settings changed; every table records them).")
flags.register_validator("model", lambda v: v is None or Path(v).is_file(),
                         message="--model must name an existing .keras file.")
flags.register_multi_flags_validator(
    ["model", "update_card", "real_gaze_dir"],
    lambda f: (f["update_card"] and bool(f["real_gaze_dir"])) or (not f["update_card"] and bool(f["model"])),
    message="give --model (to ship a trained purifier), or --update_card with --real_gaze_dir.")
flags.register_multi_flags_validator(
    ["centre_subjects", "real_gaze_eval_subjects"],
    lambda f: not set(f["centre_subjects"] or ()) & set(f["real_gaze_eval_subjects"] or ()),
    message="--centre_subjects must not include --real_gaze_eval_subjects: the centre reads the training subjects' eyes.")
flags.register_multi_flags_validator(
    ["update_card", "centre_dir", "flip_symmetric"],
    lambda f: not (f["update_card"] and f["centre_dir"] and f["flip_symmetric"]),
    message="--update_card takes one of --centre_dir and --flip_symmetric, so that each earlier score names what it measured.")
flags.register_multi_flags_validator(["rescore", "update_card"], lambda f: f["update_card"] or not f["rescore"],
                                     message="--rescore re-measures a shipped card: give it with --update_card.")
flags.register_validator("test_n", lambda v: v is not None and v > 1, message="--test_n must be > 1.")


def centre_subjects() -> list[str] | None:
    """--centre_subjects, or for a labelled --centre_dir the first half of its sorted subjects."""
    if FLAGS.centre_subjects:
        return list(FLAGS.centre_subjects)
    from purify_tf.data.readers import detect_kind

    if detect_kind(FLAGS.centre_dir) != "labelled":
        return None
    from purify_tf.data.labelled import read_labels
    from purify_tf.experiments.real_gaze import split_subjects

    train, _ = split_subjects([row["subject"] for row in read_labels(FLAGS.centre_dir)],
                              evaluate=FLAGS.real_gaze_eval_subjects)
    return list(train)


def centre(model) -> dict:
    """Centre ``model``'s front end on --centre_dir's eyes; the card's record of it."""
    from purify_tf.inference.centre import centre_purifier, centre_record, read_centre_eyes

    subjects = centre_subjects()
    images = read_centre_eyes(FLAGS.centre_dir, subjects)
    centre_set, measured = centre_purifier(model, images, symmetric=FLAGS.symmetric_centre)
    record = centre_record(FLAGS.centre_dir, subjects, len(images), centre_set, measured, FLAGS.symmetric_centre)
    print(f"Front end centred ({'mirror-symmetric' if FLAGS.symmetric_centre else 'as measured'}) on {len(images)} "
          f"eyes of {FLAGS.centre_dir}"
          + (f" (subjects {', '.join(subjects)}; images only)" if subjects else " (images only)"))
    return record


def update_card() -> int:
    """The shipped card gains the real-eye gaze table (and what it was trained on); same f_W. With
    --centre_dir the front end is centred first (the file is rewritten), the renderer scores are
    measured again, and the earlier ones are kept as ``scores_before_centre``. A card with no scores
    (``purify-tf symmetric`` moves the original's to ``scores_before_flip_symmetry``), or --rescore,
    gets the renderer and real-crop scores measured too."""
    from purify_tf.experiments.real_gaze import card_scores
    from purify_tf.inference.centre import CENTRE_KEY, PREVIOUS_CENTRE_KEY, RECENTRE_SCORES_KEY
    from purify_tf.inference.symmetric import make_symmetric
    from purify_tf.model_io import read_card, trained_on, unsigned, write_model_metadata
    from purify_tf.models.symmetry import is_flip_symmetric
    from purify_tf.pretrained import card_path, load_pretrained, pretrained_path, save_pretrained

    path = pretrained_path(FLAGS.out_dir)
    _, card = read_card(path)
    card = dict(card or {})
    model = load_pretrained(FLAGS.out_dir)
    symmetric = FLAGS.flip_symmetric and not is_flip_symmetric(model)
    if symmetric:
        model, card = make_symmetric(model, card, f"{path.name} sha256 {card.get('sha256')}")
    # A card without scores (a flip-symmetric copy keeps the original's aside) is measured afresh.
    rescore = bool(FLAGS.centre_dir) or "scores" not in card or FLAGS.rescore
    if FLAGS.centre_dir:
        # A card centred before keeps its first uncentred scores; the scores of the earlier centre move aside.
        if CENTRE_KEY in card:
            card[RECENTRE_SCORES_KEY] = dict(card.get("scores", {}))
            card[PREVIOUS_CENTRE_KEY] = card[CENTRE_KEY]
        else:
            card["scores_before_centre"] = {k: v for k, v in card.get("scores", {}).items() if k != "real_gaze"}
        card[CENTRE_KEY] = centre(model)
    if rescore:
        from purify_tf.experiments.scorecard import score_purifier

        card["scores"] = score_purifier(model, *card["image_size"], n_test=FLAGS.test_n, estimators=FLAGS.estimators,
                                        real_dir=FLAGS.real_dir)
    card.setdefault("scores", {})["real_gaze"] = card_scores(model, FLAGS.real_gaze_dir, FLAGS.real_gaze_eval_subjects)
    card["trained_on"] = trained_on(card.get("training") or {}, card.get(CENTRE_KEY))
    if FLAGS.centre_dir or symmetric:  # a new file: save_pretrained signs it and sets its storage dtype
        save_pretrained(model, unsigned(card), FLAGS.out_dir)
    else:
        write_model_metadata(path, card, card_path(FLAGS.out_dir))
    print(json.dumps(card["scores"], indent=1))
    return 0


def main(argv: list[str]) -> int:
    del argv
    if FLAGS.update_card:
        return update_card()
    from purify_tf.experiments.common import load_purifier
    from purify_tf.experiments.scorecard import score_purifier
    from purify_tf.model_io import trained_on
    from purify_tf.pretrained import pretrained_path, save_pretrained

    model, size = load_purifier(FLAGS.model)
    meta_path = Path(FLAGS.model).with_suffix(".json")
    training = json.loads(meta_path.read_text()) if meta_path.is_file() else {}
    if size is None:
        print(f"error: {meta_path} has no image_size; export a model trained by trainers.purify", file=sys.stderr)
        return 2
    from purify_tf.inference.centre import CENTRE_KEY

    card: dict = {}
    if FLAGS.centre_dir:  # the renderer scores as trained, then the front end centred on the real eyes
        card["scores_before_centre"] = score_purifier(model, *size, n_test=FLAGS.test_n, estimators=FLAGS.estimators)
        card[CENTRE_KEY] = centre(model)
    if FLAGS.flip_symmetric:
        from purify_tf.inference.symmetric import make_symmetric

        model, card = make_symmetric(model, card, FLAGS.model)
    scores = score_purifier(model, *size, n_test=FLAGS.test_n, estimators=FLAGS.estimators,
                            real_dir=FLAGS.real_dir)
    if FLAGS.real_gaze_dir:
        from purify_tf.experiments.real_gaze import card_scores

        scores["real_gaze"] = card_scores(model, FLAGS.real_gaze_dir, FLAGS.real_gaze_eval_subjects)
    card.update({"training": training, "scores": scores, "trained_on": trained_on(training, card.get(CENTRE_KEY)),
                 "command": FLAGS.command, "image_size": list(size)})
    path = save_pretrained(model, card, FLAGS.out_dir)
    print(f"Pretrained purifier written: {path} ({path.stat().st_size / 1e6:.2f} MB)")
    print(json.dumps(scores, indent=1))
    return 0 if path == pretrained_path(FLAGS.out_dir) else 1


def run() -> None:
    app.run(lambda argv: sys.exit(main(argv)))


if __name__ == "__main__":
    run()
