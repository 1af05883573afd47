"""Toy gaze data shared by the gaze tests: a dark blob whose position follows the gaze."""

from __future__ import annotations

import numpy as np

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
