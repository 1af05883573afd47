"""Classical appearance-based gaze estimators on 35x55 grayscale eyes (paper 4.2, Table 3).

All estimators share one small interface so that the evaluation code can treat them alike:
``fit(X, gaze_vectors)`` and ``predict(X) -> (N, 3)`` unit gaze vectors, plus a ``name``.
``X`` is float32 ``(N, 35, 55, 1)`` in [0, 1] (the gaze-CNN input) or already flat ``(N, D)``.

Regression targets. Each estimator regresses either the 3D gaze vector (``target="vector"``)
or ``[pitch, yaw]`` (``target="pitchyaw"``) and always returns renormalised unit vectors.
Averaging estimators (kNN, ALR, random forest) default to the vector: a (weighted) mean of unit
vectors followed by renormalisation is a good spherical mean and has no angle wrap-around.
SVR defaults to pitch/yaw: one RBF regressor per output, and two angles are one model fewer
than three vector components, with nearly independent targets.

Features (``features=``):
- ``"raw"``: the flattened pixels, each image scaled to unit L2 norm. The scaling removes
  global exposure changes (a strong nuisance between synthetic and real eyes) while keeping
  the pixels non-negative, so that ALR's non-negative reconstruction stays meaningful.
- ``"lu15"``: Lu et al.'s low-dimensional appearance feature: gray sums over a 3 (rows) x 5
  (columns) grid of the eye, divided by the total, i.e. 15 region intensity percentages.
- ``"pca"``: the ``"raw"`` vectors projected on their first ``n_components`` principal
  components (centred, not whitened, not per-pixel standardised, so that Euclidean and RBF
  distances approximate those between raw eyes instead of amplifying the noise directions).
  This is what makes SVR and random forest tractable on thousands of eyes: kernel and split
  costs scale with the feature dimension, and 50 components keep most of the variance of
  smooth eye images.
kNN and ALR default to ``"raw"``; SVR and random forest to ``"pca"``.

Pixel normalisation (``pixel_norm=``, for ``"raw"`` and ``"pca"``): what each eye's pixels are
made invariant to before the unit-norm scaling, because estimators in use differ there and a
purifier that changes an eye's contrast is read differently by each:
- ``"unit"`` (the default, the model card's measure): exposure only. Contrast stays in the
  features: eyes of another contrast than the training eyes lie far from them, where an RBF
  machine returns little more than its mean gaze (docs/DESIGN.md, "The estimators' pixel
  normalisation").
- ``"standard"``: each eye minus its mean pixel, i.e. per-image standardised pixels (exposure
  and contrast), the usual "normalised grey pixels".
- ``"histeq"``: each eye histogram-equalised first, MPIIGaze's own preprocessing.
"""

from __future__ import annotations

import time
from typing import Any, Literal

import cv2
import numpy as np
from absl import logging
from scipy.optimize import nnls
from sklearn.decomposition import PCA
from sklearn.ensemble import RandomForestRegressor
from sklearn.neighbors import KNeighborsRegressor, NearestNeighbors
from sklearn.svm import SVR

from purify_tf.conventions import GAZE_HEIGHT, GAZE_WIDTH
from purify_tf.errors import ConfigError, DataError
from purify_tf.hyperparameters import DEFAULT_PIXEL_NORM, PIXEL_NORMS
from purify_tf.vectors import pitchyaw_to_vector, vector_to_pitchyaw

FeatureKind = Literal["raw", "lu15", "pca"]
TargetKind = Literal["vector", "pitchyaw"]
PixelNorm = Literal["unit", "standard", "histeq"]

LU_GRID = (3, 5)  # rows x columns of Lu et al.'s region-sum feature
# SVR's box constraint: 3-fold cross-validation on each of three synthetic training sets (gaze drawn
# from MPIIGaze p00-p04's labels; no real eye, no real label) picks C=3 with gamma 'scale' over the
# former C=10 and the grid around it (`python -m tools.select_svr`; docs/DESIGN.md, "SVR's C").
SVR_C = 3.0


def flatten_eyes(X: np.ndarray) -> np.ndarray:
    """(N, H, W[, 1]) or (N, D) eyes -> float64 (N, D); raises DataError on other shapes."""
    x = np.asarray(X)
    if x.ndim == 4 and x.shape[-1] == 1:
        x = x[..., 0]
    if x.ndim == 3:
        x = x.reshape(x.shape[0], -1)
    if x.ndim != 2 or x.shape[0] == 0:
        raise DataError(
            f"gaze estimator input: expected (N, 35, 55, 1), (N, 35, 55) or (N, D) with N > 0, "
            f"got shape {np.shape(X)}"
        )
    return x.astype(np.float64, copy=False)


def _unit_rows(flat: np.ndarray) -> np.ndarray:
    """Scale each row to unit L2 norm (removes global exposure, keeps pixels non-negative)."""
    return flat / np.maximum(np.linalg.norm(flat, axis=1, keepdims=True), 1e-12)


def equalise_rows(flat: np.ndarray) -> np.ndarray:
    """Histogram-equalise each row (pixels in [0, 1]) as OpenCV does an 8-bit image -> [0, 1]."""
    u8 = np.clip(np.rint(flat * 255.0), 0, 255).astype(np.uint8)
    return np.stack([cv2.equalizeHist(row[None, :])[0] for row in u8]).astype(np.float64) / 255.0


def normalise_pixels(flat: np.ndarray, pixel_norm: str = DEFAULT_PIXEL_NORM) -> np.ndarray:
    """Rows of pixels -> unit-norm rows after the chosen invariance (see the module docstring)."""
    if pixel_norm == "unit":
        return _unit_rows(flat)
    if pixel_norm == "standard":
        return _unit_rows(flat - flat.mean(axis=1, keepdims=True))
    if pixel_norm == "histeq":
        return _unit_rows(equalise_rows(flat))
    raise ConfigError(f"pixel_norm: expected one of {list(PIXEL_NORMS)}, got {pixel_norm!r}")


def _as_images(X: np.ndarray) -> np.ndarray:
    """Eyes as (N, H, W) for region features; flat input must be 35*55 pixels."""
    x = np.asarray(X, dtype=np.float64)
    if x.ndim == 4 and x.shape[-1] == 1:
        return x[..., 0]
    if x.ndim == 3:
        return x
    if x.ndim == 2 and x.shape[1] == GAZE_HEIGHT * GAZE_WIDTH:
        return x.reshape(-1, GAZE_HEIGHT, GAZE_WIDTH)
    raise DataError(
        f"lu15 features need (N, 35, 55[, 1]) eyes or (N, {GAZE_HEIGHT * GAZE_WIDTH}) pixels, "
        f"got shape {x.shape}"
    )


def lu_region_features(X: np.ndarray, grid: tuple[int, int] = LU_GRID) -> np.ndarray:
    """Lu et al. (2014) feature: gray sums over a rows x cols grid, as fractions of the total."""
    imgs = _as_images(X)
    rows = np.array_split(np.arange(imgs.shape[1]), grid[0])
    cols = np.array_split(np.arange(imgs.shape[2]), grid[1])
    sums = np.stack(
        [imgs[:, r[0] : r[-1] + 1, c[0] : c[-1] + 1].sum(axis=(1, 2)) for r in rows for c in cols],
        axis=1,
    )
    return sums / np.maximum(sums.sum(axis=1, keepdims=True), 1e-12)


class EyeFeatures:
    """Appearance features for the classical estimators (see the module docstring)."""

    def __init__(self, kind: FeatureKind = "raw", n_components: int = 50, seed: int = 0,
                 pixel_norm: PixelNorm = DEFAULT_PIXEL_NORM):
        if kind not in ("raw", "lu15", "pca"):
            raise ConfigError(f"features: expected 'raw', 'lu15' or 'pca', got {kind!r}")
        if pixel_norm not in PIXEL_NORMS:
            raise ConfigError(f"pixel_norm: expected one of {list(PIXEL_NORMS)}, got {pixel_norm!r}")
        self.kind = kind
        self.pixel_norm = pixel_norm
        self.n_components = int(n_components)
        self.seed = seed
        self._pca: PCA | None = None

    def fit(self, X: np.ndarray) -> EyeFeatures:
        if self.kind == "pca":
            flat = normalise_pixels(flatten_eyes(X), self.pixel_norm)
            n = min(self.n_components, flat.shape[0], flat.shape[1])
            self._pca = PCA(n_components=n, random_state=self.seed).fit(flat)
        return self

    def transform(self, X: np.ndarray) -> np.ndarray:
        if self.kind == "raw":
            return normalise_pixels(flatten_eyes(X), self.pixel_norm)
        if self.kind == "lu15":
            return lu_region_features(X)
        if self._pca is None:
            raise RuntimeError("EyeFeatures(kind='pca') must be fitted before transform")
        return self._pca.transform(normalise_pixels(flatten_eyes(X), self.pixel_norm))

    def fit_transform(self, X: np.ndarray) -> np.ndarray:
        return self.fit(X).transform(X)


def _check_gaze(gaze: np.ndarray, n: int) -> np.ndarray:
    g = np.asarray(gaze, dtype=np.float64)
    if g.ndim != 2 or g.shape != (n, 3):
        raise DataError(f"gaze vectors: expected shape ({n}, 3) matching X, got {g.shape}")
    return g / np.maximum(np.linalg.norm(g, axis=1, keepdims=True), 1e-12)


def _normalise_vectors(v: np.ndarray) -> np.ndarray:
    v = np.asarray(v, dtype=np.float64)
    return (v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)).astype(np.float32)


class GazeEstimator:
    """Base class: features -> regressor on the chosen target -> unit 3D gaze vectors."""

    name = "base"

    def __init__(
        self,
        features: FeatureKind = "raw",
        target: TargetKind = "vector",
        n_components: int = 50,
        seed: int = 0,
        pixel_norm: PixelNorm = DEFAULT_PIXEL_NORM,
    ):
        if target not in ("vector", "pitchyaw"):
            raise ConfigError(f"target: expected 'vector' or 'pitchyaw', got {target!r}")
        self.features = EyeFeatures(features, n_components=n_components, seed=seed, pixel_norm=pixel_norm)
        self.target = target
        self.seed = seed
        self.fitted = False

    def _encode(self, gaze: np.ndarray) -> np.ndarray:
        if self.target == "vector":
            return gaze
        return vector_to_pitchyaw(gaze).astype(np.float64)

    def _decode(self, y: np.ndarray) -> np.ndarray:
        if self.target == "vector":
            return _normalise_vectors(y)
        return _normalise_vectors(pitchyaw_to_vector(y))

    def fit(self, X: np.ndarray, gaze_vectors: np.ndarray) -> GazeEstimator:
        """Fit on eyes X and (N, 3) gaze vectors (any lengths; normalised here)."""
        start = time.perf_counter()
        n = flatten_eyes(X).shape[0]
        gaze = _check_gaze(gaze_vectors, n)
        feats = self.features.fit_transform(X)
        self._fit_features(feats, self._encode(gaze))
        self.fitted = True
        logging.info("%s: fitted on %d eyes in %.2f s", self.name, n, time.perf_counter() - start)
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Eyes -> float32 (N, 3) unit gaze vectors."""
        if not self.fitted:
            raise RuntimeError(f"{self.name}: call fit() before predict()")
        return self._decode(self._predict_features(self.features.transform(X)))

    def _fit_features(self, feats: np.ndarray, y: np.ndarray) -> None:
        raise NotImplementedError

    def _predict_features(self, feats: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(name={self.name!r}, features={self.features.kind!r}, "
                f"pixel_norm={self.features.pixel_norm!r})")


class KNNGaze(GazeEstimator):
    """k-nearest-neighbour regression, the learning-by-synthesis baseline of Table 3.

    With dense synthetic training sets a plain average over a handful of neighbours is hard
    to beat (Sugano et al. 2014); ``k=10`` with uniform weights is the default here.
    """

    name = "knn"

    def __init__(
        self, k: int = 10, weights: Literal["uniform", "distance"] = "uniform", n_jobs: int | None = None,
        **base: Any,
    ):
        """``base``: :class:`GazeEstimator`'s ``features``, ``target``, ``n_components``, ``seed``,
        ``pixel_norm``."""
        super().__init__(**base)
        self.k = int(k)
        self.weights = weights
        self.n_jobs = n_jobs

    def _fit_features(self, feats: np.ndarray, y: np.ndarray) -> None:
        k = min(self.k, feats.shape[0])
        self._model = KNeighborsRegressor(n_neighbors=k, weights=self.weights, n_jobs=self.n_jobs)
        self._model.fit(feats, y)

    def _predict_features(self, feats: np.ndarray) -> np.ndarray:
        return self._model.predict(feats)


class SVRGaze(GazeEstimator):
    """Support vector regression, one RBF ``SVR`` per output on PCA features.

    Targets are standardised per output so that ``epsilon`` and ``C`` mean the same for pitch
    and yaw (the raw angles span only ~1 rad, where sklearn's default epsilon=0.1 would be a
    6-degree dead zone). ``C`` is :data:`SVR_C`, chosen by cross-validation on synthetic eyes.
    """

    name = "svr"

    def __init__(
        self,
        C: float = SVR_C,
        epsilon: float = 0.05,
        gamma: str | float = "scale",
        gamma_scale: float = 1.0,
        features: FeatureKind = "pca",
        target: TargetKind = "pitchyaw",
        n_components: int = 50,
        seed: int = 0,
        pixel_norm: PixelNorm = DEFAULT_PIXEL_NORM,
    ):
        super().__init__(features, target, n_components, seed, pixel_norm)
        self.C, self.epsilon, self.gamma, self.gamma_scale = C, epsilon, gamma, float(gamma_scale)

    def _kernel_gamma(self, feats: np.ndarray) -> str | float:
        """``gamma``, or with ``gamma_scale`` != 1 that many times sklearn's 'scale' (1 / (d var))."""
        if self.gamma != "scale" or self.gamma_scale == 1.0:
            return self.gamma
        return self.gamma_scale / (feats.shape[1] * max(float(feats.var()), 1e-12))

    def _fit_features(self, feats: np.ndarray, y: np.ndarray) -> None:
        self._y_mean = y.mean(axis=0)
        self._y_std = np.maximum(y.std(axis=0), 1e-6)
        ys = (y - self._y_mean) / self._y_std
        gamma = self._kernel_gamma(feats)
        self._models = [
            SVR(kernel="rbf", C=self.C, epsilon=self.epsilon, gamma=gamma).fit(feats, ys[:, j])
            for j in range(ys.shape[1])
        ]

    def _predict_features(self, feats: np.ndarray) -> np.ndarray:
        ys = np.stack([m.predict(feats) for m in self._models], axis=1)
        return ys * self._y_std + self._y_mean


class RandomForestGaze(GazeEstimator):
    """Random forest regression (multi-output) on PCA features."""

    name = "rf"

    def __init__(
        self,
        n_estimators: int = 100,
        max_features: float | str | None = 0.5,
        min_samples_leaf: int = 1,
        n_jobs: int | None = None,
        features: FeatureKind = "pca",
        target: TargetKind = "vector",
        n_components: int = 50,
        seed: int = 0,
        pixel_norm: PixelNorm = DEFAULT_PIXEL_NORM,
    ):
        super().__init__(features, target, n_components, seed, pixel_norm)
        self.n_estimators = int(n_estimators)
        self.max_features = max_features
        self.min_samples_leaf = int(min_samples_leaf)
        self.n_jobs = n_jobs

    def _fit_features(self, feats: np.ndarray, y: np.ndarray) -> None:
        self._model = RandomForestRegressor(
            n_estimators=self.n_estimators,
            max_features=self.max_features,
            min_samples_leaf=self.min_samples_leaf,
            n_jobs=self.n_jobs,
            random_state=self.seed,
        ).fit(feats, y)

    def _predict_features(self, feats: np.ndarray) -> np.ndarray:
        return self._model.predict(feats)


class ALRGaze(GazeEstimator):
    """Adaptive linear regression (Lu et al. 2014, TPAMI), local non-negative variant.

    ALR reconstructs the test appearance ``x`` as a sparse combination ``A w`` of training
    appearances and applies the same weights to the training gazes. Solving this over all
    training samples is a large l1 problem per test eye; here, for thousands of samples:

    1. pre-select the ``n_candidates`` nearest training appearances (Euclidean, in feature
       space), which are the only ones a sparse reconstruction of a smooth appearance
       manifold would use anyway;
    2. solve ``min_w ||x - A_K w||^2 + l1_penalty * (sum w)^2`` subject to ``w >= 0`` with
       ``scipy.optimize.nnls`` (the penalty is an extra row of the design matrix). With
       ``w >= 0`` we have ``sum w = ||w||_1``, so the penalty is a Lagrangian form of the l1
       budget; non-negativity alone already gives sparse solutions;
    3. gaze = ``G_K w / sum(w)`` (weights normalised to sum 1), renormalised to a unit vector.

    A test appearance that equals a training appearance (distance below ``exact_tol``) gets
    that sample's gaze exactly: it is the sparsest zero-residual reconstruction, and the
    shortcut makes the result independent of NNLS round-off and of near-duplicate samples.
    """

    name = "alr"

    def __init__(
        self, n_candidates: int = 30, l1_penalty: float = 1e-3, exact_tol: float = 1e-9,
        n_jobs: int | None = None, **base: Any,
    ):
        """``base``: :class:`GazeEstimator`'s ``features``, ``target``, ``n_components``, ``seed``,
        ``pixel_norm``."""
        super().__init__(**base)
        if n_candidates < 1:
            raise ConfigError(f"ALR n_candidates: expected >= 1, got {n_candidates}")
        if l1_penalty < 0:
            raise ConfigError(f"ALR l1_penalty: expected >= 0, got {l1_penalty}")
        self.n_candidates = int(n_candidates)
        self.l1_penalty = float(l1_penalty)
        self.exact_tol = float(exact_tol)
        self.n_jobs = n_jobs
        self.last_weights: list[tuple[np.ndarray, np.ndarray]] = []

    def _fit_features(self, feats: np.ndarray, y: np.ndarray) -> None:
        self._train = feats
        self._y = y
        k = min(self.n_candidates, feats.shape[0])
        self._nn = NearestNeighbors(n_neighbors=k, n_jobs=self.n_jobs).fit(feats)

    def reconstruction_weights(self, x: np.ndarray, idx: np.ndarray, dist0: float) -> np.ndarray:
        """Non-negative weights over candidate rows ``idx`` reconstructing feature vector x."""
        if dist0 <= self.exact_tol:
            w = np.zeros(len(idx))
            w[0] = 1.0
            return w
        A = self._train[idx].T  # (D, K)
        b = x
        if self.l1_penalty > 0:
            A = np.vstack([A, np.full((1, A.shape[1]), np.sqrt(self.l1_penalty))])
            b = np.concatenate([x, [0.0]])
        w, _ = nnls(A, b, maxiter=50 * A.shape[1])
        if not np.any(w > 0):  # degenerate (e.g. an all-zero eye): fall back to the nearest
            w = np.zeros(len(idx))
            w[0] = 1.0
        return w

    def _predict_features(self, feats: np.ndarray) -> np.ndarray:
        dist, idx = self._nn.kneighbors(feats)
        out = np.empty((feats.shape[0], self._y.shape[1]))
        self.last_weights = []
        for i in range(feats.shape[0]):
            w = self.reconstruction_weights(feats[i], idx[i], float(dist[i, 0]))
            w = w / w.sum()
            out[i] = w @ self._y[idx[i]]
            self.last_weights.append((idx[i][w > 0], w[w > 0]))
        return out


_FACTORY: dict[str, type[GazeEstimator]] = {
    "knn": KNNGaze,
    "svr": SVRGaze,
    "rf": RandomForestGaze,
    "alr": ALRGaze,
}

ESTIMATOR_NAMES = tuple(_FACTORY)


def make_estimator(name: str, **kwargs: Any) -> GazeEstimator:
    """Build a classical estimator by name: "knn", "svr", "rf" or "alr" (kwargs to its class)."""
    key = name.lower().strip()
    if key not in _FACTORY:
        raise ConfigError(f"gaze estimator: expected one of {list(_FACTORY)}, got {name!r}")
    return _FACTORY[key](**kwargs)


def estimator_settings(pixel_norm: str = DEFAULT_PIXEL_NORM) -> dict[str, Any]:
    """The settings a score depends on beyond the estimator's name, recorded beside every table so
    that figures measured with other settings are not compared as if they were the same estimator.
    ``pixel_norm`` is recorded only where it is not the default, so earlier records stay equal."""
    settings: dict[str, Any] = {"svr": {"C": SVR_C}}
    if pixel_norm != DEFAULT_PIXEL_NORM:
        settings["pixel_norm"] = pixel_norm
    return settings
