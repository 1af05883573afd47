"""Model cards (sha256 seal) and the pretrained purifier loader, on a tiny model made on the fly."""

from __future__ import annotations

import json

import pytest

from purify_tf import model_io, pretrained


def test_sign_keeps_training_facts_and_seals_the_file(tmp_path):
    model = tmp_path / "purifier.keras"
    model.write_bytes(b"weights v1")
    (tmp_path / "purifier.json").write_text(json.dumps({"step": 300, "image_size": [36, 60]}))
    card_file = model_io.write_model_metadata(model, {"objective": "paper", "seed": 3})
    card = json.loads(card_file.read_text())
    assert card_file == tmp_path / "purifier.json"
    assert card["step"] == 300 and card["objective"] == "paper" and card["file_bytes"] == 10
    assert card["sha256"] == model_io.sha256_file(model)
    assert model_io.sha256_status(model, card) == model_io.SHA_OK
    model.write_bytes(b"weights v2")
    assert model_io.sha256_status(model, card) == model_io.SHA_MISMATCH
    assert model_io.sha256_status(model, {}) == model_io.SHA_UNRECORDED
    with pytest.raises(FileNotFoundError, match="does not exist"):
        model_io.write_model_metadata(tmp_path / "missing.keras")


def test_pretrained_location(tmp_path, monkeypatch):
    monkeypatch.delenv(pretrained.ENV_DIR, raising=False)
    assert pretrained.pretrained_path().parent == pretrained.pretrained_dir()
    assert pretrained.pretrained_path().name == "purifier.keras"
    assert pretrained.pretrained_dir().name == "pretrained"  # inside the installed package
    monkeypatch.setenv(pretrained.ENV_DIR, str(tmp_path))
    assert pretrained.pretrained_path() == tmp_path / "purifier.keras"
    assert pretrained.card_path(tmp_path / "x") == tmp_path / "x" / "purifier.json"


def test_load_pretrained(pretrained_dir, keras_model_file):
    model = pretrained.load_pretrained()
    assert model.count_params() == keras_model_file[0].count_params()
    assert pretrained.verified_path(pretrained_dir) == pretrained_dir / "purifier.keras"


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda d: (d / "purifier.keras").unlink(), "not installed"),
        (lambda d: (d / "purifier.json").unlink(), "card .* is missing"),
        (lambda d: (d / "purifier.json").write_text("[1, 2]"), "card .* is damaged"),
        (lambda d: (d / "purifier.keras").write_bytes(b"zip?"), "is damaged: its sha256 does not match"),
    ],
)
def test_unusable_pretrained_model_says_what_to_do(pretrained_dir, damage, message):
    damage(pretrained_dir)
    with pytest.raises(pretrained.PretrainedModelError, match=message) as info:
        pretrained.load_pretrained()
    assert str(pretrained_dir) in str(info.value) and "make pretrained" in str(info.value)


def test_a_resigned_broken_archive_fails_to_load_as_damaged(pretrained_dir):
    (pretrained_dir / "purifier.keras").write_bytes(b"not a zip archive")
    model_io.write_model_metadata(pretrained_dir / "purifier.keras")
    with pytest.raises(pretrained.PretrainedModelError, match="is damaged .*make pretrained"):
        pretrained.load_pretrained()


def test_save_pretrained_halves_the_file_and_loads_back_as_float32(tmp_path):
    """The shipped model stores float16 variables (the package budget) and runs in float32."""
    import numpy as np
    import tensorflow as tf

    from purify_tf.data.renderer import render_eyes
    from purify_tf.luminance_prior import fit_luminance_prior
    from purify_tf.models.transformer import build_transformer, front_end_of

    model = build_transformer("paper", residual=True, illumination=True)
    front_end_of(model).set_prior(
        fit_luminance_prior(render_eyes(64, 32, 48, domain="synthetic", seed=1)["image"]))
    full = tmp_path / "full.keras"
    model.save(full)
    path = pretrained.save_pretrained(model, {"scores": {"kNN": 0.5}}, tmp_path / "pkg")
    assert path.stat().st_size < 0.6 * full.stat().st_size
    card = json.loads(pretrained.card_path(tmp_path / "pkg").read_text())
    assert card["storage_dtype"] == "float16" and card["scores"] == {"kNN": 0.5}
    loaded = pretrained.load_pretrained(tmp_path / "pkg")
    assert all(v.dtype == "float32" for v in loaded.weights)
    x = tf.constant(render_eyes(2, 32, 48, domain="real", seed=2)["image"], tf.float32)
    np.testing.assert_allclose(loaded(x).numpy(), model(x).numpy(), atol=2.0)


@pytest.mark.parametrize("runtime", ["tensorflow", pytest.param("litert", marks=pytest.mark.slow)])
def test_the_shipped_purifier_runs_on_every_inference_path(runtime):
    """The file in the package (not a tiny stand-in) through what users call: purify-tf purify's
    folded TensorFlow graph, and the LiteRT runner (a conversion: slow), against the Keras model."""
    import numpy as np

    from purify_tf.data.renderer import render_eyes
    from purify_tf.inference.purifier import Purifier

    path = pretrained.pretrained_path(pretrained.Path(pretrained.__file__).parent)
    model = pretrained.load_pretrained(path.parent)
    card = json.loads(pretrained.card_path(path.parent).read_text())
    h, w = card["image_size"]
    eyes = render_eyes(4, h, w, domain="real", seed=3)["image"]
    want = np.clip(np.rint(model(eyes.astype(np.float32)).numpy()), 0, 255)
    got = Purifier(model, runtime=runtime, precision="float32", jit="off").purify(eyes)
    assert got.shape == eyes.shape and np.abs(got.astype(float) - want).max() <= 1
