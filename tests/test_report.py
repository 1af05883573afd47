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

from purify_tf.experiments import report

REPO = Path(__file__).resolve().parents[1]


def small_results() -> dict:
    rng = np.random.default_rng(0)
    return {
        "machine": {"platform": "test"},
        "settings": {"height": 16},
        "weights_note": "alpha = 1, beta = 1e-06",
        "fcn": {"iou": {"other": 0.9, "iris": 0.5, "pupil": 0.4, "mean": 0.6}},
        "training": {"paper": {"loss": "masked", "steps": 2, "seconds": 1.0, "final_terms": {"total": 3.0}}},
        "gaze": {
            "table": {"CNN": {"raw": 12.0, "purified (paper)": 10.0}, "kNN": {"raw": 11.0, "purified (paper)": 13.0}},
            "errors": {"CNN / raw": list(rng.uniform(0, 20, 10)), "CNN / purified (paper)": list(rng.uniform(0, 15, 10))},
            "n_train": 10, "n_test": 10,
        },
        "pupil": {"paper": {
            "n": 10, "found_raw": 10, "found_purified": 9, "scale": 1.0, "eye_width": 55.0,
            "raw_vs_purified": {"mean": 0.5, "std": 0.2, "median": 0.4, "n": 9},
            "truth_vs_purified": {"mean": 3.0, "std": 1.0, "median": 2.8, "n": 9},
            "truth_vs_raw": {"mean": 0.6, "std": 0.3, "median": 0.5, "n": 10},
        }},
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
    path = report.write_report(small_results(), tmp_path)
    text = path.read_text()
    for heading in ("## Summary of claims", "## Machine and settings", "## Gaze estimation (Table 3, Fig. 10)",
                    "## Pupil-centre preservation", "## Objective: feed-forward vs Gatys (Fig. 8)",
                    "## Speed (Table 2)", "## Real eyes, no labels", "## Sample grids", "## Known gaps"):
        assert heading in text
    assert "| CNN | 12.00° | 10.00° | 9.9° → 7.8° |" in text
    # verdicts follow the numbers: CNN improved, kNN got worse, pupil 3.0 px > 1.9 px
    assert "CNN, purified (paper): 12.00° raw → 10.00° purified, an improvement of +2.00°" in text
    assert "kNN, purified (paper): 11.00° raw → 13.00° purified, a change of -2.00°" in text
    assert "**does not hold**" in text and "**holds**" in text
    assert "Skipped: --real_dir=/nope" in text
    for png in ("gaze_cumulative_error.png", "objective_vs_iteration.png", "grid_renderer.png"):
        assert (tmp_path / png).stat().st_size > 500
        assert f"]({png})" in text
    data = json.loads((tmp_path / "results.json").read_text())
    assert "grids" not in data and data["gaze"]["table"]["CNN"]["raw"] == 12.0


def test_claims_follow_numbers():
    res = small_results()
    c = {x["claim"]: x["holds"] for x in report.all_claims(res)}
    assert c["CNN: purification (purified (paper)) lowers the gaze error"] is True
    assert c["kNN: purification (purified (paper)) lowers the gaze error"] is False
    assert c["pupil centre kept (paper)"] is False
    assert c["~1000x faster than Gatys (16x16)"] is True
    assert c["1.5-1.7x faster than Johnson (16x16)"] is True
    # one of two images never reached the feed-forward value in only 3 iterations: cannot decide
    assert c["feed-forward objective ≈ Gatys after 50-100 iterations (16x24)"] is None
    res["pupil"]["paper"]["truth_vs_purified"]["mean"] = 1.0
    assert {x["claim"]: x["holds"] for x in report.pupil_claims(res["pupil"])}["pupil centre kept (paper)"] is True


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
    assert set(data["table"]["kNN"]) == {"raw", "purified (tiny)"}
    assert (out / "gaze_cumulative_error.png").is_file()
    del keras


@pytest.mark.slow
def test_trainers_report_end_to_end(tmp_path):
    from purify_tf.data.renderer import render_eyes

    real_dir, style_dir = tmp_path / "real", tmp_path / "style"
    real_dir.mkdir()
    style_dir.mkdir()
    for i, im in enumerate(render_eyes(3, 35, 55, domain="real", seed=1)["image"]):
        cv2.imwrite(str(real_dir / f"{i}.png"), cv2.cvtColor(im, cv2.COLOR_RGB2GRAY))
    for i, im in enumerate(render_eyes(2, 40, 60, domain="synthetic", seed=2)["image"]):
        cv2.imwrite(str(style_dir / f"s{i}.png"), cv2.cvtColor(im, cv2.COLOR_RGB2BGR))
    out = tmp_path / "report"
    args = [f"--out_dir={out}", "--height=16", "--width=24", "--fcn_steps=2", "--fcn_batch_size=4",
            "--paper_steps=1", "--johnson_steps=1", "--batch_size=2", "--gaze_train_n=40", "--gaze_test_n=8",
            "--estimators=knn,alr", "--curve_sizes=16", "--curve_n=1", "--curve_iterations=2",
            "--speed_sizes=16", "--speed_gatys_iterations=1", "--speed_repeats=1", f"--real_dir={real_dir}",
            f"--style_image={style_dir / 's0.png'}", "--real_steps=1", "--vgg_weights=random",
            "--loss_network=vgg16", "--noprogress"]
    proc = _run("trainers.report", args, tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    text = (out / "REPORT.md").read_text()
    for heading in ("## Gaze estimation", "## Pupil-centre preservation", "## Objective", "## Speed (Table 2)",
                    "## Real eyes, no labels"):
        assert heading in text
    assert "Skipped" not in text
    assert (out / "grid_real_eyes.png").is_file() and (out / "objective_vs_iteration.png").is_file()
