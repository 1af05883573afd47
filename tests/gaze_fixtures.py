"""Gaze data shared by the gaze tests: a dark blob whose position follows the gaze, and labelled
folders of renderer eyes (exact labels) for the real-gaze reader and table."""

from __future__ import annotations

import csv

import cv2
import numpy as np

from purify_tf.data.renderer import render_eyes
from purify_tf.vectors import pitchyaw_to_vector


def toy_eyes(
    n: int,
    seed: int,
    pitch: float = 0.4,
    yaw: float = 0.5,
    base: float = 0.8,
    depth: float = 0.6,
    noise: float = 0.02,
) -> tuple[np.ndarray, np.ndarray]:
    """(n, 35, 55, 1) float32 eyes in [0, 1] and their (n, 3) unit gaze vectors.

    Pitch and yaw are uniform in +-``pitch`` / +-``yaw`` radians; the blob (sigma 4 px, ``depth``
    darker than the ``base`` brightness) moves 20 px per radian of pitch and 30 px per radian of
    yaw, so appearance determines gaze and an estimator can learn it from a few hundred eyes.
    """
    rng = np.random.default_rng(seed)
    py = np.stack([rng.uniform(-pitch, pitch, n), rng.uniform(-yaw, yaw, n)], axis=1)
    yy, xx = np.mgrid[0:35, 0:55].astype(np.float64)
    cx, cy = 27.0 + 30.0 * py[:, 1], 17.0 + 20.0 * py[:, 0]
    d2 = (xx[None] - cx[:, None, None]) ** 2 + (yy[None] - cy[:, None, None]) ** 2
    img = base - depth * np.exp(-d2 / (2 * 4.0**2)) + noise * rng.standard_normal((n, 35, 55))
    return np.clip(img, 0, 1)[..., None].astype(np.float32), pitchyaw_to_vector(py)


LABELLED_HEADER = ["file", "subject", "eye", "flipped", "pitch", "yaw", "head_pitch", "head_yaw"]


def write_labelled(root, n_per_subject=12, subjects=("s0", "s1", "s2", "s3"), domain="real", size=(36, 60),
                   columns=LABELLED_HEADER, seed=0, head=None):
    """A labelled folder of renderer eyes: labels.csv + PNGs in one folder per subject; ``head``
    (pitch, yaw) in radians fills every row's head pose (empty without it)."""
    rows = []
    for k, subject in enumerate(subjects):
        eyes = render_eyes(n_per_subject, *size, domain=domain, seed=seed + k)
        (root / subject).mkdir(parents=True, exist_ok=True)
        for i in range(n_per_subject):
            name = f"{subject}/{i}.png"
            cv2.imwrite(str(root / name), cv2.cvtColor(eyes["image"][i], cv2.COLOR_RGB2BGR))
            p, y = eyes["pitchyaw"][i]
            g = eyes["gaze"][i]
            values = {"file": name, "subject": subject, "eye": "left", "flipped": "0", "pitch": f"{p:.6f}",
                      "yaw": f"{y:.6f}", "head_pitch": "" if head is None else f"{head[0]:.6f}",
                      "head_yaw": "" if head is None else f"{head[1]:.6f}", "gaze_x": f"{g[0]:.6f}",
                      "gaze_y": f"{g[1]:.6f}", "gaze_z": f"{g[2]:.6f}"}
            rows.append([values[c] for c in columns])
    with (root / "labels.csv").open("w", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(columns)
        out.writerows(rows)
    return root
