"""``purify-tf centre``: a purifier's front end centred on unlabelled eyes (inference.centre)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from gaze_fixtures import write_labelled

from purify_tf import cli
from purify_tf.data.labelled import read_labelled
from purify_tf.data.renderer import render_eyes
from purify_tf.luminance_prior import fit_luminance_prior, mean_coarse_map
from purify_tf.model_io import load_keras_model, sha256_file, write_model_metadata
from purify_tf.models.transformer import build_transformer, front_end_of


@pytest.fixture(scope="module")
def centred_setup(tmp_path_factory):
    """A tiny purifier with a front end (synthetic prior) and its card, and a labelled folder."""
    root = tmp_path_factory.mktemp("centre")
    model = build_transformer("tiny", residual=True, illumination=True)
    front_end_of(model).set_prior(fit_luminance_prior(render_eyes(96, 36, 60, domain="synthetic", seed=3)["image"]))
    path = root / "purifier.keras"
    model.save(path)
    write_model_metadata(path, {"content_source": {"content": "renderer"}, "image_size": [36, 60]})
    write_labelled(root / "eyes", n_per_subject=40, subjects=("a", "b"))
    return root, path


def test_centre_writes_a_copy_centred_on_the_subjects_eyes(centred_setup, capsys):
    root, path = centred_setup
    out = root / "centred.keras"
    before = front_end_of(load_keras_model(path)).prior_mean.numpy().copy()
    assert cli.main(["centre", f"--model={path}", f"--eyes={root / 'eyes'}", "--subjects=a", f"--out={out}"]) == 0
    assert "front end centred (mirror-symmetric mean map) on 40 eyes" in capsys.readouterr().out
    measured = mean_coarse_map(read_labelled(root / "eyes", subjects=["a"])["image"])
    cells = measured.reshape(3, 3)
    want = ((cells + cells[:, ::-1]) / 2).reshape(-1)  # mirror-symmetric: each row averaged with itself reversed
    assert np.abs(cells - cells[:, ::-1]).max() > 1e-3  # (these eyes' mean map is not symmetric by itself)
    centred = load_keras_model(out)
    np.testing.assert_allclose(front_end_of(centred).prior_mean.numpy(), want, atol=1e-5)
    # The input model is untouched, and the copy's other weights are the input's.
    original = load_keras_model(path)
    np.testing.assert_allclose(front_end_of(original).prior_mean.numpy(), before)
    for a, b in zip(original.trainable_weights, centred.trainable_weights, strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    eye = render_eyes(2, 36, 60, domain="real", seed=9)["image"].astype(np.float32)
    assert np.abs(original(eye).numpy() - centred(eye).numpy()).max() > 0.5
    # Its card: the original's, the centre's record (images only), the datasets seen, a fresh signature.
    card = json.loads(out.with_suffix(".json").read_text())
    record = card["front_end_centre"]
    assert record["n_eyes"] == 40 and record["subjects"] == ["a"] and record["labels_read"] is False
    np.testing.assert_allclose(record["centre"], want, atol=1e-4)
    np.testing.assert_allclose(record["measured_mean_map"], measured, atol=1e-4)
    assert record["mirror_symmetric"] is True
    assert card["image_size"] == [36, 60] and card["sha256"] == sha256_file(out)
    assert any("centre" in d for d in card["trained_on"]["datasets"])


def test_centre_asymmetric_keeps_the_mean_map_as_measured(centred_setup, capsys):
    root, path = centred_setup
    out = root / "asymmetric.keras"
    assert cli.main(["centre", f"--model={path}", f"--eyes={root / 'eyes'}", "--subjects=a", "--asymmetric",
                     f"--out={out}"]) == 0
    assert "front end centred (mean map as measured) on 40 eyes" in capsys.readouterr().out
    measured = mean_coarse_map(read_labelled(root / "eyes", subjects=["a"])["image"])
    np.testing.assert_allclose(front_end_of(load_keras_model(out)).prior_mean.numpy(), measured, atol=1e-5)
    assert json.loads(out.with_suffix(".json").read_text())["front_end_centre"]["mirror_symmetric"] is False


def test_mirror_symmetric_against_numpy():
    from purify_tf.inference.centre import mirror_symmetric

    rng = np.random.default_rng(0)
    grid = rng.normal(size=(3, 4))
    got = mirror_symmetric(grid.reshape(-1), (3, 4)).reshape(3, 4)
    np.testing.assert_allclose(got, np.stack([[(row[j] + row[3 - j]) / 2 for j in range(4)] for row in grid]), atol=1e-6)
    np.testing.assert_allclose(got, got[:, ::-1])
    np.testing.assert_allclose(mirror_symmetric(got.reshape(-1), (3, 4)).reshape(3, 4), got, atol=1e-6)


def test_centre_refuses_bad_usage_with_the_reason(centred_setup, tmp_path, capsys):
    root, path = centred_setup
    eyes = root / "eyes"
    bare = tmp_path / "bare.keras"
    build_transformer("tiny").save(bare)
    cases = [
        ([f"--model={bare}", f"--eyes={eyes}", f"--out={tmp_path / 'x.keras'}"], "no illumination front end"),
        ([f"--model={path}", f"--eyes={eyes}", f"--out={path}"], "is the input model"),
        ([f"--model={path}", f"--eyes={eyes}", f"--out={tmp_path / 'x.h5'}"], "must end in .keras"),
        ([f"--model={path}", f"--eyes={tmp_path / 'missing'}", f"--out={tmp_path / 'x.keras'}"], "does not exist"),
        ([f"--model={tmp_path / 'missing.keras'}", f"--eyes={eyes}", f"--out={tmp_path / 'x.keras'}"], "--model"),
    ]
    few = tmp_path / "few"
    write_labelled(few, n_per_subject=5, subjects=("a",))
    cases.append(([f"--model={path}", f"--eyes={few}", f"--out={tmp_path / 'x.keras'}"], "at least 32"))
    for args, message in cases:
        assert cli.main(["centre", *args]) == cli.EXIT_USAGE, args
        assert message in capsys.readouterr().err, args
    assert not (tmp_path / "x.keras").exists()
