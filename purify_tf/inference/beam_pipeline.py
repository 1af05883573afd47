"""Dataset-scale purification on Apache Beam (DirectRunner, Dataflow, Flink, Spark).

``purify-tf purify`` runs on one machine; a dataset of millions of eyes needs many workers.
The pipeline reads image files (a glob) or TFRecords (``tf.train.Example`` with an encoded image
feature), purifies them in batches with one purifier per worker (loaded in ``DoFn.setup``, not
per element), and writes purified image files (mirroring the input tree) or TFRecords in which
every feature other than the image (gaze, mask, pupil centre, ...) is carried through unchanged.

A bad input never fails the job: it is counted (Beam metric ``purify_tf/bad_inputs``) and
written with its reason to ``<output>/failed.tsv``. Local image outputs are written atomically;
on object stores (``gs://``, ``s3://``) an object appears only when closed, which is atomic too.

Needs the ``beam`` extra: ``pip install 'purify-tf[beam]'``. Entry point: ``trainers.purify_beam``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import posixpath
import tempfile
from collections.abc import Iterable, Iterator
from typing import Any

import apache_beam as beam
import numpy as np
from apache_beam.io import fileio
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics

from purify_tf.errors import ConfigError

NAMESPACE = "purify_tf"
FAILED = "failed"
FAILED_FILE = "failed.tsv"
_WILDCARDS = "*?["

# (key, RGB uint8 image, serialized tf.train.Example or None): what flows between the stages.
Record = tuple[str, np.ndarray, bytes | None]


@dataclasses.dataclass(frozen=True)
class BeamJob:
    """What to purify and where: exactly one of ``input_glob`` / ``tfrecord_glob``."""

    output: str
    input_glob: str | None = None
    tfrecord_glob: str | None = None
    model: str | None = None
    batch_size: int = 16
    image_format: str | None = None
    image_feature: str = "image"
    overwrite: bool = False
    num_shards: int = 0

    def __post_init__(self) -> None:
        # Local paths are made absolute: Beam matches relative globs against nothing, and
        # workers need not share the launcher's working directory.
        for name in ("output", "input_glob", "tfrecord_glob", "model"):
            value = getattr(self, name)
            if value is not None and _is_local(value):
                object.__setattr__(self, name, os.path.abspath(value))
        if self.model is not None and _is_local(self.model) and not os.path.exists(self.model):
            raise ConfigError(f"--model: {self.model} does not exist")
        if (self.input_glob is None) == (self.tfrecord_glob is None):
            raise ConfigError("give exactly one of --input (image files) or --input_tfrecords")
        if self.batch_size < 1:
            raise ConfigError(f"--batch_size must be a positive integer, got {self.batch_size}")
        if self.image_format is not None:
            from purify_tf.inference.files import IMAGE_FORMATS

            if self.image_format.lower().lstrip(".") not in IMAGE_FORMATS:
                raise ConfigError(f"--format must be one of {IMAGE_FORMATS}, got {self.image_format!r}")

    @property
    def failed_path(self) -> str:
        return FileSystems.join(self.output, FAILED_FILE)


def glob_root(pattern: str) -> str:
    """The folder part of ``pattern`` before its first wildcard: outputs mirror the tree below it."""
    cut = min((i for i, ch in enumerate(pattern) if ch in _WILDCARDS), default=len(pattern))
    head = pattern[:cut]
    return head.rstrip("/") if head.endswith("/") else posixpath.dirname(head)


def _is_local(path: str) -> bool:
    return FileSystems.get_scheme(path) in (None, "file")


def write_bytes(path: str, data: bytes) -> None:
    """Write a whole file: atomically (temporary + rename) locally, by object close remotely."""
    if _is_local(path):
        from purify_tf.atomic import atomic_write_bytes

        atomic_write_bytes(path, data, overwrite=True)
        return
    with FileSystems.create(path) as f:
        f.write(data)


def _fail(counter: Any, key: str, reason: str) -> beam.pvalue.TaggedOutput:
    counter.inc()
    return beam.pvalue.TaggedOutput(FAILED, (key, reason))


class DecodeFiles(beam.DoFn):
    """ReadableFile -> (output path, image, None); unreadable files go to the ``failed`` output."""

    def __init__(self, job: BeamJob) -> None:
        self.job = job
        self.root = glob_root(job.input_glob or "")
        self.inputs = Metrics.counter(NAMESPACE, "inputs")
        self.bad = Metrics.counter(NAMESPACE, "bad_inputs")
        self.skipped = Metrics.counter(NAMESPACE, "skipped_existing")

    def output_path(self, src: str) -> str:
        rel = os.path.relpath(src, self.root or ".") if _is_local(src) else src[len(self.root):].lstrip("/")
        out = FileSystems.join(self.job.output, rel)
        if self.job.image_format:
            out = os.path.splitext(out)[0] + "." + self.job.image_format.lower().lstrip(".")
        return out

    def process(self, readable: Any) -> Iterator[Any]:
        from purify_tf.data.image_io import decode_image

        src = readable.metadata.path
        self.inputs.inc()
        dst = self.output_path(src)
        if not self.job.overwrite and FileSystems.exists(dst):
            self.skipped.inc()
            return
        try:
            yield dst, decode_image(readable.read(), src), None
        except Exception as exc:  # any decoder surprise is a bad input, not a failed job
            yield _fail(self.bad, src, str(exc).removeprefix(f"{src}: "))


class DecodeExamples(beam.DoFn):
    """(filename, serialized Example) -> (key, image, serialized); bad records to ``failed``."""

    def __init__(self, image_feature: str) -> None:
        self.image_feature = image_feature
        self.inputs = Metrics.counter(NAMESPACE, "inputs")
        self.bad = Metrics.counter(NAMESPACE, "bad_inputs")

    def process(self, element: tuple[str, bytes]) -> Iterator[Any]:
        from tensorflow.core.example import example_pb2

        from purify_tf.data.image_io import decode_image

        filename, record = element
        self.inputs.inc()
        key = f"{filename}#sha256={hashlib.sha256(record).hexdigest()[:12]}"
        try:
            example = example_pb2.Example.FromString(record)
            feature = example.features.feature.get(self.image_feature)
            if feature is None or not feature.bytes_list.value:
                raise ValueError(f"no bytes feature {self.image_feature!r} (an encoded image) in the example")
            yield key, decode_image(feature.bytes_list.value[0], key), record
        except Exception as exc:
            yield _fail(self.bad, key, str(exc).removeprefix(f"{key}: "))


def _local_model(model: str | None) -> str:
    """A local path for the purifier: the pretrained one, a local file, or a copy of a remote one."""
    if model is None:
        from purify_tf.pretrained import verified_path

        return str(verified_path())
    if _is_local(model):
        return model
    local = os.path.join(tempfile.mkdtemp(prefix="purify_tf_model-"), posixpath.basename(model))
    with FileSystems.open(model) as src, open(local, "wb") as dst:
        dst.write(src.read())
    return local


class PurifyBatches(beam.DoFn):
    """Batches of records -> purified records; loads the purifier once per worker in ``setup``."""

    def __init__(self, model: str | None, batch_size: int) -> None:
        self.model = model
        self.batch_size = batch_size
        self.purified = Metrics.counter(NAMESPACE, "purified")
        self.bad = Metrics.counter(NAMESPACE, "bad_inputs")
        self.purifier: Any = None

    def setup(self) -> None:
        from purify_tf.inference.purifier import Purifier

        self.purifier = Purifier(_local_model(self.model), batch_size=self.batch_size)

    def process(self, batch: list[Record]) -> Iterator[Any]:
        try:
            outputs = self.purifier.purify([image for _, image, _ in batch])
        except Exception as exc:
            if len(batch) == 1:
                from purify_tf.inference.files import short_error

                key, image, _ = batch[0]
                yield _fail(self.bad, key, f"cannot purify an image of shape {image.shape}: {short_error(exc)}")
                return
            for item in batch:  # retry one by one so that only the bad image fails
                yield from self.process([item])
            return
        for (key, _, extra), out in zip(batch, outputs, strict=True):
            self.purified.inc()
            yield key, out, extra


class WriteImages(beam.DoFn):
    """(output path, purified image, _) -> the written path; write errors go to ``failed``."""

    def __init__(self) -> None:
        self.written = Metrics.counter(NAMESPACE, "written")
        self.bad = Metrics.counter(NAMESPACE, "bad_inputs")

    def process(self, record: Record) -> Iterator[Any]:
        from purify_tf.inference.io_pipeline import encode_image

        dst, image, _ = record
        try:
            write_bytes(dst, encode_image(image, os.path.splitext(dst)[1] or ".png"))
        except Exception as exc:  # full disk, unsupported suffix
            yield _fail(self.bad, dst, f"cannot write: {exc}")
            return
        self.written.inc()
        yield dst


def replace_image(record: Record, image_feature: str) -> bytes:
    """The input Example with its image feature replaced by the purified PNG; other features kept."""
    from tensorflow.core.example import example_pb2

    from purify_tf.inference.io_pipeline import encode_image

    _, image, serialized = record
    example = example_pb2.Example.FromString(serialized)
    values = example.features.feature[image_feature].bytes_list.value
    del values[:]
    values.append(encode_image(image, ".png"))
    return example.SerializeToString()


def build_pipeline(pipeline: beam.Pipeline, job: BeamJob) -> dict[str, beam.PCollection]:
    """Add the purification stages to ``pipeline``; returns the written and failed collections."""
    if job.input_glob is not None:
        decoded = (
            pipeline
            | "Match" >> fileio.MatchFiles(job.input_glob)
            | "Read" >> fileio.ReadMatches()
            | "Decode" >> beam.ParDo(DecodeFiles(job)).with_outputs(FAILED, main="ok")
        )
    else:
        decoded = (
            pipeline
            | "Patterns" >> beam.Create([job.tfrecord_glob])
            | "ReadRecords" >> beam.io.ReadAllFromTFRecord(with_filename=True)
            | "Decode" >> beam.ParDo(DecodeExamples(job.image_feature)).with_outputs(FAILED, main="ok")
        )
    purified = (
        decoded.ok
        | "Batch" >> beam.BatchElements(min_batch_size=1, max_batch_size=job.batch_size)
        | "Purify" >> beam.ParDo(PurifyBatches(job.model, job.batch_size)).with_outputs(FAILED, main="ok")
    )
    failed: list[beam.PCollection] = [decoded[FAILED], purified[FAILED]]
    if job.input_glob is not None:
        written = purified.ok | "Write" >> beam.ParDo(WriteImages()).with_outputs(FAILED, main="ok")
        failed.append(written[FAILED])
        written = written.ok
    else:
        written = (
            purified.ok
            | "Encode" >> beam.Map(replace_image, job.image_feature)
            | "WriteRecords" >> beam.io.WriteToTFRecord(
                FileSystems.join(job.output, "purified"), file_name_suffix=".tfrecord",
                num_shards=job.num_shards,
            )
        )
    failed_all = failed | "Failures" >> beam.Flatten()
    (
        failed_all
        | "FormatFailures" >> beam.MapTuple(lambda key, reason: f"{key}\t{' '.join(reason.split())}")
        | "WriteFailures" >> beam.io.WriteToText(
            job.failed_path[: -len(".tsv")], file_name_suffix=".tsv", shard_name_template="",
            header="input\treason",
        )
    )
    return {"written": written, FAILED: failed_all}


def counters(result: Any) -> dict[str, int]:
    """The job's ``purify_tf`` counters (committed values where the runner has them)."""
    from apache_beam.metrics.metric import MetricsFilter

    out: dict[str, int] = {}
    for counter in result.metrics().query(MetricsFilter().with_namespace(NAMESPACE))["counters"]:
        value = counter.committed if counter.committed is not None else counter.attempted
        out[counter.key.metric.name] = out.get(counter.key.metric.name, 0) + int(value or 0)
    return out


def run(job: BeamJob, pipeline_args: Iterable[str] = ()) -> dict[str, int]:
    """Run the job with Beam pipeline options ``pipeline_args`` (default DirectRunner); wait for
    it and return its counters (inputs, purified, written, bad_inputs, skipped_existing)."""
    from apache_beam.options.pipeline_options import PipelineOptions, SetupOptions

    options = PipelineOptions(list(pipeline_args))
    options.view_as(SetupOptions).save_main_session = False
    pipeline = beam.Pipeline(options=options)
    build_pipeline(pipeline, job)
    result = pipeline.run()
    result.wait_until_finish()
    return counters(result)
