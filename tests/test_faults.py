"""Interrupted and failing jobs lose nothing: kills, SIGTERM, corrupt checkpoints, full disks.

The trainer runs in subprocesses with a tiny configuration (``TINY``), as a user would run it.
A straight run gives the reference weights; an interrupted run that is resumed (by rerunning the
same command) must reach the same final step with the same weights. Kills are delivered from
outside (SIGKILL/SIGTERM) or, for "killed while writing a checkpoint", from inside the checkpoint
writer (``FAULT_WRAPPER``), because an outside kill cannot hit that window reliably.
"""

from __future__ import annotations

import errno
import io
import json
import os
import random
import re
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest

from purify_tf.hyperparameters import SHIPPED

REPO = Path(__file__).resolve().parents[1]
TRAIN_STEPS = 8
TINY = [
    "--height=32", "--width=48", "--batch_size=2", f"--train_steps={TRAIN_STEPS}", "--checkpoint_every=2",
    "--masks=oracle", "--vgg_weights=random", "--loss_network=vgg16",
    "--log_every=1000",  # images and histograms every 5x / 10x: never in 8 steps
    # the paper's objective and plain f_W (the defaults are the shipped configuration's)
    "--style=render", "--noillumination", "--noresidual", "--paired=0", "--learning_rate=1e-4",
    "--lr_schedule=constant", "--alpha=1e2", "--beta=1e4", "--theta=1e-6",
    "--nomixed_precision",  # float32 pinned: the weights are compared with a straight run
]
RUN_TIMEOUT = 300  # seconds for one trainer process on a loaded 2-core machine

# Runs the trainer with a fault injected into the checkpoint writer, selected by $FAULT_MODE at
# checkpoint $FAULT_STEP:
#   before_index:   the data and .index files of the checkpoint are complete, but the process dies
#                   before the `checkpoint` index file (written last) names it;
#   corrupt_latest: the checkpoint is complete and named by the index, then its data file is cut
#                   to a third (storage that lost the tail of a write) and the process dies.
FAULT_WRAPPER = r"""
import os, runpy, signal, sys
from tensorflow.python.checkpoint import checkpoint as ckpt_lib
from tensorflow.python.checkpoint import checkpoint_management as mgmt

mode, step = os.environ["FAULT_MODE"], int(os.environ["FAULT_STEP"])
suffix = f"ckpt-{step}"

def die():
    sys.stdout.flush(); sys.stderr.flush()
    os.kill(os.getpid(), signal.SIGKILL)

if mode == "before_index":
    original_state = mgmt.update_checkpoint_state_internal
    def update_state(save_dir, model_checkpoint_path, *args, **kwargs):
        if str(model_checkpoint_path).endswith(suffix):
            die()
        return original_state(save_dir, model_checkpoint_path, *args, **kwargs)
    mgmt.update_checkpoint_state_internal = update_state
elif mode == "corrupt_latest":
    original_write = ckpt_lib.Checkpoint._write
    def write(self, file_prefix, *args, **kwargs):
        path = original_write(self, file_prefix, *args, **kwargs)
        if str(path).endswith(suffix):
            data = str(path) + ".data-00000-of-00001"
            with open(data, "r+b") as f:
                f.truncate(os.path.getsize(data) // 3)
            die()
        return path
    ckpt_lib.Checkpoint._write = write
else:
    raise SystemExit(f"unknown FAULT_MODE {mode!r}")
sys.argv = ["trainers.purify", *sys.argv[1:]]
runpy.run_module("trainers.purify", run_name="__main__")
"""


# ----------------------------------------------------------------------------- helpers
def trainer_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PURIFY_OFFLINE="1", **extra)
    env.pop("PURIFY_VGG_WEIGHTS", None)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def start_trainer(model_dir: Path, *extra: str, fault: tuple[str, int] | None = None) -> subprocess.Popen:
    """Start ``python -m trainers.purify`` (or the fault wrapper) with the tiny config; output in a log."""
    args = [f"--model_dir={model_dir}", *TINY, *extra]
    if fault is None:
        cmd, env = [sys.executable, "-m", "trainers.purify", *args], trainer_env()
    else:
        cmd = [sys.executable, "-c", FAULT_WRAPPER, *args]
        env = trainer_env(FAULT_MODE=fault[0], FAULT_STEP=str(fault[1]))
    model_dir.parent.mkdir(parents=True, exist_ok=True)
    log = open(model_dir.parent / f"{model_dir.name}.log", "a")  # noqa: SIM115 (closed by finish)
    log.write(f"\n=== {' '.join(cmd[:3])} {' '.join(args[1:])} fault={fault}\n")
    log.flush()
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, text=True)
    proc.log = log  # type: ignore[attr-defined]
    return proc


def finish(proc: subprocess.Popen, timeout: float = RUN_TIMEOUT) -> tuple[int, str]:
    """Wait for a trainer; return (exit status, everything it printed in this and earlier runs)."""
    try:
        rc = proc.wait(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.log.close()  # type: ignore[attr-defined]
    return rc, Path(proc.log.name).read_text()  # type: ignore[attr-defined]


def run_trainer(model_dir: Path, *extra: str, fault: tuple[str, int] | None = None) -> tuple[int, str]:
    return finish(start_trainer(model_dir, *extra, fault=fault))


def latest_checkpoint(model_dir: Path, folder: str = "checkpoints") -> int | None:
    """The step the `checkpoint` index file names (what a resumed run will try first)."""
    index = model_dir / folder / "checkpoint"
    if not index.exists():
        return None
    match = re.search(r'^model_checkpoint_path: "ckpt-(\d+)"', index.read_text(), re.M)
    return int(match.group(1)) if match else None


def wait_for(condition, timeout: float, proc: subprocess.Popen | None = None, poll: float = 0.05) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if condition():
            return True
        if proc is not None and proc.poll() is not None:
            return condition()
        time.sleep(poll)
    return False


def final_weights(model_dir: Path, name: str = "purifier.keras") -> dict[str, np.ndarray]:
    """Every weight array in ``name`` (read with h5py: no TensorFlow needed)."""
    import h5py

    with zipfile.ZipFile(model_dir / name) as archive:
        data = archive.read("model.weights.h5")
    out: dict[str, np.ndarray] = {}
    with h5py.File(io.BytesIO(data), "r") as f:
        f.visititems(lambda name, obj: out.__setitem__(name, obj[()]) if isinstance(obj, h5py.Dataset) else None)
    return out


def assert_same_weights(got: dict[str, np.ndarray], want: dict[str, np.ndarray]) -> None:
    assert sorted(got) == sorted(want)
    for name in want:
        np.testing.assert_allclose(got[name], want[name], rtol=1e-5, atol=1e-6, err_msg=name)


def assert_finished(model_dir: Path) -> None:
    meta = json.loads((model_dir / "purifier.json").read_text())
    assert meta["step"] == TRAIN_STEPS
    assert latest_checkpoint(model_dir) == TRAIN_STEPS


# ----------------------------------------------------------------------------- kill / resume
@pytest.mark.timeout(900)
@pytest.mark.slow
def test_kill_in_checkpoint_write_then_sigterm_then_resume_matches_straight_run(tmp_path):
    """SIGKILL while checkpoint k is written, or after it was damaged -> resume from k-2 (with a
    warning for the damaged one); SIGTERM -> checkpoint + exit 0; the rerun finishes with the
    straight run's weights."""
    rng = random.Random(os.environ.get("FAULT_SEED", "8"))
    kill_step = rng.choice([4, 6])
    mode = rng.choice(["before_index", "corrupt_latest"])
    model_dir = tmp_path / "run"

    # The straight run shares the (slow) start-up time with the first, killed run.
    straight = start_trainer(tmp_path / "straight")
    rc, log = run_trainer(model_dir, fault=(mode, kill_step))
    assert rc == -signal.SIGKILL, log[-3000:]
    straight_rc, straight_log = finish(straight)
    assert straight_rc == 0, straight_log[-3000:]
    assert "Content eyes: the built-in renderer's real domain" in straight_log  # says which data it used
    assert_finished(tmp_path / "straight")
    reference = final_weights(tmp_path / "straight")
    named = latest_checkpoint(model_dir)
    assert named == (kill_step - 2 if mode == "before_index" else kill_step)
    assert not (model_dir / "purifier.keras").exists()

    proc = start_trainer(model_dir)
    log_path = Path(proc.log.name)  # type: ignore[attr-defined]
    started = f"Training transformer_{SHIPPED.config} from step"  # the trainers' default f_W layout
    runs_before = log.count(started)
    # SIGTERM once training has started (the handler is installed right after that log line).
    assert wait_for(lambda: log_path.read_text().count(started) > runs_before,
                    RUN_TIMEOUT, proc), "the resumed run did not start training"
    time.sleep(1.0)
    proc.send_signal(signal.SIGTERM)
    rc, log = finish(proc)
    assert rc == 0, log[-3000:]
    assert f"Restored checkpoint {model_dir / 'checkpoints'}/ckpt-{kill_step - 2}" in log
    if mode == "corrupt_latest":
        assert f"ckpt-{kill_step} could not be restored" in log and "trying the previous one" in log
    stopped = latest_checkpoint(model_dir)
    assert stopped > kill_step - 2
    if stopped < TRAIN_STEPS:  # the signal landed during training (the usual case)
        assert f"Stopped at step {stopped}; rerun the same command to resume." in log
        assert "Received SIGTERM: saving a checkpoint and stopping" in log
        assert not (model_dir / "purifier.keras").exists()

    rc, log = run_trainer(model_dir)
    assert rc == 0, log[-3000:]
    assert f"Restored checkpoint {model_dir / 'checkpoints'}/ckpt-{stopped}" in log
    assert_finished(model_dir)
    assert_same_weights(final_weights(model_dir), reference)


FCN_STEPS = 300  # checkpoints every 50 steps (segment_loop.FCN_CHECKPOINT_EVERY)
FCN_ARGS = ("--masks=fcn", f"--fcn_steps={FCN_STEPS}")  # at hyperparameters.FCN_BATCH_SIZE


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_kill_and_sigterm_in_the_fcn_stage_then_resume_matches_straight_run(tmp_path):
    """trainers.purify trains the coarse FCN first: SIGKILL there -> the rerun resumes the FCN from
    its last checkpoint; SIGTERM -> checkpoint + exit 0; the final FCN and purifier are the straight
    run's."""
    model_dir = tmp_path / "run"
    straight = start_trainer(tmp_path / "straight", *FCN_ARGS)
    proc = start_trainer(model_dir, *FCN_ARGS)
    assert wait_for(lambda: (latest_checkpoint(model_dir, "fcn_checkpoints") or 0) > 0, RUN_TIMEOUT, proc), \
        "no FCN checkpoint was written"
    proc.kill()
    rc, log = finish(proc)
    assert rc == -signal.SIGKILL, log[-3000:]
    killed_at = latest_checkpoint(model_dir, "fcn_checkpoints")
    assert 0 < killed_at < FCN_STEPS and not (model_dir / "fcn.keras").exists()

    proc = start_trainer(model_dir, *FCN_ARGS)
    log_path = Path(proc.log.name)  # type: ignore[attr-defined]
    # SIGTERM once the FCN stage has resumed (the handler is installed right after that log line).
    assert wait_for(lambda: f"Training the FCN from step {killed_at} to {FCN_STEPS}" in log_path.read_text(),
                    RUN_TIMEOUT, proc), "the rerun did not resume the FCN from its checkpoint"
    time.sleep(0.5)
    proc.send_signal(signal.SIGTERM)
    rc, log = finish(proc)
    assert rc == 0, log[-3000:]
    assert f"Restored checkpoint {model_dir / 'fcn_checkpoints'}/ckpt-{killed_at}" in log
    stopped = latest_checkpoint(model_dir, "fcn_checkpoints")
    if not (model_dir / "fcn.keras").exists():  # the signal landed in the FCN stage (the usual case)
        assert stopped > killed_at
        assert f"Stopped training the FCN at step {stopped}; rerun the same command to resume." in log

    rc, log = run_trainer(model_dir, *FCN_ARGS)
    assert rc == 0, log[-3000:]
    straight_rc, straight_log = finish(straight)
    assert straight_rc == 0, straight_log[-3000:]
    assert latest_checkpoint(model_dir, "fcn_checkpoints") == FCN_STEPS
    assert_finished(model_dir)
    assert_same_weights(final_weights(model_dir, "fcn.keras"), final_weights(tmp_path / "straight", "fcn.keras"))
    assert_same_weights(final_weights(model_dir), final_weights(tmp_path / "straight"))


# ----------------------------------------------------------------------------- corrupt checkpoints
def _keeper(directory: Path):
    import tensorflow as tf

    from purify_tf.training.checkpoints import CheckpointKeeper

    value = tf.Variable(np.zeros(1000, np.float32))
    step = tf.Variable(0, dtype=tf.int64)
    return CheckpointKeeper(directory, max_to_keep=3, value=value, step=step), value, step


def test_corrupt_latest_checkpoint_falls_back_to_the_previous_one(tmp_path, caplog):
    keeper, value, step = _keeper(tmp_path)
    for k in (1, 2, 3):
        value.assign(np.full(1000, k, np.float32))
        step.assign(k)
        keeper.save(k)
    data = tmp_path / "checkpoints" / "ckpt-3.data-00000-of-00001"
    data.write_bytes(data.read_bytes()[: data.stat().st_size // 2])  # truncated .data

    fresh, value2, step2 = _keeper(tmp_path)
    with caplog.at_level("WARNING"):
        path = fresh.restore_latest()
    assert path.endswith("ckpt-2") and int(step2.numpy()) == 2
    np.testing.assert_array_equal(value2.numpy(), 2)
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert any("ckpt-3 could not be restored" in w and "trying the previous one" in w for w in warnings)
    # Nothing was deleted: the damaged file is still there for inspection.
    assert data.exists()

    # A damaged .index and a missing data file are skipped the same way.
    (tmp_path / "checkpoints" / "ckpt-2.index").write_bytes(b"garbage")
    fresh, value3, step3 = _keeper(tmp_path)
    assert fresh.restore_latest().endswith("ckpt-1") and int(step3.numpy()) == 1
    (tmp_path / "checkpoints" / "ckpt-1.data-00000-of-00001").unlink()
    fresh, _, step4 = _keeper(tmp_path)
    with caplog.at_level("WARNING"):
        assert fresh.restore_latest() is None and int(step4.numpy()) == 0
    assert "starting fresh" in caplog.records[-1].getMessage()


def test_checkpoint_without_dropout_state_still_restores(tmp_path, caplog):
    """Checkpoints written before dropout state was saved restore (with a warning), not skipped."""
    import tensorflow as tf

    from purify_tf.training.checkpoints import CheckpointKeeper

    model = tf.Variable(np.arange(4, dtype=np.float32))
    old = CheckpointKeeper(tmp_path, model=model)
    old.save(5)
    model.assign(np.zeros(4, np.float32))
    rng = tf.Module()
    rng.states = [tf.Variable(np.array([7, 3], np.int64))]
    new = CheckpointKeeper(tmp_path, model=model, optional={"rng": rng})
    with caplog.at_level("WARNING"):
        assert new.restore_latest().endswith("ckpt-5")
    np.testing.assert_array_equal(model.numpy(), np.arange(4))
    assert any("has no ['rng']" in r.getMessage() for r in caplog.records)
    new.save(6)
    rng.states[0].assign([0, 0])
    assert CheckpointKeeper(tmp_path, model=model, optional={"rng": rng}).restore_latest().endswith("ckpt-6")
    np.testing.assert_array_equal(rng.states[0].numpy(), [7, 3])


# ----------------------------------------------------------------------------- atomic outputs
class WriterDied(RuntimeError):
    """Stands for a writer crashing half-way through a file."""


def test_atomic_path_never_exposes_a_half_written_file(tmp_path):
    from purify_tf.atomic import atomic_path, atomic_write_bytes

    final = tmp_path / "model.keras"
    atomic_write_bytes(final, b"old complete model")
    with pytest.raises(WriterDied), atomic_path(final) as tmp:
        tmp.write_bytes(b"half of the new mod")
        raise WriterDied
    assert final.read_bytes() == b"old complete model"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.keras"]


def _enospc(*args, **kwargs):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_full_disk_gives_a_clear_error_and_keeps_the_old_file(tmp_path, monkeypatch):
    from purify_tf import atomic

    final = tmp_path / "out.png"
    atomic.atomic_write_bytes(final, b"earlier output")
    monkeypatch.setattr(atomic.os, "fsync", _enospc)
    with pytest.raises(OSError) as info:
        atomic.atomic_write_bytes(final, b"new output")
    assert info.value.errno == errno.ENOSPC
    assert str(final) in str(info.value) and "disk is full" in str(info.value)
    monkeypatch.undo()
    assert final.read_bytes() == b"earlier output"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.png"]


def _is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def test_unwritable_output_location_gives_a_clear_error(tmp_path):
    from purify_tf.atomic import atomic_write_bytes

    # A parent that is a file blocks writes for every user, root included.
    blocker = tmp_path / "results.txt"
    blocker.write_text("earlier output")
    with pytest.raises(OSError) as info:
        atomic_write_bytes(blocker / "out.png", b"x")
    assert str(blocker) in str(info.value)
    assert blocker.read_text() == "earlier output"


@pytest.mark.skipif(_is_root(), reason="root ignores directory permissions; the parent-is-a-file case covers it")
def test_read_only_output_directory(tmp_path):
    from purify_tf.atomic import atomic_write_bytes

    out = tmp_path / "ro"
    out.mkdir()
    atomic_write_bytes(out / "a.png", b"earlier")
    out.chmod(0o555)
    try:
        with pytest.raises(PermissionError, match="permission denied; choose a writable output location"):
            atomic_write_bytes(out / "a.png", b"new")
        assert (out / "a.png").read_bytes() == b"earlier"
    finally:
        out.chmod(0o755)


def test_cli_outputs_on_a_full_disk_and_in_a_blocked_folder(tmp_path, monkeypatch):
    """The batch goes on, each failure names the file, and earlier outputs stay intact."""
    import cv2

    files = pytest.importorskip("purify_tf.inference.files")
    from purify_tf import atomic

    class Invert:
        def purify(self, images):
            return [255 - np.asarray(im) for im in images]

    src, dst = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    for name in ("a.png", "b.png"):
        cv2.imwrite(str(src / name), np.full((8, 8, 3), 10, np.uint8))
    assert files.purify_path(Invert(), src, dst, verbose=False).done == 2
    before = {p.name: p.read_bytes() for p in dst.iterdir()}

    monkeypatch.setattr(atomic.os, "fsync", _enospc)
    summary = files.purify_path(Invert(), src, dst, overwrite=True, verbose=False)
    monkeypatch.undo()
    assert (summary.done, summary.failed) == (0, 2)
    assert all("disk is full" in reason for _, reason in summary.failures)
    assert {p.name: p.read_bytes() for p in dst.iterdir()} == before  # no temporaries either

    (src / "sub").mkdir()
    cv2.imwrite(str(src / "sub" / "c.png"), np.zeros((8, 8, 3), np.uint8))
    (dst / "sub").write_text("a file where a sub-folder should go")
    summary = files.purify_path(Invert(), src, dst, verbose=False)
    assert (summary.skipped, summary.failed) == (2, 1)
    assert "sub" in summary.failures[0][1]
    assert (dst / "sub").read_text() == "a file where a sub-folder should go"


def test_trainer_save_final_is_atomic(tmp_path, monkeypatch):
    """A crash or a full disk in save_final leaves the previous purifier.keras and its metadata."""
    import keras
    import tensorflow as tf

    from purify_tf import atomic
    from purify_tf.data.renderer import render_eyes
    from purify_tf.losses.layers import LOSS_LAYERS
    from purify_tf.models.vgg import build_loss_network
    from purify_tf.training.inputs import RendererSource
    from purify_tf.training.purify_loop import PurifyTrainConfig, PurifyTrainer

    style = render_eyes(1, 32, 48, "synthetic", seed=7)
    cfg = PurifyTrainConfig(model_dir=str(tmp_path), config="johnson", batch_size=1, train_steps=1,
                            progress=False, histogram_every=0)
    trainer = PurifyTrainer(cfg, tf.distribute.get_strategy(), build_loss_network("vgg16", "random", layers=LOSS_LAYERS),
                            RendererSource(32, 48), style["image"][0], style["mask"][0])
    paths = trainer.save_final()
    saved = {k: p.read_bytes() for k, p in paths.items()}

    def dies_half_way(self, filepath, *args, **kwargs):
        Path(filepath).write_bytes(saved["model"][: len(saved["model"]) // 2])
        raise WriterDied("killed while saving")

    trainer.step.assign(1)
    with monkeypatch.context() as m:
        m.setattr(keras.Model, "save", dies_half_way)
        with pytest.raises(WriterDied):
            trainer.save_final()
    assert {k: p.read_bytes() for k, p in paths.items()} == saved
    with monkeypatch.context() as m:
        m.setattr(atomic.os, "fsync", _enospc)
        with pytest.raises(OSError, match=r"purifier\.keras.*disk is full"):
            trainer.save_final()
    assert {k: p.read_bytes() for k, p in paths.items()} == saved
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []
