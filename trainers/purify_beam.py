r"""Purify a dataset on Apache Beam: ``python -m trainers.purify_beam --input='eyes/**/*.png' --output=out``.

Reads image files (``--input``, a glob) or TFRecords of ``tf.train.Example`` (``--input_tfrecords``),
purifies them in batches with one purifier per worker, and writes purified images mirroring the
input tree (or TFRecords ``<output>/purified-*.tfrecord`` with every other feature kept). Bad
inputs are counted and listed in ``<output>/failed.tsv``; they never fail the job.

Flags not listed here are Beam pipeline options and go to the runner unchanged, e.g.
``--runner=DataflowRunner --project=P --region=R --temp_location=gs://B/tmp`` (see docs/BEAM.md).
Needs the ``beam`` extra: ``pip install 'purify-tf[beam]'``.
"""

from __future__ import annotations

import sys

from absl import app, flags

FLAGS = flags.FLAGS

flags.DEFINE_string("input", None, "Glob of input image files, e.g. 'eyes/**/*.png' or 'gs://bucket/eyes/*.jpg'.")
flags.DEFINE_string("input_tfrecords", None, "Glob of TFRecord files of tf.train.Example (instead of --input).")
flags.DEFINE_string("output", None, "Output folder (local or gs://...): purified images or TFRecords, and failed.tsv.")
flags.DEFINE_string("model", None, "Purifier .keras file or SavedModel directory; default: the pretrained one.")
flags.DEFINE_integer("batch_size", 16, "Largest batch per forward pass (beam.BatchElements adapts below it).")
flags.DEFINE_enum("format", None, ["png", "jpg", "jpeg", "bmp", "tif", "tiff"],
                  "Output image format (default: the input's). TFRecord images are always PNG.")
flags.DEFINE_string("image_feature", "image", "Example feature holding the encoded image (TFRecord input).")
flags.DEFINE_bool("overwrite", False, "Replace existing output images (default: skip them).")
flags.DEFINE_integer("num_shards", 0, "TFRecord output shards (0: let the runner decide).")
flags.mark_flag_as_required("output")
flags.register_validator("batch_size", lambda v: v is not None and v > 0,
                         message="--batch_size must be a positive integer.")
flags.register_validator("num_shards", lambda v: v is not None and v >= 0,
                         message="--num_shards must be >= 0.")
flags.register_multi_flags_validator(
    ["input", "input_tfrecords"], lambda d: (d["input"] is None) != (d["input_tfrecords"] is None),
    message="give exactly one of --input (image files) or --input_tfrecords.",
)


def parse_flags(argv: list[str]) -> list[str]:
    """Parse this module's flags; everything else is returned for Beam's PipelineOptions."""
    return FLAGS(argv, known_only=True)


def main(argv: list[str]) -> int:
    from purify_tf.errors import ConfigError
    from purify_tf.inference.beam_pipeline import BeamJob, run

    try:
        if FLAGS.model is None:  # fail now, not on every worker after the job has started
            from purify_tf.pretrained import verified_path

            verified_path()
        job = BeamJob(
            output=FLAGS.output, input_glob=FLAGS.input, tfrecord_glob=FLAGS.input_tfrecords,
            model=FLAGS.model, batch_size=FLAGS.batch_size, image_format=FLAGS.format,
            image_feature=FLAGS.image_feature, overwrite=FLAGS.overwrite, num_shards=FLAGS.num_shards,
        )
    except ConfigError as exc:
        print(f"purify_beam: error: {exc}", file=sys.stderr)
        return 2
    counts = run(job, argv[1:])
    print(
        f"purify_beam: inputs {counts.get('inputs', 0)}, purified {counts.get('purified', 0)}, "
        f"written {counts.get('written', 0)}, skipped (output exists) {counts.get('skipped_existing', 0)}, "
        f"bad inputs {counts.get('bad_inputs', 0)} (listed in {job.failed_path})"
    )
    return 0


if __name__ == "__main__":
    app.run(lambda argv: sys.exit(main(argv)), flags_parser=parse_flags)
