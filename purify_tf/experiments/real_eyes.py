"""Real eyes without labels (e.g. the MPIIGaze crops): label-free evidence that purification works.

Two measures need no gaze labels: (1) the pupil centre should stay where it was (the
FCN-independent darkest-blob detector, raw vs purified, px at eye width 55), and (2) the purified
eyes should come closer to synthetic eyes: the kernel distance (KID, :mod:`purify_tf.experiments.kid`)
to a set of renderer synthetic eyes. Every row is judged against the trivial baseline that matches
each raw eye's per-channel mean and standard deviation to the synthetic set's (``MEAN_CONTRAST``):
a purifier whose KID is not clearly below it has moved real eyes no further than a global
exposure/contrast change does. (This replaces the mean-Gram distance of earlier reports, which
could not tell such a change from a change of look.)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from purify_tf.data.image_io import resize_images
from purify_tf.experiments.common import FRONT_END_ONLY, MEAN_CONTRAST
from purify_tf.experiments.kid import (
    KID_LAYERS,
    kid,
    kid_features,
    pooled_features,
    reference_scales,
)
from purify_tf.experiments.pupil import (
    CLEAR_PUPIL_PX,
    clear_pupil_shift,
    detector_agreement,
    detector_shift,
)
from purify_tf.luminance_prior import channel_moments
from purify_tf.palette import as_rgb_uint8

RAW = "raw"
SHIPPED = "shipped (pretrained)"


def load_eye_folder(path: str | Path, height: int, width: int, limit: int | None = None) -> np.ndarray:
    """A folder of eye crops (any sizes, gray or RGB(A)) -> uint8 (N, height, width, 3)."""
    from purify_tf.data.folder import list_images
    from purify_tf.data.image_io import read_image

    files = list_images(path)[: limit or None]
    images = [as_rgb_uint8(read_image(f)[None])[0] for f in files]
    return np.stack([resize_images(im[None], height, width)[0] for im in images])


def mean_contrast_match(images: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """The trivial baseline: each image's per-channel mean and std set to the reference set's
    (:func:`channel_moments`); a flat channel keeps its flatness at the reference mean."""
    mu, sd = channel_moments(as_rgb_uint8(reference))
    x = as_rgb_uint8(images).astype(np.float64)
    m, s = x.mean(axis=(1, 2), keepdims=True), x.std(axis=(1, 2), keepdims=True)
    out = (x - m) / np.maximum(s, 1e-6) * sd + mu
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def real_eye_rows(raw: np.ndarray, candidates: Mapping[str, np.ndarray], synthetic: np.ndarray, net: Any,
                  n_subsets: int = 50, subset_size: int = 100, seed: int = 0,
                  fcn: Any = None) -> dict[str, dict[str, Any]]:
    """One row per image set (``raw`` first, then ``candidates``: the same eyes transformed):
    KID to ``synthetic`` with its spread over subsets (and per VGG block, without spread), the
    change relative to ``MEAN_CONTRAST``
    when it is among the candidates, and the pupil shift raw -> candidate (detector, px at 55);
    with ``fcn``, the FCN-vs-detector pupil disagreement of every row (``detector_agreement``) and
    the shift over the eyes whose raw pupil both detectors agree on (``clear_pupil_shift``).

    Every row draws the same subset indices (same seed), so rows are compared on the same eyes.
    """
    raw = as_rgb_uint8(raw)
    synthetic = resize_images(as_rgb_uint8(synthetic), *raw.shape[1:3])
    ref = pooled_features(net, synthetic)
    scales = reference_scales(ref)
    ref_all = kid_features(ref, scales)
    rows: dict[str, dict[str, Any]] = {}
    clear = clear_pupil_shift(fcn, raw, dict(candidates)) if fcn is not None else {}
    for name, images in {RAW: raw, **candidates}.items():
        feats = pooled_features(net, images)
        row: dict[str, Any] = {
            "kid": kid(kid_features(feats, scales), ref_all, n_subsets, subset_size, seed),
            "kid_per_layer": {layer: kid(feats[layer] / scales[layer], ref[layer] / scales[layer], n_subsets,
                                         subset_size, seed)["kid"] for layer in scales}}
        if name != RAW:
            row["pupil"] = detector_shift(raw, images)["raw_vs_purified"]
        if fcn is not None:
            row["pupil_agreement"] = detector_agreement(fcn, images)
        if name in clear:
            row["pupil_clear"] = clear[name]
        rows[name] = row
    if MEAN_CONTRAST in rows:
        base = rows[MEAN_CONTRAST]["kid"]["kid"]
        for row in rows.values():
            row["kid_vs_baseline"] = float(row["kid"]["kid"] / base - 1.0) if base > 0 else float("nan")
    return rows


def shipped_purifier() -> Any:
    """The pretrained purifier in the package, or None when it is not installed (or damaged)."""
    from purify_tf.pretrained import PretrainedModelError, load_pretrained

    try:
        return load_pretrained()
    except PretrainedModelError:
        return None


def real_eyes_section(real_dir: str | None, size: tuple[int, int], purifiers: Mapping[str, Any], best: str,
                      front_end: Callable[[np.ndarray], np.ndarray], prior_images: np.ndarray,
                      reference: np.ndarray, net: Any, seed: int = 0,
                      fcn: Any = None) -> tuple[dict[str, Any], dict | None]:
    """The report's real-eye section and its grid: rows raw | mean/contrast match | front end
    only | every purifier | the shipped purifier, on the crops of ``real_dir`` resized to ``size``.

    ``prior_images`` are the synthetic eyes the baselines match (the front end's prior);
    ``reference`` other synthetic eyes, the KID target.
    """
    from purify_tf.experiments.common import purify

    if not real_dir or not Path(real_dir).is_dir():
        return {"skipped": f"--real_dir={real_dir} not given or not found."}, None
    real = load_eye_folder(real_dir, *size)
    candidates = {MEAN_CONTRAST: mean_contrast_match(real, prior_images), FRONT_END_ONLY: front_end(real)}
    candidates.update({name: purify(model, real) for name, model in purifiers.items()})
    shipped = shipped_purifier()
    if shipped is not None:
        candidates[SHIPPED] = purify(shipped, real)
    rows = real_eye_rows(real, candidates, reference, net, seed=seed, fcn=fcn)
    any_row = rows[RAW]["kid"]
    out = {"rows": rows, "n_real": int(len(real)), "n_synthetic": int(len(reference)), "size": list(size),
           "features": f"{net.architecture} {' + '.join(KID_LAYERS)}, spatial mean, / reference RMS per block, "
                       "concatenated",
           "weights": str(net.weights), "subset_size": any_row["subset_size"], "n_subsets": any_row["n_subsets"],
           "description": (
               f"{len(real)} real crops from `{real_dir}` resized to {size[0]}x{size[1]}, through each purifier "
               "(trained on the renderer only; no real eye was seen in training). KID to "
               f"{len(reference)} renderer synthetic eyes (unbiased MMD² with the kernel (x·y/d + 1)³ on "
               f"{net.architecture} {' + '.join(KID_LAYERS)} activations averaged over space, each block divided by "
               "its RMS over the synthetic set, concatenated; mean ± std over "
               f"{any_row['n_subsets']} subsets of {any_row['subset_size']} eyes per set, unscaled, lower = "
               f"closer). '{MEAN_CONTRAST}' sets each raw eye's per-channel mean and std to the synthetic "
               "set's (the trivial baseline); pupil shift raw → purified with the darkest-blob detector at eye "
               "width 55 px" + ("; detector disagreement: FCN pupil centroid vs darkest blob on the same eyes "
                                "(label-free; lower = a clearer pupil); clear raw pupil: the shift over the eyes "
                                f"whose raw pupil both detectors place within {CLEAR_PUPIL_PX:g} px of each other "
                                "(elsewhere a shift may be the detector finding the pupil)." if fcn is not None
                                else "."))}
    grid_name = best if best in candidates else next(iter(purifiers), FRONT_END_ONLY)
    grid = {"columns": [real, candidates[grid_name]], "labels": ["real (MPIIGaze crop)", f"purified: {grid_name}"]}
    return out, grid
