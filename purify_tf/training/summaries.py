"""TensorBoard summaries: loss terms, rates, images, histograms and the step graph."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

import numpy as np
import tensorflow as tf


class SummaryLogger:
    """Writes summaries under ``<model_dir>/<name>`` (only on the chief)."""

    def __init__(self, model_dir: str | os.PathLike, name: str = "train", enabled: bool = True) -> None:
        self.enabled = enabled
        self.writer = (
            tf.summary.create_file_writer(os.path.join(os.fspath(model_dir), name))
            if enabled
            else tf.summary.create_noop_writer()
        )

    def scalars(self, step: int, values: Mapping[str, float], prefix: str = "") -> None:
        with self.writer.as_default(step=step):
            for name, value in values.items():
                tf.summary.scalar(f"{prefix}{name}", float(value))

    def image(self, step: int, tag: str, grid: np.ndarray) -> None:
        with self.writer.as_default(step=step):
            tf.summary.image(tag, np.asarray(grid, np.uint8)[None], max_outputs=1)

    def histograms(self, step: int, variables: Sequence[tf.Variable], prefix: str = "weights/") -> None:
        with self.writer.as_default(step=step):
            for var in variables:
                tf.summary.histogram(prefix + var.path.replace(":", "_"), var)

    def trace_on(self) -> None:
        if self.enabled:
            tf.summary.trace_on(graph=True, profiler=False)

    def trace_export(self, step: int, name: str = "train_step") -> None:
        if self.enabled:
            with self.writer.as_default(step=step):
                tf.summary.trace_export(name=name, step=step)

    def flush(self) -> None:
        self.writer.flush()
