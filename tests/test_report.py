"""The report writer on a small results dict, and the gaze/report trainers end to end on tiny flags."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from gaze_fixtures import write_labelled

from purify_tf.experiments import claims, report, report_tables

REPO = Path(__file__).resolve().parents[1]


def _section(text: str, heading: str) -> str:
    """The body under a Markdown heading, up to the next heading of the same or a higher level."""
    level = heading.split(" ", 1)[0]
    lines = text.splitlines()
    start = lines.index(heading) + 1
    end = next((i for i in range(start, len(lines))
                if lines[i].startswith("#") and len(lines[i].split(" ", 1)[0]) <= len(level)), len(lines))
    return "\n".join(lines[start:end])


def _tables(body: str) -> list[list[list[str]]]:
    """Every Markdown table in ``body``: rows of stripped cells, the header first, no separator row."""
    tables, current = [], []
    for line in body.splitlines() + [""]:
        if line.startswith("|"):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if not all(set(c) <= set("-:") for c in cells):
                current.append(cells)
        elif current:
            tables.append(current)
            current = []
    return tables


def _row(table: list[list[str]], first: str) -> list[str]:
    """The one row of ``table`` whose first cell is ``first``."""
    rows = [r for r in table if r[0] == first]
    assert len(rows) == 1, (first, table)
    return rows[0]


def _gap(share: float, delta: float) -> dict:
    return {"gap_share": share, "gap_share_lo": share - 0.1, "gap_share_hi": share + 0.1,
            "delta_deg": delta, "delta_lo": delta - 0.3, "delta_hi": delta + 0.3}


def _shift(mean: float) -> dict:
    return {"mean": mean, "std": 0.2, "median": mean, "n": 9}


def _kid(value: float, vs: float | None, pupil: float | None) -> dict:
    row = {"kid": {"kid": value, "std": value / 10, "n_subsets": 5, "subset_size": 4, "n_a": 9, "n_b": 12}}
    if vs is not None:
        row["kid_vs_baseline"] = vs
    if pupil is not None:
        row["pupil"] = _shift(pupil)
    return row


def real_rows() -> dict:
    return {"rows": {"raw": _kid(7.0, 2.5, None), "mean/contrast match": _kid(2.0, 0.0, 0.1),
                     "front end only": _kid(1.6, -0.2, 0.3), "front_end": _kid(1.4, -0.3, 0.5),
                     "paper": _kid(1.2, -0.4, 3.0)},
            "n_real": 9, "n_synthetic": 12, "size": [16, 24], "description": "tiny real crops"}


def small_results() -> dict:
    rng = np.random.default_rng(0)
    return {
        "machine": {"platform": "test"},
        "settings": {"height": 16, "best": "front_end"},
        "fcn": {"iou": {"other": 0.9, "iris": 0.5, "pupil": 0.4, "mean": 0.6}},
        "training": {
            "paper": {"style": "one image", "steps": 2, "seconds": 1.0, "final_terms": {"total": 3.0},
                      "loss_weights": {"alpha": 10.0}, "history": [{"step": 1, "total": 3.0}, {"step": 2, "total": 2.0}],
                      "gaze_history": [{"step": 2, "knn_gap_share": -0.5, "svr_gap_share": -0.2}]},
            "front_end": {"style": "renderer", "steps": 2, "seconds": 1.0, "final_terms": {"total": 1.0},
                          "history": [{"step": 1, "total": 1.5}, {"step": 2, "total": 1.0}],
                          "gaze_history": [{"step": 2, "knn_gap_share": 0.4, "svr_gap_share": 0.3}]},
        },
        "gaze": {
            "errors": {"CNN": {"in_domain": 6.0, "raw": 12.0, "twin": 8.0, "paper": 13.0, "front_end": 10.0},
                       "kNN": {"in_domain": 6.5, "raw": 11.0, "twin": 7.0, "paper": 13.0, "front_end": 8.6}},
            "gap_share": {"CNN": {"paper": _gap(-0.25, 1.0), "front_end": _gap(0.5, -2.0)},
                          "kNN": {"paper": _gap(-0.5, 2.0), "front_end": _gap(0.6, -2.4)}},
            "per_eye": {"kNN / raw": list(rng.uniform(0, 20, 10)), "kNN / front_end": list(rng.uniform(0, 15, 10))},
            "labels": {"paper": "paper-faithful", "front_end": "front end"},
            "vs_reference": {"reference": "front end only", "by_estimator": {"CNN": {"front_end": {
                "share_diff": 0.05, "share_diff_lo": -0.02, "share_diff_hi": 0.12, "deg_diff": -0.2,
                "deg_diff_lo": -0.5, "deg_diff_hi": 0.1}}}},
            "n_train": 10, "n_test": 10,
        },
        "pupil": {
            "paper": {"fcn": {"raw_vs_purified": _shift(2.0)},
                      "detector": {"raw_vs_purified": _shift(3.0), "truth_vs_raw": _shift(1.0)}},
            "front_end": {"fcn": {"raw_vs_purified": _shift(0.5)},
                          "detector": {"raw_vs_purified": _shift(0.25), "truth_vs_raw": _shift(1.0)}},
        },
        "objective": {"train_size": "16x24", "curves": [{
            "size": [16, 24], "n_images": 2, "gatys_iterations": 3, "init": "noise",
            "feed_forward": [2.0, 2.2], "feed_forward_mean": 2.1, "gatys": [[9, 5, 3, 1], [9, 6, 4, 3]],
            "gatys_mean_curve": [9.0, 5.5, 3.5, 2.0], "mean_curve_match": 3, "match_iteration": [3, None],
            "gatys_seconds": [1.0, 1.0]}]},
        "speed": {"rows": [{"size": [16, 16], "paper": 0.01, "johnson": 0.02, "gatys": 40.0,
                            "gatys_over_paper": 4000.0, "johnson_over_paper": 2.0, "paper_fps": 100.0}],
                  "gatys_iterations_measured": 2, "gatys_scaled_to": 400, "notes": ["16x16: measured"], "device": "CPU"},
        "real_eyes": {"skipped": "--real_dir=/nope not given or not found."},
        "grids": {"renderer": {"columns": [np.zeros((3, 16, 24, 3), np.uint8), np.full((3, 16, 24, 3), 200, np.uint8)],
                               "labels": ["real", "purified"]}},
        "runtime_seconds": 60.0,
        "gaps": ["tiny"],
    }


def test_write_report_sections_tables_and_pngs(tmp_path):
    res = small_results()
    path = report.write_report(res, tmp_path)
    text = path.read_text()
    headings = [line for line in text.splitlines() if line.startswith("#")]
    for heading in ("## Summary of claims", "## Machine and settings", "## Gaze estimation (Table 3, Fig. 10)",
                    "### Ablation: share of the raw → twin gap closed", "## Pupil-centre preservation",
                    "## Objective: feed-forward vs Gatys (Fig. 8)", "## Speed (Table 2)", "## Real eyes, no labels",
                    "## Sample grids", "## Known gaps"):
        assert heading in headings
    gaze = _tables(_section(text, "## Gaze estimation (Table 3, Fig. 10)"))[0]
    assert _row(gaze, "CNN") == ["CNN", "6.00°", "12.00°", "8.00°", "13.00°", "10.00°", "9.9° → 7.8°"]
    ablation = _tables(_section(text, "### Ablation: share of the raw → twin gap closed"))[0]
    assert _row(ablation, "front_end")[:4] == ["front_end", "front end", "+50% [+40, +60]", "+60% [+50, +70]"]
    difference = _tables(_section(text, "#### Difference to the front end only"))[0]
    assert _row(difference, "front_end")[:2] == ["front_end", "+5 pp [-2, +12]"]
    # The summary is the claims, one bullet each, their verdicts following the numbers: the
    # paper-faithful purifier made kNN worse, front_end closed 60% of its gap.
    found = claims.all_claims(res)
    bullets = [line[2:] for line in _section(text, "## Summary of claims").splitlines() if line.startswith("- ")]
    assert bullets == [c["sentence"] for c in found]
    by_claim = {c["claim"]: c for c in found}
    knn = by_claim["kNN: purification (front_end) lowers the gaze error"]
    assert knn["holds"] is True and knn["measured"] == pytest.approx(0.6)
    assert by_claim["kNN: purification (paper) lowers the gaze error"]["holds"] is False
    assert res["real_eyes"]["skipped"] in _section(text, "## Real eyes, no labels")
    for png in ("gaze_cumulative_error.png", "objective_vs_iteration.png", "grid_renderer.png",
                "training_curves.png"):
        assert (tmp_path / png).stat().st_size > 500
        assert f"]({png})" in text
    data = json.loads((tmp_path / "results.json").read_text())
    assert "grids" not in data and data["gaze"]["errors"]["CNN"]["raw"] == 12.0


def test_claims_follow_numbers():
    res = small_results()
    c = {x["claim"]: x["holds"] for x in claims.all_claims(res)}
    assert c["CNN: purification (front_end) lowers the gaze error"] is True
    assert c["kNN: purification (paper) lowers the gaze error"] is False
    assert c["pupil centre kept (paper)"] is False
    assert c["pupil centre kept (front_end)"] is True
    assert c["~1000x faster than Gatys (16x16)"] is True
    assert c["1.5-1.7x faster than Johnson (16x16)"] is True
    # one of two images never reached the feed-forward value in only 3 iterations: cannot decide
    assert c["feed-forward objective ≈ Gatys after 50-100 iterations (16x24)"] is None
    # 50 iterations run, one image never reached: more than 50 > ... holds; but when that image's run
    # stopped early (its line search failed) the curve cannot decide, and the sentence says why
    curve = {**res["objective"]["curves"][0], "gatys_iterations": 50, "match_iteration": [60, None],
             "gatys": [[9.0] * 51, [9.0, 8.0]], "gatys_messages": ["STOP", "ABNORMAL: "]}
    (full,) = claims.objective_claims([{**curve, "gatys": [[9.0] * 51, [9.0] * 51]}])
    (early,) = claims.objective_claims([curve])
    assert full["holds"] is True and early["holds"] is None
    assert "stopped early on image 2 after 1 iterations (ABNORMAL: )" in early["sentence"]
    # the renderer goal is on the mean (<= 0.8 px) and the median (<= 0.3 px)
    res["pupil"]["front_end"]["detector"]["raw_vs_purified"]["median"] = 0.35
    assert {x["claim"]: x["holds"] for x in claims.pupil_claims(res["pupil"], "front_end")}[
        "pupil centre kept (front_end)"] is False
    # an interval that reaches zero is not a demonstrated improvement
    res["gaze"]["gap_share"]["CNN"]["front_end"]["delta_hi"] = 0.1
    assert {x["claim"]: x["holds"] for x in claims.gaze_claims(res["gaze"], "front_end")}[
        "CNN: purification (front_end) lowers the gaze error"] is False


def _run(module: str, args: list[str], tmp_path: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PURIFY_OFFLINE": "1", "CUDA_VISIBLE_DEVICES": ""}
    env.pop("PURIFY_VGG_WEIGHTS", None)
    return subprocess.run([sys.executable, "-m", module, *args], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=600)


@pytest.mark.slow
def test_trainers_gaze_end_to_end(tmp_path):
    import keras

    from purify_tf.models.transformer import build_transformer

    model_path = tmp_path / "p.keras"
    build_transformer("paper").save(model_path)
    out = tmp_path / "gaze"
    proc = _run("trainers.gaze", [f"--out_dir={out}", "--estimators=knn,alr", "--train_n=60", "--test_n=8",
                                  "--height=16", "--width=24", f"--purifier=tiny={model_path}"], tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    data = json.loads((out / "results.json").read_text())
    # Rendered test eyes have synthetic twins: errors per set and the share of the raw -> twin gap.
    assert {"raw", "twin", "purified (tiny)"} <= set(data["errors"]["kNN"])
    share = data["gap_share"]["kNN"]["purified (tiny)"]
    assert share["gap_share_lo"] <= share["gap_share"] <= share["gap_share_hi"]
    del keras


@pytest.mark.slow
def test_trainers_report_end_to_end(tmp_path):
    from purify_tf.data.renderer import render_eyes

    real_dir = tmp_path / "real"
    real_dir.mkdir()
    for i, im in enumerate(render_eyes(3, 35, 55, domain="real", seed=1)["image"]):
        cv2.imwrite(str(real_dir / f"{i}.png"), cv2.cvtColor(im, cv2.COLOR_RGB2GRAY))
    labelled = write_labelled(tmp_path / "labelled", n_per_subject=6, subjects=("a", "b", "c", "d"))
    out = tmp_path / "report"
    args = [f"--out_dir={out}", "--height=32", "--width=48", "--fcn_steps=2",
            "--variants=paper,front_end,style_per_batch,real_paired", "--best=front_end", f"--real_gaze_dir={labelled}", "--steps=2", "--eval_every=1",
            "--style_set_size=4", "--batch_size=2", "--gaze_train_n=40", "--gaze_test_n=8",
            "--estimators=knn,alr", "--curve_sizes=32", "--curve_n=1", "--curve_iterations=2",
            "--speed_sizes=16", "--speed_gatys_iterations=1", "--speed_repeats=1", f"--real_dir={real_dir}",
            "--n_boot=20", "--vgg_weights=random", "--loss_network=vgg16"]
    proc = _run("trainers.report", args, tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    # Stage lines carry the elapsed time and peak memory; Table 2 is timed first, after the FCN.
    stages = [line.split("] ", 1)[1] for line in proc.stdout.splitlines() if " GiB] " in line]
    assert stages[:2] == ["coarse FCN", "speed"], proc.stdout[-2000:]
    text = (out / "REPORT.md").read_text()
    headings = [line for line in text.splitlines() if line.startswith("## ")]
    for heading in ("## Gaze estimation (Table 3, Fig. 10)", "## Pupil-centre preservation",
                    "## Objective: feed-forward vs Gatys (Fig. 8)", "## Speed (Table 2)", "## Real eyes, no labels"):
        assert heading in headings
    # The measure that decides: every row on the evaluation subjects' labelled eyes, the split stated.
    real_gaze = _tables(_section(text, "## Real labelled eyes: gaze error (the measure that decides)"))[0]
    assert [row[0] for row in real_gaze] == ["eyes", "predicting the mean gaze", "trained on real eyes (the floor)", "raw",
                                             "mean/contrast match", "front end only",
                                             "front end only, centred on training eyes", "paper", "front_end",
                                             "style_per_batch", "real_paired", "shipped (pretrained)"]
    assert json.loads((out / "results.json").read_text())["real_gaze"]["eval_subjects"] == ["c", "d"]
    real_table = _tables(_section(text, "## Real eyes, no labels"))[0]  # measured, not skipped
    assert {"raw", "front_end", "paper"} <= {row[0] for row in real_table}
    assert (out / "grid_real_eyes.png").is_file() and (out / "objective_vs_iteration.png").is_file()
    data = json.loads((out / "results.json").read_text())
    assert set(data["gaze"]["gap_share"]["kNN"]) == {"paper", "front_end", "style_per_batch", "real_paired",
                                                        "front end only", "mean/contrast match"}
    assert set(data["gaze"]["vs_reference"]["by_estimator"]["kNN"]) == {"paper", "front_end", "style_per_batch",
                                                                        "real_paired", "mean/contrast match"}
    # The real-content row trained on the training subjects' images only, and says so.
    assert data["training"]["real_paired"]["variant"]["content"] == "real"
    assert {"raw", "mean/contrast match", "front end only", "paper", "front_end"} <= set(data["real_eyes"]["rows"])
    assert data["training"]["front_end"]["gaze_history"]
    # The pupil table's reference row (the twins) and the label-free pupil check on the real crops.
    assert "synthetic twin (the ideal)" in data["pupil"]
    assert "synthetic twin (the ideal)" in {row[0] for row in _tables(_section(text, "## Pupil-centre preservation"))[0]}
    assert all("pupil_agreement" in row for row in data["real_eyes"]["rows"].values())
    assert all("pupil_clear" in row for name, row in data["real_eyes"]["rows"].items() if name != "raw")


def test_real_eye_section_ablation_columns_and_claims(tmp_path):
    res = small_results()
    res["real_eyes"] = real_rows()
    text = report.write_report(res, tmp_path).read_text()
    # the ablation row carries the real-eye columns after the estimators
    ablation = _tables(_section(text, "### Ablation: share of the raw → twin gap closed"))[0]
    assert _row(ablation, "front_end") == ["front_end", "front end", "+50% [+40, +60]", "+60% [+50, +70]", "-30%",
                                           "0.50 (median 0.50)"]
    real = _tables(_section(text, "## Real eyes, no labels"))[0]
    assert _row(real, "front_end")[:6] == ["front_end", "1.4 ± 0.14", "-30.0%", "0.50 ± 0.20 (median 0.50)",
                                           "0.25 (median 0.25)", "met"]
    assert _row(real, "paper")[:6] == ["paper", "1.2 ± 0.12", "-40.0%", "3.00 ± 0.20 (median 3.00)",
                                       "3.00 (median 3.00)", "not met"]
    assert _row(real, "mean/contrast match")[1:3] == ["2 ± 0.2", "+0.0%"]
    assert _row(real, "raw") == ["raw", "7 ± 0.7", "+250.0%", "-", "-", "-"]
    # the default: only rows meeting both real-eye targets, the renderer's better one first
    assert report_tables.default_candidates(res["real_eyes"], res["gaze"]) == (
        report_tables.BY_REAL_EYE_TARGETS, [("front_end", pytest.approx(0.55))])
    c = {x["claim"]: x for x in claims.all_claims(res)}
    assert c["real eyes move towards synthetic ones beyond a mean/contrast match (front_end)"]["holds"] is True
    assert c["pupil centre kept on real eyes (front_end)"]["holds"] is True
    res["real_eyes"]["rows"]["front_end"]["kid_vs_baseline"] = -0.2
    c = {x["claim"]: x["holds"] for x in claims.real_eye_claims(res["real_eyes"], "front_end")}
    assert c["real eyes move towards synthetic ones beyond a mean/contrast match (front_end)"] is False
    # then the rows no worse than the front end alone on the real crops, the renderer's better one first
    assert report_tables.default_candidates(res["real_eyes"], res["gaze"]) == (
        report_tables.NO_WORSE_THAN_FRONT_END, [("front_end", pytest.approx(0.55)), ("paper", pytest.approx(-0.375))])
    text = report.write_report(res, tmp_path / "b").read_text()
    assert report_tables.default_sentence(res["real_eyes"], res["gaze"]) in _section(text, "## Real eyes, no labels")
    rows = res["real_eyes"]["rows"]
    rows["front end only"]["pupil_agreement"] = {"mean": 2.0, "n": 9}
    rows["front_end"]["pupil_agreement"] = {"mean": 2.5, "n": 9}  # the pupils less clear than the front end's
    rows["paper"]["kid_vs_baseline"] = -0.1  # further from synthetic eyes than the front end alone
    assert report_tables.not_worse_on_real_eyes(rows["front end only"], rows["front end only"])
    assert not report_tables.not_worse_on_real_eyes(rows["front_end"], rows["front end only"])
    assert report_tables.default_candidates(res["real_eyes"], res["gaze"]) == (report_tables.NO_CANDIDATE, [])
    del rows["front end only"]
    assert report_tables.default_candidates(res["real_eyes"], res["gaze"]) == (report_tables.NO_REFERENCE, [])
    # a results.json from before the KID table still renders (its description only, no verdicts)
    res["real_eyes"] = {"description": "old Gram section", "gram_distance_before": {"mean": 0.9}}
    text = report.write_report(res, tmp_path / "c").read_text()
    assert _section(text, "## Real eyes, no labels").strip() == "old Gram section"
    assert claims.real_eye_claims(res["real_eyes"], "front_end") == []


def test_training_curves_show_critic_scores_when_logged(tmp_path):
    training = small_results()["training"]
    assert report._critic_keys(training) == []
    training["front_end"]["history"] = [{"step": 1, "total": 1.5, "critic/real": 0.2, "critic/purified": -0.1},
                                        {"step": 2, "total": 1.0, "critic/real": 0.3, "critic/purified": 0.0}]
    assert report._critic_keys(training) == ["critic/real", "critic/purified"]
    wide = report.plot_training_curves(training, tmp_path / "c.png")
    assert cv2.imread(str(wide)).shape[1] > 1500  # three panels


def test_rerender_from_results_json_keeps_the_grids(tmp_path):
    report.write_report(small_results(), tmp_path)
    first = (tmp_path / "REPORT.md").read_text()
    (tmp_path / "REPORT.md").unlink()
    text = report.rerender(tmp_path).read_text()
    assert text == first  # the grids' labels and PNGs come back from results.json
    grids = _section(text, "## Sample grids").split()
    assert "![renderer](grid_renderer.png)" in grids and (tmp_path / "grid_renderer.png").is_file()


def test_loss_weight_note_follows_the_run_settings(tmp_path):
    """The report carries the note of the layer weighting the run used, and none when it is not known."""
    res = small_results()
    assert "### Loss weights" not in report.write_report(res, tmp_path / "none").read_text().splitlines()
    for weighting, other in (("unit", "balanced"), ("balanced", "unit")):
        res["settings"]["train.layer_weighting"] = weighting
        note = _section(report.write_report(res, tmp_path / weighting).read_text(), "### Loss weights").strip()
        assert note.startswith(report.LAYER_WEIGHTING_NOTES[weighting])
        assert report.LAYER_WEIGHTING_NOTES[other] not in note


def test_known_gaps_come_from_the_run_settings(tmp_path):
    """A gap for training shorter or smaller than the paper's (with the run's figures) and one for
    a random loss network; neither for the paper's settings on ImageNet weights."""
    import re

    from purify_tf.experiments.pipeline import ReportConfig, _gaps
    from purify_tf.experiments.purifiers import TrainSettings

    class Net:
        info = {"weights": "imagenet"}

    class RandomNet:
        info = {"weights": "random (seed 0)"}

    small = _gaps(ReportConfig(out_dir="x", train=TrainSettings(height=48, width=72, steps=300)), Net())
    paper_cfg = ReportConfig(out_dir="x", train=TrainSettings(height=256, width=256, steps=50_000))
    paper = _gaps(paper_cfg, Net())
    assert len(small) == len(paper) + 1 and set(paper) <= set(small)
    # Without labelled real eyes the report says the deciding table is missing; with them it does not.
    assert any("no labelled real eyes" in g for g in paper)
    labelled = ReportConfig(out_dir="x", train=TrainSettings(height=256, width=256, steps=50_000),
                            real_gaze_dir=str(tmp_path), sections=("real_gaze",))
    assert not any("no labelled real eyes" in g for g in _gaps(labelled, Net()))
    (training,) = [g for g in small if g not in paper]
    assert re.search(r"\b300\b", training) and "48x72" in training
    random = _gaps(paper_cfg, RandomNet())
    assert len(random) == len(paper) + 1 and set(paper) <= set(random)


def test_best_steps_lengthen_only_the_best_row():
    """--best_steps trains the best variant longer; the others keep --steps, and the labels and
    known gaps say which row differs."""
    from purify_tf.experiments.pipeline import ReportConfig, _gaps, _label
    from purify_tf.experiments.purifiers import VARIANTS, TrainSettings

    class Net:
        info = {"weights": "imagenet"}

    train = TrainSettings(height=48, width=72, steps=400)
    cfg = ReportConfig(out_dir="x", variants=("front_end", "paired_strong"), best="paired_strong", train=train,
                       best_steps=1500)
    assert cfg.settings_for("paired_strong").steps == 1500 and cfg.settings_for("front_end").steps == 400
    assert cfg.settings_for("paired_strong").height == 48  # only the length differs
    assert _label(cfg, "paired_strong") == VARIANTS["paired_strong"].label + ", 1500 steps"
    assert _label(cfg, "front_end") == VARIANTS["front_end"].label
    (training,) = [g for g in _gaps(cfg, Net()) if "48x72" in g]  # the figures of both lengths, and whose
    assert all(f in training for f in ("400", "paired_strong", "1500"))
    same = ReportConfig(out_dir="x", best="front_end", train=train)  # best_steps 0: every row alike
    assert same.settings_for("front_end") == train and _label(same, "front_end") == VARIANTS["front_end"].label


def test_report_flag_names_every_ablation_variant():
    """The entry point lists the variant names without importing TensorFlow; they must match."""
    from purify_tf.experiments.purifiers import VARIANTS
    from trainers.report import VARIANT_NAMES

    assert tuple(VARIANT_NAMES) == tuple(VARIANTS)


@pytest.mark.slow  # a report purifier traced and trained twice: about 25 s of the quick suite
def test_an_interrupted_report_purifier_is_checkpointed_not_scored(tmp_path, monkeypatch):
    """SIGTERM while the report trains a purifier: a checkpoint and ``TrainingStopped``, no
    ``purifier.keras`` to score; the rerun resumes and finishes it."""
    import signal

    import tensorflow as tf

    from purify_tf.experiments import purifiers
    from purify_tf.losses.layers import LOSS_LAYERS
    from purify_tf.models.vgg import build_loss_network
    from purify_tf.training import purify_loop
    from purify_tf.training.checkpoints import StopSignal, TrainingStopped

    class SignalAtOnce(StopSignal):
        def __enter__(self):
            super().__enter__()
            self.requested = signal.SIGTERM
            return self

    loss_network = build_loss_network("vgg16", "random", layers=LOSS_LAYERS)
    settings = purifiers.TrainSettings(height=32, width=48, steps=2, batch_size=2, style_set_size=4)
    variant = purifiers.VARIANTS["front_end"]
    strategy = tf.distribute.get_strategy()
    monkeypatch.setattr(purify_loop, "StopSignal", SignalAtOnce)
    with pytest.raises(TrainingStopped, match="purifier 'front_end' at step 1"):
        purifiers.train_variant(variant, settings, loss_network, strategy, None, tmp_path)
    assert not (tmp_path / "front_end" / "purifier.keras").exists()
    assert list((tmp_path / "front_end" / "checkpoints").glob("ckpt-1.index"))
    monkeypatch.setattr(purify_loop, "StopSignal", StopSignal)
    _, summary = purifiers.train_variant(variant, settings, loss_network, strategy, None, tmp_path)
    assert (tmp_path / "front_end" / "purifier.keras").is_file()
    assert summary["history"][-1]["step"] == 2


def test_pupil_claim_states_what_the_twins_score():
    """The renderer's pupil claim is read against the twins (a perfect purifier's output): their raw ->
    twin shift and distance to the truth appear in the sentence; without a twin row, nothing is added."""
    from purify_tf.experiments.common import TWIN

    res = small_results()
    plain = claims.pupil_claims(res["pupil"], "front_end")[-1]["sentence"]
    assert "2.86" not in plain and "0.85" not in plain
    res["pupil"][TWIN] = {"fcn": {"raw_vs_purified": _shift(0.6)},
                          "detector": {"raw_vs_purified": _shift(2.86), "truth_vs_purified": _shift(0.85)}}
    sentence = claims.pupil_claims(res["pupil"], "front_end")[-1]["sentence"]
    assert "2.86" in sentence and "0.85" in sentence  # the twins' shift and distance to the truth
    assert sentence.startswith(plain)  # the verdict itself is unchanged
    assert report.pupil_table(res["pupil"]).count(TWIN) == 1
