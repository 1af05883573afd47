"""The flip-symmetric purifier: exactly equivariant to a horizontal flip, same weights, saved and loaded."""

from __future__ import annotations

import numpy as np
import pytest

from purify_tf.errors import ConfigError
from purify_tf.model_io import load_keras_model
from purify_tf.models.symmetry import flip_symmetric, is_flip_symmetric
from purify_tf.models.transformer import build_transformer, front_end_of


def _eyes(n: int = 2) -> np.ndarray:
    return np.random.default_rng(0).uniform(0, 255, (n, 16, 24, 3)).astype(np.float32)


def assign_random_output_weights(model, seed: int) -> None:
    """What training does to f_W's zero-initialised output conv, in one draw."""
    conv = model.get_layer("output_conv")
    rng = np.random.default_rng(seed)
    conv.set_weights([rng.normal(0, 0.05, w.shape).astype(np.float32) for w in conv.get_weights()])


@pytest.fixture(scope="module")
def trained_like():
    """A tiny residual transformer whose output conv is not zero (a fresh one is the identity)."""
    model = build_transformer("tiny", residual=True)
    assign_random_output_weights(model, seed=3)
    return model


def test_flip_symmetric_is_equivariant_and_the_original_is_not(trained_like):
    x = _eyes()
    sym = flip_symmetric(trained_like)
    out, out_of_mirror = sym(x).numpy(), sym(x[:, :, ::-1]).numpy()[:, :, ::-1]
    np.testing.assert_allclose(out, out_of_mirror, atol=1e-3)
    plain = trained_like(x).numpy()
    assert np.abs(plain - trained_like(x[:, :, ::-1]).numpy()[:, :, ::-1]).max() > 0.5
    # The residual is the mean of the two passes: NumPy reference from the plain model's residuals.
    r_plain = np.arctanh(np.clip((plain - x) / 127.5, -0.999999, 0.999999))
    mirrored = trained_like(x[:, :, ::-1]).numpy()
    r_mirror = np.arctanh(np.clip((mirrored - x[:, :, ::-1]) / 127.5, -0.999999, 0.999999))[:, :, ::-1]
    want = np.clip(x + 127.5 * np.tanh((r_plain + r_mirror) / 2), 0, 255)
    inside = (plain > 1) & (plain < 254) & (mirrored[:, :, ::-1] > 1) & (mirrored[:, :, ::-1] < 254)
    np.testing.assert_allclose(out[inside], want[inside], atol=0.05)


def test_flip_symmetric_shares_weights_and_survives_saving(trained_like, tmp_path):
    sym = flip_symmetric(trained_like)
    assert is_flip_symmetric(sym) and not is_flip_symmetric(trained_like)
    assert sym.count_params() == trained_like.count_params()
    path = tmp_path / "sym.keras"
    sym.save(path)
    loaded = load_keras_model(path)
    assert is_flip_symmetric(loaded)
    np.testing.assert_allclose(loaded(_eyes()).numpy(), sym(_eyes()).numpy(), atol=1e-4)
    with pytest.raises(ConfigError, match="already flip-symmetric"):
        flip_symmetric(sym)


def test_flip_symmetric_keeps_one_front_end_on_the_eye_as_given():
    model = build_transformer("tiny", residual=True, illumination=True)
    sym = flip_symmetric(model)
    assert front_end_of(sym) is front_end_of(model)
    # A fresh residual transformer is its front end alone; so is its flip-symmetric version.
    x = _eyes()
    np.testing.assert_allclose(sym(x).numpy(), model(x).numpy(), atol=1e-3)


def test_flip_symmetric_refuses_what_it_cannot_mirror():
    with pytest.raises(ConfigError, match="residual transformer"):
        flip_symmetric(build_transformer("tiny"))
    with pytest.raises(ConfigError, match="raw_beside"):
        flip_symmetric(build_transformer("tiny", residual=True, illumination=True, raw_beside=True))


def test_symmetric_command_writes_a_symmetric_copy_with_the_original_scores_apart(trained_like, tmp_path, capsys):
    import json

    from purify_tf import cli
    from purify_tf.model_io import sha256_file, write_model_metadata

    path = tmp_path / "purifier.keras"
    trained_like.save(path)
    write_model_metadata(path, {"image_size": [16, 24], "scores": {"gap_share": {"kNN": 0.5}}})
    out = tmp_path / "sym.keras"
    assert cli.main(["symmetric", f"--model={path}", f"--out={out}"]) == cli.EXIT_OK
    assert "flip-symmetric copy" in capsys.readouterr().out
    copy = load_keras_model(out)
    x = _eyes()
    np.testing.assert_allclose(copy(x).numpy(), copy(x[:, :, ::-1]).numpy()[:, :, ::-1], atol=1e-3)
    card = json.loads(out.with_suffix(".json").read_text())
    assert "scores" not in card and card["scores_before_flip_symmetry"] == {"gap_share": {"kNN": 0.5}}
    assert card["flip_symmetric"]["enabled"] is True and card["sha256"] == sha256_file(out)
    # Refused with the reason: already symmetric, the input itself, a non-.keras name, a missing model.
    for args, message in (([f"--model={out}", f"--out={tmp_path / 'again.keras'}"], "already flip-symmetric"),
                          ([f"--model={path}", f"--out={path}"], "is the input model"),
                          ([f"--model={path}", f"--out={tmp_path / 'x.h5'}"], "must end in .keras"),
                          ([f"--model={tmp_path / 'missing.keras'}", f"--out={tmp_path / 'x.keras'}"], "--model")):
        assert cli.main(["symmetric", *args]) == cli.EXIT_USAGE, args
        assert message in capsys.readouterr().err, args


def test_flip_symmetric_survives_a_precision_change(trained_like):
    """purify-tf purify casts a model to bfloat16 on AMX cores (with_precision clones it)."""
    from purify_tf.models.transformer import with_precision

    sym = flip_symmetric(trained_like)
    half = with_precision(sym, "bfloat16")
    assert is_flip_symmetric(half)
    # The nested f_W is cast too (its variables as the plain model's are), not left at float32.
    assert sorted(str(v.dtype) for v in half.weights) == sorted(
        str(v.dtype) for v in with_precision(trained_like, "bfloat16").weights)
    assert "bfloat16" in {str(v.dtype) for v in half.weights}
    x = _eyes()
    np.testing.assert_allclose(half(x).numpy(), sym(x).numpy(), atol=3.0)
    # bfloat16 sums in a different order on the mirrored eye: equivariant to a fraction of a grey level.
    np.testing.assert_allclose(half(x).numpy(), half(x[:, :, ::-1]).numpy()[:, :, ::-1], atol=0.5)


UPDATE_CARD_DRIVER = """
import json, os, sys
import purify_tf.experiments.real_gaze as real_gaze
import purify_tf.experiments.scorecard as scorecard
from absl import flags
import export.pretrained as entry
# The scorers have their own tests; here they stand in so that the card's bookkeeping is what is tested.
scorecard.score_purifier = lambda model, h, w, **kw: {"measured": "renderer", "image_size": [h, w],
                                                       "run": os.environ.get("RUN_TAG")}
real_gaze.card_scores = lambda model, labels_dir, eval_subjects=None: {"rows": [], "labels_dir": labels_dir}
flags.FLAGS(["prog", *sys.argv[1:]])
sys.exit(entry.main([]))
"""


@pytest.mark.slow
def test_update_card_makes_the_shipped_purifier_flip_symmetric(trained_like, tmp_path):
    """export.pretrained --update_card --flip_symmetric: a new signed file whose card keeps the earlier
    scores apart and measures again; a second run leaves the file as it is; one change per update."""
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    from purify_tf.pretrained import load_pretrained, save_pretrained

    folder = tmp_path / "shipped"
    save_pretrained(trained_like, {"image_size": [16, 24], "scores": {"gap_share": {"kNN": 0.5}}}, folder)
    repo = Path(__file__).resolve().parents[1]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=str(repo))

    def update(*flags: str, tag: str = "first", update_card: str = "--update_card",
               out_dir: Path = folder) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-c", UPDATE_CARD_DRIVER, update_card, f"--out_dir={out_dir}",
                               f"--real_gaze_dir={tmp_path}", *flags], cwd=repo, env={**env, "RUN_TAG": tag},
                              capture_output=True, text=True, timeout=120)

    proc = update("--flip_symmetric")
    assert proc.returncode == 0, proc.stderr[-2000:]
    model = load_pretrained(folder)  # checks the new file against its card's sha256
    assert is_flip_symmetric(model)
    x = _eyes()
    np.testing.assert_allclose(model(x).numpy(), model(x[:, :, ::-1]).numpy()[:, :, ::-1], atol=1e-2)
    card = json.loads((folder / "purifier.json").read_text())
    assert card["scores_before_flip_symmetry"] == {"gap_share": {"kNN": 0.5}}
    assert card["scores"]["measured"] == "renderer" and card["scores"]["real_gaze"]["labels_dir"] == str(tmp_path)
    assert card["flip_symmetric"]["enabled"] is True and card["storage_dtype"] == "float16"
    from purify_tf.model_io import load_keras_model

    assert "float16" in {str(v.dtype) for v in load_keras_model(folder / "purifier.keras").weights}
    sha = card["sha256"]
    proc = update("--flip_symmetric")  # already symmetric: the table again, the file and its scores kept
    assert proc.returncode == 0, proc.stderr[-2000:]
    again = json.loads((folder / "purifier.json").read_text())
    assert again["sha256"] == sha and again["scores_before_flip_symmetry"] == {"gap_share": {"kNN": 0.5}}
    # Without --rescore a card with scores keeps its renderer figures; with it they are measured again.
    proc = update(tag="second")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads((folder / "purifier.json").read_text())["scores"]["run"] == "first"
    proc = update("--rescore", tag="third")
    assert proc.returncode == 0, proc.stderr[-2000:]
    rescored = json.loads((folder / "purifier.json").read_text())
    assert rescored["scores"]["run"] == "third" and rescored["sha256"] == sha
    assert load_pretrained(folder) is not None  # the same signed file
    proc = update("--rescore", f"--model={folder / 'purifier.keras'}", update_card="--noupdate_card")
    assert proc.returncode != 0 and "--rescore re-measures a shipped card" in proc.stderr
    proc = update("--flip_symmetric", f"--centre_dir={tmp_path}")
    assert proc.returncode != 0 and "one of --centre_dir and --flip_symmetric" in proc.stderr
    # --centre_dir: the first centre keeps the uncentred scores; centring again keeps the earlier centre's
    # scores (real table included) and record apart. The centre is mirror-symmetric unless asked not to.
    from gaze_fixtures import write_labelled

    from purify_tf.data.renderer import render_eyes
    from purify_tf.luminance_prior import fit_luminance_prior
    from purify_tf.models.transformer import build_transformer, front_end_of

    with_front_end = build_transformer("tiny", residual=True, illumination=True)
    front_end_of(with_front_end).set_prior(fit_luminance_prior(render_eyes(64, 36, 60, domain="synthetic", seed=3)["image"]))
    folder = tmp_path / "with_front_end"
    save_pretrained(with_front_end, {"image_size": [16, 24], "scores": {"run": "third"}}, folder)
    eyes = tmp_path / "eyes"
    write_labelled(eyes, n_per_subject=40, subjects=("a", "b"))
    proc = update(f"--centre_dir={eyes}", "--nosymmetric_centre", tag="centred", out_dir=folder)
    assert proc.returncode == 0, proc.stderr[-2000:]
    first = json.loads((folder / "purifier.json").read_text())
    assert first["scores_before_centre"]["run"] == "third" and "scores_before_recentre" not in first
    assert first["front_end_centre"]["mirror_symmetric"] is False
    assert first["front_end_centre"]["centre"] == first["front_end_centre"]["measured_mean_map"]
    proc = update(f"--centre_dir={eyes}", tag="recentred", out_dir=folder)
    assert proc.returncode == 0, proc.stderr[-2000:]
    second = json.loads((folder / "purifier.json").read_text())
    assert second["scores_before_centre"]["run"] == "third"  # the uncentred scores stay where they were
    assert second["scores_before_recentre"]["run"] == "centred" and "real_gaze" in second["scores_before_recentre"]
    assert second["front_end_centre_before"] == first["front_end_centre"] and second["scores"]["run"] == "recentred"
    centre = np.asarray(second["front_end_centre"]["centre"]).reshape(3, 3)
    np.testing.assert_allclose(centre, centre[:, ::-1], atol=1e-4)
    load_pretrained(folder)  # the new file is signed
