"""Fine-tuning from a trained purifier (``--init_model``): weights matched by name, a flip-symmetric
file's nested network read, mismatches refused by layer, a resumed run keeping its checkpoint, the card
naming what the starting weights saw."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf
from test_training import loss_network, make_trainer  # noqa: F401  (the module fixture and helper)

from purify_tf.errors import ConfigError
from purify_tf.model_io import trained_on
from purify_tf.models.symmetry import flip_symmetric
from purify_tf.models.transformer import ILLUMINATION_LAYER, build_transformer
from purify_tf.models.warm_start import copy_transformer_weights, weighted_layers

H, W = 32, 48


def _tiny(seed: int, **kw):
    """A tiny residual transformer whose weights are all drawn (a new residual network is the identity,
    whatever its seed: its output layer starts at zero)."""
    tf.keras.utils.set_random_seed(seed)
    model = build_transformer("tiny", dropout_rate=0.0, residual=True, **kw)
    rng = np.random.default_rng(seed)
    for name, layer in weighted_layers(model).items():
        if name != ILLUMINATION_LAYER:
            for w in layer.weights:
                w.assign(np.asarray(w.numpy()) + rng.normal(0, 0.05, w.shape).astype(np.float32) ** 2)
    return model


def _f_w_weights(model) -> dict[str, list[np.ndarray]]:
    return {name: [np.asarray(w.numpy(), np.float32) for w in layer.weights]
            for name, layer in weighted_layers(model).items() if name != ILLUMINATION_LAYER}


def test_copy_makes_the_networks_compute_the_same():
    source, target = _tiny(1), _tiny(2)
    x = tf.random.uniform((2, H, W, 3), 0, 255, seed=3)
    assert not np.allclose(source(x, training=False), target(x, training=False))
    copied = copy_transformer_weights(source, target)
    assert copied == sum(len(layer.weights) for layer in weighted_layers(source).values())
    np.testing.assert_allclose(target(x, training=False), source(x, training=False), atol=1e-5)


def test_a_flip_symmetric_and_float16_file_is_read_through_its_nested_network(tmp_path):
    source = _tiny(1)
    symmetric = flip_symmetric(source)
    path = tmp_path / "sym.keras"
    symmetric.save(path)
    from purify_tf.model_io import load_keras_model

    target = _tiny(2)
    copy_transformer_weights(load_keras_model(path), target)
    got, want = _f_w_weights(target), _f_w_weights(source)
    assert got.keys() == want.keys()
    for name in want:
        for a, b in zip(got[name], want[name], strict=True):
            np.testing.assert_array_equal(a, b, err_msg=name)
    # Stored in float16 (as the shipped file is), the weights arrive cast to the new network's dtype.
    half = _tiny(4)
    for w in half.weights:
        w.assign(np.asarray(w.numpy(), np.float16).astype(np.float32))
    copy_transformer_weights(half, target)
    assert all(w.dtype == "float32" for w in target.weights)


def test_the_front_end_is_not_copied():
    source, target = _tiny(1, illumination=True), _tiny(2, illumination=True)
    front = weighted_layers(source)[ILLUMINATION_LAYER]
    front.weights[0].assign(front.weights[0].numpy() + 1.0)
    before = [w.numpy().copy() for w in weighted_layers(target)[ILLUMINATION_LAYER].weights]
    copy_transformer_weights(source, target)
    for w, b in zip(weighted_layers(target)[ILLUMINATION_LAYER].weights, before, strict=True):
        np.testing.assert_array_equal(w.numpy(), b)


def test_another_architecture_is_refused_naming_the_layer():
    with pytest.raises(ConfigError, match=r"shape .* expects"):
        copy_transformer_weights(build_transformer("tiny"), build_transformer("johnson"), source_name="--init_model=x")
    inputs = keras.Input((4,))
    other = keras.Model(inputs, keras.layers.Dense(2, name="head")(inputs))
    with pytest.raises(ConfigError, match=r"--init_model=x has no layer 'head'"):
        copy_transformer_weights(build_transformer("tiny"), other, source_name="--init_model=x")


def test_trainer_starts_from_the_file_and_a_resumed_run_keeps_its_checkpoint(tmp_path, loss_network):  # noqa: F811
    donor = make_trainer(tmp_path / "donor", loss_network)
    donor.train(3)
    path = tmp_path / "donor.keras"
    donor.model.save(path)
    tuned = make_trainer(tmp_path / "tuned", loss_network, init_model=str(path))
    for name, weights in _f_w_weights(donor.model).items():
        for a, b in zip(_f_w_weights(tuned.model)[name], weights, strict=True):
            np.testing.assert_array_equal(a, b, err_msg=name)
    tuned.train(3)
    trained = _f_w_weights(tuned.model)
    # A resumed run restores its own step-3 checkpoint over the starting weights.
    resumed = make_trainer(tmp_path / "tuned", loss_network, init_model=str(path))
    assert resumed.restore() == 3
    for name, weights in trained.items():
        for a, b in zip(_f_w_weights(resumed.model)[name], weights, strict=True):
            np.testing.assert_array_equal(a, b, err_msg=name)


def test_card_names_what_the_starting_weights_saw():
    start = {"datasets": ["purify-tf built-in renderer (synthetic eyes, style set and twins)",
                          "the front end's centre: the mean coarse luminance map of 40 eyes from "
                          "../shared/data/mpiigaze-gaze (unlabelled: images only)"],
             "licence": "CC BY-NC-SA 4.0 (trained on MPIIGaze images)"}
    # f_W trained on the renderer, centred on MPIIGaze: the centre is not copied, nor its licence.
    tuned = trained_on({"content_source": {"content": "folder", "content_dir": "/data/my_eyes"},
                        "init_model": {"path": "p.keras", "trained_on": start}})
    assert len(tuned["datasets"]) == 2 and "/data/my_eyes" in tuned["datasets"][1]  # the renderer once
    assert not any("centre" in d for d in tuned["datasets"])
    assert "datasets named above" in tuned["licence"]
    # Weights that saw MPIIGaze images pass that on.
    start_real = {"datasets": ["labelled images from ../shared/data/mpiigaze-gaze (unlabelled: images only)"]}
    tuned = trained_on({"content_source": {"content": "renderer"}, "init_model": {"trained_on": start_real}})
    assert tuned["licence"] == "CC BY-NC-SA 4.0 (trained on MPIIGaze images)"
    assert "mpiigaze-gaze" in tuned["datasets"][-1] and "through the --init_model weights" in tuned["datasets"][-1]


@pytest.mark.slow
def test_trainer_fine_tunes_the_shipped_file_and_refuses_another_architecture(tmp_path):
    """`python -m trainers.purify --init_model=pretrained`: the run starts from the package's f_W and
    its metadata names the file; a transformer of another architecture stops it with the layer named."""
    import json

    from test_faults import TINY, run_trainer

    from purify_tf.model_io import sha256_file
    from purify_tf.pretrained import pretrained_path

    shipped = ["--residual", "--illumination", "--style=renderer", "--style_set_size=24", "--train_steps=2",
               "--init_model=pretrained"]
    rc, log = run_trainer(tmp_path / "tuned", *[a for a in TINY if not a.startswith("--train_steps")], *shipped)
    assert rc == 0, log[-3000:]
    assert "f_W starts from" in log
    meta = json.loads((tmp_path / "tuned" / "purifier.json").read_text())
    assert meta["init_model"]["sha256"] == sha256_file(pretrained_path())
    rc, log = run_trainer(tmp_path / "other", *TINY, "--config=johnson", "--init_model=pretrained")
    assert rc == 2 and "error: --init_model=" in log and "res5_conv1" in log, log[-3000:]  # johnson: 5 blocks
