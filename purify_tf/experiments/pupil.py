"""Pupil-centre preservation: does purification keep the gaze label in place?

The paper reports that the pupil centre moves 0.8 +- 1.1 px (eye width 55 px) after
purification. Here the centre is measured as the centroid of the coarse FCN's pupil label (with
the orphan-label rule) and compared with the ground truth (rendered eyes) and between the raw
and the purified image of the same eye (any eyes, no labels needed). Shifts are rescaled to an
eye width of 55 px so that they read like the paper's.
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from purify_tf.conventions import GAZE_WIDTH as EYE_WIDTH  # pupil shifts at the MPIIGaze crop width
from purify_tf.conventions import LUMA, PUPIL
from purify_tf.models.segmentation import predict_masks
from purify_tf.palette import as_rgb_uint8

# Both detectors within this distance (px at EYE_WIDTH) on a raw eye: its detected centre is trusted.
CLEAR_PUPIL_PX = 2.0


def pupil_centroids(fcn: Any, images: np.ndarray, batch_size: int = 32) -> np.ndarray:
    """(N, 2) float (x, y) centroids of the FCN's pupil label; NaN where no pupil is found."""
    x = as_rgb_uint8(images).astype(np.float32)
    out = np.full((len(x), 2), np.nan, np.float64)
    h, w = x.shape[1:3]
    yy, xx = np.mgrid[0:h, 0:w]
    for start in range(0, len(x), batch_size):
        masks = np.asarray(predict_masks(fcn, x[start : start + batch_size], fix_orphans=True))
        for k, m in enumerate(masks):
            sel = m == PUPIL
            if sel.any():
                out[start + k] = (xx[sel].mean(), yy[sel].mean())
    return out


def darkest_blob_centres(images: np.ndarray, sigma_frac: float = 0.025, level: float = 0.3) -> np.ndarray:
    """(N, 2) (x, y) pupil centres found without the FCN: the centroid of the darkest blob.

    A detector independent of the network that shapes the loss, so that "the pupil stays put"
    is not judged by the same model that was optimised to keep its own masks in place. The
    grey image is smoothed (sigma = ``sigma_frac`` * width, which also fills glints), a 5x wider
    blur is subtracted and the difference divided by that wider blur (a Weber contrast: a dark
    spot on a brighter iris stands out, a shadow or dark corner does not, and a smooth change of
    illumination, which is what purification does, leaves the response unchanged); the blob is
    the connected region around the strongest response that reaches ``level`` of it; its
    response-weighted centroid is the centre.
    """
    x = as_rgb_uint8(images).astype(np.float32) @ np.asarray(LUMA, np.float32)
    out = np.full((len(x), 2), np.nan, np.float64)
    for k, gray in enumerate(x):
        sigma = max(sigma_frac * gray.shape[1], 0.5)
        surround = cv2.GaussianBlur(gray, (0, 0), 5 * sigma)
        g = (cv2.GaussianBlur(gray, (0, 0), sigma) - surround) / (surround + 8.0)
        lo = float(g.min())
        if lo > -0.01:
            continue
        thresh = (1 - level) * lo
        _, labels = cv2.connectedComponents((g <= thresh).astype(np.uint8), connectivity=8)
        y0, x0 = np.unravel_index(int(np.argmin(g)), g.shape)
        blob = labels == labels[y0, x0]
        wts = (thresh - g) * blob
        ys, xs = np.nonzero(blob)
        wsum = wts[ys, xs].sum()
        if wsum > 0:
            out[k] = ((xs * wts[ys, xs]).sum() / wsum, (ys * wts[ys, xs]).sum() / wsum)
    return out


def detector_shift(raw: np.ndarray, purified: np.ndarray, true_centres: np.ndarray | None = None,
                   eye_width: float = EYE_WIDTH) -> dict[str, Any]:
    """Pupil shifts (px at ``eye_width``) measured with :func:`darkest_blob_centres`."""
    raw, purified = as_rgb_uint8(raw), as_rgb_uint8(purified)
    scale = float(eye_width) / raw.shape[2]
    c_raw, c_pur = darkest_blob_centres(raw), darkest_blob_centres(purified)
    out: dict[str, Any] = {"detector": "darkest blob", "n": int(len(raw)), "scale": scale,
                           "raw_vs_purified": shift_stats(c_raw, c_pur, scale)}
    if true_centres is not None:
        t = np.asarray(true_centres, np.float64)
        out["truth_vs_raw"] = shift_stats(t, c_raw, scale)
        out["truth_vs_purified"] = shift_stats(t, c_pur, scale)
    return out


def detector_agreement(fcn: Any, images: np.ndarray, eye_width: float = EYE_WIDTH) -> dict[str, float]:
    """Distance between two independent pupil centres on the same eyes (FCN centroid vs darkest
    blob), px at ``eye_width``.

    Why: real crops have no pupil labels, and a raw -> purified shift cannot tell a pupil moved
    from a pupil made clearer. Where labels exist (renderer test eyes) this disagreement follows
    each detector's distance to the truth (docs/DESIGN.md), so on real crops a purifier that makes
    the detectors disagree more has most likely blurred or moved the pupil.
    """
    images = as_rgb_uint8(images)
    scale = float(eye_width) / images.shape[2]
    return shift_stats(pupil_centroids(fcn, images), darkest_blob_centres(images), scale)


def clear_pupil_shift(fcn: Any, raw: np.ndarray, purified: dict[str, np.ndarray],
                      eye_width: float = EYE_WIDTH, tolerance: float = CLEAR_PUPIL_PX) -> dict[str, dict[str, float]]:
    """Raw -> purified detector shift of each set in ``purified``, only over the eyes whose raw pupil
    both detectors place within ``tolerance`` px (at ``eye_width``) of each other.

    Why: where the detector misses the pupil on the raw eye (a shadow, a brow, the image edge), a
    purifier that lets it find the pupil "shifts" it by many pixels; on real crops such eyes
    dominate the mean shift. On eyes with a clear raw pupil, a shift is a move of the pupil.
    """
    raw = as_rgb_uint8(raw)
    scale = float(eye_width) / raw.shape[2]
    c_raw = darkest_blob_centres(raw)
    gap = np.linalg.norm(pupil_centroids(fcn, raw) - c_raw, axis=1) * scale
    clear = np.isfinite(gap) & (gap <= tolerance)
    return {name: shift_stats(c_raw[clear], darkest_blob_centres(as_rgb_uint8(images)[clear]), scale)
            for name, images in purified.items()}


def shift_stats(a: np.ndarray, b: np.ndarray, scale: float = 1.0) -> dict[str, float]:
    """Mean, std and median of the Euclidean distance between centre pairs (NaN pairs skipped), and
    the signed move ``dx``, ``dy`` (b - a; +x right, +y down; mean with its standard error, and
    median, which a few detector jumps to a lid shadow do not move): a purifier that moves every
    pupil a quarter pixel the same way shifts a synthetic-trained estimator's gaze by about a
    degree, which the distance alone does not show."""
    v = (np.asarray(b, np.float64) - np.asarray(a, np.float64)) * scale
    v = v[np.isfinite(v).all(axis=1)]
    keys = ("dx", "dy", "dx_se", "dy_se", "dx_median", "dy_median")
    if len(v) == 0:
        nan = float("nan")
        return {"mean": nan, "std": nan, "median": nan, "n": 0, **dict.fromkeys(keys, nan)}
    d = np.linalg.norm(v, axis=1)
    mean, se, median = v.mean(axis=0), v.std(axis=0) / np.sqrt(len(v)), np.median(v, axis=0)
    return {"mean": float(d.mean()), "std": float(d.std()), "median": float(np.median(d)), "n": int(d.size),
            **dict(zip(keys, (float(x) for x in (*mean, *se, *median)), strict=True))}


def pupil_preservation(
    fcn: Any,
    raw: np.ndarray,
    purified: np.ndarray,
    true_centres: np.ndarray | None = None,
    eye_width: float = EYE_WIDTH,
) -> dict[str, Any]:
    """Pupil shifts in px at ``eye_width``: truth vs purified, truth vs raw, raw vs purified.

    ``raw`` and ``purified`` are the same eyes at the same size (N, H, W, 3); ``true_centres``
    (N, 2) (x, y) in that image's pixels, when known. "truth vs raw" is the FCN's own
    measurement error, the floor under "truth vs purified".
    """
    raw, purified = as_rgb_uint8(raw), as_rgb_uint8(purified)
    if raw.shape != purified.shape:
        raise ValueError(f"raw {raw.shape} and purified {purified.shape} must have the same shape")
    scale = float(eye_width) / raw.shape[2]
    c_raw = pupil_centroids(fcn, raw)
    c_pur = pupil_centroids(fcn, purified)
    out: dict[str, Any] = {
        "n": int(len(raw)),
        "eye_width": float(eye_width),
        "scale": scale,
        "found_raw": int(np.isfinite(c_raw[:, 0]).sum()),
        "found_purified": int(np.isfinite(c_pur[:, 0]).sum()),
        "raw_vs_purified": shift_stats(c_raw, c_pur, scale),
    }
    if true_centres is not None:
        t = np.asarray(true_centres, np.float64)
        out["truth_vs_purified"] = shift_stats(t, c_pur, scale)
        out["truth_vs_raw"] = shift_stats(t, c_raw, scale)
    return out
