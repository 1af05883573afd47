"""Real labelled eyes decide: the paper's Table 3 on real data.

Gaze estimators are trained on synthetic (renderer) eyes and tested on real labelled eyes of
*evaluation* subjects, raw and transformed (mean/contrast matched, the illumination front end
alone, each purifier). Two reference rows frame the table: predicting the training subjects'
mean gaze for every eye, and the same estimators trained on real eyes of the *training* subjects
(the floor a perfect purifier could approach). Per row: mean angular error, its change against
raw with a paired bootstrap 95% interval over the test eyes, and the share of the raw -> floor
gap closed.

Splits are by subject and stated in the result: the training subjects' labels only shape the
synthetic set's gaze distribution (where people look) and train the floor; their images may
train a purifier (unlabelled); the evaluation subjects are only ever tested. Gaze labels never
enter a purifier's loss.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from purify_tf.data.image_io import to_gaze_input
from purify_tf.data.labelled import read_labelled
from purify_tf.data.renderer import render_eyes
from purify_tf.errors import ConfigError, DataError
from purify_tf.experiments.common import FRONT_END_CENTRED, FRONT_END_ONLY, MEAN_CONTRAST
from purify_tf.gaze.estimators import estimator_settings
from purify_tf.gaze.evaluation import bootstrap_delta, bootstrap_gap
from purify_tf.hyperparameters import (
    DEFAULT_PIXEL_NORM,
    LABEL_HEAD_PITCH_SIGN,
    PIXEL_NORMS,
    REAL_CROP_EYE_SCALE,
)
from purify_tf.vectors import angular_error_deg, pitchyaw_to_vector, vector_to_pitchyaw

RAW = "raw"
# How the split line names the classical estimators' pixel normalisation (hyperparameters.PIXEL_NORMS).
PIXEL_NORM_WORDS = {"unit": "unit-norm", "standard": "per-eye standardised", "histeq": "histogram-equalised"}
MEAN_GAZE = "predicting the mean gaze"
FLOOR = "trained on real eyes (the floor)"
TEST_SETS = ("left", "right_flipped")
SYNTHETIC_GAZE = ("labels", "renderer")
# Jitter (radians) added to each resampled label so that no two synthetic eyes share a gaze.
LABEL_JITTER = 0.01
# Neighbours averaged by ``synthetic_reach``.
REACH_NEIGHBOURS = 5
CARD_SYNTHETIC_DRAWS = 3  # synthetic training sets of the model card's real-eye table
# The card tests every eye of the evaluation subjects (None), not a draw: on draws of 200 per subject
# SVR's change against raw changed sign (docs/DESIGN.md, "SVR across test draws and on every eye").
CARD_TEST_PER_SUBJECT: int | None = None
DRAW_SEED_STRIDE = 1000  # synthetic draw d renders with seed + d * stride (draw 0 is the single-set table's)


@dataclass(frozen=True)
class RealGazeConfig:
    """What the real-gaze table is computed on; every field is stated in the result."""

    labels_dir: str
    train_subjects: tuple[str, ...] | None = None  # None: the first half of the sorted subjects
    eval_subjects: tuple[str, ...] | None = None  # None: the other subjects
    test_set: str = "left"  # left eyes, or the right eyes flipped to look like left ones
    test_per_subject: int | None = 200  # None: every eye of each evaluation subject
    n_synthetic: int = 4000
    n_floor: int = 4000
    synthetic_gaze: str = "labels"  # gaze (and head pose) resampled from the training subjects' labels
    height: int = 36
    width: int = 60
    seed: int = 0
    n_boot: int = 2000
    # Synthetic training sets the estimators are fitted on, each a new draw of the renderer (the same
    # gaze labels resampled): a row's per-eye error is the mean over them. One set is one sample of
    # what "synthetic-trained" means, and SVR's raw error alone moves by 0.5-1 degree from one to the
    # next (docs/DESIGN.md, "How much one synthetic set decides").
    synthetic_draws: int = 1
    # The synthetic eyes' size in the crop, times the renderer's (1.0: the renderer's own eyes).
    synthetic_eye_scale: float = REAL_CROP_EYE_SCALE
    # Times the labels' head pitch before the renderer draws it (LABEL_HEAD_PITCH_SIGN: -1 for MPIIGaze
    # as GazeHub writes it; +1 for labels whose head pitch follows the gaze pitch's convention).
    head_pitch_sign: float = LABEL_HEAD_PITCH_SIGN
    # What the classical estimators make each eye's pixels invariant to (gaze.estimators.PIXEL_NORMS).
    pixel_norm: str = DEFAULT_PIXEL_NORM

    def __post_init__(self) -> None:
        if self.test_set not in TEST_SETS:
            raise ConfigError(f"real gaze test_set must be one of {TEST_SETS}, got {self.test_set!r}")
        if self.synthetic_gaze not in SYNTHETIC_GAZE:
            raise ConfigError(f"real gaze synthetic_gaze must be one of {SYNTHETIC_GAZE}, got {self.synthetic_gaze!r}")
        if self.pixel_norm not in PIXEL_NORMS:
            raise ConfigError(f"real gaze pixel_norm must be one of {PIXEL_NORMS}, got {self.pixel_norm!r}")
        if self.head_pitch_sign not in (-1.0, 1.0):
            raise ConfigError(f"real gaze head_pitch_sign must be -1 or 1, got {self.head_pitch_sign!r}")
        for name in ("test_per_subject", "n_synthetic", "n_floor", "synthetic_draws", "synthetic_eye_scale"):
            if getattr(self, name) is not None and getattr(self, name) <= 0:
                raise ConfigError(f"real gaze {name} must be > 0, got {getattr(self, name)}")


@dataclass
class RealGazeData:
    """The split: the training subjects' eyes (floor training, gaze distribution, purifier content)
    and the evaluation subjects' test eyes, plus the synthetic training set."""

    train: dict[str, np.ndarray]
    test: dict[str, np.ndarray]
    synthetic: dict[str, np.ndarray]
    train_subjects: tuple[str, ...]
    eval_subjects: tuple[str, ...]
    notes: dict[str, Any] = field(default_factory=dict)
    more_synthetic: list[dict[str, np.ndarray]] = field(default_factory=list)  # draws after the first

    @property
    def synthetic_sets(self) -> list[dict[str, np.ndarray]]:
        """Every synthetic training set, the first (``synthetic``: the front end's prior, the reach) first."""
        return [self.synthetic, *self.more_synthetic]


def split_subjects(subjects: Sequence[str], train: Sequence[str] | None = None,
                   evaluate: Sequence[str] | None = None) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Subject-disjoint (train, eval) lists: the given ones, else the first half of the sorted
    subjects to train and the rest to evaluate. Raises when they overlap or one is empty."""
    every = sorted({str(s) for s in subjects if str(s)})
    if len(every) < 2 and (train is None or evaluate is None):
        raise DataError(f"real gaze: need a 'subject' column with at least 2 subjects, got {every}")
    if train is None:
        train = every[: len(every) // 2] if evaluate is None else [s for s in every if s not in evaluate]
    if evaluate is None:
        evaluate = [s for s in every if s not in train]
    train, evaluate = tuple(train), tuple(evaluate)
    unknown = sorted(set(train + evaluate) - set(every))
    if unknown:
        raise DataError(f"real gaze: subjects {unknown} are not in the labels (have {every})")
    if set(train) & set(evaluate):
        raise ConfigError(f"real gaze: training and evaluation subjects overlap: {sorted(set(train) & set(evaluate))}")
    if not train or not evaluate:
        raise ConfigError(f"real gaze: need training and evaluation subjects, got {train} and {evaluate}")
    return train, evaluate


def _per_subject(data: dict[str, np.ndarray], k: int | None, rng: np.random.Generator) -> np.ndarray:
    """Indices of at most ``k`` eyes of each subject (every eye when ``k`` is None), drawn without
    replacement, sorted."""
    if k is None:
        return np.arange(len(data["subject"]))
    keep = []
    for subject in np.unique(data["subject"]):
        idx = np.flatnonzero(data["subject"] == subject)
        keep.append(rng.choice(idx, size=min(k, idx.size), replace=False))
    return np.sort(np.concatenate(keep))


def _take(data: Mapping[str, np.ndarray], idx: np.ndarray) -> dict[str, np.ndarray]:
    return {k: v[idx] for k, v in data.items() if np.ndim(v) and len(v) == len(data["image"])}


def gaze_overrides(pitchyaw: np.ndarray, head: np.ndarray | None, n: int,
                   rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Renderer geometry overrides for ``n`` eyes that look where the labelled eyes look: rows of
    ``pitchyaw`` (and ``head`` pitch/yaw where known) resampled with replacement, plus a small
    jitter. This is how Lee et al. re-sample synthetic data to a target gaze distribution."""
    pitchyaw = np.asarray(pitchyaw, np.float64).reshape(-1, 2)
    if not len(pitchyaw):
        raise DataError("gaze_overrides: no labels to resample")
    idx = rng.integers(0, len(pitchyaw), size=n)
    drawn = pitchyaw[idx] + LABEL_JITTER * rng.standard_normal((n, 2))
    out = {"pitch": drawn[:, 0], "yaw": drawn[:, 1]}
    if head is not None:
        h = np.asarray(head, np.float64).reshape(-1, 2)[idx]
        if np.isfinite(h).all():
            out["head_pitch"], out["head_yaw"] = h[:, 0], h[:, 1]
    return out


def synthetic_training_set(n: int, height: int, width: int, seed: int,
                           pitchyaw: np.ndarray | None = None, head: np.ndarray | None = None,
                           eye_scale: float = 1.0) -> dict[str, np.ndarray]:
    """``n`` synthetic renderer eyes; with ``pitchyaw`` their gaze (and head pose) follows those
    labels; ``eye_scale`` shrinks (< 1) or grows the eye in the crop against the renderer's range."""
    overrides: dict[str, np.ndarray] = {}
    if pitchyaw is not None:
        overrides = gaze_overrides(pitchyaw, head, n, np.random.default_rng([seed, 17]))
    return dict(render_eyes(n, height, width, domain="synthetic", seed=seed + 101, eye_scale=eye_scale, **overrides))


def load_real_gaze_data(cfg: RealGazeConfig) -> RealGazeData:
    """Read the labelled folder, split it by subject and render the synthetic training set."""
    flipped = cfg.test_set == "right_flipped"
    left = read_labelled(cfg.labels_dir, size=(cfg.height, cfg.width), eyes=None, flipped=False)
    train_subjects, eval_subjects = split_subjects(left["subject"], cfg.train_subjects, cfg.eval_subjects)
    rng = np.random.default_rng([cfg.seed, 3])
    in_train = np.isin(left["subject"], train_subjects)
    train = _take(left, np.flatnonzero(in_train))
    if flipped:
        right = read_labelled(cfg.labels_dir, size=(cfg.height, cfg.width), flipped=True)
        pool = _take(right, np.flatnonzero(np.isin(right["subject"], eval_subjects)))
    else:
        pool = _take(left, np.flatnonzero(np.isin(left["subject"], eval_subjects)))
    if not len(pool.get("image", ())):
        raise DataError(f"{cfg.labels_dir}: no {cfg.test_set} eyes of the evaluation subjects {eval_subjects}")
    test = _take(pool, _per_subject(pool, cfg.test_per_subject, rng))
    # How many eyes each evaluation subject has: the split says whether the test eyes are a draw or all.
    pool_sizes = np.unique(pool["subject"], return_counts=True)[1]
    if len(train["image"]) > cfg.n_floor:
        train = _take(train, np.sort(rng.choice(len(train["image"]), cfg.n_floor, replace=False)))
    head = None
    if np.isfinite(train["head_pitchyaw"]).all():
        head = train["head_pitchyaw"] * np.asarray([cfg.head_pitch_sign, 1.0], np.float32)
    synthetic = [synthetic_training_set(
        cfg.n_synthetic, cfg.height, cfg.width, cfg.seed + DRAW_SEED_STRIDE * draw,
        pitchyaw=train["pitchyaw"] if cfg.synthetic_gaze == "labels" else None, head=head,
        eye_scale=cfg.synthetic_eye_scale)
        for draw in range(cfg.synthetic_draws)]
    return RealGazeData(train=train, test=test, synthetic=synthetic[0], train_subjects=train_subjects,
                        eval_subjects=eval_subjects, notes={"head_pose_resampled": head is not None,
                                                            "test_pool_per_subject": [int(pool_sizes.min()),
                                                                                      int(pool_sizes.max())]},
                        more_synthetic=synthetic[1:])


def mean_gaze_prediction(train_gaze: np.ndarray, n: int) -> np.ndarray:
    """The reference that knows no image: the training subjects' mean gaze direction, n times."""
    mean = np.asarray(train_gaze, np.float64).mean(axis=0)
    return np.tile(mean / np.linalg.norm(mean), (n, 1))


def axis_correlation(pred: np.ndarray, true: np.ndarray) -> dict[str, float]:
    """Pearson r of predicted vs true pitch and yaw: whether an estimator reads each axis (and
    whether a test set's labels were flipped with its images)."""
    p, t = vector_to_pitchyaw(np.asarray(pred)), vector_to_pitchyaw(np.asarray(true))
    out = {}
    for i, axis in enumerate(("pitch", "yaw")):
        if np.std(p[:, i]) < 1e-9 or np.std(t[:, i]) < 1e-9:  # a constant prediction reads no axis
            out[axis] = float("nan")
        else:
            with np.errstate(invalid="ignore", divide="ignore"):
                out[axis] = float(np.corrcoef(p[:, i], t[:, i])[0, 1])
    return out


def axis_spread(pred: np.ndarray) -> dict[str, float]:
    """Standard deviation (degrees) of predicted pitch and yaw. Beside the correlation it tells a
    regressor that answers at full amplitude (spread near the truth's) from one that falls back on
    its mean far from its training eyes (small spread): the latter can score better on eyes it
    cannot read (docs/DESIGN.md, "Why SVR loses")."""
    p = np.degrees(vector_to_pitchyaw(np.asarray(pred)))
    return {"pitch": float(p[:, 0].std()), "yaw": float(p[:, 1].std())}


def axis_bias(pred: np.ndarray, true: np.ndarray) -> dict[str, float]:
    """Mean predicted minus mean true pitch and yaw (degrees): an offset that every eye of a set
    shares. Beside correlation and spread it tells an estimator that reads an image set better from
    one whose predictions were only moved towards where the test subjects look."""
    p, t = (np.degrees(vector_to_pitchyaw(np.asarray(x))) for x in (pred, true))
    d = p.mean(axis=0) - t.mean(axis=0)
    return {"pitch": float(d[0]), "yaw": float(d[1])}


def offset_removed_error(pred: np.ndarray, true: np.ndarray) -> float:
    """Mean angular error (degrees) after moving every prediction by the set's own offset
    (:func:`axis_bias`). A diagnostic that reads the test labels' mean, not a score: the part of a
    row's error that is the reading, whatever offset the estimator adds."""
    p, t = vector_to_pitchyaw(np.asarray(pred)), vector_to_pitchyaw(np.asarray(true))
    moved = pitchyaw_to_vector(p - (p.mean(axis=0) - t.mean(axis=0)))
    return float(angular_error_deg(moved, np.asarray(true)).mean())


def axis_offset(pred: np.ndarray, true: np.ndarray) -> dict[str, float]:
    """A row's ``axis_bias_deg`` entry: :func:`axis_bias` and :func:`offset_removed_error` together."""
    return {**axis_bias(pred, true), "offset_removed_error": offset_removed_error(pred, true)}


def synthetic_reach(synthetic_X: np.ndarray, sets: Mapping[str, np.ndarray],
                    k: int = REACH_NEIGHBOURS) -> dict[str, float]:
    """Per image set, the mean distance of an eye to its ``k`` nearest synthetic training eyes in
    the PCA features that SVR and RF read: how close a transform brings real eyes to the synthetic
    set, whatever the estimator (smaller is closer)."""
    from sklearn.neighbors import NearestNeighbors

    from purify_tf.gaze.estimators import EyeFeatures

    features = EyeFeatures("pca").fit(synthetic_X)
    k = min(k, len(synthetic_X))
    index = NearestNeighbors(n_neighbors=k).fit(features.transform(synthetic_X))
    return {name: float(index.kneighbors(features.transform(X))[0].mean()) for name, X in sets.items()}


def _no_progress(line: str) -> None:
    """The default ``progress`` of the functions below: library calls print nothing."""


def real_gaze_table(
    make_estimators: Callable[[], Mapping[str, Any]],
    data: RealGazeData,
    candidates: Mapping[str, np.ndarray],
    n_boot: int = 2000,
    seed: int = 0,
    progress: Callable[[str], None] = _no_progress,
) -> dict[str, Any]:
    """Fit each estimator on the synthetic eyes and (a fresh one) on the training subjects' real
    eyes; test both on the evaluation eyes. ``candidates`` maps a row name to the test eyes
    transformed (same eyes, same order, any size). Returns the JSON block of the table.
    ``progress`` gets a line after each fit: with the CNN and several synthetic sets the fits take
    tens of minutes on two cores."""
    test_gaze = data.test["gaze"]
    n = len(test_gaze)
    synthetic_X = to_gaze_input(data.synthetic["image"])
    sets = {RAW: to_gaze_input(data.test["image"])}
    for name, images in candidates.items():
        if len(images) != n:
            raise DataError(f"real gaze: row {name!r} has {len(images)} eyes, the test set {n}")
        sets[name] = to_gaze_input(images)
    by_draw: dict[str, dict[str, list[np.ndarray]]] = {}  # per-eye errors, one array per synthetic set
    correlation: dict[str, dict[str, dict[str, float]]] = {}
    spread: dict[str, dict[str, dict[str, float]]] = {}
    bias: dict[str, dict[str, dict[str, float]]] = {}
    draws = data.synthetic_sets
    for draw, synthetic in enumerate(draws):
        synthetic_models = make_estimators()
        X_fit = synthetic_X if draw == 0 else to_gaze_input(synthetic["image"])
        for est, model in synthetic_models.items():
            model.fit(X_fit, synthetic["gaze"])
            for name, X in sets.items():
                pred = model.predict(X)
                by_draw.setdefault(name, {}).setdefault(est, []).append(angular_error_deg(pred, test_gaze))
                if draw == 0:  # correlation and spread: of the first set's estimators
                    correlation.setdefault(name, {})[est] = axis_correlation(pred, test_gaze)
                    spread.setdefault(name, {})[est] = axis_spread(pred)
                    bias.setdefault(name, {})[est] = axis_offset(pred, test_gaze)
            progress(f"synthetic set {draw + 1}/{len(draws)}: {est} fitted, {len(sets)} image sets tested")
    # A row's per-eye error: its mean over the synthetic sets.
    errors = {name: {est: np.mean(arrays, axis=0) for est, arrays in by_est.items()} for name, by_est in by_draw.items()}
    real_X = to_gaze_input(data.train["image"])
    for est, model in make_estimators().items():
        model.fit(real_X, data.train["gaze"])
        pred = model.predict(sets[RAW])
        errors.setdefault(FLOOR, {})[est] = angular_error_deg(pred, test_gaze)
        correlation.setdefault(FLOOR, {})[est] = axis_correlation(pred, test_gaze)
        spread.setdefault(FLOOR, {})[est] = axis_spread(pred)
        bias.setdefault(FLOOR, {})[est] = axis_offset(pred, test_gaze)
        progress(f"floor: {est} fitted on real training eyes")
    reach = synthetic_reach(synthetic_X, sets)
    mean_err = angular_error_deg(mean_gaze_prediction(data.train["gaze"], n), test_gaze)
    errors[MEAN_GAZE] = {est: mean_err for est in synthetic_models}
    rows = []
    for name in [MEAN_GAZE, FLOOR, RAW, *candidates]:
        kind = "reference" if name in (MEAN_GAZE, FLOOR) else ("raw" if name == RAW else "candidate")
        row: dict[str, Any] = {"row": name, "kind": kind, "mean_error_deg": {}, "vs_raw": {}}
        for est in synthetic_models:
            err = errors[name][est]
            row["mean_error_deg"][est] = float(err.mean())
            if name != RAW:
                row["vs_raw"][est] = bootstrap_gap(errors[RAW][est], errors[FLOOR][est], err,
                                                   n_boot=n_boot, seed=seed)
            if kind != "reference":  # does the synthetic-trained estimator beat predicting the mean gaze?
                row.setdefault("vs_mean", {})[est] = bootstrap_delta(errors[MEAN_GAZE][est], err,
                                                                     n_boot=n_boot, seed=seed)
        if len(draws) > 1 and name in by_draw:
            row["per_draw_error_deg"] = {est: [float(e.mean()) for e in arrays] for est, arrays in by_draw[name].items()}
        if name in correlation:
            row["axis_correlation"] = correlation[name]
            row["axis_spread_deg"] = spread[name]
            row["axis_bias_deg"] = bias[name]
        if name in reach:
            row["synthetic_reach"] = reach[name]
        rows.append(row)
    return {
        "rows": rows,
        "estimators": list(synthetic_models),
        "n_test": int(n),
        "truth_spread_deg": axis_spread(test_gaze),
        "n_synthetic": int(len(data.synthetic["image"])),
        "synthetic_draws": len(draws),
        "n_floor_train": int(len(data.train["image"])),
        "train_subjects": list(data.train_subjects),
        "eval_subjects": list(data.eval_subjects),
        "per_eye": {name: {est: [round(float(e), 3) for e in err] for est, err in by_est.items()}
                    for name, by_est in errors.items()},
    }


def pupil_moves(rows: Sequence[dict[str, Any]], raw: np.ndarray, candidates: Mapping[str, np.ndarray]) -> None:
    """Each candidate row gains ``pupil_move_px``: the darkest-blob detector's raw -> row move on the
    test eyes (px at the 55-wide crop; ``dx``/``dy`` signed, +x right, +y down). A systematic move
    shifts every synthetic-trained estimator's gaze the same way (about 0.17 px per degree of yaw
    at this size), so a row's change of error can be a moved pupil rather than a better-read eye.
    A diagnostic, not a measurement of geometry: the detector's centre moves with appearance too
    (the mean/contrast match moves no pixel and "moves" it)."""
    from purify_tf.experiments.pupil import EYE_WIDTH, darkest_blob_centres, shift_stats

    c_raw = darkest_blob_centres(raw)
    for row in rows:
        if row["row"] in candidates:
            row["pupil_move_px"] = shift_stats(c_raw, darkest_blob_centres(candidates[row["row"]]),
                                               EYE_WIDTH / raw.shape[2])


def run_real_gaze(
    cfg: RealGazeConfig,
    make_estimators: Callable[[], Mapping[str, Any]],
    purifiers: Mapping[str, Callable[[np.ndarray], np.ndarray]],
    front_end: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None,
    data: RealGazeData | None = None,
    progress: Callable[[str], None] = _no_progress,
) -> dict[str, Any]:
    """The whole experiment: data (unless given), baselines, purifiers, the table and the split
    stated. ``purifiers`` map a row name to a function of uint8 test eyes; ``front_end(images,
    synthetic[, centre])`` is the illumination front end alone with its prior fitted on the synthetic
    set (two rows: centred on the synthetic mean map, and on the training subjects' eyes' one);
    ``progress`` gets a line per fit."""
    from purify_tf.experiments.real_eyes import mean_contrast_match

    data = data or load_real_gaze_data(cfg)
    raw = data.test["image"]
    candidates = {MEAN_CONTRAST: mean_contrast_match(raw, data.synthetic["image"])}
    if front_end is not None:
        candidates[FRONT_END_ONLY] = front_end(raw, data.synthetic["image"])
        # Centred on the training subjects' eyes: their images only, never their labels.
        candidates[FRONT_END_CENTRED] = front_end(raw, data.synthetic["image"], data.train["image"])
    for name, fn in purifiers.items():
        candidates[name] = fn(raw)
    out = real_gaze_table(make_estimators, data, candidates, n_boot=cfg.n_boot, seed=cfg.seed, progress=progress)
    pupil_moves(out["rows"], raw, candidates)
    out["config"] = asdict(cfg)
    out["estimator_settings"] = estimator_settings(cfg.pixel_norm)
    out["notes"] = dict(data.notes)
    draws = f" (each error the mean over {cfg.synthetic_draws} such sets, each its own draw)" if cfg.synthetic_draws > 1 else ""
    out["split"] = (
        f"subject-disjoint: estimators trained on {out['n_synthetic']} synthetic renderer eyes"
        + (f" whose gaze{' and head pose' if data.notes.get('head_pose_resampled') else ''} is resampled from the "
           f"labels of {', '.join(data.train_subjects)}" if cfg.synthetic_gaze == "labels"
           else " in the renderer's own gaze range")
        + (f", drawn at {cfg.synthetic_eye_scale:g} of the renderer's eye size" if cfg.synthetic_eye_scale != 1.0 else "")
        + draws
        + (f"; kNN, SVR, RF and ALR on {PIXEL_NORM_WORDS[cfg.pixel_norm]} pixels" if cfg.pixel_norm != DEFAULT_PIXEL_NORM
           else "")
        + f"; the floor trained on {out['n_floor_train']} real left eyes of {', '.join(data.train_subjects)}; "
        f"tested on {out['n_test']} real {cfg.test_set.replace('_', ' ')} eyes of {', '.join(data.eval_subjects)} "
        f"({draw_description(cfg.test_per_subject, data.notes.get('test_pool_per_subject'))}). "
        "Gaze labels never enter a purifier's loss.")
    return out


def draw_description(per_subject: int | None, pool: Sequence[int] | None) -> str:
    """How the test eyes were chosen: every eye of each subject, or a draw from how many (``pool``:
    the fewest and most eyes an evaluation subject has). A draw of a few hundred moves SVR's change
    against raw by up to 0.8 degree (docs/DESIGN.md, "SVR across test draws and on every eye"), so
    the table says which it is."""
    if per_subject is None:
        return "every eye of each subject"
    if not pool:
        return f"{per_subject} per subject"
    low, high = int(pool[0]), int(pool[1])
    if per_subject >= high:
        return "every eye of each subject"
    have = f"{low}" if low == high else f"{low}-{high}"
    return f"{'at most ' if per_subject >= low else ''}{per_subject} per subject, drawn from each subject's {have}"


def _cell(row: Mapping[str, Any], est: str) -> str:
    err = row["mean_error_deg"][est]
    vs = row.get("vs_raw", {}).get(est)
    if not vs or row["kind"] == "reference":
        return f"{err:.2f}"
    return (f"{err:.2f} ({vs['delta_deg']:+.2f} [{vs['delta_lo']:+.2f}, {vs['delta_hi']:+.2f}]; "
            f"{100 * vs['gap_share']:.0f}% [{100 * vs['gap_share_lo']:.0f}, {100 * vs['gap_share_hi']:.0f}])")


def real_gaze_markdown(result: Mapping[str, Any]) -> str:
    """The table: one row per image set, one column per estimator; each cell the mean error in
    degrees, then (change against raw [95% CI]; share of the raw -> floor gap closed [95% CI])."""
    ests = result["estimators"]
    lines = ["| eyes | " + " | ".join(ests) + " |", "|---|" + "---|" * len(ests)]
    for row in result["rows"]:
        lines.append(f"| {row['row']} | " + " | ".join(_cell(row, e) for e in ests) + " |")
    return "\n".join(lines)


OFFSET_HEADING = ("Prediction offset, mean predicted minus mean true pitch / yaw in degrees, and (the mean error "
                  "with that offset removed) (the first synthetic set's estimators; a diagnostic that reads the test "
                  "labels' mean): a row that lowers the error by moving the offset alone reads the eyes no better. "
                  "Last column: the median raw -> row pupil move of the darkest-blob detector (px at 55 wide, +x right, "
                  "+y down; 0.2 px is about a degree of gaze)")


def offset_markdown(result: Mapping[str, Any]) -> str:
    """Each row's ``axis_bias_deg`` as a table (pitch / yaw per estimator): whether a change of error
    against raw is a change of reading (correlation, spread) or of where the predictions sit."""
    ests = result["estimators"]
    moves = any("pupil_move_px" in row for row in result["rows"])
    extra = " pupil moved dx / dy (px) |" if moves else ""
    lines = ["| eyes | " + " | ".join(ests) + " |" + extra, "|---|" + "---|" * (len(ests) + moves)]
    for row in result["rows"]:
        bias = row.get("axis_bias_deg")
        if bias:
            cells = [f"{bias[e]['pitch']:+.1f} / {bias[e]['yaw']:+.1f} ({bias[e]['offset_removed_error']:.2f})"
                     if e in bias else "-" for e in ests]
            if moves:
                move = row.get("pupil_move_px")
                cells.append(f"{move['dx_median']:+.2f} / {move['dy_median']:+.2f}" if move and move["n"] else "-")
            lines.append(f"| {row['row']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def keras_purifier(model: Any, size: tuple[int, int] | None = None) -> Callable[[np.ndarray], np.ndarray]:
    """A saved f_W as a row function: uint8 eyes -> purified uint8 eyes (at ``size``, default
    their own: ``apply_padded`` takes any size, as ``purify-tf purify`` does)."""
    from purify_tf.experiments.common import purify

    return lambda images: purify(model, images, size)


def evaluate_labelled(
    labels_dir: str,
    purifiers: Mapping[str, Any],
    estimators: Sequence[str] = ("cnn", "knn", "svr", "rf", "alr"),
    cnn_epochs: int = 10,
    cnn_batch_size: int = 128,
    progress: Callable[[str], None] = _no_progress,
    **config: Any,
) -> dict[str, Any]:
    """``purify-tf evaluate``: does purification help my estimators on my labelled eyes? The
    table of :func:`run_real_gaze` for Keras purifiers ``{row name: model}``; ``progress`` gets
    one line per stage."""
    from purify_tf.experiments.common import front_end_only
    from purify_tf.experiments.gaze import make_estimators

    cfg = RealGazeConfig(labels_dir=str(labels_dir), **config)
    progress(f"reading {labels_dir} and rendering {cfg.n_synthetic} synthetic training eyes")
    data = load_real_gaze_data(cfg)
    progress(f"split: train subjects {', '.join(data.train_subjects)} (floor, gaze distribution); "
             f"evaluation subjects {', '.join(data.eval_subjects)} ({len(data.test['image'])} {cfg.test_set} eyes)")
    rows = {name: keras_purifier(model) for name, model in purifiers.items()}
    progress(f"fitting {', '.join(estimators)} on synthetic and on real training eyes, testing {4 + len(rows)} "
             "image sets (raw, mean/contrast match, the front end centred two ways, each purifier)")
    result = run_real_gaze(
        cfg, lambda: make_estimators(estimators, cnn_epochs=cnn_epochs, cnn_batch_size=cnn_batch_size, seed=cfg.seed,
                                     n_jobs=2, pixel_norm=cfg.pixel_norm),
        rows, front_end=front_end_only, data=data, progress=progress)
    result["estimator_settings"].update(cnn_epochs=cnn_epochs, cnn_batch_size=cnn_batch_size)
    return result


def summary_line(result: Mapping[str, Any], row: str) -> str:
    """One sentence on ``row``: how many estimators it makes better / worse beyond the interval,
    and the share of the raw -> floor gap it closes per estimator."""
    found = next((r for r in result["rows"] if r["row"] == row), None)
    if found is None:
        raise ConfigError(f"real gaze: no row {row!r} (have {[r['row'] for r in result['rows']]})")
    vs = found["vs_raw"]
    better = [e for e in vs if vs[e]["delta_hi"] < 0]
    worse = [e for e in vs if vs[e]["delta_lo"] > 0]
    shares = ", ".join(f"{e} {100 * vs[e]['gap_share']:.0f}%" for e in vs)
    vm = found.get("vs_mean", {})
    beat_mean = [e for e in vm if vm[e]["delta_hi"] < 0]
    return (f"{row}: lower error than raw for {len(better)} of {len(vs)} estimators (95% interval below zero"
            f"{': ' + ', '.join(better) if better else ''}), higher for {len(worse)}"
            f"{' (' + ', '.join(worse) + ')' if worse else ''}; raw -> floor gap closed: {shares}"
            + (f"; below predicting the mean gaze (interval below zero) for {len(beat_mean)} of {len(vm)}"
               f"{': ' + ', '.join(beat_mean) if beat_mean else ''}" if vm else ""))


def compact(result: Mapping[str, Any], digits: int = 3) -> dict[str, Any]:
    """The table without per-eye errors, rounded: what a model card and the report's JSON keep."""
    def rounded(value: Any) -> Any:
        if isinstance(value, float):
            return round(value, digits)
        if isinstance(value, dict):
            return {k: rounded(v) for k, v in value.items()}
        return value

    keep = ("split", "estimators", "n_test", "truth_spread_deg", "n_synthetic", "synthetic_draws", "n_floor_train", "train_subjects", "eval_subjects",
            "config", "notes", "estimator_settings")
    return {**{k: result[k] for k in keep if k in result}, "rows": [rounded(r) for r in result["rows"]]}


def card_scores(model: Any, labels_dir: str, eval_subjects: Sequence[str] | None = None,
                estimators: Sequence[str] = ("cnn", "knn", "svr", "rf", "alr"),
                synthetic_draws: int = CARD_SYNTHETIC_DRAWS,
                test_per_subject: int | None = CARD_TEST_PER_SUBJECT) -> dict[str, Any]:
    """The real-gaze table of one purifier ("purified" row) for its model card, over
    ``synthetic_draws`` synthetic training sets and, by default, every test eye (what ships is
    judged on neither one synthetic set nor one draw of test eyes)."""
    result = evaluate_labelled(labels_dir, {"purified": model}, estimators=estimators,
                               eval_subjects=tuple(eval_subjects) if eval_subjects else None,
                               synthetic_draws=synthetic_draws, test_per_subject=test_per_subject)
    return compact(result)
