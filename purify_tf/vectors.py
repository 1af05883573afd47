"""Gaze angle <-> 3D vector conversions in the MPIIGaze convention, and angular error.

NumPy (and, for the angular error, TF tensors too), so that the data renderer, readers,
estimators and the gaze CNN's metric share one definition.
"""

from __future__ import annotations

import numpy as np


def pitchyaw_to_vector(pitchyaw: np.ndarray) -> np.ndarray:
    """(N, 2) [pitch, yaw] radians -> (N, 3) unit vectors (-cos p sin y, -sin p, -cos p cos y)."""
    py = np.asarray(pitchyaw, dtype=np.float64).reshape(-1, 2)
    p, y = py[:, 0], py[:, 1]
    v = np.stack([-np.cos(p) * np.sin(y), -np.sin(p), -np.cos(p) * np.cos(y)], axis=1)
    return v.astype(np.float32)


def vector_to_pitchyaw(vectors: np.ndarray) -> np.ndarray:
    """(N, 3) gaze vectors (any length) -> (N, 2) [pitch, yaw] radians; inverse of the above."""
    v = np.asarray(vectors, dtype=np.float64).reshape(-1, 3)
    v = v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)
    pitch = np.arcsin(np.clip(-v[:, 1], -1.0, 1.0))
    yaw = np.arctan2(-v[:, 0], -v[:, 2])
    return np.stack([pitch, yaw], axis=1).astype(np.float32)


def _namespace(*arrays):
    """NumPy for NumPy input (float64); TF's NumPy API for tensors (float32, graph-friendly)."""
    if any(type(x).__module__.startswith(("tensorflow", "keras")) for x in arrays):
        import tensorflow.experimental.numpy as tnp

        return tnp, "float32"
    return np, "float64"


def angular_error_deg(a, b):
    """Angle in degrees between corresponding rows of two (N, 3) vector arrays (any lengths).

    ``atan2(|a x b|, a . b)`` rather than ``acos`` of the normalised dot product: accurate for
    small angles also in float32, and 0 (not 90) for a zero vector. One formula for both worlds:
    NumPy arrays give float64 NumPy (the estimators, the report), tensors give a float32 tensor
    (the gaze CNN's Keras metric, inside its graph).
    """
    xp, dtype = _namespace(a, b)
    a = xp.reshape(xp.asarray(a, dtype), (-1, 3))
    b = xp.reshape(xp.asarray(b, dtype), (-1, 3))
    cross = xp.stack([a[:, 1] * b[:, 2] - a[:, 2] * b[:, 1], a[:, 2] * b[:, 0] - a[:, 0] * b[:, 2],
                      a[:, 0] * b[:, 1] - a[:, 1] * b[:, 0]], axis=-1)
    norm_cross = xp.sqrt(xp.sum(xp.square(cross), axis=-1))
    dot = xp.sum(a * b, axis=-1)
    return xp.rad2deg(xp.arctan2(norm_cross, dot))
