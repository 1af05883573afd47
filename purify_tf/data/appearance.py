"""Appearance of rendered eyes: per-sample colours, light and degradations of each domain.

The geometry (``purify_tf.data.geometry``) fixes where lids, iris and pupil are; the appearance
drawn here fixes how they look. The ``synthetic`` domain is clean (soft light, one glint); the
``real`` domain adds light gradients, cast shadows, glints and sky reflections, colour casts,
gamma, blur, noise and JPEG. NumPy only.
"""

from __future__ import annotations

import numpy as np

from purify_tf.conventions import LUMA

# Appearance palettes (linear-ish RGB in [0, 1]).
_SKIN = np.array(
    [
        [0.90, 0.74, 0.64],
        [0.82, 0.62, 0.50],
        [0.70, 0.50, 0.37],
        [0.56, 0.38, 0.26],
        [0.38, 0.25, 0.17],
        [0.26, 0.17, 0.12],
    ],
    dtype=np.float32,
)
_IRIS = np.array(
    [
        [0.22, 0.12, 0.06],  # dark brown
        [0.40, 0.24, 0.11],  # brown
        [0.48, 0.40, 0.20],  # hazel
        [0.33, 0.43, 0.28],  # green
        [0.33, 0.48, 0.66],  # blue
        [0.48, 0.53, 0.58],  # grey
    ],
    dtype=np.float32,
)
_IRIS_WEIGHTS = np.array([0.3, 0.25, 0.12, 0.1, 0.15, 0.08])


def _pick(
    rng: np.random.Generator, palette: np.ndarray, n: int, p: np.ndarray | None = None
) -> np.ndarray:
    """Colours between two neighbouring palette entries, jittered."""
    k = len(palette)
    i = rng.choice(k, size=n, p=p)
    j = np.clip(i + rng.choice([-1, 1], size=n), 0, k - 1)
    w = rng.random(n)[:, None].astype(np.float32)
    col = palette[i] * (1 - w * 0.5) + palette[j] * (w * 0.5)
    col = col * (1 + 0.06 * rng.standard_normal((n, 3)).astype(np.float32))
    return np.clip(col, 0.0, 1.0).astype(np.float32)


def sample_appearance(n: int, domain: str, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Per-sample appearance parameters for ``domain``; arrays of shape (n,) or (n, 3).

    Drawn in a fixed order from ``rng`` (colours and skin, then glints, then the domain's
    degradations), so a seed always gives the same eyes.
    """
    real = domain == "real"

    def u(lo: float, hi: float) -> np.ndarray:
        return (lo + (hi - lo) * rng.random(n)).astype(np.float32)

    a = _eye_colours_and_light(n, real, rng, u)
    a.update(_glints(n, real, rng))
    a.update(_real_degradations(n, rng, u) if real else {"blur": u(0.0, 0.3)})
    return a


def _eye_colours_and_light(n: int, real: bool, rng: np.random.Generator, u) -> dict[str, np.ndarray]:
    """Skin, iris, sclera and pupil colours, lashes, crease, brow, iris streaks, global light."""
    a: dict[str, np.ndarray] = {}
    a["skin"] = _pick(rng, _SKIN, n)
    a["iris"] = _pick(rng, _IRIS, n, _IRIS_WEIGHTS)
    a["iris_inner"] = np.clip(
        a["iris"] * u(0.9, 1.5)[:, None] + 0.06 * rng.standard_normal((n, 3)), 0, 1
    ).astype(np.float32)
    pink = u(0.0, 0.08)[:, None]
    a["sclera"] = np.clip(
        np.array([0.93, 0.9, 0.88], np.float32) * u(0.85, 1.0)[:, None]
        - pink * np.array([0.0, 1.0, 0.8], np.float32),
        0,
        1,
    ).astype(np.float32)
    a["pupil"] = u(0.02, 0.07)
    a["lash_dark"] = u(0.1, 0.3)
    a["lash_width"] = u(0.05, 0.1)  # fraction of the half width
    a["lash_strength"] = u(0.7, 0.98)
    a["lower_lash"] = u(0.2, 0.55)
    a["crease_offset"] = u(0.25, 0.5)
    a["crease_strength"] = u(0.08, 0.3)
    a["socket"] = u(0.1, 0.35)
    a["brow"] = u(0.0, 0.45) * (rng.random(n) < 0.6)
    a["brow_y"] = u(0.05, 0.22)
    a["skin_texture"] = u(0.02, 0.08)
    a["streak_k1"] = rng.integers(14, 34, n).astype(np.float32)
    a["streak_k2"] = rng.integers(5, 13, n).astype(np.float32)
    a["streak_phase1"] = u(0.0, 6.283)
    a["streak_phase2"] = u(0.0, 6.283)
    a["streak_amp"] = u(0.08, 0.25)
    a["limbus"] = u(0.35, 0.75)
    a["lid_shadow"] = u(0.15, 0.4)
    a["light_angle"] = u(0.0, 6.283)
    a["light_gradient"] = u(0.2, 0.7) if real else u(0.0, 0.12)
    a["brightness"] = u(0.55, 1.35) if real else u(0.85, 1.05)
    return a


def _glints(n: int, real: bool, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Glints: (n, G) offsets in units of the iris radius and radius/intensity."""
    a: dict[str, np.ndarray] = {}
    n_glints = 4 if real else 1
    a["glint_dx"] = (rng.random((n, n_glints)) * 1.2 - 0.6).astype(np.float32)
    a["glint_dy"] = (rng.random((n, n_glints)) * 1.2 - 0.7).astype(np.float32)
    a["glint_size"] = (0.06 + 0.08 * rng.random((n, n_glints))).astype(np.float32)
    on = np.ones((n, n_glints), bool)
    if real:
        on[:, 1:] = rng.random((n, n_glints - 1)) < 0.55
    a["glint_gain"] = (on * (0.6 + 0.4 * rng.random((n, n_glints)))).astype(np.float32)
    return a


def _real_degradations(n: int, rng: np.random.Generator, u) -> dict[str, np.ndarray]:
    """The real domain's sky reflection, cast shadow, colour cast, gamma, blur, noise and JPEG."""
    a: dict[str, np.ndarray] = {}
    a["sky"] = u(0.05, 0.4)
    a["sky_dx"] = u(-0.5, 0.5)
    a["sky_dy"] = u(-0.6, 0.1)
    a["sky_size"] = u(0.35, 0.8)
    a["sky_tilt"] = u(-0.6, 0.6)
    a["shadow"] = u(0.2, 0.65) * (rng.random(n) < 0.5)
    a["shadow_angle"] = u(0.0, 6.283)
    a["shadow_offset"] = u(-0.4, 0.4)
    a["shadow_soft"] = u(0.03, 0.25)
    a["cast"] = np.clip(1 + 0.1 * rng.standard_normal((n, 3)), 0.7, 1.3).astype(np.float32)
    a["gamma"] = np.exp(u(-0.35, 0.35))
    a["saturation"] = np.where(rng.random(n) < 0.4, u(0.0, 0.2), u(0.3, 1.0)).astype(np.float32)
    a["blur"] = u(0.0, 1.0)
    a["noise"] = u(0.005, 0.05)
    a["jpeg_quality"] = rng.integers(20, 92, n).astype(np.int32)
    a["jpeg"] = (rng.random(n) < 0.8).astype(np.float32)
    return a


def colour_transform(a: dict[str, np.ndarray], colours: np.ndarray) -> np.ndarray:
    """Apply the real domain's colour cast and desaturation to per-sample colours (m, J, 3).

    Image formation below is linear in the colours, so transforming the few colours is the
    same as transforming every pixel, at a fraction of the cost.
    """
    if "cast" not in a:
        return colours
    c = colours * a["cast"][:, None, :]
    lum = c @ np.asarray(LUMA, np.float32)
    s = a["saturation"][:, None, None]
    return (lum[..., None] * (1 - s) + c * s).astype(np.float32)
