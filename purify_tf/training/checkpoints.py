"""Checkpoints that resume exactly and survive a kill at any point.

``tf.train.CheckpointManager`` writes the data files first and the ``checkpoint`` index last (by
rename), so a process killed mid-write leaves the index on the previous complete checkpoint. A
checkpoint that is damaged after the fact (truncated or corrupted files) is detected on restore and
the previous one is used instead, with a warning. Training data is a function of the step (see
``purify_tf.training.inputs``), so restoring the step restores the data position too.
"""

from __future__ import annotations

import os
import shutil
import signal
from collections.abc import Callable
from pathlib import Path

import tensorflow as tf
from absl import logging


class CheckpointKeeper:
    """A CheckpointManager plus fallback restore and a worker-aware write directory."""

    def __init__(
        self,
        directory: str | os.PathLike,
        max_to_keep: int = 3,
        chief: bool = True,
        worker_id: int = 0,
        optional: dict[str, tf.Module] | None = None,
        subdir: str = "checkpoints",
        **trackables: tf.Module,
    ) -> None:
        """``optional`` trackables are saved with every checkpoint but may be absent from older
        ones (e.g. dropout random-stream state added later): such checkpoints still restore.
        Checkpoints go to ``directory/subdir``, so that one model directory can hold the
        checkpoints of several training stages."""
        self.directory = Path(directory) / subdir
        self.chief = chief
        # Multi-worker saving needs every worker to write; non-chief copies go to a scratch dir.
        write_dir = self.directory if chief else self.directory.parent / f".worker{worker_id}_ckpt"
        self._optional = dict(optional or {})
        self._trackables = trackables
        self.checkpoint = tf.train.Checkpoint(**trackables, **self._optional)
        # Restores checkpoints written without the optional objects.
        self._required_only = tf.train.Checkpoint(**trackables) if self._optional else None
        self.manager = tf.train.CheckpointManager(self.checkpoint, str(write_dir), max_to_keep=max_to_keep)
        self._write_dir = write_dir

    def restore_latest(self) -> str | None:
        """Restore the newest readable checkpoint; return its path, or None to start fresh."""
        candidates = list(reversed(self.manager.checkpoints))
        for i, path in enumerate(candidates):
            try:
                self._checkpoint_for(path).restore(path).assert_existing_objects_matched()
            # A truncated .data file surfaces as IndexError ("Read less bytes than requested").
            except (tf.errors.OpError, ValueError, AssertionError, IndexError, OSError) as err:
                logging.warning(
                    "Checkpoint %s could not be restored (%s: %s); %s",
                    path,
                    type(err).__name__,
                    str(err).splitlines()[0] if str(err) else "",
                    "trying the previous one" if i + 1 < len(candidates) else "starting fresh",
                )
                continue
            logging.info("Restored checkpoint %s", path)
            return path
        return None

    def _checkpoint_for(self, path: str) -> tf.train.Checkpoint:
        """The full checkpoint object, or one without the optional objects the file lacks (an
        optional object without variables, e.g. no dropout state, is never missing)."""
        if self._required_only is None:
            return self.checkpoint
        roots = _root_objects(path)
        missing = [key for key, obj in self._optional.items() if key not in roots and list(obj.variables)]
        if not missing:
            return self.checkpoint
        logging.warning("Checkpoint %s has no %s; restoring without it", path, sorted(missing))
        present = {key: obj for key, obj in self._optional.items() if key not in missing}
        return tf.train.Checkpoint(**self._trackables, **present)

    def save(self, step: int) -> str:
        """Write checkpoint ``step`` (every worker must call this in multi-worker training)."""
        path = self.manager.save(checkpoint_number=step)
        if not self.chief:
            shutil.rmtree(self._write_dir, ignore_errors=True)
        return path

    @property
    def latest(self) -> str | None:
        return self.manager.latest_checkpoint


def _root_objects(path: str) -> set[str]:
    """Names of the objects a checkpoint's root holds. From its object graph, not from variable
    names: a variable is named by one path to it only (a critic's weights may be saved as
    ``critic_optimizer/_trainable_variables/...``)."""
    from tensorflow.core.protobuf import trackable_object_graph_pb2

    graph = trackable_object_graph_pb2.TrackableObjectGraph()
    graph.ParseFromString(tf.train.load_checkpoint(path).get_tensor("_CHECKPOINTABLE_OBJECT_GRAPH"))
    return {child.local_name for child in graph.nodes[0].children}


class TrainingStopped(Exception):
    """Training saved a checkpoint and stopped on a signal before its last step; rerunning the
    same command resumes it."""

    def __init__(self, step: int, what: str = "training") -> None:
        super().__init__(f"Stopped {what} at step {step}; rerun the same command to resume.")
        self.step = step


class StopSignal:
    """Turns SIGTERM (and SIGINT) into a flag the training loop polls, so it can save and exit."""

    def __init__(self, signals: tuple[int, ...] = (signal.SIGTERM, signal.SIGINT)) -> None:
        self.requested: int | None = None
        self._previous: dict[int, Callable | int | None] = {}
        self._signals = signals

    def __enter__(self) -> StopSignal:
        for sig in self._signals:
            try:
                self._previous[sig] = signal.signal(sig, self._handle)
            except ValueError:  # not the main thread: leave signals alone
                pass
        return self

    def _handle(self, signum: int, frame: object) -> None:
        if self.requested is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt  # a second Ctrl-C stops at once
        self.requested = signum
        logging.warning("Received %s: saving a checkpoint and stopping", signal.Signals(signum).name)

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
