"""Training-loop behaviour: loss falls, exact resume (purifier and FCN), replica equivalence, summaries,
NaN guard, progress lines in logs."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from model_helpers import tiny_loss_network, tiny_weights

from purify_tf.training.checkpoints import TrainingStopped
from purify_tf.training.inputs import ArraySource, MixedSource, RendererSource, step_dataset
from purify_tf.training.purify_loop import (
    NonFiniteLossError,
    PurifyTrainConfig,
    PurifyTrainer,
    describe_outputs,
    describe_training_time,
    format_seconds,
)
from purify_tf.training.segment_loop import SegmentTrainConfig, train_fcn
from purify_tf.training.strategy import select_strategy

REPO = Path(__file__).resolve().parents[1]
H, W = 32, 48


def disc_eyes(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Tiny eye-like images: skin, white sclera band, coloured iris disc, dark pupil; with labels."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:H, 0:W]
    images = np.zeros((n, H, W, 3), np.uint8)
    masks = np.zeros((n, H, W), np.uint8)
    for i in range(n):
        cx, cy = rng.uniform(16, 32), rng.uniform(12, 20)
        r_iris, r_pupil = rng.uniform(6, 9), rng.uniform(2, 3.5)
        d = np.hypot(xx - cx, yy - cy)
        img = np.empty((H, W, 3))
        img[:] = rng.uniform(120, 200, 3)
        img[np.abs(yy - 16) < 9] = (230, 225, 220)
        img[d < r_iris] = rng.uniform(40, 160, 3)
        img[d < r_pupil] = (15, 10, 10)
        img += rng.normal(0, 8, img.shape)
        images[i] = np.clip(img, 0, 255)
        masks[i][d < r_iris] = 1
        masks[i][d < r_pupil] = 2
    return images, masks


@pytest.fixture(scope="module")
def loss_network():
    return tiny_loss_network()


def make_trainer(model_dir, loss_network, strategy=None, images=None, **overrides) -> PurifyTrainer:
    images_, masks = disc_eyes(8) if images is None else images
    style, style_mask = disc_eyes(1, seed=99)
    tf.keras.utils.set_random_seed(1)
    cfg = PurifyTrainConfig(
        model_dir=str(model_dir), config="tiny", batch_size=4, learning_rate=1e-3, dropout_rate=0.0,
        weights=tiny_weights(), checkpoint_every=3, log_every=1, image_every=2, histogram_every=2,
        progress=False, **overrides,
    )
    source = ArraySource(images_, H, W, masks=masks, seed=0)
    return PurifyTrainer(cfg, strategy or tf.distribute.get_strategy(), loss_network, source, style[0], style_mask[0])


def fixed_loss(trainer: PurifyTrainer) -> float:
    batch = trainer.source.batch(0, 4)
    _, _, terms, _ = trainer.gradients({"image": tf.constant(batch["image"], tf.float32),
                                        "mask": tf.constant(batch["mask"], tf.int32)})
    return float(terms["total"])


def test_a_few_steps_lower_the_loss(tmp_path, loss_network):
    trainer = make_trainer(tmp_path, loss_network)
    before = fixed_loss(trainer)
    trainer.train(train_steps=12)
    after = fixed_loss(trainer)
    assert np.isfinite(after) and after < 0.8 * before, (before, after)
    assert int(trainer.step.numpy()) == 12


def test_auto_strategy_on_one_device_is_the_default_one_and_trains_as_mirrored(tmp_path, loss_network):
    """On one device ``auto`` skips MirroredStrategy's overhead (1.03x, and a wait at a dataset's end,
    on 2 AVX2 cores); the weights are those a one-replica MirroredStrategy trains."""
    if len(tf.config.list_logical_devices("CPU")) != 1 or tf.config.list_logical_devices("GPU"):
        pytest.skip("several devices here: auto picks MirroredStrategy (the slow two-replica tests cover it)")
    auto = select_strategy("auto")
    assert auto is tf.distribute.get_strategy()
    mirrored = select_strategy("mirrored")
    assert isinstance(mirrored, tf.distribute.MirroredStrategy) and mirrored.num_replicas_in_sync == 1
    trained = []
    for name, strategy in (("auto", auto), ("mirrored", mirrored)):
        trainer = make_trainer(tmp_path / name, loss_network, strategy=strategy)
        trainer.train(train_steps=3)
        trained.append([w.numpy() for w in trainer.model.weights])
    for a, b in zip(*trained, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_step_dataset_is_a_function_of_the_step():
    images, masks = disc_eyes(10)
    src = ArraySource(images, H, W, masks=masks, seed=5)
    full = [b["image"].numpy() for b in step_dataset(src, 4, 0, 6)]
    tail = [b["image"].numpy() for b in step_dataset(src, 4, 3, 6)]
    for a, b in zip(full[3:], tail, strict=True):
        np.testing.assert_array_equal(a, b)
    # Epochs are reshuffled but cover every image.
    seen = np.concatenate([src._indices(0, 10)])
    assert sorted(seen.tolist()) == list(range(10))


def test_resume_continues_from_the_saved_step_with_identical_weights(tmp_path, loss_network):
    first = make_trainer(tmp_path / "resumed", loss_network)
    first.train(train_steps=3)  # checkpoint at step 3, then "interrupted"
    saved_model = [w.numpy().copy() for w in first.model.weights]
    saved_opt = [v.numpy().copy() for v in first.optimizer.variables]

    second = make_trainer(tmp_path / "resumed", loss_network)
    assert second.restore() == 3
    # Everything the update depends on is restored bit for bit: weights, Adam moments, step.
    for a, b in zip(saved_model, second.model.weights, strict=True):
        np.testing.assert_array_equal(a, b.numpy())
    for a, b in zip(saved_opt, second.optimizer.variables, strict=True):
        np.testing.assert_array_equal(a, b.numpy())
    second.train(train_steps=6)
    assert int(second.step.numpy()) == 6
    assert [h["step"] for h in second.history] == [4, 5, 6]
    # The closing line counts the steps this run took (not the step reached) over its wall time.
    assert second.last_run["steps"] == 3 and second.last_run["seconds"] > 0
    closing = describe_outputs({}, tmp_path, describe_training_time(second.last_run, fcn_seconds=61.0))
    rate = 3 / second.last_run["seconds"]
    assert f"purifier 3 steps in {format_seconds(second.last_run['seconds'])}, {rate:.2f} steps/s" in closing
    assert "FCN stage 1 min 01 s" in closing and closing.endswith(f"tensorboard --logdir {tmp_path}")

    # The continuation sees the same data and lands where an uninterrupted run lands. Multi-threaded
    # CPU reductions are not bitwise reproducible and Adam turns the noise on near-zero gradients
    # into lr-sized steps, so two *uninterrupted* runs differ by about 1% too: compare loosely.
    straight = make_trainer(tmp_path / "straight", loss_network)
    straight.train(train_steps=6)
    for a, b in zip(straight.history[3:], second.history, strict=True):
        assert a["step"] == b["step"]
        np.testing.assert_allclose(a["total"], b["total"], rtol=5e-2)
    for a, b in zip(straight.model.weights, second.model.weights, strict=True):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=5e-2, atol=2e-2, err_msg=a.path)


def test_tensorboard_events_have_scalar_and_image_tags(tmp_path, loss_network):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    trainer = make_trainer(tmp_path, loss_network)
    trainer.train(train_steps=2)
    acc = EventAccumulator(str(tmp_path / "train"), size_guidance={"tensors": 0, "images": 0})
    acc.Reload()
    tags = set(acc.Tags()["tensors"])
    for term in ("total", "global_content", "local_content", "global_style", "local_style", "tv"):
        assert f"loss/{term}" in tags
    for name in ("learning_rate", "steps_per_second", "images_per_second"):
        assert f"train/{name}" in tags
    assert "content|mask|output|style" in tags  # image summaries are tensors in TF2 event files
    assert any(t.startswith("weights/") for t in tags)  # histograms


def test_closing_line_states_each_stage_and_the_purifier_rate():
    assert format_seconds(42.06) == "42.1 s" and format_seconds(183.4) == "3 min 03 s"
    line = describe_training_time({"steps": 300, "seconds": 100.0}, fcn_seconds=83.0)
    assert line.startswith("Trained in 3 min 03 s") and "FCN stage 1 min 23 s" in line
    assert "purifier 300 steps in 1 min 40 s, 3.00 steps/s" in line
    assert "FCN" not in describe_training_time({"steps": 0, "seconds": 0.0})  # no FCN stage, nothing trained
    with_reader = describe_training_time({"steps": 300, "seconds": 100.0}, fcn_seconds=83.0, reader_seconds=12.0)
    assert with_reader.startswith("Trained in 3 min 15 s (FCN stage 1 min 23 s; gaze reader 12.0 s; purifier 300")


def test_final_artefacts(tmp_path, loss_network):
    import keras

    trainer = make_trainer(tmp_path, loss_network)
    trainer.train(train_steps=1)
    paths = trainer.save_final()
    assert set(paths) == {"model", "metadata", "grid"}
    meta = json.loads(paths["metadata"].read_text())
    assert meta["step"] == 1 and meta["loss_network"]["architecture"] == "vgg16"
    # The whole objective (every term with its layer, weight and function) and the data settings.
    terms = meta["losses"]["terms"]
    assert {t["role"] for t in terms} >= {"global_content", "local_content", "global_style", "local_style", "tv"}
    assert all({"layer", "weight", "function", "equation"} <= set(t) for t in terms)
    assert meta["content_source"]["kind"] == "ArraySource" and meta["content_source"]["size"] == [H, W]
    assert meta["losses"]["masks"].startswith("oracle")
    # ... and an export of this file carries them (exports copy the training keys).
    from purify_tf.inference.metadata import source_metadata

    exported = source_metadata(paths["model"])["training"]
    assert exported["losses"] == meta["losses"] and exported["content_source"] == meta["content_source"]
    loaded = keras.models.load_model(paths["model"])
    x = disc_eyes(1)[0].astype(np.float32)
    np.testing.assert_allclose(loaded(x), trainer.model(x, training=False), atol=1e-3)
    assert not list(tmp_path.glob(".*tmp*"))  # no temporary files left behind
    from purify_tf.data.image_io import read_image
    from purify_tf.palette import LEGEND_HEIGHT, MASK_PALETTE

    legend = read_image(paths["grid"])[-LEGEND_HEIGHT:].reshape(-1, 3)  # the iris/pupil legend strip
    for colour in MASK_PALETTE[1:]:
        assert (legend == colour).all(axis=1).any()


class PoisonedSource(ArraySource):
    """Returns NaN pixels from step ``bad_step`` on."""

    bad_step = 4

    def batch(self, step, batch_size):
        out = super().batch(step, batch_size)
        if step >= self.bad_step and step < 2**30:
            out = dict(out, image=np.full(out["image"].shape, np.nan, np.float32))
        return out


def test_non_finite_loss_stops_and_keeps_last_good_checkpoint(tmp_path, loss_network):
    trainer = make_trainer(tmp_path, loss_network)
    images, masks = disc_eyes(8)
    trainer.source = PoisonedSource(images, H, W, masks=masks)
    with pytest.raises(NonFiniteLossError, match="step 5"):
        trainer.train(train_steps=8)
    assert trainer.checkpoints.latest.endswith("ckpt-3")


def test_progress_in_a_log_is_plain_step_lines(tmp_path, loss_network, capfd):
    """stderr under pytest is not a terminal: plain lines, no bar redraws or ANSI codes."""
    trainer = make_trainer(tmp_path, loss_network)
    trainer.cfg.progress = True
    trainer.train(train_steps=2)
    err = capfd.readouterr().err
    assert not {"\x1b", "\r", "\b"} & set(err)
    lines = [line for line in err.splitlines() if line.startswith("purifier step ")]
    assert lines[0].startswith("purifier step 1/2  total=") and lines[-1].startswith("purifier step 2/2  total=")
    assert lines[-1].endswith(" steps/s")


# ----------------------------------------------------------------------------- the coarse FCN
class SigtermSource(MixedSource):
    """Sends this process SIGTERM while the batch of ``signal_step`` is prepared (as a kill would
    arrive in the middle of training)."""

    signal_step = 2

    def batch(self, step, batch_size):
        if step == self.signal_step:
            os.kill(os.getpid(), signal.SIGTERM)
        return super().batch(step, batch_size)


def fcn_source(cls=MixedSource) -> MixedSource:
    return cls([RendererSource(H, W, "real", 101), RendererSource(H, W, "synthetic", 202)])


def train_tiny_fcn(checkpoint_dir, source=None, seed: int = 1, until: int | None = None, **overrides):
    cfg = SegmentTrainConfig(**{"steps": 6, "batch_size": 4, "base_filters": 4, "progress": False,
                                "checkpoint_dir": checkpoint_dir and str(checkpoint_dir), "checkpoint_every": 2,
                                **overrides})
    tf.keras.utils.set_random_seed(seed)
    return train_fcn(source or fcn_source(), cfg, until=until)


def assert_same_fcn(got, want) -> None:
    for a, b in zip(got.weights, want.weights, strict=True):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-6, err_msg=a.path)


def test_fcn_resumes_from_its_checkpoint_with_the_weights_of_a_straight_run(tmp_path):
    straight = train_tiny_fcn(tmp_path / "straight")
    train_tiny_fcn(tmp_path / "resumed", until=3)  # "interrupted" after step 3
    assert tf.train.latest_checkpoint(tmp_path / "resumed").endswith("ckpt-3")
    # Another seed: every weight of the continuation must come from the checkpoint.
    resumed = train_tiny_fcn(tmp_path / "resumed", seed=2)
    assert tf.train.latest_checkpoint(tmp_path / "resumed").endswith("ckpt-6")
    assert_same_fcn(resumed, straight)
    # A finished stage trains no further.
    again = train_tiny_fcn(tmp_path / "resumed", seed=3)
    assert_same_fcn(again, straight)


def test_fcn_stops_on_sigterm_with_a_checkpoint_and_resumes(tmp_path):
    straight = train_tiny_fcn(tmp_path / "straight")
    with pytest.raises(TrainingStopped, match="rerun the same command to resume") as stopped:
        train_tiny_fcn(tmp_path / "stopped", source=fcn_source(SigtermSource), checkpoint_every=100)
    assert 0 < stopped.value.step < 6
    assert tf.train.latest_checkpoint(tmp_path / "stopped").endswith(f"ckpt-{stopped.value.step}")
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # the handler is gone again
    assert_same_fcn(train_tiny_fcn(tmp_path / "stopped", seed=2), straight)


def test_fcn_progress_in_a_log_is_plain_step_lines(capfd):
    train_tiny_fcn(None, steps=2, progress=True)
    err = capfd.readouterr().err
    assert not {"\x1b", "\r", "\b"} & set(err)
    lines = [line for line in err.splitlines() if line.startswith("fcn step ")]
    assert lines[0].startswith("fcn step 1/2  loss=") and lines[-1].startswith("fcn step 2/2  loss=")


def _run_script(script: str, env: dict | None = None, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)], cwd=REPO, env={**os.environ, **(env or {})},
        capture_output=True, text=True, timeout=timeout,
    )


_COMMON = """
import numpy as np, tensorflow as tf, sys
sys.path.insert(0, "tests")
from test_training import make_trainer
from model_helpers import tiny_loss_network
"""


@pytest.mark.slow
def test_mirrored_two_cpu_replicas_match_one_device(tmp_path):
    script = _COMMON + f"""
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
import keras
net = tiny_loss_network()

def first_update(trainer):
    # Plain SGD: its update is the gradient itself, so the comparison is well conditioned
    # (Adam's first step is lr * sign(g), which flips on parameters whose gradient is ~0).
    with trainer.strategy.scope():
        trainer.optimizer = keras.optimizers.SGD(1e-3)
        trainer.optimizer.build(trainer.model.trainable_variables)
    before = [w.numpy().copy() for w in trainer.model.trainable_weights]
    trainer.train(train_steps=1)
    return [w.numpy() - b for w, b in zip(trainer.model.trainable_weights, before)]

one = first_update(make_trainer(r"{tmp_path}/one", net))
two_trainer = make_trainer(r"{tmp_path}/two", net, strategy=tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"]))
assert two_trainer.strategy.num_replicas_in_sync == 2
two = first_update(two_trainer)
scale = max(float(np.max(np.abs(a))) for a in one)
worst = max(float(np.max(np.abs(a - b))) for a, b in zip(one, two))
print("MAXDIFF", worst, "SCALE", scale)
assert scale > 0 and worst < 1e-2 * scale, (worst, scale)  # float32 noise; a scaling error is 2x
"""
    result = _run_script(script)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "MAXDIFF" in result.stdout


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_two_worker_multiworker_mirrored_keeps_workers_equal(tmp_path):
    ports = [_free_port(), _free_port()]
    cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
    script = _COMMON + f"""
import os, json
from purify_tf.training.strategy import select_strategy
strategy = select_strategy("auto")
assert isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy), type(strategy)
assert strategy.num_replicas_in_sync == 2
task = json.loads(os.environ["TF_CONFIG"])["task"]["index"]
net = tiny_loss_network()
trainer = make_trainer(r"{tmp_path}/mw", net, strategy=strategy)
trainer.train(train_steps=3)
np.savez(r"{tmp_path}/w%d.npz" % task, *[w.numpy() for w in trainer.model.weights])
print("STEP", int(trainer.step.numpy()))
"""
    procs = []
    for index in range(2):
        env = {**os.environ, "TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})}
        procs.append(subprocess.Popen(
            [sys.executable, "-c", textwrap.dedent(script)], cwd=REPO, env=env,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        ))
    outs = []
    for p in procs:
        try:
            outs.append(p.communicate(timeout=400))
        except subprocess.TimeoutExpired:
            for q in procs:
                q.kill()
            pytest.fail("multi-worker training did not finish in time")
    for p, (out, err) in zip(procs, outs, strict=True):
        assert p.returncode == 0, err[-3000:]
        assert "STEP 3" in out
    w0, w1 = np.load(tmp_path / "w0.npz"), np.load(tmp_path / "w1.npz")
    assert len(w0.files) == len(w1.files) > 0
    for key in w0.files:
        np.testing.assert_allclose(w0[key], w1[key], atol=1e-6)


@pytest.mark.slow
def test_mixed_precision_and_xla_steps_run(tmp_path):
    """--mixed_precision (bfloat16 on CPU) and --jit_compile train with finite float32 losses."""
    script = _COMMON + f"""
import keras
from purify_tf.training.strategy import configure_precision
assert configure_precision(True) == "mixed_bfloat16"
net = tiny_loss_network()
trainer = make_trainer(r"{tmp_path}/mp", net, jit_compile=True)
assert trainer.model.get_layer("down1_conv").compute_dtype == "bfloat16"
trainer.train(train_steps=2)
last = trainer.history[-1]
assert all(np.isfinite(v) for v in last.values()), last
assert trainer.model.output.dtype == "float32"
print("OK", last["total"])
"""
    result = _run_script(script)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "OK" in result.stdout


def test_style_set_front_end_luminance_and_per_batch_style_train(tmp_path, loss_network):
    """The product's configuration: a style set, per-batch style eyes, the illumination front end,
    the residual output and the luminance term; a few steps lower the loss on fixed data."""
    from purify_tf.data.renderer import render_eyes

    images, masks = disc_eyes(8)
    styles = render_eyes(8, H, W, domain="synthetic", seed=11)
    prior = render_eyes(64, H, W, domain="synthetic", seed=12)["image"]
    tf.keras.utils.set_random_seed(1)
    cfg = PurifyTrainConfig(
        model_dir=str(tmp_path), config="tiny", batch_size=4, learning_rate=1e-3, dropout_rate=0.0, progress=False,
        weights=tiny_weights(alpha=1.0, beta=1.0, theta=0.1, gamma=1.0), style_mode="per_batch",
        illumination=True, residual=True, lr_schedule="cosine", checkpoint_every=100, log_every=1,
        image_every=100, histogram_every=0,
    )
    stream = ArraySource(styles["image"], H, W, masks=styles["mask"], seed=2)
    trainer = PurifyTrainer(cfg, tf.distribute.get_strategy(), loss_network, ArraySource(images, H, W, masks=masks),
                            styles["image"], styles["mask"], style_stream=stream, prior_images=prior)
    assert trainer.luminance_prior is not None and trainer.objective.weights.tv_scale != 1.0
    batch = next(iter(trainer.distributed_dataset(0, 1)))
    assert set(batch) == {"image", "mask", "style", "style_mask"}

    def loss() -> float:
        b = trainer.source.batch(0, 4)
        s = stream.batch(0, 4)
        _, _, terms, _ = trainer.gradients({
            "image": tf.constant(b["image"], tf.float32), "mask": tf.constant(b["mask"], tf.int32),
            "style": tf.constant(s["image"], tf.float32), "style_mask": tf.constant(s["mask"], tf.int32)})
        return float(terms["total"])

    before = loss()
    history = trainer.train(train_steps=10)
    after = loss()
    assert np.isfinite(after) and after < before, (before, after)
    assert history[-1]["luminance"] > 0
    meta = trainer.metadata()
    assert meta["style_mode"] == "per_batch" and meta["illumination"] and meta["residual"]


def test_content_centre_is_the_content_eyes_mean_map(tmp_path, loss_network):
    """illumination_centre="content": the front end's centre is the mean coarse map of CENTRE_EYES
    content eyes (a pure function of the source), recorded in the metadata; an unknown centre is refused."""
    from purify_tf.data.renderer import render_eyes
    from purify_tf.luminance_prior import mean_coarse_map
    from purify_tf.training.inputs import PREVIEW_STEP
    from purify_tf.training.purify_loop import CENTRE_EYES

    images, masks = disc_eyes(8)
    styles = render_eyes(8, H, W, domain="synthetic", seed=11)
    prior = render_eyes(64, H, W, domain="synthetic", seed=12)["image"]
    source = ArraySource(images, H, W, masks=masks)

    def trainer_with(centre: str) -> PurifyTrainer:
        cfg = PurifyTrainConfig(model_dir=str(tmp_path / centre), config="tiny", batch_size=4, progress=False,
                                weights=tiny_weights(), illumination=True, residual=True, illumination_centre=centre)
        return PurifyTrainer(cfg, tf.distribute.get_strategy(), loss_network, source, styles["image"],
                             styles["mask"], prior_images=prior)

    content, synthetic = trainer_with("content"), trainer_with("synthetic")
    want = mean_coarse_map(source.batch(PREVIEW_STEP + 1, CENTRE_EYES)["image"])
    np.testing.assert_allclose(content.front_end.prior_mean.numpy(), want, atol=1e-6)
    np.testing.assert_allclose(synthetic.front_end.prior_mean.numpy(), synthetic.luminance_prior.mean, atol=1e-6)
    assert np.abs(want - synthetic.luminance_prior.mean).max() > 0.05
    assert content.metadata()["illumination_centre"] == "content"
    with pytest.raises(ValueError, match="illumination_centre"):
        trainer_with("bogus")


def test_gaze_monitor_scores_during_training(tmp_path, loss_network):
    from purify_tf.data.image_io import to_gaze_input
    from purify_tf.data.renderer import render_eyes
    from purify_tf.gaze.estimators import make_estimator
    from purify_tf.gaze.monitor import GazeMonitor

    train = render_eyes(60, H, W, domain="synthetic", seed=1)
    knn = make_estimator("knn").fit(to_gaze_input(train["image"]), train["gaze"])
    real, twin = (render_eyes(12, H, W, domain=d, seed=2) for d in ("real", "synthetic"))
    monitor = GazeMonitor({"kNN": knn}, real["image"], twin["image"], real["gaze"])
    trainer = make_trainer(tmp_path, loss_network, eval_every=2)
    trainer.monitor = monitor
    trainer.train(train_steps=4)
    assert [g["step"] for g in trainer.gaze_history] == [2, 4]
    assert {"knn_error", "knn_gap_share", "total"} <= set(trainer.gaze_history[0])
