"""Estimator settings chosen by cross-validation on the estimators' own (synthetic) training eyes."""

from __future__ import annotations

import numpy as np
import pytest
from gaze_fixtures import toy_eyes
from sklearn.model_selection import KFold

from purify_tf.errors import ConfigError
from purify_tf.experiments.svr_selection import svr_selection
from purify_tf.gaze.estimators import SVR_C, SVRGaze, estimator_settings, make_estimator
from purify_tf.gaze.selection import best_setting, cross_validated_errors
from purify_tf.vectors import angular_error_deg


def test_cross_validated_errors_match_a_hand_written_loop_and_pick_the_lowest():
    X, gaze = toy_eyes(120, seed=3)
    grid = [{"k": 1}, {"k": 5}, {"k": 60}]
    rows = cross_validated_errors(lambda k: make_estimator("knn", k=k), grid, X, gaze, folds=3, seed=1)
    assert [r["k"] for r in rows] == [1, 5, 60]
    # The same folds by hand for k=5.
    errs = []
    for train, held in KFold(3, shuffle=True, random_state=1).split(X):
        model = make_estimator("knn", k=5).fit(X[train], gaze[train])
        errs.append(angular_error_deg(model.predict(X[held]), gaze[held]).mean())
    assert rows[1]["cv_error_deg"] == pytest.approx(np.mean(errs))
    assert rows[1]["fold_errors_deg"] == pytest.approx(errs)
    # A neighbourhood of half the training set averages the gaze away: it cannot win here.
    assert rows[2]["cv_error_deg"] > rows[1]["cv_error_deg"]
    assert best_setting(rows) == {"k": min(rows, key=lambda r: r["cv_error_deg"])["k"]}


def test_cross_validation_rejects_bad_folds():
    X, gaze = toy_eyes(10, seed=0)
    with pytest.raises(ConfigError, match="folds >= 2"):
        cross_validated_errors(SVRGaze, [{}], X, gaze, folds=1)
    with pytest.raises(ConfigError, match="9 gaze labels"):
        cross_validated_errors(SVRGaze, [{}], X, gaze[:9], folds=3)
    with pytest.raises(ConfigError, match="no cross-validated"):
        best_setting([])


def test_svr_gamma_scale_multiplies_sklearns_scale():
    X, gaze = toy_eyes(80, seed=1)
    base, wide = SVRGaze().fit(X, gaze), SVRGaze(gamma_scale=0.5).fit(X, gaze)
    feats = base.features.transform(X)
    assert base._models[0].gamma == "scale"  # factor 1: sklearn's own 'scale'
    assert wide._models[0].gamma == pytest.approx(0.5 / (feats.shape[1] * feats.var()))
    assert not np.allclose(base.predict(X), wide.predict(X))
    assert SVRGaze().C == SVR_C and estimator_settings()["svr"] == {"C": SVR_C}


def test_svr_selection_on_renderer_eyes_reports_every_setting_per_set():
    result = svr_selection(None, [1.0, 30.0], [1.0], n_synthetic=40, draws=2, folds=2, seed=0)
    assert len(result["per_set"]) == 2 and all(len(t) == 2 for t in result["per_set"])
    assert [(r["C"], r["gamma_scale"]) for r in result["mean"]] == [(1.0, 1.0), (30.0, 1.0)]
    mean = np.mean([t[0]["cv_error_deg"] for t in result["per_set"]])
    assert result["mean"][0]["cv_error_deg"] == pytest.approx(mean)
    assert result["best"] == best_setting(result["mean"])
    assert "own gaze range" in result["source"]
