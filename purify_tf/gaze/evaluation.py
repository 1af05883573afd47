"""Gaze-estimation evaluation: mean angular error (Table 3) and cumulative error curves (Fig. 10).

Estimators are anything with ``name``, ``fit(X, gaze)`` and ``predict(X) -> (N, 3)`` — the
classical ones in :mod:`purify_tf.gaze.estimators` or the CNN wrapper in
:mod:`purify_tf.gaze.cnn`; this module imports neither TensorFlow nor Keras.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from absl import logging

from purify_tf.errors import ConfigError, DataError
from purify_tf.vectors import angular_error_deg


class Estimator(Protocol):
    """The common estimator interface."""

    name: str

    def fit(self, X: np.ndarray, gaze_vectors: np.ndarray) -> Any: ...

    def predict(self, X: np.ndarray) -> np.ndarray: ...


def mean_angular_error(pred: np.ndarray, true: np.ndarray) -> float:
    """Mean angle in degrees between predicted and true (N, 3) gaze vectors."""
    pred, true = np.asarray(pred), np.asarray(true)
    if pred.reshape(-1, 3).shape != true.reshape(-1, 3).shape:
        raise DataError(f"gaze vectors: prediction {pred.shape} and truth {true.shape} differ")
    return float(np.mean(angular_error_deg(pred, true)))


def cumulative_error_curve(
    errors: np.ndarray, max_deg: float = 30.0, step: float = 0.5
) -> tuple[np.ndarray, np.ndarray]:
    """Fraction of samples with error <= threshold, thresholds 0, step, ..., max_deg (Fig. 10)."""
    if step <= 0 or max_deg <= 0:
        raise ConfigError(f"cumulative curve: need max_deg > 0 and step > 0, got {max_deg}, {step}")
    e = np.sort(np.asarray(errors, dtype=np.float64).ravel())
    thresholds = np.arange(0.0, max_deg + step / 2.0, step)
    if e.size == 0:
        return thresholds, np.zeros_like(thresholds)
    fraction = np.searchsorted(e, thresholds, side="right") / e.size
    return thresholds, fraction


@dataclass
class EvaluationResults:
    """Rows (one per estimator x test set) plus the per-sample errors behind them."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    errors: dict[tuple[str, str], np.ndarray] = field(default_factory=dict)

    def table(self) -> dict[str, dict[str, float]]:
        """{estimator: {test_set: mean error in degrees}} (the layout of Table 3)."""
        out: dict[str, dict[str, float]] = {}
        for r in self.rows:
            out.setdefault(r["estimator"], {})[r["test_set"]] = r["mean_error_deg"]
        return out

    def curves(
        self, max_deg: float = 30.0, step: float = 0.5
    ) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """{"estimator / test_set": (thresholds, fraction)} for :func:`plot_cumulative_curves`."""
        return {
            f"{est} / {ts}": cumulative_error_curve(err, max_deg, step)
            for (est, ts), err in self.errors.items()
        }

    def to_markdown(self) -> str:
        """Table 3 layout: one row per estimator, one column per test set, mean degrees."""
        table = self.table()
        sets = list(dict.fromkeys(r["test_set"] for r in self.rows))
        lines = [
            "| Method | " + " | ".join(sets) + " |",
            "|---|" + "---|" * len(sets),
        ]
        for est, by_set in table.items():
            cells = [f"{by_set[s]:.2f}°" if s in by_set else "-" for s in sets]
            lines.append(f"| {est} | " + " | ".join(cells) + " |")
        return "\n".join(lines)


def _named(estimators: Mapping[str, Estimator] | Iterable[Estimator]) -> list[tuple[str, Any]]:
    if isinstance(estimators, Mapping):
        return list(estimators.items())
    return [(getattr(e, "name", type(e).__name__), e) for e in estimators]


def evaluate_estimators(
    estimators: Mapping[str, Estimator] | Iterable[Estimator],
    train_X: np.ndarray | None,
    train_gaze: np.ndarray | None,
    test_sets: Mapping[str, tuple[np.ndarray, np.ndarray]],
    fit: bool = True,
) -> EvaluationResults:
    """Fit each estimator once on the training eyes, then test it on every test set.

    ``fit=False`` evaluates already fitted estimators (``train_X`` may then be None). Each row:
    estimator, test_set, n, mean/median/std error in degrees, fit and predict seconds.
    """
    if not test_sets:
        raise ConfigError("evaluate_estimators: test_sets is empty")
    results = EvaluationResults()
    for name, est in _named(estimators):
        fit_s = 0.0
        if fit:
            if train_X is None or train_gaze is None:
                raise ConfigError("evaluate_estimators: fit=True needs train_X and train_gaze")
            start = time.perf_counter()
            est.fit(train_X, train_gaze)
            fit_s = time.perf_counter() - start
        for set_name, (X, gaze) in test_sets.items():
            start = time.perf_counter()
            pred = est.predict(X)
            pred_s = time.perf_counter() - start
            err = angular_error_deg(pred, gaze)
            if err.shape[0] != np.asarray(gaze).reshape(-1, 3).shape[0]:
                raise DataError(
                    f"{name} on {set_name}: {err.shape[0]} predictions for "
                    f"{np.asarray(gaze).shape[0]} eyes"
                )
            results.errors[(name, set_name)] = err
            results.rows.append(
                {
                    "estimator": name,
                    "test_set": set_name,
                    "n": int(err.size),
                    "mean_error_deg": float(err.mean()),
                    "median_error_deg": float(np.median(err)),
                    "std_error_deg": float(err.std()),
                    "fit_seconds": fit_s,
                    "predict_seconds": pred_s,
                }
            )
            logging.info(
                "%s on %s: %.2f deg mean over %d eyes", name, set_name, err.mean(), err.size
            )
    return results


def plot_cumulative_curves(
    curves: Mapping[str, tuple[np.ndarray, np.ndarray]],
    path: str | Path,
    title: str = "Cumulative gaze error",
) -> Path:
    """Write the Fig. 10 plot (fraction of eyes within each error threshold) as a PNG."""
    # A bare Figure with the Agg canvas: no pyplot global state, no display needed.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig = Figure(figsize=(6.0, 4.5), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    for label, (thr, frac) in curves.items():
        ax.plot(thr, frac, label=label)
    ax.set_xlabel("angular error (degrees)")
    ax.set_ylabel("fraction of test eyes")
    ax.set_ylim(0.0, 1.02)
    ax.grid(True, alpha=0.3)
    ax.set_title(title)
    if curves:
        ax.legend(fontsize="small", loc="lower right")
    fig.tight_layout()
    fig.savefig(path, format="png")
    return path


def gap_share(raw: np.ndarray, ideal: np.ndarray, purified: np.ndarray) -> float:
    """Share of the raw -> ideal gap that purification closes: ``(raw - purified) / (raw - ideal)``
    on mean errors. 1: purified eyes score like their synthetic twins; 0: no change; < 0: worse."""
    r, i, p = (float(np.mean(a)) for a in (raw, ideal, purified))
    gap = r - i
    return float("nan") if abs(gap) < 1e-12 else (r - p) / gap


def bootstrap_gap(
    raw: np.ndarray, ideal: np.ndarray, purified: np.ndarray, n_boot: int = 2000, seed: int = 0,
    level: float = 0.95,
) -> dict[str, float]:
    """Gap share and error change with paired bootstrap intervals over test eyes.

    The three arrays hold per-eye errors of the *same* eyes (raw, synthetic twin, purified), so
    each bootstrap draw resamples eye indices once for all three. Returns ``gap_share`` with
    ``gap_share_lo/hi`` and ``delta_deg`` (purified - raw mean error) with ``delta_lo/hi``.
    """
    raw, ideal, purified = (np.asarray(a, np.float64).ravel() for a in (raw, ideal, purified))
    if not (raw.size == ideal.size == purified.size) or raw.size == 0:
        raise DataError(f"bootstrap_gap: need equal non-empty per-eye errors, got {raw.size}, "
                        f"{ideal.size}, {purified.size}")
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, raw.size, size=(n_boot, raw.size))
    r, i, p = raw[idx].mean(1), ideal[idx].mean(1), purified[idx].mean(1)
    with np.errstate(divide="ignore", invalid="ignore"):
        shares = (r - p) / (r - i)
    lo_q, hi_q = 100 * (1 - level) / 2, 100 * (1 + level) / 2
    shares = shares[np.isfinite(shares)]
    delta = p - r
    return {
        "gap_share": gap_share(raw, ideal, purified),
        "gap_share_lo": float(np.percentile(shares, lo_q)) if shares.size else float("nan"),
        "gap_share_hi": float(np.percentile(shares, hi_q)) if shares.size else float("nan"),
        "delta_deg": float(purified.mean() - raw.mean()),
        "delta_lo": float(np.percentile(delta, lo_q)),
        "delta_hi": float(np.percentile(delta, hi_q)),
    }


def bootstrap_delta(
    reference: np.ndarray, errors: np.ndarray, n_boot: int = 2000, seed: int = 0, level: float = 0.95,
) -> dict[str, float]:
    """Mean of ``errors`` minus that of ``reference`` (per-eye errors of the same eyes, e.g. a
    purified row against predicting the mean gaze), with a paired bootstrap interval: ``delta_deg``,
    ``delta_lo``, ``delta_hi``. Below zero with ``delta_hi`` < 0: better than the reference beyond
    the resampling of the eyes."""
    reference, errors = (np.asarray(a, np.float64).ravel() for a in (reference, errors))
    if reference.size != errors.size or reference.size == 0:
        raise DataError(f"bootstrap_delta: need equal non-empty per-eye errors, got {reference.size}, {errors.size}")
    idx = np.random.default_rng(seed).integers(0, reference.size, size=(n_boot, reference.size))
    delta = (errors - reference)[idx].mean(1)
    lo_q, hi_q = 100 * (1 - level) / 2, 100 * (1 + level) / 2
    return {"delta_deg": float(errors.mean() - reference.mean()), "delta_lo": float(np.percentile(delta, lo_q)),
            "delta_hi": float(np.percentile(delta, hi_q))}


def bootstrap_difference(
    raw: np.ndarray, ideal: np.ndarray, purified: np.ndarray, reference: np.ndarray, n_boot: int = 2000,
    seed: int = 0, level: float = 0.95,
) -> dict[str, float]:
    """How much more of the gap ``purified`` closes than ``reference`` (e.g. the front end alone),
    with paired bootstrap intervals: each draw resamples eye indices once for all four per-eye
    error arrays, so the interval reflects the two purifiers on the same eyes.

    Returns ``share_diff`` (gap share of purified minus that of reference) with
    ``share_diff_lo/hi`` and ``deg_diff`` (mean error purified minus reference) with ``deg_diff_lo/hi``.
    """
    arrays = [np.asarray(a, np.float64).ravel() for a in (raw, ideal, purified, reference)]
    if len({a.size for a in arrays}) != 1 or arrays[0].size == 0:
        raise DataError(f"bootstrap_difference: need equal non-empty per-eye errors, got "
                        f"{[a.size for a in arrays]}")
    raw, ideal, purified, reference = arrays
    idx = np.random.default_rng(seed).integers(0, raw.size, size=(n_boot, raw.size))
    r, i, p, q = (a[idx].mean(1) for a in arrays)
    with np.errstate(divide="ignore", invalid="ignore"):
        diffs = (q - p) / (r - i)  # = share(purified) - share(reference) on the same draw
    diffs = diffs[np.isfinite(diffs)]
    lo_q, hi_q = 100 * (1 - level) / 2, 100 * (1 + level) / 2
    deg = p - q
    return {
        "share_diff": gap_share(raw, ideal, purified) - gap_share(raw, ideal, reference),
        "share_diff_lo": float(np.percentile(diffs, lo_q)) if diffs.size else float("nan"),
        "share_diff_hi": float(np.percentile(diffs, hi_q)) if diffs.size else float("nan"),
        "deg_diff": float(purified.mean() - reference.mean()),
        "deg_diff_lo": float(np.percentile(deg, lo_q)),
        "deg_diff_hi": float(np.percentile(deg, hi_q)),
    }
