"""Gaze angle <-> 3D vector conversions in the MPIIGaze convention, and angular error.

NumPy only, so that the data renderer, readers and estimators share one definition.
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


def angular_error_deg(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Angle in degrees between corresponding rows of two (N, 3) vector arrays (any lengths)."""
    a = np.asarray(a, dtype=np.float64).reshape(-1, 3)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 3)
    na = np.maximum(np.linalg.norm(a, axis=1), 1e-12)
    nb = np.maximum(np.linalg.norm(b, axis=1), 1e-12)
    cos = np.clip(np.sum(a * b, axis=1) / (na * nb), -1.0, 1.0)
    return np.degrees(np.arccos(cos))
