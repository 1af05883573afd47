"""README's "What works" table is the shipped card's figures (tools.readme_figures), never a copy that drifts."""

from __future__ import annotations

import json

import pytest

from tools import readme_figures


def test_readme_agrees_with_the_card():
    card = json.loads(readme_figures.CARD.read_text())
    text = readme_figures.README.read_text()
    assert readme_figures.rendered_readme(text, card) == text, "run python -m tools.readme_figures"


def test_table_reads_the_card():
    card = {"scores": {"test_eyes": 600, "gap_share": {"kNN": {"gap_share": 0.5, "gap_share_lo": 0.4,
                                                               "gap_share_hi": 0.6}},
                       "real_gaze": {"n_test": 10, "eval_subjects": ["p05"], "rows": [
                           {"row": "predicting the mean gaze", "mean_error_deg": {"kNN": 9.0}},
                           {"row": "trained on real eyes (the floor)", "mean_error_deg": {"kNN": 7.0}},
                           {"row": "raw", "mean_error_deg": {"kNN": 10.0}},
                           {"row": "purified", "mean_error_deg": {"kNN": 8.5}, "vs_raw": {"kNN": {
                               "delta_deg": -1.5, "delta_lo": -2.0, "delta_hi": -1.0, "gap_share": 0.5}}}]}},
            "trained_on": {"datasets": ["renderer"], "licence": "Apache-2.0"}}
    table = readme_figures.what_works_table(card)
    assert "| - | 10.00 → 8.50 | - | - | - |" in table  # CNN, then kNN: only what the card measured
    assert "-1.50 [-2.00, -1.00]" in table and "50% (floor 7.00)" in table and "50% [40%, 60%]" in table
    assert "trained on: renderer (licence Apache-2.0)" in table
    assert "before `--centre_dir`" not in table
    assert "| predicting the mean gaze (°) | - | 9.00 |" in table
    # With the paired comparison against the mean gaze (cards since it existed) the row carries it.
    card["scores"]["real_gaze"]["rows"][3]["vs_mean"] = {"kNN": {"delta_deg": -0.5, "delta_lo": -0.8, "delta_hi": -0.2}}
    card["scores"]["real_gaze"]["split"] = "... (every eye of each subject) ..."
    table = readme_figures.what_works_table(card)
    assert "| predicting the mean gaze (°); purified minus it, 95% interval | - | 9.00; -0.50 [-0.80, -0.20] |" in table
    assert "real eyes (every eye: 10 MPIIGaze left eyes of p05" in table
    card["scores"]["real_gaze"]["rows"][3]["pupil_move_px"] = {"n": 10, "dx": 0.25, "dy": -0.3, "dx_se": 0.05,
                                                                 "dy_se": 0.04, "dx_median": 0.2, "dy_median": -0.35}
    assert ("pupil moved on the 10 real test eyes (darkest-blob detector, median): dx +0.20 px, dy -0.35 px "
            "(mean +0.25 ± 0.05, -0.30 ± 0.04;") in readme_figures.what_works_table(card)
    # A front end centred on real eyes: the renderer share as trained gets its own row.
    card["scores_before_centre"] = {"test_eyes": 600, "gap_share": {"SVR": {"gap_share": 0.55, "gap_share_lo": 0.45,
                                                                            "gap_share_hi": 0.65}}}
    centred = [line for line in readme_figures.what_works_table(card).splitlines() if "before `--centre_dir`" in line]
    assert len(centred) == 1 and centred[0].endswith("| - | - | 55% [45%, 65%] | - | - |")
    assert "flip symmetry" not in readme_figures.what_works_table(card)
    # A flip-symmetric file: the earlier purified row and renderer share, kept apart, get rows of their own.
    card["flip_symmetric"] = {"enabled": True}
    card["scores_before_flip_symmetry"] = {
        "test_eyes": 600, "gap_share": {"kNN": {"gap_share": 0.7, "gap_share_lo": 0.6, "gap_share_hi": 0.8}},
        "real_gaze": {"rows": [{"row": "purified", "mean_error_deg": {"kNN": 8.7}, "vs_raw": {"kNN": {
            "delta_deg": -1.3, "delta_lo": -1.6, "delta_hi": -1.0}}}]}}
    lines = readme_figures.what_works_table(card).splitlines()
    assert [line for line in lines if "f_W as trained (before flip symmetry): purified" in line][0].endswith(
        "| - | 8.70, -1.30 [-1.60, -1.00] | - | - | - |")
    assert [line for line in lines if "renderer, f_W as trained" in line][0].endswith("| - | 70% [60%, 80%] | - | - | - |")
    assert any("before `--centre_dir` and flip symmetry" in line for line in lines)
    assert any(line.startswith("- f_W flip-symmetric") for line in lines)
    # Once SVR's settings changed (each table records them), earlier SVR figures are not set beside the new.
    card["scores"]["estimator_settings"] = {"svr": {"C": 3.0}}
    card["scores"]["real_gaze"]["estimator_settings"] = {"svr": {"C": 3.0}, "cnn_epochs": 10}
    card["scores_before_flip_symmetry"]["gap_share"]["SVR"] = {"gap_share": 0.3, "gap_share_lo": 0.2, "gap_share_hi": 0.4}
    card["scores_before_flip_symmetry"]["real_gaze"]["rows"][0]["vs_raw"]["SVR"] = {
        "delta_deg": -0.1, "delta_lo": -0.2, "delta_hi": 0.0}
    card["scores_before_flip_symmetry"]["real_gaze"]["rows"][0]["mean_error_deg"]["SVR"] = 9.1
    lines = readme_figures.what_works_table(card).splitlines()
    assert [line for line in lines if "f_W as trained (before flip symmetry): purified" in line][0].endswith(
        "| - | 8.70, -1.30 [-1.60, -1.00] | other settings | - | - |")
    assert [line for line in lines if "renderer, f_W as trained" in line][0].endswith(
        "| - | 70% [60%, 80%] | other settings | - | - |")
    assert [line for line in lines if "before `--centre_dir`" in line][0].endswith("| - | - | other settings | - | - |")
    card["scores_before_flip_symmetry"]["estimator_settings"] = {"svr": {"C": 3.0}}
    assert "| - | 70% [60%, 80%] | 30% [20%, 40%] | - | - |" in readme_figures.what_works_table(card)
    # Centred again (the mirror-symmetric centre): the earlier centre's purified row, kept apart.
    assert "before the mirror-symmetric centre" not in readme_figures.what_works_table(card)
    card["scores_before_recentre"] = {"real_gaze": {"estimator_settings": {"svr": {"C": 3.0}}, "rows": [
        {"row": "purified", "mean_error_deg": {"kNN": 8.6}, "vs_raw": {"kNN": {
            "delta_deg": -1.4, "delta_lo": -1.7, "delta_hi": -1.1}}}]}}
    card["scores_before_recentre"]["gap_share"] = {"kNN": {"gap_share": 0.6, "gap_share_lo": 0.5, "gap_share_hi": 0.7}}
    lines = readme_figures.what_works_table(card).splitlines()
    assert [line for line in lines if "before the mirror-symmetric centre): purified" in line][0].endswith(
        "| - | 8.60, -1.40 [-1.70, -1.10] | - | - | - |")
    assert [line for line in lines if "before the mirror-symmetric centre): the same share" in line][0].endswith(
        "| - | 60% [50%, 70%] | - | - | - |")
    with pytest.raises(ValueError, match="what-works"):
        readme_figures.rendered_readme("no markers", card)
