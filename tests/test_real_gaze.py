"""The labelled-folder reader and the real-gaze table (the paper's Table 3 on real eyes).

Fixtures are labelled folders written here from renderer eyes (exact labels), so every test runs
without ../shared; one test reads a few dozen shared MPIIGaze eyes when they are present.
"""

from __future__ import annotations

import csv
import json
import re

import numpy as np
import pytest
from gaze_fixtures import write_labelled

from purify_tf.data.labelled import read_labelled, read_labels
from purify_tf.data.readers import detect_kind, read_dataset
from purify_tf.data.renderer import render_eyes
from purify_tf.errors import ConfigError, DataError
from purify_tf.experiments import real_gaze as rg
from purify_tf.gaze.estimators import make_estimator
from purify_tf.hyperparameters import LABEL_HEAD_PITCH_SIGN, REAL_CROP_EYE_SCALE
from purify_tf.vectors import angular_error_deg, pitchyaw_to_vector


def test_reader_round_trip_and_registry(tmp_path):
    write_labelled(tmp_path, n_per_subject=3, subjects=("a", "b"))
    got = read_dataset("auto", tmp_path)
    assert detect_kind(tmp_path) == "labelled"
    assert got["image"].shape == (6, 36, 60, 3) and got["image"].dtype == np.uint8
    ref = render_eyes(3, 36, 60, domain="real", seed=1)
    np.testing.assert_array_equal(got["image"][3:], ref["image"])  # PNG is lossless
    np.testing.assert_allclose(got["pitchyaw"][3:], ref["pitchyaw"], atol=1e-5)
    assert angular_error_deg(got["gaze"], pitchyaw_to_vector(got["pitchyaw"])).max() < 1e-3
    assert list(got["subject"]) == ["a"] * 3 + ["b"] * 3
    assert np.isnan(got["head_pitchyaw"]).all()
    only_b = read_labelled(tmp_path, subjects=["b"], size=(24, 40))
    assert only_b["image"].shape == (3, 24, 40, 3) and set(only_b["subject"]) == {"b"}


def test_reader_takes_gaze_vectors(tmp_path):
    write_labelled(tmp_path, n_per_subject=4, subjects=("a",), columns=["file", "gaze_x", "gaze_y", "gaze_z"])
    got = read_labelled(tmp_path)
    ref = render_eyes(4, 36, 60, domain="real", seed=0)
    assert angular_error_deg(got["gaze"], ref["gaze"]).max() < 1e-3
    assert list(got["subject"]) == [""] * 4


@pytest.mark.parametrize("edit, message", [
    (lambda rows: rows[2].__setitem__(0, "a/missing.png"), "row 3: image file"),
    (lambda rows: rows[1].__setitem__(4, "up"), "row 2: column 'pitch' should be a number, got 'up'"),
    (lambda rows: rows[0].__setitem__(4, "yaw_deg"), "missing gaze columns"),
    (lambda rows: rows[0].__setitem__(0, "path"), "missing column 'file'"),
])
def test_reader_errors_name_the_row(tmp_path, edit, message):
    write_labelled(tmp_path, n_per_subject=3, subjects=("a",))
    with (tmp_path / "labels.csv").open() as handle:
        rows = list(csv.reader(handle))
    edit(rows)
    with (tmp_path / "labels.csv").open("w", newline="") as handle:
        csv.writer(handle).writerows(rows)
    with pytest.raises(DataError, match=message):
        read_labelled(tmp_path)


def test_reader_skips_an_undecodable_image(tmp_path):
    write_labelled(tmp_path, n_per_subject=3, subjects=("a",))
    (tmp_path / "a" / "1.png").write_bytes(b"not an image")
    got = read_labelled(tmp_path)
    assert len(got["image"]) == 2 and int(got["skipped"]) == 1
    assert not any(p.endswith("a/1.png") for p in got["path"])


def test_missing_labels_file_and_filters(tmp_path):
    with pytest.raises(DataError, match="labels.csv"):
        read_labels(tmp_path)
    write_labelled(tmp_path, n_per_subject=2, subjects=("a",), columns=["file", "pitch", "yaw"])
    with pytest.raises(DataError, match="'subject' column"):
        read_labels(tmp_path, subjects=["a"])
    assert len(read_labels(tmp_path, flipped=False)) == 2  # no flipped column: nothing is flipped
    with pytest.raises(DataError, match="no rows"):
        read_labels(tmp_path, flipped=True)


def test_split_subjects_is_disjoint_and_stated():
    assert rg.split_subjects(["p3", "p1", "p0", "p2"]) == (("p0", "p1"), ("p2", "p3"))
    assert rg.split_subjects(["a", "b", "c"], evaluate=["a"]) == (("b", "c"), ("a",))
    with pytest.raises(ConfigError, match="overlap"):
        rg.split_subjects(["a", "b"], train=["a"], evaluate=["a", "b"])
    with pytest.raises(DataError, match="not in the labels"):
        rg.split_subjects(["a", "b"], train=["z"])
    with pytest.raises(DataError, match="at least 2 subjects"):
        rg.split_subjects(["a"])


def test_gaze_overrides_follow_the_labels():
    rng = np.random.default_rng(0)
    labels = np.column_stack([rng.normal(-0.15, 0.08, 500), rng.normal(0.02, 0.14, 500)])
    out = rg.gaze_overrides(labels, None, 4000, np.random.default_rng(1))
    drawn = np.column_stack([out["pitch"], out["yaw"]])
    np.testing.assert_allclose(drawn.mean(0), labels.mean(0), atol=0.01)
    np.testing.assert_allclose(drawn.std(0), np.hypot(labels.std(0), rg.LABEL_JITTER), rtol=0.05)
    assert "head_pitch" not in out
    eyes = rg.synthetic_training_set(8, 36, 60, seed=0, pitchyaw=labels)
    assert np.abs(eyes["pitchyaw"][:, 0] - (-0.15)).max() < 0.5


def test_head_pitch_sign_decides_where_the_synthetic_pupils_sit(tmp_path):
    """Labels whose head pitch is +0.2 rad: read as MPIIGaze writes it (sign -1, face down) the renderer
    puts the eyeball higher behind the lids than read as written (+1, face up), so the synthetic pupils
    sit higher in the crop; a sign other than -1 or 1 is refused."""
    write_labelled(tmp_path, n_per_subject=30, subjects=("a", "b", "c"), head=(0.2, 0.0))
    settings = dict(labels_dir=str(tmp_path), train_subjects=("a", "b"), test_per_subject=5, n_synthetic=200,
                    n_floor=20)
    assert rg.RealGazeConfig(**settings).head_pitch_sign == LABEL_HEAD_PITCH_SIGN == -1.0
    flipped = rg.load_real_gaze_data(rg.RealGazeConfig(**settings)).synthetic
    as_written = rg.load_real_gaze_data(rg.RealGazeConfig(**settings, head_pitch_sign=1.0)).synthetic
    assert flipped["pupil_center"][:, 1].mean() < as_written["pupil_center"][:, 1].mean() - 1.0
    # The gaze the synthetic eyes are drawn with is the same either way: only the head moved.
    np.testing.assert_allclose(flipped["pitchyaw"], as_written["pitchyaw"])
    with pytest.raises(ConfigError, match="head_pitch_sign"):
        rg.RealGazeConfig(**settings, head_pitch_sign=0.5)


def test_synthetic_eye_scale_shrinks_the_eye_and_keeps_the_default_set():
    """At scale 1 the synthetic set is the renderer's own draw, bit for bit; below 1 the same eyes
    (same gaze) are drawn smaller: a smaller iris and pupil in the mask."""
    rng = np.random.default_rng(0)
    labels = np.column_stack([rng.normal(-0.15, 0.08, 50), rng.normal(0.02, 0.14, 50)])
    default = rg.synthetic_training_set(16, 36, 60, seed=3, pitchyaw=labels)
    same = rg.synthetic_training_set(16, 36, 60, seed=3, pitchyaw=labels, eye_scale=1.0)
    small = rg.synthetic_training_set(16, 36, 60, seed=3, pitchyaw=labels, eye_scale=0.7)
    np.testing.assert_array_equal(default["image"], same["image"])
    np.testing.assert_array_equal(default["gaze"], small["gaze"])
    eye_area = lambda eyes: (eyes["mask"] > 0).sum(axis=(1, 2))  # noqa: E731
    assert (eye_area(small) < eye_area(default)).mean() > 0.8
    assert eye_area(small).mean() < 0.75 * eye_area(default).mean()
    with pytest.raises(Exception, match="synthetic_eye_scale"):
        rg.RealGazeConfig(labels_dir=".", synthetic_eye_scale=0.0)


def test_axis_correlation_and_mean_prediction():
    rng = np.random.default_rng(0)
    truth = np.column_stack([rng.normal(-0.1, 0.1, 200), rng.normal(0, 0.15, 200)])
    flipped = truth * np.array([1.0, -1.0])
    r = rg.axis_correlation(pitchyaw_to_vector(flipped), pitchyaw_to_vector(truth))
    assert r["pitch"] > 0.99 and r["yaw"] < -0.99
    spread = rg.axis_spread(pitchyaw_to_vector(truth))
    assert spread["pitch"] == pytest.approx(np.degrees(truth[:, 0].std()), rel=0.02)
    assert spread["yaw"] == pytest.approx(np.degrees(truth[:, 1].std()), rel=0.02)
    shifted = truth + np.radians([2.0, -3.0])
    bias = rg.axis_bias(pitchyaw_to_vector(shifted), pitchyaw_to_vector(truth))
    assert bias["pitch"] == pytest.approx(2.0, abs=0.05) and bias["yaw"] == pytest.approx(-3.0, abs=0.1)
    assert rg.axis_bias(pitchyaw_to_vector(truth), pitchyaw_to_vector(truth)) == pytest.approx({"pitch": 0, "yaw": 0})
    # A constant shift is all offset: removed, the error is 0; a noisy prediction keeps its noise.
    assert rg.offset_removed_error(pitchyaw_to_vector(shifted), pitchyaw_to_vector(truth)) < 0.2
    noisy = truth + np.radians(rng.normal(0, 3.0, truth.shape)) + np.radians([2.0, 0.0])
    kept = rg.offset_removed_error(pitchyaw_to_vector(noisy), pitchyaw_to_vector(truth))
    assert 2.5 < kept < angular_error_deg(pitchyaw_to_vector(noisy), pitchyaw_to_vector(truth)).mean()
    mean = rg.mean_gaze_prediction(pitchyaw_to_vector(truth), 3)
    assert mean.shape == (3, 3) and np.allclose(np.linalg.norm(mean, axis=1), 1)


class _Oracle:
    """Predicts from a lookup of the exact test images: a stand-in estimator with known errors."""

    def __init__(self, truth: dict[bytes, np.ndarray], noise: float):
        self.truth, self.noise = truth, noise

    def fit(self, X, gaze):
        return self

    def predict(self, X):
        out = np.stack([self.truth.get(x.tobytes(), np.array([0.0, 0.0, -1.0])) for x in X])
        out = out + self.noise * np.random.default_rng(0).standard_normal(out.shape)
        return out / np.linalg.norm(out, axis=1, keepdims=True)


def test_table_rows_intervals_and_gap_share(tmp_path):
    write_labelled(tmp_path, n_per_subject=10, subjects=("a", "b", "c", "d"))
    cfg = rg.RealGazeConfig(labels_dir=str(tmp_path), test_per_subject=10, n_synthetic=40, n_floor=20,
                            n_boot=200)
    data = rg.load_real_gaze_data(cfg)
    assert data.train_subjects == ("a", "b") and data.eval_subjects == ("c", "d")
    assert set(data.test["subject"]) == {"c", "d"} and len(data.test["image"]) == 20
    # The kNN on the synthetic set vs a purifier that returns the exact synthetic twins of the test eyes.
    from purify_tf.data.image_io import to_gaze_input

    twins = np.concatenate([render_eyes(10, 36, 60, domain="synthetic", seed=k)["image"] for k in (2, 3)])
    truth = {x.tobytes(): g for x, g in zip(to_gaze_input(twins), data.test["gaze"], strict=True)}
    result = rg.run_real_gaze(cfg, lambda: {"oracle": _Oracle(truth, 0.0)}, {"twins": lambda raw: twins},
                              data=data)
    rows = {r["row"]: r for r in result["rows"]}
    assert list(rows)[:3] == [rg.MEAN_GAZE, rg.FLOOR, rg.RAW] and "twins" in rows and rg.MEAN_CONTRAST in rows
    assert rows["twins"]["mean_error_deg"]["oracle"] < 1e-3
    vs = rows["twins"]["vs_raw"]["oracle"]
    assert vs["delta_hi"] < 0 and vs["delta_deg"] == pytest.approx(-rows[rg.RAW]["mean_error_deg"]["oracle"], abs=1e-3)
    assert "c, d" in result["split"] and "never enter" in result["split"]
    # Ten of each subject's ten eyes: the split says the test set is every eye, not a draw.
    assert data.notes["test_pool_per_subject"] == [10, 10] and "every eye of each subject" in result["split"]
    # The exact twins lie on the synthetic set's manifold: nearer to its eyes than the raw eyes are.
    assert 0 <= rows["twins"]["synthetic_reach"] < rows[rg.RAW]["synthetic_reach"]
    assert rows["twins"]["axis_spread_deg"]["oracle"] == pytest.approx(result["truth_spread_deg"], rel=1e-3)
    assert rows["twins"]["axis_bias_deg"]["oracle"] == pytest.approx(
        {"pitch": 0, "yaw": 0, "offset_removed_error": 0}, abs=1e-3)
    assert "twins" in rg.real_gaze_markdown(result)
    assert "lower error than raw for 1 of 1" in rg.summary_line(result, "twins")
    # Against predicting the mean gaze, paired over the same eyes: the twins beat it, with an interval.
    vm = rows["twins"]["vs_mean"]["oracle"]
    assert vm["delta_hi"] < 0 and vm["delta_deg"] == pytest.approx(-rows[rg.MEAN_GAZE]["mean_error_deg"]["oracle"], abs=1e-3)
    assert "vs_mean" in rows[rg.RAW] and "vs_mean" not in rows[rg.FLOOR] and "vs_mean" not in rows[rg.MEAN_GAZE]
    assert "below predicting the mean gaze (interval below zero) for 1 of 1: oracle" in rg.summary_line(result, "twins")


def test_draw_description_says_whether_the_test_eyes_are_a_draw():
    assert rg.draw_description(200, [1500, 1500]) == "200 per subject, drawn from each subject's 1500"
    assert rg.draw_description(1500, [1500, 1500]) == "every eye of each subject"
    assert rg.draw_description(400, [300, 1500]) == "at most 400 per subject, drawn from each subject's 300-1500"
    assert rg.draw_description(200, None) == "200 per subject"
    assert rg.draw_description(None, [300, 1500]) == rg.draw_description(None, None) == "every eye of each subject"


def test_test_per_subject_none_tests_every_eye_of_unequal_subjects(tmp_path):
    """The model card's setting (CARD_TEST_PER_SUBJECT): every eye, however many each subject has."""
    root = write_labelled(tmp_path / "eyes", n_per_subject=6, subjects=("a", "b", "c"))
    more = write_labelled(tmp_path / "more", n_per_subject=9, subjects=("d",), seed=50)
    with open(root / "labels.csv", "a") as f:  # subject d with 9 eyes beside c's 6
        for line in (more / "labels.csv").read_text().splitlines()[1:]:
            name = line.split(",")[0]
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            (root / name).write_bytes((more / name).read_bytes())
            f.write(line + "\n")
    cfg = rg.RealGazeConfig(labels_dir=str(root), train_subjects=("a", "b"), test_per_subject=None,
                            n_synthetic=20, n_floor=12)
    data = rg.load_real_gaze_data(cfg)
    assert sorted(np.unique(data.test["subject"], return_counts=True)[1].tolist()) == [6, 9]
    assert data.notes["test_pool_per_subject"] == [6, 9]
    assert rg.CARD_TEST_PER_SUBJECT is None
    with pytest.raises(ConfigError, match="test_per_subject"):
        rg.RealGazeConfig(labels_dir=str(root), test_per_subject=0)


def test_estimators_read_gaze_on_real_domain_eyes(tmp_path):
    """End to end with a real estimator (kNN) on a few dozen eyes: the floor (trained on real-domain
    eyes of other subjects) beats predicting the mean, the table has every row."""
    write_labelled(tmp_path, n_per_subject=40, subjects=("a", "b", "c"))
    cfg = rg.RealGazeConfig(labels_dir=str(tmp_path), train_subjects=("a", "b"), test_per_subject=40,
                            n_synthetic=200, n_floor=80, n_boot=100, synthetic_gaze="renderer")
    result = rg.run_real_gaze(cfg, lambda: {"kNN": make_estimator("knn")}, {})
    rows = {r["row"]: r for r in result["rows"]}
    assert rows[rg.FLOOR]["mean_error_deg"]["kNN"] < rows[rg.MEAN_GAZE]["mean_error_deg"]["kNN"]
    assert result["n_test"] == 40 and result["eval_subjects"] == ["c"]


def test_synthetic_draws_average_the_per_eye_error_over_the_draws(tmp_path):
    """With two synthetic draws each row's error is the mean over them: draw 0 is the single-set table
    itself, draw 1 another render of the renderer, and the row keeps each draw's mean error."""
    write_labelled(tmp_path, n_per_subject=30, subjects=("a", "b", "c"))
    settings = dict(labels_dir=str(tmp_path), train_subjects=("a", "b"), test_per_subject=30, n_synthetic=120,
                    n_floor=60, n_boot=50, synthetic_gaze="renderer")
    knn = lambda: {"kNN": make_estimator("knn")}  # noqa: E731
    both = rg.run_real_gaze(rg.RealGazeConfig(**settings, synthetic_draws=2), knn, {})
    first = rg.run_real_gaze(rg.RealGazeConfig(**settings), knn, {})
    with pytest.raises(Exception, match="synthetic_draws"):
        rg.RealGazeConfig(**settings, synthetic_draws=0)
    rows, single = ({r["row"]: r for r in result["rows"]} for result in (both, first))
    for name in (rg.RAW, rg.MEAN_CONTRAST):
        draws = rows[name]["per_draw_error_deg"]["kNN"]
        assert len(draws) == 2 and draws[0] == pytest.approx(single[name]["mean_error_deg"]["kNN"], abs=1e-9)
        assert draws[0] != draws[1]  # another synthetic set, other neighbours
        assert rows[name]["mean_error_deg"]["kNN"] == pytest.approx(np.mean(draws), abs=1e-6)
    # The floor and the mean-gaze reference do not depend on the synthetic sets.
    assert both["per_eye"][rg.FLOOR] == first["per_eye"][rg.FLOOR]
    assert "per_draw_error_deg" not in single[rg.RAW]
    assert both["synthetic_draws"] == 2 and "mean over 2" in both["split"]
    # The default synthetic eyes are drawn smaller than the renderer's own, and the split says so.
    assert both["config"]["synthetic_eye_scale"] == REAL_CROP_EYE_SCALE < 1
    assert f"drawn at {REAL_CROP_EYE_SCALE:g} of the renderer's eye size" in both["split"]


def test_shared_mpiigaze_labels(shared_dir):
    path = shared_dir / "data" / "mpiigaze-gaze"
    if not (path / "labels.csv").is_file():
        pytest.skip("../shared/data/mpiigaze-gaze is not present")
    got = read_labelled(path, subjects=["p00"], eyes=["left"], limit=24)
    assert got["image"].shape == (24, 36, 60, 3)
    # The CSV's pitch/yaw and its gaze vector describe the same direction.
    rows = read_labels(path, subjects=["p00"], eyes=["left"])[:24]
    assert angular_error_deg(got["gaze"], pitchyaw_to_vector(np.stack([r["pitchyaw"] for r in rows]))).max() < 1e-3
    assert np.isfinite(got["head_pitchyaw"]).all()
    right = read_labelled(path, subjects=["p00"], flipped=True, limit=8)
    assert set(right["eye"]) == {"right"} and np.isnan(right["head_pitchyaw"]).any(axis=1).all()


def test_evaluate_command_prints_the_table(keras_model_file, tmp_path, capsys):
    from purify_tf import cli

    write_labelled(tmp_path / "eyes", n_per_subject=20, subjects=("a", "b", "c", "d"))
    out = tmp_path / "result.json"
    args = ["evaluate", f"--labels={tmp_path / 'eyes'}", f"--model={keras_model_file[1]}", "--estimators=knn",
            "--per_subject=10", "--synthetic_n=60", "--synthetic_eye_scale=0.9", "--pixel_norm=histeq", f"--json={out}"]
    assert cli.main(args) == 0
    captured = capsys.readouterr()
    assert "purify-tf evaluate [" in captured.err and "split: train subjects a, b" in captured.err
    # A line after each fit: the synthetic set's, then the floor's.
    assert "synthetic set 1/1: kNN fitted, 5 image sets tested" in captured.err  # raw, match, 2 front ends, f_W
    assert "floor: kNN fitted on real training eyes" in captured.err
    errors, offsets = captured.out.split(rg.OFFSET_HEADING)
    table = [line for line in errors.splitlines() if line.startswith("| ")]
    assert table[0] == "| eyes | kNN |"
    assert [line.split(" | ")[0][2:] for line in table[1:]] == [
        rg.MEAN_GAZE, rg.FLOOR, rg.RAW, rg.MEAN_CONTRAST, rg.FRONT_END_ONLY, rg.FRONT_END_CENTRED, "transformer"]
    # The offsets: every row the estimators predicted (not the mean gaze), "pitch / yaw" per cell.
    offset_rows = [line for line in offsets.splitlines() if line.startswith("| ")][1:]
    assert [line.split(" | ")[0][2:] for line in offset_rows] == [
        rg.FLOOR, rg.RAW, rg.MEAN_CONTRAST, rg.FRONT_END_ONLY, rg.FRONT_END_CENTRED, "transformer"]
    assert all(re.fullmatch(r"\| .+ \| [+-]\d+\.\d / [+-]\d+\.\d \(\d+\.\d\d\) \| (-|[+-]\d+\.\d\d / [+-]\d+\.\d\d) \|",
                            line) for line in offset_rows), offset_rows
    # The pupil-move column: "-" for the floor and raw (nothing was moved), a signed move for each candidate.
    assert [line.endswith("| - |") for line in offset_rows] == [True, True, False, False, False, False]
    assert "purify-tf: transformer: lower error than raw for" in captured.out
    saved = json.loads(out.read_text())
    assert saved["eval_subjects"] == ["c", "d"] and saved["n_test"] == 20
    assert saved["config"]["synthetic_eye_scale"] == 0.9
    # The estimators' pixel normalisation is stated in the split and recorded beside the table.
    assert saved["config"]["pixel_norm"] == "histeq" and saved["estimator_settings"]["pixel_norm"] == "histeq"
    assert "kNN, SVR, RF and ALR on histogram-equalised pixels" in saved["split"]
    assert len(saved["per_eye"]["raw"]["kNN"]) == 20
    move = next(r for r in saved["rows"] if r["row"] == "transformer")["pupil_move_px"]
    assert move["n"] > 0 and np.isfinite([move["dx"], move["dy"]]).all()


def test_evaluate_command_bad_usage(tmp_path, capsys):
    from purify_tf import cli

    assert cli.main(["evaluate", f"--labels={tmp_path}", "--estimators=knn,xgb"]) == 2
    assert "--estimators" in capsys.readouterr().err
    assert cli.main(["evaluate", f"--labels={tmp_path}", "--estimators=knn", "--model=none.keras"]) == 2
    assert "none.keras" in capsys.readouterr().err
    assert cli.main(["evaluate", f"--labels={tmp_path}", "--estimators=knn"]) == 2
    assert "labels.csv" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["evaluate", f"--labels={tmp_path}", "--synthetic_eye_scale=0"])
    err = capsys.readouterr().err
    assert "--synthetic_eye_scale" in err and "expected a positive number, got 0.0" in err
    with pytest.raises(SystemExit):
        cli.main(["evaluate", f"--labels={tmp_path}", "--pixel_norm=zscore"])
    assert "--pixel_norm" in capsys.readouterr().err
    with pytest.raises(ConfigError, match="pixel_norm"):
        rg.RealGazeConfig(labels_dir=str(tmp_path), pixel_norm="zscore")


def test_report_renders_the_real_gaze_section():
    from purify_tf.experiments.report import _real_gaze_md

    result = {"split": "subject-disjoint: ...", "estimators": ["kNN"], "labels": {"front_end": "front end"},
              "rows": [{"row": rg.RAW, "kind": "raw", "mean_error_deg": {"kNN": 9.0}, "vs_raw": {},
                        "axis_bias_deg": {"kNN": {"pitch": 2.66, "yaw": -0.04, "offset_removed_error": 8.5}}},
                       {"row": "front_end", "kind": "candidate", "mean_error_deg": {"kNN": 8.0},
                        "vs_raw": {"kNN": {"delta_deg": -1.0, "delta_lo": -1.5, "delta_hi": -0.5, "gap_share": 0.5,
                                           "gap_share_lo": 0.25, "gap_share_hi": 0.75}}}]}
    md = "\n".join(_real_gaze_md(result))
    assert "| front_end | 8.00 (-1.00 [-1.50, -0.50]; 50% [25, 75]) |" in md
    assert "| raw | 9.00 |" in md
    assert rg.OFFSET_HEADING in md and "| raw | +2.7 / -0.0 (8.50) |" in md
    assert _real_gaze_md({"skipped": "no folder"})[-1] == "Skipped: no folder"


def test_card_names_every_dataset_and_its_licence():
    from purify_tf.model_io import trained_on

    renderer = trained_on({"content_source": {"content": "renderer"}, "flags": {"content": "renderer"}})
    assert renderer["datasets"] == ["purify-tf built-in renderer (synthetic eyes, style set and twins)"]
    assert renderer["licence"].startswith("Apache-2.0")
    real = trained_on({"content_source": {"content": "labelled", "content_dir": "../shared/data/mpiigaze-gaze"},
                       "flags": {"content_subjects": ["p00", "p01"]}})
    assert len(real["datasets"]) == 2 and "subjects p00, p01" in real["datasets"][1]
    assert real["licence"] == "CC BY-NC-SA 4.0 (trained on MPIIGaze images)"
    own = trained_on({"content_source": {"content": "folder", "content_dir": "/data/my_eyes"}})
    assert "/data/my_eyes" in own["datasets"][1] and "datasets named above" in own["licence"]
    # A front end centred on a dataset's eyes has seen that dataset's images (and carries its licence).
    centred = trained_on({"content_source": {"content": "renderer"}},
                         {"eyes": "../shared/data/mpiigaze-gaze", "subjects": ["p00"], "n_eyes": 40})
    assert len(centred["datasets"]) == 2 and "centre" in centred["datasets"][1] and "subjects p00" in centred["datasets"][1]
    assert centred["licence"] == "CC BY-NC-SA 4.0 (trained on MPIIGaze images)"
    assert "datasets named above" in trained_on({}, {"eyes": "/data/my_eyes", "n_eyes": 40})["licence"]
    # The gaze-consistency term's reader learnt from the renderer's synthetic eyes and gaze, no real label.
    reader = trained_on({"content_source": {"content": "renderer"}, "domain_terms": {"gaze": {"weight": 1.0}}})
    assert len(reader["datasets"]) == 1 and "gaze reader's synthetic eyes" in reader["datasets"][0]
    assert reader["licence"].startswith("Apache-2.0")


def test_evaluate_per_subject_accepts_all():
    from purify_tf import cli

    assert cli._per_subject("all") is None and cli._per_subject("ALL") is None and cli._per_subject("7") == 7
    with pytest.raises(Exception, match="positive integer"):
        cli._per_subject("0")
