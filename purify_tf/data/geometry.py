"""Vectorised eye geometry sampler shared by both appearance domains of the renderer.

Conventions (MPIIGaze normalised camera): x to the right, y down, z into the scene; a gaze
vector points from the eye towards where it looks, so looking at the camera is -z. With
``pitchyaw_to_vector`` a positive yaw gives a negative x component (the eye turns towards image
left) and a positive pitch a negative y component (the eye turns up). The iris therefore moves
left in the image when yaw grows and up when pitch grows.

Projection is orthographic (weak perspective, as in a tight normalised eye crop), so the iris
and the pupil, circles on the eyeball sphere, project to exact concentric ellipses whose centre
is the projection of the circle centre. That keeps the labels exact: the pupil centre is the
ellipse centre and the masks are closed-form tests on each pixel.

All lengths are in pixels of the target image; they are derived from a scale ``L`` that
depends only on the output size, so an eye rendered at 36x60 and at 512x512 has the same
shape relative to the frame (no resizing of a fixed-size render).
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from purify_tf.errors import ConfigError
from purify_tf.vectors import pitchyaw_to_vector

# Ranges of the sampled parameters; every one can be overridden per call.
PITCH_RANGE = (-0.45, 0.3)
YAW_RANGE = (-0.6, 0.6)


def eye_scale(height: int, width: int) -> float:
    """Pixel scale of the eye region: the crop width for MPIIGaze-like 3:5 frames."""
    return float(min(width, height * 5.0 / 3.0))


@dataclass
class EyeGeometry:
    """Per-sample geometry, each field an (n,) float32 array (pixels or radians).

    ``eye_x, eye_y``: projected eyeball centre; ``radius``: eyeball radius; ``pupil_x, pupil_y``:
    centre of the projected iris/pupil ellipses; ``iris_radius``, ``pupil_radius``: circle
    radii (the ellipse's major semi-axis); ``minor_x, minor_y``: unit direction of the ellipse's
    minor axis in the image; ``foreshortening``: minor/major axis ratio (|g_z|);
    ``lid_x, lid_y``: centre of the eyelid frame; ``roll``: its in-plane rotation;
    ``half_width``: half the corner-to-corner distance; ``upper``/``lower``: lid heights at
    the middle; ``upper_skew``/``lower_skew``: asymmetry of each lid; ``side``: +1 when the
    inner corner (caruncle) is on the image right, -1 on the left.
    """

    pitch: np.ndarray
    yaw: np.ndarray
    head_pitch: np.ndarray
    head_yaw: np.ndarray
    head_roll: np.ndarray
    eye_x: np.ndarray
    eye_y: np.ndarray
    radius: np.ndarray
    iris_size: np.ndarray
    pupil_size: np.ndarray
    iris_radius: np.ndarray
    pupil_radius: np.ndarray
    pupil_x: np.ndarray
    pupil_y: np.ndarray
    minor_x: np.ndarray
    minor_y: np.ndarray
    foreshortening: np.ndarray
    lid_x: np.ndarray
    lid_y: np.ndarray
    roll: np.ndarray
    half_width: np.ndarray
    openness: np.ndarray
    upper: np.ndarray
    lower: np.ndarray
    upper_skew: np.ndarray
    lower_skew: np.ndarray
    side: np.ndarray

    def __len__(self) -> int:
        return int(self.pitch.shape[0])

    def subset(self, index: slice | np.ndarray) -> EyeGeometry:
        """The same geometry restricted to some samples (chunks of a render)."""
        return EyeGeometry(**{f.name: getattr(self, f.name)[index] for f in fields(self)})

    @property
    def pitchyaw(self) -> np.ndarray:
        return np.stack([self.pitch, self.yaw], axis=1).astype(np.float32)

    @property
    def gaze(self) -> np.ndarray:
        return pitchyaw_to_vector(self.pitchyaw)

    @property
    def pupil_center(self) -> np.ndarray:
        return np.stack([self.pupil_x, self.pupil_y], axis=1).astype(np.float32)


# Names a caller may override in ``sample_geometry`` (scalars or (n,) arrays).
SAMPLED_PARAMETERS = (
    "pitch",
    "yaw",
    "head_pitch",
    "head_yaw",
    "head_roll",
    "center_x",
    "center_y",
    "half_width_fraction",
    "radius_fraction",
    "iris_size",
    "pupil_size",
    "openness",
    "upper_skew",
    "lower_skew",
    "side",
    "lid_tilt",
)


def _param(name: str, n: int, overrides: dict[str, object], default: np.ndarray) -> np.ndarray:
    if name not in overrides:
        return default.astype(np.float64)
    value = np.asarray(overrides[name], dtype=np.float64)
    if value.ndim == 0:
        return np.full(n, float(value))
    if value.shape != (n,):
        raise ConfigError(
            f"override {name!r}: expected a scalar or shape ({n},), got {value.shape}"
        )
    return value


def sample_geometry(
    n: int, height: int, width: int, rng: np.random.Generator, eye_scale: float = 1.0, **overrides: object
) -> EyeGeometry:
    """Draw ``n`` eyes for an ``height`` x ``width`` frame from ``rng``.

    Every draw happens whether or not it is overridden, so overriding one parameter leaves the
    others unchanged for the same seed (useful for controlled label tests). ``eye_scale`` scales
    the drawn half-width: the same eyes, smaller (< 1) or larger in the frame (1.0: the renderer's).
    """
    if not eye_scale > 0:
        raise ConfigError(f"eye_scale must be > 0, got {eye_scale}")
    unknown = set(overrides) - set(SAMPLED_PARAMETERS)
    if unknown:
        raise ConfigError(
            f"unknown geometry override(s) {sorted(unknown)}; expected some of {list(SAMPLED_PARAMETERS)}"
        )
    if n < 0:
        raise ConfigError(f"n must be >= 0, got {n}")
    drawn = _draw_parameters(n, rng, overrides)
    if "half_width_fraction" not in overrides:
        drawn["half_width_fraction"] = drawn["half_width_fraction"] * float(eye_scale)
    derived = _place_eye(drawn, height, width)
    return EyeGeometry(**{name: np.asarray(value, dtype=np.float32) for name, value in derived.items()})


def _draw_parameters(n: int, rng: np.random.Generator, overrides: dict[str, object]) -> dict[str, np.ndarray]:
    """The sampled parameters (``SAMPLED_PARAMETERS``), each (n,) float64, overrides applied."""
    u = rng.random((16, n))
    g = rng.standard_normal((4, n))
    defaults = {
        "pitch": PITCH_RANGE[0] + (PITCH_RANGE[1] - PITCH_RANGE[0]) * u[0],
        "yaw": YAW_RANGE[0] + (YAW_RANGE[1] - YAW_RANGE[0]) * u[1],
        "head_pitch": np.clip(0.08 * g[0], -0.2, 0.2),
        "head_yaw": np.clip(0.1 * g[1], -0.25, 0.25),
        "head_roll": np.clip(0.06 * g[2], -0.15, 0.15),
        "center_x": 0.5 + 0.03 * (u[2] - 0.5) * 2,
        "center_y": 0.52 + 0.05 * (u[3] - 0.5) * 2,
        "half_width_fraction": 0.35 + 0.08 * u[4],
        "radius_fraction": 0.78 + 0.1 * u[5],
        "iris_size": 0.85 + 0.2 * u[6],
        "pupil_size": 0.28 + 0.3 * u[7],
        "openness": 0.45 + 0.55 * u[8],
        "upper_skew": 0.3 * (u[9] - 0.5) * 2,
        "lower_skew": 0.3 * (u[10] - 0.5) * 2,
        "side": np.where(u[11] < 0.5, -1.0, 1.0),
        "lid_tilt": 0.05 * g[3],
    }
    return {name: _param(name, n, overrides, default) for name, default in defaults.items()}


def _place_eye(d: dict[str, np.ndarray], height: int, width: int) -> dict[str, np.ndarray]:
    """Eyeball, iris, pupil and lids in pixels of the ``height`` x ``width`` frame."""
    pitch, yaw, head_pitch, head_yaw = d["pitch"], d["yaw"], d["head_pitch"], d["head_yaw"]
    half_width = d["half_width_fraction"] * eye_scale(height, width)
    radius = d["radius_fraction"] * half_width
    iris_radius = 0.55 * radius * d["iris_size"]
    pupil_radius = d["pupil_size"] * iris_radius
    # Iris plane sits at depth sqrt(R^2 - r^2) in front of the eyeball centre along the gaze.
    depth = np.sqrt(np.maximum(radius**2 - iris_radius**2, 0.0))
    gaze = pitchyaw_to_vector(np.stack([pitch, yaw], axis=1)).astype(np.float64)
    head = pitchyaw_to_vector(np.stack([head_pitch, head_yaw], axis=1)).astype(np.float64)
    # The lid frame is attached to the face, about one eyeball radius in front of the centre;
    # place it at the crop centre and put the eyeball centre behind it.
    lid_x = d["center_x"] * (width - 1)
    lid_y = d["center_y"] * (height - 1)
    face_depth = 0.9 * radius
    eye_x = lid_x - face_depth * head[:, 0]
    eye_y = lid_y - face_depth * head[:, 1] + 0.05 * radius
    gxy = np.hypot(gaze[:, 0], gaze[:, 1])
    safe = gxy > 1e-9
    # Eye-in-head elevation drives the upper lid (it rises when looking up, drops when down);
    # the lower lid moves less and the other way.
    elevation = np.sin(pitch - head_pitch)
    openness = d["openness"]
    return {
        "pitch": pitch, "yaw": yaw, "head_pitch": head_pitch, "head_yaw": head_yaw,
        "head_roll": d["head_roll"], "eye_x": eye_x, "eye_y": eye_y, "radius": radius,
        "iris_size": d["iris_size"], "pupil_size": d["pupil_size"],
        "iris_radius": iris_radius, "pupil_radius": pupil_radius,
        "pupil_x": eye_x + depth * gaze[:, 0], "pupil_y": eye_y + depth * gaze[:, 1],
        "minor_x": np.where(safe, gaze[:, 0] / np.where(safe, gxy, 1.0), 1.0),
        "minor_y": np.where(safe, gaze[:, 1] / np.where(safe, gxy, 1.0), 0.0),
        "foreshortening": np.abs(gaze[:, 2]), "lid_x": lid_x, "lid_y": lid_y,
        "roll": d["head_roll"] + d["lid_tilt"], "half_width": half_width * np.cos(head_yaw),
        "openness": openness,
        "upper": half_width * np.clip(0.30 + 0.22 * openness + 0.55 * elevation, 0.08, 0.95),
        "lower": half_width * np.clip(0.24 + 0.08 * openness - 0.18 * elevation, 0.1, 0.6),
        "upper_skew": d["upper_skew"], "lower_skew": d["lower_skew"], "side": d["side"],
    }


def lid_profile(t: np.ndarray) -> np.ndarray:
    """Lid height profile over the normalised corner-to-corner coordinate t in [-1, 1].

    (1 - t^2)(1 + t^2 / 2) is 1 in the middle, 0 at the corners and rounder than a parabola.
    """
    t2 = t * t
    return (1.0 - t2) * (1.0 + 0.5 * t2)


def lid_offsets(
    geom: EyeGeometry, t: np.ndarray, xp_axis: int = -1
) -> tuple[np.ndarray, np.ndarray]:
    """Upper and lower lid offsets v (pixels, + down) at normalised positions t.

    ``t`` broadcasts against the per-sample parameters placed on axis ``xp_axis``.
    """
    shape = [1] * t.ndim
    shape[xp_axis] = len(geom)

    def col(a: np.ndarray) -> np.ndarray:
        return a.reshape(shape)

    prof = lid_profile(t)
    v_up = -col(geom.upper) * prof * (1.0 + col(geom.upper_skew * geom.side) * t)
    v_lo = col(geom.lower) * prof * (1.0 + col(geom.lower_skew * geom.side) * t)
    return v_up, v_lo


def _frame_to_image(geom: EyeGeometry, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Lid-frame (u along the eye, v down) to image (x, y); u, v are (n, k)."""
    c = np.cos(geom.roll)[:, None]
    s = np.sin(geom.roll)[:, None]
    x = geom.lid_x[:, None] + u * c - v * s
    y = geom.lid_y[:, None] + u * s + v * c
    return np.stack([x, y], axis=-1)


def image_to_frame(
    geom: EyeGeometry, x: np.ndarray, y: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Image points (n, k) to lid-frame coordinates (u, v)."""
    c = np.cos(geom.roll)[:, None]
    s = np.sin(geom.roll)[:, None]
    dx = x - geom.lid_x[:, None]
    dy = y - geom.lid_y[:, None]
    return dx * c + dy * s, -dx * s + dy * c


def inside_aperture(geom: EyeGeometry, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Whether image points (n, k) lie strictly between the lids (the mask's definition)."""
    u, v = image_to_frame(geom, x, y)
    t = u / geom.half_width[:, None]
    v_up, v_lo = lid_offsets(geom, t, xp_axis=0)
    return (v > v_up) & (v < v_lo)


def ellipse_points(geom: EyeGeometry, radius: np.ndarray, k: int = 32) -> np.ndarray:
    """(n, k, 2) image points of the projected circle of ``radius`` about the pupil centre.

    Points are uniform in the circle's own angle, so their mean is exactly the ellipse centre.
    """
    ang = 2.0 * np.pi * np.arange(k) / k
    ca, sa = np.cos(ang)[None, :], np.sin(ang)[None, :]
    r = radius[:, None].astype(np.float64)
    a = r * ca * geom.foreshortening[:, None]  # along the minor axis
    b = r * sa  # along the major axis
    mx, my = geom.minor_x[:, None], geom.minor_y[:, None]
    x = geom.pupil_x[:, None] + a * mx - b * my
    y = geom.pupil_y[:, None] + a * my + b * mx
    return np.stack([x, y], axis=-1)


def aperture_points(geom: EyeGeometry, k: int = 16) -> np.ndarray:
    """(n, k, 2) points along the lid margins, a closed polygon (lower lid, then upper lid)."""
    half = k // 2
    t_lo = np.linspace(-1.0, 1.0, half + 1)[:-1]
    t_up = np.linspace(1.0, -1.0, k - half + 1)[:-1]
    t_lo_b = np.broadcast_to(t_lo, (len(geom), half))
    t_up_b = np.broadcast_to(t_up, (len(geom), k - half))
    _, v_lo = lid_offsets(geom, t_lo_b, xp_axis=0)
    v_up, _ = lid_offsets(geom, t_up_b, xp_axis=0)
    hw = geom.half_width[:, None]
    u = np.concatenate([t_lo_b * hw, t_up_b * hw], axis=1)
    v = np.concatenate([v_lo, v_up], axis=1)
    return _frame_to_image(geom, u, v)


def caruncle_points(geom: EyeGeometry, k: int = 7) -> np.ndarray:
    """(n, k, 2) outline of the caruncle, a small loop just inside the inner corner."""
    ang = 2.0 * np.pi * np.arange(k) / k
    hw = geom.half_width[:, None]
    u = geom.side[:, None] * (0.9 * hw + 0.08 * hw * np.cos(ang)[None, :])
    v = 0.05 * hw * np.sin(ang)[None, :]
    return _frame_to_image(geom, u, v)
