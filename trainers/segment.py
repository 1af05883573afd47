r"""Train the coarse segmentation FCN: ``python -m trainers.segment --model_dir=runs/fcn``.

Trains on rendered eyes of both domains (exact masks) or on a UnityEyes folder, reports per-class
IoU on a held-out split (with and without the orphan-label fix) and saves ``<model_dir>/fcn.keras``.
It trains through ``segment_loop.load_or_train_fcn``, the path ``trainers.purify`` and the report
take: the same seeds, checkpoints in ``<model_dir>/fcn_checkpoints`` (a rerun resumes), and an
existing ``fcn.keras`` is evaluated, not retrained. The progress bar shows on a terminal, a log gets
a plain line every 10 s (``purify_tf.progress``).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from absl import app, flags

from purify_tf.hyperparameters import FCN_BATCH_SIZE
from trainers import common

FLAGS = flags.FLAGS

flags.DEFINE_string("model_dir", "runs/fcn", "Directory for fcn.keras and its IoU report.")
flags.DEFINE_integer("height", 64, "Training image height (divisible by 8).")
flags.DEFINE_integer("width", 96, "Training image width (divisible by 8).")
common.define_fcn_flags(steps=600)  # --fcn_steps: trainers.purify's name
# Only this trainer sets the FCN's batch (trainers.purify and the report train it at FCN_BATCH_SIZE).
flags.DEFINE_integer("fcn_batch_size", FCN_BATCH_SIZE, "Coarse-FCN batch size.")
flags.DEFINE_float("learning_rate", 2e-3, "Adam learning rate (cosine-decayed).")
flags.DEFINE_integer("base_filters", 16, "Filters of the first FCN block (doubles per block).")
flags.DEFINE_string("unityeyes_dir", None, "Train on this UnityEyes folder (jpg+json) instead of the renderer.")
flags.DEFINE_integer("held_out", 64, "Held-out images for the IoU report.")
flags.DEFINE_integer("seed", 0, "Random seed.")
for _name in ("fcn_batch_size", "height", "width", "base_filters", "held_out"):
    common.require_positive_int(_name)
common.require_positive("learning_rate")
common.require_multiple("height", 8)
common.require_multiple("width", 8)
common.require_not_a_file("model_dir")


def main(argv: list[str]) -> int:
    del argv
    import keras

    from purify_tf.atomic import atomic_write_bytes
    from purify_tf.training.checkpoints import TrainingStopped
    from purify_tf.training.inputs import ArraySource
    from purify_tf.training.segment_loop import evaluate_fcn, load_or_train_fcn, renderer_held_out

    keras.utils.set_random_seed(FLAGS.seed)
    h, w = FLAGS.height, FLAGS.width
    source = None  # the renderer's two domains, as load_or_train_fcn draws them
    if FLAGS.unityeyes_dir:
        from purify_tf.data.unityeyes import read_unityeyes

        data = read_unityeyes(FLAGS.unityeyes_dir)
        n_val = min(FLAGS.held_out, len(data["image"]) // 5)
        if n_val < 1 or len(data["image"]) - n_val < 1:
            raise app.UsageError(f"--unityeyes_dir={FLAGS.unityeyes_dir}: too few samples for a held-out split")
        source = ArraySource(data["image"][n_val:], h, w, masks=data["mask"][n_val:], seed=FLAGS.seed)
        val = ArraySource(data["image"][:n_val], h, w, masks=data["mask"][:n_val]).batch(0, n_val)
        val_images, val_masks = val["image"], val["mask"]
    else:
        val_images, val_masks = renderer_held_out(h, w, FLAGS.held_out)

    out = Path(FLAGS.model_dir)
    try:
        model, iou = load_or_train_fcn(
            out / "fcn.keras", h, w, FLAGS.fcn_steps, FLAGS.fcn_batch_size, FLAGS.seed, progress=common.PROGRESS,
            learning_rate=FLAGS.learning_rate, base_filters=FLAGS.base_filters, source=source,
            held_out=(val_images, val_masks),
        )
    except TrainingStopped as stop:
        print(stop)  # SIGTERM / Ctrl-C: the checkpoint is saved; it says how to resume
        return 0
    report = {
        "iou_with_orphan_fix": iou,
        "iou_without_fix": evaluate_fcn(model, val_images, val_masks, fix_orphans=False),
        "held_out": int(len(val_images)),
        "steps": FLAGS.fcn_steps,
    }
    atomic_write_bytes(out / "fcn_iou.json", json.dumps(report, indent=2).encode())
    for name, value in report.items():
        if isinstance(value, dict):
            print(f"{name}: " + ", ".join(f"{k}={v:.3f}" for k, v in value.items()))
    print(f"Saved {out / 'fcn.keras'} (IoU report: {out / 'fcn_iou.json'})")
    return 0


if __name__ == "__main__":
    app.run(lambda argv: sys.exit(main(argv)))
