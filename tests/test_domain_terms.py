"""The domain terms: the local patch critic, LSGAN / identity / paired / gaze-consistency losses against NumPy, the
history buffer, renderer pairs, and the trainer with them (losses fall, exact resume, summaries)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import tensorflow as tf
from model_helpers import tiny_loss_network, tiny_weights
from test_training import H, W, disc_eyes

from purify_tf.losses.adversarial import lsgan_critic_loss, lsgan_generator_loss
from purify_tf.losses.l1 import l1_loss
from purify_tf.models.critic import build_patch_critic, receptive_field
from purify_tf.training.history import ImageHistory
from purify_tf.training.inputs import ArraySource, PairedRendererSource, step_dataset
from purify_tf.training.purify_loop import PurifyTrainConfig, PurifyTrainer

RNG = np.random.default_rng(0)


# ---------------------------------------------------------------------------- critic
def test_critic_scores_one_value_per_patch():
    critic = build_patch_critic(filters=8, num_layers=4)
    scores = critic(tf.constant(RNG.uniform(0, 255, (2, 48, 72, 3)), tf.float32))
    assert scores.shape == (2, 12, 18, 1) and scores.dtype == tf.float32


@pytest.mark.parametrize("layers", [1, 2, 3, 4, 5])
def test_receptive_field_is_the_support_of_one_scores_gradient(layers):
    """The stated field equals the pixels that can change one score (measured by its gradient)."""
    critic = build_patch_critic(filters=4, num_layers=layers)
    images = tf.Variable(RNG.uniform(0, 255, (1, 64, 64, 3)).astype(np.float32))
    with tf.GradientTape() as tape:
        score = critic(images)[0, 8, 8, 0]
    grad = np.abs(tape.gradient(score, images).numpy()[0]).sum(axis=-1)
    rows, cols = np.nonzero(grad)
    assert rows.max() - rows.min() + 1 == receptive_field(layers)
    assert cols.max() - cols.min() + 1 == receptive_field(layers)


def test_default_critic_sees_patches_well_under_an_eye():
    assert receptive_field(4) == 23 <= 48 // 2


def test_critic_loss_reaches_every_critic_weight():
    critic = build_patch_critic(filters=4, num_layers=3)
    synthetic = tf.constant(RNG.uniform(0, 255, (2, 32, 48, 3)), tf.float32)
    purified = tf.constant(RNG.uniform(0, 255, (2, 32, 48, 3)), tf.float32)
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(lsgan_critic_loss(critic(synthetic), critic(purified)))
    grads = tape.gradient(loss, critic.trainable_variables)
    assert len(grads) == 8 and all(float(tf.reduce_max(tf.abs(g))) > 0 for g in grads)


# ---------------------------------------------------------------------------- losses
def test_lsgan_losses_match_numpy():
    syn, fake = RNG.normal(size=(3, 4, 5, 1)), RNG.normal(size=(3, 4, 5, 1))
    want_critic = 0.5 * ((syn - 1) ** 2).mean(axis=(1, 2, 3)) + 0.5 * (fake**2).mean(axis=(1, 2, 3))
    want_gen = 0.5 * ((fake - 1) ** 2).mean(axis=(1, 2, 3))
    np.testing.assert_allclose(lsgan_critic_loss(syn, fake).numpy(), want_critic, rtol=1e-5)
    np.testing.assert_allclose(lsgan_generator_loss(fake).numpy(), want_gen, rtol=1e-5)
    # The optimum of the critic: 1 on synthetic, 0 on purified.
    np.testing.assert_allclose(lsgan_critic_loss(np.ones((2, 3, 3, 1)), np.zeros((2, 3, 3, 1))).numpy(), 0)


def test_l1_matches_numpy_and_is_zero_for_the_identity_map():
    a, b = RNG.uniform(0, 255, (2, 6, 7, 3)), RNG.uniform(0, 255, (2, 6, 7, 3))
    np.testing.assert_allclose(l1_loss(a, b).numpy(), (np.abs(a - b) / 255).mean(axis=(1, 2, 3)), rtol=1e-5)
    np.testing.assert_array_equal(l1_loss(a, a).numpy(), 0)
    np.testing.assert_allclose(l1_loss(np.zeros((1, 2, 2, 3)), np.full((1, 2, 2, 3), 255.0)).numpy(), 1)


def test_match_moments_matches_numpy_and_keeps_the_structure():
    from purify_tf.losses.paired import MOMENT_EPSILON, match_moments, paired_target

    rng = np.random.default_rng(7)  # its own stream: the draws do not depend on which tests ran before
    twins, ref = rng.uniform(0, 255, (2, 6, 7, 3)), rng.uniform(50, 100, (2, 6, 7, 3))
    m, sd = twins.mean(axis=(1, 2), keepdims=True), twins.std(axis=(1, 2), keepdims=True)
    want = (twins - m) / (sd + MOMENT_EPSILON) * ref.std(axis=(1, 2), keepdims=True) + ref.mean(axis=(1, 2), keepdims=True)
    got = match_moments(twins, ref).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(got.mean(axis=(1, 2)), ref.mean(axis=(1, 2)), atol=1e-3)
    # An affine recolouring of the twin leaves the target unchanged (up to the epsilon, 1 level
    # on a std of ~36-73 levels here): only its structure counts.
    np.testing.assert_allclose(match_moments(0.5 * twins + 30, ref).numpy(), got, atol=1.0)
    # The reference's moments are a target: no gradient reaches it.
    ref_t = tf.Variable(ref, dtype=tf.float32)
    with tf.GradientTape() as tape:
        out = tf.reduce_sum(match_moments(twins, ref_t))
    assert tape.gradient(out, ref_t) is None
    np.testing.assert_array_equal(paired_target(twins, ref, "twin").numpy(), twins.astype(np.float32))
    with pytest.raises(ValueError, match="paired_target must be one of"):
        paired_target(twins, ref, "exact")


@pytest.mark.parametrize("target", ["twin", "structure"])
def test_paired_term_on_truncated_taps_with_targets_outside_the_tape_equals_the_full_pass(target):
    """The paired term reads its global content layers from the loss network cut after the deepest
    of them, and the twins' features once, outside the tape: the same value and the same gradient
    (float32 round-off) as the former pass of the whole network over outputs and twins in the tape."""
    from purify_tf.losses.content import global_content_loss
    from purify_tf.losses.objective import DomainWeights, PurificationObjective
    from purify_tf.losses.paired import paired_target
    from purify_tf.losses.weights import LossWeights
    from purify_tf.models.vgg import build_loss_network

    net = build_loss_network("vgg16", "random", layers=["block1_conv2", "block2_conv1", "block2_conv2",
                                                        "block3_conv1"], seed=3)
    weights = LossWeights(layers={"global_content": ("block1_conv2", "block2_conv1"), "local_content": ("block2_conv2",),
                                  "global_style": ("block3_conv1",), "local_style": ("block2_conv2",)},
                          layer_weights={"global_content": {"block1_conv2": 0.3, "block2_conv1": 2.0}})
    objective = PurificationObjective(net, weights, domain=DomainWeights(paired=10.0, paired_target=target))
    assert objective._paired_network.model.layers[-1].name == "block2_conv1"  # block2_conv2, block3 not run
    rng = np.random.default_rng(5)
    outputs = tf.Variable(rng.uniform(0, 255, (3, 32, 48, 3)).astype(np.float32))
    twins = tf.constant(rng.uniform(0, 255, (3, 32, 48, 3)), tf.float32)
    reference = tf.constant(rng.uniform(40, 200, (3, 32, 48, 3)), tf.float32)

    def former(out):  # the code before: one full-depth pass over outputs and twins, inside the tape
        t = paired_target(twins, reference, target)
        f = net(tf.concat([out, t], axis=0))
        content = sum(weights.layer_weight("global_content", k) * global_content_loss(f[k][:3], f[k][3:])
                      for k in weights.layers["global_content"])
        return l1_loss(out, t) + content

    with tf.GradientTape(persistent=True) as tape:
        want = former(outputs)
        got = objective.paired_loss(outputs, objective.paired_targets(twins, reference))
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-5)
    np.testing.assert_allclose(tape.gradient(got, outputs).numpy(), tape.gradient(want, outputs).numpy(),
                               rtol=1e-4, atol=1e-7)
    targets = objective.paired_targets(twins, reference)
    with tf.GradientTape() as tape:
        tape.watch(twins)
        value = objective.paired_loss(outputs, targets)
    assert tape.gradient(value, twins) is None  # nothing flows back through the twins' features
    # Content eyes that are their own pairs (paired=(None, ...)): the objective reuses the outputs'
    # features of the perceptual pass; value and gradient as with a pass of its own.
    contents = tf.constant(rng.uniform(0, 255, (3, 32, 48, 3)), tf.float32)
    masks = tf.constant(rng.integers(0, 3, (3, 32, 48)), tf.int32)
    style = objective.style_targets(tf.constant(rng.uniform(0, 255, (1, 32, 48, 3)), tf.float32),
                                    tf.constant(rng.integers(0, 3, (1, 32, 48)), tf.int32))
    with tf.GradientTape(persistent=True) as tape:
        separate = objective(outputs, contents, masks, style, paired=(outputs, targets))["paired"]
        def no_second_pass(images):
            raise AssertionError("the paired term ran the loss network again")

        tapped, objective._paired_network = objective._paired_network, no_second_pass
        shared = objective(outputs, contents, masks, style, paired=(None, targets))["paired"]
        objective._paired_network = tapped
    np.testing.assert_allclose(shared.numpy(), separate.numpy(), rtol=1e-6)
    np.testing.assert_allclose(tape.gradient(shared, outputs).numpy(), tape.gradient(separate, outputs).numpy(),
                               rtol=1e-5, atol=1e-8)


# ---------------------------------------------------------------------------- history
def _seed(k: int) -> tf.Tensor:
    return tf.constant([7, k], tf.int64)


def test_history_fills_in_order_then_replaces_distinct_filled_slots():
    history = ImageHistory(5, (2, 2, 1))
    history.push(tf.fill((3, 2, 2, 1), 1.0), _seed(0))
    assert int(history.pushed.numpy()) == 3 and int(history.filled.numpy()) == 3
    np.testing.assert_array_equal(history.images.numpy()[:, 0, 0, 0], [1, 1, 1, 0, 0])
    # 2 fill the empty slots, 2 replace distinct slots among the 3 that were full.
    history.push(tf.reshape(tf.range(2.0, 6.0), (4, 1, 1, 1)) * tf.ones((4, 2, 2, 1)), _seed(1))
    stored = history.images.numpy()[:, 0, 0, 0]
    assert stored[3] == 2 and stored[4] == 3
    assert sorted(stored[:3].tolist()).count(1.0) == 1 and {4.0, 5.0} <= set(stored[:3].tolist())
    assert int(history.filled.numpy()) == 5 and int(history.pushed.numpy()) == 7


def test_history_samples_only_filled_slots_reproducibly():
    history = ImageHistory(8, (1, 1, 1))
    history.push(tf.fill((2, 1, 1, 1), 9.0), _seed(0))
    drawn = history.sample(50, _seed(3)).numpy()
    assert drawn.dtype == np.float32 and (drawn == 9.0).all()
    np.testing.assert_array_equal(drawn, history.sample(50, _seed(3)).numpy())


def test_history_survives_a_checkpoint_round_trip(tmp_path):
    history = ImageHistory(4, (3, 3, 3))
    history.push(tf.constant(RNG.uniform(0, 255, (6, 3, 3, 3)), tf.float32), _seed(1))
    path = tf.train.Checkpoint(history=history).save(str(tmp_path / "h"))
    restored = ImageHistory(4, (3, 3, 3))
    tf.train.Checkpoint(history=restored).restore(path).assert_existing_objects_matched()
    np.testing.assert_array_equal(restored.images.numpy(), history.images.numpy())
    assert int(restored.pushed.numpy()) == 4  # only the last 4 of 6 were stored


# ---------------------------------------------------------------------------- pairs
def test_paired_source_yields_twins_with_identical_labels():
    pairs = PairedRendererSource(36, 60, seed=3)
    batch = pairs.batch(5, 3)
    np.testing.assert_array_equal(batch["mask"], batch["twin_mask"])
    np.testing.assert_array_equal(batch["gaze"], batch["twin_gaze"])
    assert np.abs(batch["image"].astype(float) - batch["twin"]).mean() > 3  # two looks of one eye
    np.testing.assert_array_equal(pairs.batch(5, 3)["twin"], batch["twin"])  # a function of the step
    ds = step_dataset(pairs, 3, 0, 1, extras={"pair": pairs})
    assert set(next(iter(ds))) == {"image", "mask", "twin", "pair", "pair_mask", "pair_twin"}


def test_paired_source_eye_scale_draws_the_same_eyes_smaller_in_both_domains():
    """``--content_eye_scale``: the same pairs (gaze, step) with a smaller eye, twin and real alike."""
    full, small = (PairedRendererSource(36, 60, seed=3, eye_scale=k).batch(5, 6) for k in (1.0, 0.75))
    np.testing.assert_array_equal(full["gaze"], small["gaze"])
    np.testing.assert_array_equal(small["mask"], small["twin_mask"])
    area = lambda masks: (masks > 0).sum(axis=(1, 2))  # noqa: E731
    assert (area(small["mask"]) < area(full["mask"])).all()
    np.testing.assert_array_equal(PairedRendererSource(36, 60, seed=3).batch(5, 6)["image"], full["image"])


# ---------------------------------------------------------------------------- trainer
@pytest.fixture(scope="module")
def loss_network():
    return tiny_loss_network()


def domain_trainer(model_dir, loss_network, strategy=None, pair_source=None, pupil_network=None,
                   **overrides) -> PurifyTrainer:
    """make_trainer's tiny setup with a stream of synthetic eyes for the critic and identity."""
    from purify_tf.data.renderer import render_eyes

    images, masks = disc_eyes(8)
    style, style_mask = disc_eyes(1, seed=99)
    synthetic = render_eyes(8, H, W, domain="synthetic", seed=11)
    tf.keras.utils.set_random_seed(1)
    settings = dict(adversarial=1.0, identity=1.0, critic_filters=8, critic_layers=3, history_size=6,
                    weights=tiny_weights(), learning_rate=1e-3)
    cfg = PurifyTrainConfig(
        model_dir=str(model_dir), config="tiny", batch_size=4, dropout_rate=0.0,
        checkpoint_every=3, log_every=1, image_every=100, histogram_every=0,
        progress=False, **{**settings, **overrides},
    )
    return PurifyTrainer(cfg, strategy or tf.distribute.get_strategy(), loss_network,
                         ArraySource(images, H, W, masks=masks),
                         style[0], style_mask[0], style_stream=ArraySource(synthetic["image"], H, W, seed=2),
                         pair_source=pair_source, pupil_network=pupil_network)


def test_without_domain_weights_there_is_no_critic(tmp_path, loss_network):
    trainer = domain_trainer(tmp_path, loss_network, adversarial=0.0, identity=0.0)
    assert trainer.critic is None and trainer.metadata()["domain_terms"] is None
    trainer.train(train_steps=1)
    roots = {name.split("/", 1)[0] for name, _ in tf.train.list_variables(trainer.checkpoints.latest)}
    assert not roots & {"critic", "critic_optimizer", "history"}
    assert "critic" not in trainer.history[-1]


def test_critic_learns_and_all_terms_stay_finite(tmp_path, loss_network):
    trainer = domain_trainer(tmp_path, loss_network, critic_learning_rate=3e-3, paired=1.0)

    def separation() -> float:
        """D's mean score on fixed synthetic eyes minus that on the purified fixed content eyes."""
        synthetic = tf.constant(trainer.style_stream.batch(0, 4)["image"], tf.float32)
        purified = trainer.model(tf.constant(trainer.source.batch(0, 4)["image"], tf.float32), training=False)
        critic = trainer.critic.network
        return float(tf.reduce_mean(critic(synthetic)) - tf.reduce_mean(critic(purified)))

    before = separation()
    history = trainer.train(train_steps=6)
    first, last = history[0], history[-1]
    assert all(np.isfinite(v) for v in last.values()), last
    assert last["critic"] < first["critic"], (first["critic"], last["critic"])
    assert separation() > before + 0.05, (before, separation())
    total = last["perceptual"] + last["adversarial"] + last["identity"] + last["paired"]
    np.testing.assert_allclose(last["total"], total, rtol=1e-5)
    assert int(trainer.critic.history.pushed.numpy()) == 6 * 4 and int(trainer.critic.history.filled.numpy()) == 6
    assert trainer.metadata()["domain_terms"]["critic"]["receptive_field_px"] == 15


def test_identity_term_lowers_on_synthetic_eyes(tmp_path, loss_network):
    # Without the perceptual terms (the tiny setup's TV outweighs everything else).
    trainer = domain_trainer(tmp_path, loss_network, adversarial=0.0, identity=1.0,
                             weights=tiny_weights(alpha=0.0, beta=0.0, theta=0.0))
    history = trainer.train(train_steps=8)
    assert trainer.critic is None and "critic" not in history[-1]
    assert history[-1]["identity"] < 0.6 * history[0]["identity"], (history[0]["identity"], history[-1]["identity"])


def test_paired_structure_term_lowers_and_is_recorded(tmp_path, loss_network):
    """The paired term against the twins' structure falls over a few steps on fixed pairs."""

    class FixedPairs(PairedRendererSource):
        def batch(self, step: int, batch_size: int) -> dict[str, np.ndarray]:
            return super().batch(0, batch_size)

    trainer = domain_trainer(tmp_path, loss_network, pair_source=FixedPairs(H, W, seed=5), adversarial=0.0,
                             identity=0.0, paired=1.0,
                             paired_target="structure", learning_rate=3e-3,
                             weights=tiny_weights(alpha=0.0, beta=0.0, theta=0.0))
    history = trainer.train(train_steps=8)
    assert history[-1]["paired"] < 0.8 * history[0]["paired"], (history[0]["paired"], history[-1]["paired"])
    assert trainer.metadata()["domain_terms"]["paired_target"] == "structure"
    with pytest.raises(ValueError, match="paired_target must be one of"):
        domain_trainer(tmp_path / "bad", loss_network, paired=1.0, paired_target="exact")


def test_renderer_pairs_beside_content_without_twins_are_drawn_at_the_pair_eye_scale(tmp_path, loss_network):
    """Dataset content has no twins: the paired term reads a second stream of renderer pairs, drawn at
    ``pair_eye_scale`` (trainers.purify passes --content_eye_scale) and recorded in the metadata."""
    trainer = domain_trainer(tmp_path, loss_network, adversarial=0.0, identity=0.0, paired=1.0, pair_eye_scale=0.8)
    assert not trainer.pairs_in_content and isinstance(trainer.pair_source, PairedRendererSource)
    assert trainer.pair_source.eye_scale == 0.8
    assert trainer.metadata()["pair_stream"]["eye_scale"] == 0.8


def test_content_with_twins_serves_the_paired_term_in_one_pass(tmp_path, loss_network):
    """Renderer content that comes with its twins: the paired term reads the purified content eyes
    (f_W runs on the content batch alone) against those eyes' own twins."""
    from purify_tf.data.renderer import render_eyes

    style = render_eyes(1, H, W, domain="synthetic", seed=99)
    cfg = PurifyTrainConfig(model_dir=str(tmp_path), config="tiny", batch_size=2, dropout_rate=0.0, paired=1.0,
                            weights=tiny_weights(), checkpoint_every=100, log_every=1, image_every=100,
                            histogram_every=0, progress=False)
    content = PairedRendererSource(H, W, seed=4)
    trainer = PurifyTrainer(cfg, tf.distribute.get_strategy(), loss_network, content,
                            style["image"][0], style["mask"][0])
    assert trainer.pairs_in_content and trainer.pair_source is None
    batch = next(iter(trainer.distributed_dataset(0, 1)))
    assert "pair" not in batch and "twin" in batch
    assert trainer.generator_inputs(batch).shape[0] == 2  # one f_W batch: no second pair batch
    grads, _, terms, purified = trainer.gradients(batch)
    expected = trainer.objective.paired_loss(purified, trainer.objective.paired_targets(batch["twin"]))
    np.testing.assert_allclose(float(terms["paired"]), float(tf.reduce_mean(expected)), rtol=1e-5)
    twins = content.batch(0, 2)["twin"]
    np.testing.assert_array_equal(batch["twin"].numpy(), twins.astype(np.float32))
    assert all(g is not None for g in grads)
    assert trainer.metadata()["pair_stream"]["kind"] == "content"
    # Content without twins still draws a separate pair batch.
    other = domain_trainer(tmp_path / "separate", loss_network, adversarial=0.0, identity=0.0, paired=1.0)
    assert not other.pairs_in_content and isinstance(other.pair_source, PairedRendererSource)


def _critic_state(trainer: PurifyTrainer) -> list[tf.Variable]:
    critic = trainer.critic
    return [*critic.network.weights, *critic.optimizer.variables, critic.history.images, critic.history.pushed]


def test_checkpoint_restores_critic_its_adam_and_history_bit_for_bit(tmp_path, loss_network):
    first = domain_trainer(tmp_path, loss_network)
    first.train(train_steps=3)  # checkpoint at step 3, then "interrupted"
    second = domain_trainer(tmp_path, loss_network)
    assert second.restore() == 3
    for a, b in zip(_critic_state(first), _critic_state(second), strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=getattr(a, "path", a.name))
    assert int(second.critic.history.pushed.numpy()) == 12


@pytest.mark.slow
def test_resume_with_the_critic_lands_where_a_straight_run_does(tmp_path, loss_network):
    domain_trainer(tmp_path / "resumed", loss_network).train(train_steps=3)
    second = domain_trainer(tmp_path / "resumed", loss_network)
    second.train(train_steps=6)
    assert [h["step"] for h in second.history] == [4, 5, 6]
    # Loosely, as in test_training's resume test: CPU reductions are not bitwise reproducible.
    straight = domain_trainer(tmp_path / "straight", loss_network)
    straight.train(train_steps=6)
    for a, b in zip(straight.history[3:], second.history, strict=True):
        for key in ("total", "critic", "adversarial", "identity", "score_real"):
            np.testing.assert_allclose(a[key], b[key], rtol=5e-2, err_msg=key)
    for a, b in zip(straight.critic.network.weights, second.critic.network.weights, strict=True):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=5e-2, atol=2e-2, err_msg=a.path)
    np.testing.assert_allclose(straight.critic.history.images.numpy(), second.critic.history.images.numpy(),
                               atol=2.0)


def test_tensorboard_has_critic_losses_and_scores(tmp_path, loss_network):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    domain_trainer(tmp_path, loss_network).train(train_steps=1)
    acc = EventAccumulator(str(tmp_path / "train"), size_guidance={"tensors": 0})
    acc.Reload()
    tags = set(acc.Tags()["tensors"])
    assert {"loss/critic", "loss/adversarial", "loss/identity", "loss/perceptual", "loss/total"} <= tags
    assert {"critic/real", "critic/purified", "critic/synthetic"} <= tags
    assert not any(t.startswith("loss/score_") for t in tags)


@pytest.mark.slow
def test_critic_trains_under_two_mirrored_cpu_replicas(tmp_path):
    """Both updates in one step under MirroredStrategy; the history takes the gathered global batch."""
    from test_training import _run_script

    script = f"""
import numpy as np, tensorflow as tf, sys
sys.path.insert(0, "tests")
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
from model_helpers import tiny_loss_network
from test_domain_terms import domain_trainer
strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
trainer = domain_trainer(r"{tmp_path}/two", tiny_loss_network(), strategy=strategy, history_size=16)
assert trainer.strategy.num_replicas_in_sync == 2
history = trainer.train(train_steps=3)
assert all(np.isfinite(v) for v in history[-1].values()), history[-1]
print("PUSHED", int(trainer.critic.history.pushed.numpy()), "CRITIC", history[-1]["critic"])
"""
    result = _run_script(script)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "PUSHED 12" in result.stdout


# ---------------------------------------------------------------------------- gaze consistency
def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def test_gaze_consistency_matches_numpy_and_is_one_at_the_tolerance():
    from purify_tf.losses.gaze_consistency import GAZE_TOLERANCE_DEG, gaze_consistency_loss

    rng = np.random.default_rng(0)
    out, twin = rng.normal(size=(5, 3)) + [0, 0, -3], rng.normal(size=(5, 3)) + [0, 0, -3]
    chord = 2 * np.sin(np.radians(GAZE_TOLERANCE_DEG) / 2)
    expected = np.sum((_unit(out) - _unit(twin)) ** 2, axis=1) / chord**2
    np.testing.assert_allclose(gaze_consistency_loss(tf.constant(out), tf.constant(twin)).numpy(), expected,
                               rtol=1e-5)
    # Two directions GAZE_TOLERANCE_DEG apart give exactly 1; the same direction at any length 0.
    a = np.radians(GAZE_TOLERANCE_DEG)
    pair = gaze_consistency_loss(tf.constant([[0.0, 0.0, -1.0]]), tf.constant([[np.sin(a), 0.0, -np.cos(a)]]))
    np.testing.assert_allclose(pair.numpy(), [1.0], rtol=1e-5)
    np.testing.assert_allclose(gaze_consistency_loss(tf.constant(out), tf.constant(3 * out)).numpy(), 0, atol=1e-6)
    # The twins' reading is a target: no gradient flows into it.
    o, t = tf.Variable(out, dtype=tf.float32), tf.Variable(twin, dtype=tf.float32)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(gaze_consistency_loss(o, t))
    go, gt = tape.gradient(loss, [o, t])
    assert go is not None and gt is None


def test_gaze_network_input_matches_the_estimators_gray_and_has_gradients():
    from purify_tf.conventions import GAZE_INPUT_SHAPE
    from purify_tf.data.image_io import to_gaze_input
    from purify_tf.losses.gaze_consistency import gaze_network_input

    images, _ = disc_eyes(3)
    x = tf.Variable(images.astype(np.float32))
    with tf.GradientTape() as tape:
        read = gaze_network_input(x)
        loss = tf.reduce_sum(read)
    assert read.shape == (3, *GAZE_INPUT_SHAPE)
    assert tape.gradient(loss, x) is not None  # area resizing would have none
    # The same gray image as the estimators' own conversion, up to the resampling filter.
    assert float(np.mean(np.abs(read.numpy() - to_gaze_input(images)))) < 0.03


def test_gaze_term_needs_the_paired_twins_and_a_reader(loss_network):
    from purify_tf.losses.objective import DomainWeights, PurificationObjective

    with pytest.raises(ValueError, match="needs paired > 0"):
        DomainWeights(gaze=1.0)
    with pytest.raises(Exception, match="needs a gaze_network"):
        PurificationObjective(loss_network, tiny_weights(), domain=DomainWeights(paired=1.0, gaze=1.0))


def _tiny_reader() -> tf.keras.Model:
    """A small frozen stand-in for the gaze CNN: 35x55 gray -> unit 3D gaze."""
    from purify_tf.conventions import GAZE_INPUT_SHAPE

    tf.keras.utils.set_random_seed(3)
    x = tf.keras.Input(GAZE_INPUT_SHAPE)
    h = tf.keras.layers.Conv2D(4, 5, strides=4, activation="tanh")(x)
    h = tf.keras.layers.Flatten()(h)
    v = tf.keras.layers.Dense(3, kernel_initializer=tf.keras.initializers.RandomNormal(stddev=0.3))(h)
    reader = tf.keras.Model(x, tf.keras.layers.UnitNormalization()(v + tf.constant([0.0, 0.0, -1.0])))
    reader.trainable = False
    return reader


def test_gaze_term_lowers_on_fixed_pairs_and_enters_the_total(tmp_path, loss_network):
    """With the gaze reader's disagreement as the only term, a few steps on fixed pairs lower it; the
    term is the reader's disagreement on the purified eyes against its reading of the twins."""

    class FixedPairs(PairedRendererSource):
        def batch(self, step: int, batch_size: int) -> dict[str, np.ndarray]:
            return super().batch(0, batch_size)

    from purify_tf.data.renderer import render_eyes
    from purify_tf.losses.gaze_consistency import gaze_consistency_loss

    style = render_eyes(1, H, W, domain="synthetic", seed=99)
    reader = _tiny_reader()
    cfg = PurifyTrainConfig(model_dir=str(tmp_path), config="tiny", batch_size=2, dropout_rate=0.0,
                            paired=1e-6, gaze=1.0, learning_rate=3e-3,
                            weights=tiny_weights(alpha=0.0, beta=0.0, theta=0.0), checkpoint_every=100,
                            log_every=1, image_every=100, histogram_every=0, progress=False)
    trainer = PurifyTrainer(cfg, tf.distribute.get_strategy(), loss_network, FixedPairs(H, W, seed=4),
                            style["image"][0], style["mask"][0], gaze_reader=reader)
    batch = next(iter(trainer.distributed_dataset(0, 1)))
    _, _, terms, purified = trainer.gradients(batch)
    expected = gaze_consistency_loss(trainer.objective.read_gaze(purified), trainer.objective.read_gaze(batch["twin"]))
    np.testing.assert_allclose(float(terms["gaze"]), float(tf.reduce_mean(expected)), rtol=1e-5)
    np.testing.assert_allclose(float(terms["total"]), float(terms["perceptual"] + 1e-6 * terms["paired"]
                                                           + terms["gaze"]), rtol=1e-5)
    assert any(t.role == "gaze" for t in trainer.objective.terms())
    history = trainer.train(train_steps=10)
    assert history[-1]["gaze"] < 0.7 * history[0]["gaze"], (history[0]["gaze"], history[-1]["gaze"])
    assert not reader.trainable_weights
    assert trainer.metadata()["domain_terms"]["gaze"]["weight"] == 1.0
    with pytest.raises(ValueError, match="jit_compile with the gaze-consistency term"):
        PurifyTrainer(dataclasses.replace(cfg, jit_compile=True), tf.distribute.get_strategy(), loss_network,
                      FixedPairs(H, W, seed=4), style["image"][0], style["mask"][0], gaze_reader=reader)


def test_gaze_reader_is_fitted_once_saved_and_reloaded_frozen(tmp_path):
    """The reader is fitted to synthetic renderer eyes, written to <model_dir>/gaze_reader.keras, and a
    second call (a resumed run) reads that file: the same network, not a refit; never trainable."""
    from purify_tf.training.gaze_reader import READER_FILE, build_reader, load_or_train_gaze_reader

    small = build_reader()
    assert small.output_shape == (None, 3) and small.count_params() < 700_000
    reader = load_or_train_gaze_reader(tmp_path, H, W, seed=0, n_eyes=40, epochs=1)
    assert (tmp_path / READER_FILE).is_file() and not reader.trainable_weights
    images, _ = disc_eyes(3)
    from purify_tf.losses.gaze_consistency import gaze_network_input

    x = gaze_network_input(tf.constant(images, tf.float32))
    read = reader(x).numpy()
    np.testing.assert_allclose(np.linalg.norm(read, axis=1), 1.0, rtol=1e-5)
    again = load_or_train_gaze_reader(tmp_path, H, W, seed=5, n_eyes=40, epochs=1)  # loads, does not refit
    np.testing.assert_allclose(again(x).numpy(), read, rtol=1e-6)
    assert not again.trainable_weights


def test_kernel_reader_is_the_svr_estimator_in_tensorflow_saved_once_and_differentiable(tmp_path):
    """KernelGazeReader predicts what the fitted SVRGaze predicts (the sklearn reference), is written once
    to <model_dir>/gaze_reader_svr.npz and reloaded, and passes gradients to the eye."""
    from purify_tf.data.renderer import render_eyes
    from purify_tf.gaze.estimators import SVRGaze
    from purify_tf.training.gaze_reader import (
        KERNEL_READER_FILE,
        KernelGazeReader,
        load_or_fit_kernel_reader,
        reader_inputs,
    )
    from purify_tf.vectors import angular_error_deg

    train = render_eyes(120, H, W, domain="synthetic", seed=21)
    test = reader_inputs(render_eyes(16, H, W, domain="real", seed=22)["image"])
    estimator = SVRGaze(n_components=20).fit(reader_inputs(train["image"]), train["gaze"])
    reader = KernelGazeReader.from_estimator(estimator)
    got = reader(tf.constant(test)).numpy()
    assert np.max(angular_error_deg(got, estimator.predict(test))) < 0.05
    fitted = load_or_fit_kernel_reader(tmp_path, H, W, seed=0, n_eyes=60)
    assert (tmp_path / KERNEL_READER_FILE).is_file()
    again = load_or_fit_kernel_reader(tmp_path, H, W, seed=5, n_eyes=60)  # loads, does not refit
    np.testing.assert_allclose(again(tf.constant(test)).numpy(), fitted(tf.constant(test)).numpy(), rtol=1e-6)
    eyes = tf.Variable(test)
    with tf.GradientTape() as tape:
        value = tf.reduce_sum(reader(eyes)[:, 1])
    grad = tape.gradient(value, eyes).numpy()
    assert np.all(np.isfinite(grad)) and np.abs(grad).max() > 0


def test_gaze_term_with_two_readers_is_the_mean_of_their_terms():
    from purify_tf.losses.gaze_consistency import gaze_consistency_loss

    a_out, a_twin, b_out, b_twin = (_unit(RNG.normal(size=(4, 3))) for _ in range(4))
    both = gaze_consistency_loss(tf.constant(np.stack([a_out, b_out], 1), tf.float32),
                                 tf.constant(np.stack([a_twin, b_twin], 1), tf.float32)).numpy()
    one = gaze_consistency_loss(tf.constant(a_out, tf.float32), tf.constant(a_twin, tf.float32)).numpy()
    other = gaze_consistency_loss(tf.constant(b_out, tf.float32), tf.constant(b_twin, tf.float32)).numpy()
    np.testing.assert_allclose(both, (one + other) / 2, rtol=1e-5)


# ---------------------------------------------------------------------------- pupil shift
def _np_centres(logits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    from purify_tf.conventions import PUPIL

    e = np.exp(logits - logits.max(-1, keepdims=True))
    p = (e / e.sum(-1, keepdims=True))[..., PUPIL]
    yy, xx = np.mgrid[0:p.shape[1], 0:p.shape[2]]
    mass = p.sum((1, 2))
    return np.stack([(p * xx).sum((1, 2)) / mass, (p * yy).sum((1, 2)) / mass], -1), mass


def test_pupil_shift_matches_numpy_with_its_dead_zone_and_absent_pupils():
    from purify_tf.losses.pupil_shift import (
        MIN_PUPIL_AREA_PX,
        PUPIL_DEAD_ZONE_PX,
        pupil_shift_loss,
        soft_pupil_centre,
    )

    rng = np.random.default_rng(1)
    logits = rng.normal(size=(4, 8, 16, 3)).astype(np.float32) * 3
    centre, mass = soft_pupil_centre(tf.constant(logits))
    want_centre, want_mass = _np_centres(logits.astype(np.float64))
    np.testing.assert_allclose(centre.numpy(), want_centre, rtol=1e-5)
    np.testing.assert_allclose(mass.numpy(), want_mass, rtol=1e-5)

    ref = rng.uniform(0, 10, size=(5, 2))
    shift = np.array([[0.3, 0.4], [2.0, 0.0], [0.0, -3.0], [1.5, 2.0], [4.0, 0.0]])  # 0.5, 2, 3, 2.5, 4 px
    ref_mass = np.array([20.0, 20.0, 20.0, 20.0, MIN_PUPIL_AREA_PX / 2])  # the last eye has no pupil
    d = np.linalg.norm(shift, axis=1)
    expected = np.maximum(d - PUPIL_DEAD_ZONE_PX, 0) ** 2 * (ref_mass >= MIN_PUPIL_AREA_PX)
    loss = pupil_shift_loss(tf.constant(ref + shift), tf.constant(ref), tf.constant(ref_mass))
    np.testing.assert_allclose(loss.numpy(), expected, rtol=1e-5)
    assert loss.numpy()[0] == 0 and loss.numpy()[-1] == 0  # inside the dead zone; no pupil to keep
    # The content eyes' centres are a target; an identical centre has a finite (zero) gradient.
    o, r = tf.Variable(ref + shift, dtype=tf.float32), tf.Variable(ref, dtype=tf.float32)
    same = tf.Variable(ref, dtype=tf.float32)
    with tf.GradientTape(persistent=True) as tape:
        total = tf.reduce_sum(pupil_shift_loss(o, r, tf.constant(ref_mass)))
        at_zero = tf.reduce_sum(pupil_shift_loss(same, tf.constant(ref), tf.constant(ref_mass)))
    go, gr = tape.gradient(total, [o, r])
    assert go is not None and gr is None and np.abs(go.numpy()[1:4]).sum(axis=1).min() > 0
    assert np.all(np.isfinite(tape.gradient(at_zero, same).numpy()))


def _dark_pupil_fcn() -> tf.keras.Model:
    """A frozen stand-in for the coarse FCN: the pupil logit rises as the eye darkens (RGB -> 3 logits)."""
    from purify_tf.conventions import LUMA, PUPIL

    x = tf.keras.Input((None, None, 3))
    conv = tf.keras.layers.Conv2D(3, 1)
    logits = conv(x)
    kernel = np.zeros((1, 1, 3, 3), np.float32)
    kernel[0, 0, :, PUPIL] = -0.08 * np.asarray(LUMA, np.float32)
    bias = np.zeros(3, np.float32)
    bias[PUPIL] = 6.0
    conv.set_weights([kernel, bias])
    model = tf.keras.Model(x, logits)
    model.trainable = False
    return model


def test_pupil_term_lowers_on_fixed_eyes_and_enters_the_total(tmp_path, loss_network):
    """With the pupil shift as the only weighted term, a few steps lower it; the trainer's term is the
    objective's pupil_loss of the purified eyes against the content eyes."""
    from purify_tf.losses.objective import DomainWeights, PurificationObjective

    fcn = _dark_pupil_fcn()
    with pytest.raises(Exception, match="needs a pupil_network"):
        PurificationObjective(loss_network, tiny_weights(), domain=DomainWeights(pupil=1.0))
    trainer = domain_trainer(tmp_path, loss_network, pupil_network=fcn, adversarial=0.0, identity=0.0, pupil=1.0,
                             learning_rate=1e-2, weights=tiny_weights(alpha=0.0, beta=0.0, theta=0.0))
    batch = next(iter(trainer.distributed_dataset(0, 1)))
    _, _, terms, purified = trainer.gradients(batch)
    expected = trainer.objective.pupil_loss(purified, tf.constant(batch["image"], tf.float32))
    np.testing.assert_allclose(float(terms["pupil"]), float(tf.reduce_mean(expected)), rtol=1e-5)
    np.testing.assert_allclose(float(terms["total"]), float(terms["perceptual"] + terms["pupil"]), rtol=1e-5)
    assert float(terms["pupil"]) > 0.1
    assert any(t.role == "pupil" for t in trainer.objective.terms())
    history = trainer.train(train_steps=10)
    assert history[-1]["pupil"] < 0.5 * history[0]["pupil"], (history[0]["pupil"], history[-1]["pupil"])
    assert not fcn.trainable_weights
    assert trainer.metadata()["domain_terms"]["pupil"]["dead_zone_px"] == 1.0


# ---------------------------------------------------------------------------- PatchNCE
TINY_NCE_LAYERS = ("block1_conv2", "block2_conv2")


def _np_patch_nce(query: np.ndarray, key: np.ndarray, temperature: float) -> np.ndarray:
    q = query / np.linalg.norm(query, axis=-1, keepdims=True)
    k = key / np.linalg.norm(key, axis=-1, keepdims=True)
    logits = np.einsum("bsd,btd->bst", q, k) / temperature
    top = logits.max(-1, keepdims=True)
    log_softmax = logits - top - np.log(np.exp(logits - top).sum(-1, keepdims=True))
    return -np.mean(np.diagonal(log_softmax, axis1=1, axis2=2), axis=1)


def test_patch_nce_matches_numpy_and_needs_the_right_patch():
    from purify_tf.losses.patch_nce import NCE_TEMPERATURE, patch_nce_loss

    query, key = RNG.normal(size=(3, 20, 8)), RNG.normal(size=(3, 20, 8))
    got = patch_nce_loss(tf.constant(query, tf.float32), tf.constant(key, tf.float32)).numpy()
    np.testing.assert_allclose(got, _np_patch_nce(query, key, NCE_TEMPERATURE), rtol=1e-4)
    # Each query its own key among distinct keys: near 0; another patch's key: large.
    own = patch_nce_loss(tf.constant(key, tf.float32), tf.constant(key, tf.float32)).numpy()
    shuffled = patch_nce_loss(tf.constant(np.roll(key, 1, axis=1), tf.float32), tf.constant(key, tf.float32)).numpy()
    assert own.max() < 0.5 < 5.0 < shuffled.min(), (own, shuffled)
    # Scale does not matter (both sides are normalised); the keys get no gradient, the queries do.
    np.testing.assert_allclose(patch_nce_loss(tf.constant(3 * query, tf.float32), tf.constant(key, tf.float32)),
                               got, rtol=1e-4)
    q, k = tf.Variable(query, dtype=tf.float32), tf.Variable(key, dtype=tf.float32)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(patch_nce_loss(q, k))
    grad_q, grad_k = tape.gradient(loss, [q, k])
    assert grad_k is None and np.all(np.isfinite(grad_q.numpy())) and np.abs(grad_q.numpy()).max() > 0


def test_patch_positions_are_distinct_reproducible_and_capped():
    from purify_tf.losses.patch_nce import sample_positions

    seed = tf.constant([3, 4], tf.int64)
    a = sample_positions(tf.constant(10), tf.constant(16), 64, seed).numpy()
    assert len(a) == 64 == len(set(a)) and a.min() >= 0 and a.max() < 160
    np.testing.assert_array_equal(a, sample_positions(tf.constant(10), tf.constant(16), 64, seed).numpy())
    assert not np.array_equal(a, sample_positions(tf.constant(10), tf.constant(16), 64, seed + 1).numpy())
    small = sample_positions(tf.constant(5), tf.constant(8), 64, seed).numpy()
    assert sorted(small) == list(range(40))  # a map smaller than the draw: every position once


def test_patch_nce_term_is_the_mean_over_layers_at_shared_positions(loss_network):
    from purify_tf.losses.patch_nce import (
        build_nce_heads,
        patch_nce_loss,
        patch_nce_term,
        sample_positions,
    )

    heads = build_nce_heads(loss_network, TINY_NCE_LAYERS)
    with pytest.raises(Exception, match="lacks"):
        build_nce_heads(loss_network, ("block4_conv2",))
    images, _ = disc_eyes(2)
    out_f = loss_network(tf.constant(images, tf.float32) * 0.8)
    in_f = loss_network(tf.constant(images, tf.float32))
    seed = tf.constant([5, 6], tf.int64)
    got = patch_nce_term(out_f, in_f, heads, seed, patches=32).numpy()
    expected = 0.0
    for index, (name, head) in enumerate(heads.items()):
        f_out, f_in = out_f[name].numpy(), in_f[name].numpy()
        b, h, w, c = f_out.shape
        positions = sample_positions(h, w, 32, tf.random.experimental.stateless_fold_in(seed, index)).numpy()
        q = head(f_out.reshape(b, -1, c)[:, positions].reshape(-1, c)).numpy().reshape(b, len(positions), -1)
        k = head(f_in.reshape(b, -1, c)[:, positions].reshape(-1, c)).numpy().reshape(b, len(positions), -1)
        expected = expected + patch_nce_loss(q, k).numpy()
    np.testing.assert_allclose(got, expected / 2, rtol=1e-4)


def test_patch_nce_trains_its_heads_lowers_and_resumes(tmp_path, loss_network):
    """PatchNCE as the only weighted term: the trainer's term is the objective's, it enters the total,
    a few steps lower it, the heads train with f_W and a checkpoint brings them back bit for bit."""
    from purify_tf.losses.objective import DomainWeights, PurificationObjective

    with pytest.raises(Exception, match="needs nce_heads"):
        PurificationObjective(loss_network, tiny_weights(), domain=DomainWeights(patch_nce=1.0))
    settings = dict(adversarial=0.0, identity=0.0, patch_nce=1.0, nce_layers=TINY_NCE_LAYERS, learning_rate=1e-2,
                    weights=tiny_weights(alpha=0.0, beta=0.0, theta=0.0))
    trainer = domain_trainer(tmp_path, loss_network, **settings)
    assert len(trainer.trained_variables) == len(trainer.model.trainable_variables) + 8  # 2 heads x 2 Dense x (kernel, bias)
    heads_before = [v.numpy().copy() for head in trainer.nce_heads.values() for v in head.trainable_variables]
    batch = next(iter(trainer.distributed_dataset(0, 1)))
    seed = tf.constant([0, 0], tf.int64)
    _, _, terms, purified = trainer.gradients(batch, seed)
    objective = trainer.objective
    contents = trainer.loss_contents(tf.constant(batch["image"], tf.float32))
    from purify_tf.losses.patch_nce import patch_nce_term

    expected = patch_nce_term(objective._features(purified), objective._features(contents), trainer.nce_heads,
                              tf.random.experimental.stateless_fold_in(seed, 7))
    np.testing.assert_allclose(float(terms["patch_nce"]), float(tf.reduce_mean(expected)), rtol=1e-4)
    np.testing.assert_allclose(float(terms["total"]), float(terms["perceptual"] + terms["patch_nce"]), rtol=1e-5)
    assert any(t.role == "patch_nce" for t in objective.terms())
    history = trainer.train(train_steps=16)
    assert history[-1]["patch_nce"] < 0.8 * history[0]["patch_nce"], (history[0]["patch_nce"], history[-1]["patch_nce"])
    heads_after = [v.numpy() for head in trainer.nce_heads.values() for v in head.trainable_variables]
    assert all(np.abs(a - b).max() > 0 for a, b in zip(heads_before, heads_after, strict=True))
    assert trainer.metadata()["domain_terms"]["patch_nce"]["layers"] == list(TINY_NCE_LAYERS)
    resumed = domain_trainer(tmp_path, loss_network, **settings)
    assert resumed.restore() == 16
    for a, b in zip(heads_after, [v.numpy() for h in resumed.nce_heads.values() for v in h.trainable_variables],
                    strict=True):
        np.testing.assert_array_equal(a, b)
    assert "patch_nce" in objective.of_one_image()[1]


# ---------------------------------------------------------------------------- pupil contrast
def _np_pupil_weber(images: np.ndarray, pupil: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """NumPy reference: luminance, a separable Gaussian surround normalised inside the image, the
    Weber contrast averaged over the pupil mask."""
    from purify_tf.conventions import LUMA
    from purify_tf.losses.pupil_contrast import SURROUND_SIGMA_FRAC, WEBER_OFFSET

    sigma = SURROUND_SIGMA_FRAC * images.shape[2]
    radius = int(np.ceil(3 * sigma))
    taps = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    taps /= taps.sum()

    def same(r):  # zero padding, the output the input's size (the kernel may be longer than the image)
        return np.convolve(r, taps, mode="full")[radius:radius + len(r)]

    def blur(x):
        return np.apply_along_axis(same, 1, np.apply_along_axis(same, 0, x))

    out, area = [], []
    for img, m in zip(images.astype(np.float64), pupil.astype(np.float64), strict=True):
        y = img @ np.asarray(LUMA, np.float64)
        s = blur(y) / blur(np.ones_like(y))
        w = (y - s) / (s + WEBER_OFFSET)
        area.append(m.sum())
        out.append((w * m).sum() / max(m.sum(), 1e-6))
    return np.array(out), np.array(area)


def test_pupil_weber_contrast_and_its_loss_match_numpy():
    from purify_tf.conventions import PUPIL
    from purify_tf.losses.pupil_contrast import (
        PUPIL_CONTRAST_TOLERANCE,
        pupil_contrast_loss,
        pupil_mask_of,
        pupil_weber_contrast,
    )
    from purify_tf.losses.pupil_shift import MIN_PUPIL_AREA_PX

    images, labels = disc_eyes(4)
    labels = np.asarray(labels).copy()
    labels[3] = np.where(labels[3] == PUPIL, 0, labels[3])  # the last eye has no pupil
    mask = pupil_mask_of(tf.constant(labels))
    np.testing.assert_array_equal(mask.numpy(), (labels == PUPIL).astype(np.float32))
    one_hot = tf.one_hot(labels, int(labels.max()) + 2)
    np.testing.assert_array_equal(pupil_mask_of(one_hot).numpy(), mask.numpy())
    got, area = pupil_weber_contrast(tf.constant(images, tf.float32), mask)
    want, want_area = _np_pupil_weber(np.asarray(images, np.float64), labels == PUPIL)
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(area.numpy(), want_area)
    assert np.all(got.numpy()[:3] < -0.05)  # the disc eyes' pupils are dark against their surround

    # Lighter pupils cost (1 at the tolerance), darker ones do not, an eye without a pupil adds 0.
    ref = tf.constant([-0.5, -0.5, -0.5, -0.5])
    ref_area = tf.constant([20.0, 20.0, 20.0, MIN_PUPIL_AREA_PX / 2])
    out = tf.Variable([-0.5 + PUPIL_CONTRAST_TOLERANCE, -0.8, -0.5 + 2 * PUPIL_CONTRAST_TOLERANCE, 0.0])
    r = tf.Variable(ref)
    with tf.GradientTape() as tape:
        loss = pupil_contrast_loss(out, r, ref_area)
        total = tf.reduce_sum(loss)
    np.testing.assert_allclose(loss.numpy(), [1.0, 0.0, 4.0, 0.0], rtol=1e-5)
    g_out, g_ref = tape.gradient(total, [out, r])
    assert g_ref is None and g_out.numpy()[0] > 0 and g_out.numpy()[1] == 0 and g_out.numpy()[3] == 0

    # Lightening the pupil of an image raises its contrast, so the loss sees it.
    lighter = np.asarray(images, np.float32).copy()
    lighter[labels == PUPIL] += 60.0
    raised, _ = pupil_weber_contrast(tf.constant(lighter), mask)
    assert np.all(raised.numpy()[:3] > got.numpy()[:3] + 0.1)


def test_pupil_contrast_term_lowers_on_fixed_eyes_and_enters_the_total(tmp_path, loss_network):
    """With the pupil contrast as the only weighted term, a few steps lower it; the trainer's term is the
    loss of the purified eyes' pupil contrast against the content eyes', over the content masks."""
    from purify_tf.losses.objective import DomainWeights, PurificationObjective
    from purify_tf.losses.pupil_contrast import (
        pupil_contrast_loss,
        pupil_mask_of,
        pupil_weber_contrast,
    )

    with pytest.raises(Exception, match="needs use_masks"):
        PurificationObjective(loss_network, tiny_weights(), use_masks=False, domain=DomainWeights(pupil_contrast=1.0))
    trainer = domain_trainer(tmp_path, loss_network, adversarial=0.0, identity=0.0, pupil_contrast=1.0,
                             learning_rate=1e-2, weights=tiny_weights(alpha=0.0, beta=0.0, theta=0.0))
    batch = next(iter(trainer.distributed_dataset(0, 1)))
    _, _, terms, purified = trainer.gradients(batch)
    mask = pupil_mask_of(tf.constant(batch["mask"]))
    ref, area = pupil_weber_contrast(tf.constant(batch["image"], tf.float32), mask)
    expected = pupil_contrast_loss(pupil_weber_contrast(purified, mask)[0], ref, area)
    np.testing.assert_allclose(float(terms["pupil_contrast"]), float(tf.reduce_mean(expected)), rtol=1e-4)
    np.testing.assert_allclose(float(terms["total"]), float(terms["perceptual"] + terms["pupil_contrast"]), rtol=1e-5)
    assert float(terms["pupil_contrast"]) > 0.1
    assert any(t.role == "pupil_contrast" for t in trainer.objective.terms())
    history = trainer.train(train_steps=10)
    first, last = history[0]["pupil_contrast"], history[-1]["pupil_contrast"]
    assert last < 0.5 * first, (first, last)
    assert trainer.metadata()["domain_terms"]["pupil_contrast"]["weight"] == 1.0
