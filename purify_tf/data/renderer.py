"""Procedural, labelled eye images in two appearance domains (the embedded default dataset).

``render_eyes`` draws the geometry (``purify_tf.data.geometry``) from one random stream and
the appearance from another, so one seed gives the same eyes and labels in the ``synthetic``
look (indoor, UnityEyes-like: soft light, one glint, clean) and in the ``real`` look (outdoor,
MPIIGaze/LPW-like: light gradients, cast shadows, several glints and sky reflections, colour
casts, exposure/gamma, blur, noise, JPEG).

Everything is computed for a chunk of samples at once on arrays laid out (H, W, n): per-sample
parameters broadcast along the last axis and OpenCV filters treat samples as channels.
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from purify_tf.data import geometry as geo
from purify_tf.data.appearance import colour_transform, sample_appearance
from purify_tf.errors import ConfigError

DOMAINS = ("synthetic", "real")
MIN_SIZE = (8, 8)
_CV_MAX_CHANNELS = 128  # OpenCV filters refuse more channels than this

EyeBatch = dict[str, np.ndarray]


def _cv_per_channel(fn: Any, arr: np.ndarray) -> np.ndarray:
    """Apply an OpenCV image function to an (H, W, C) array in groups of <= 128 channels."""
    h, w = arr.shape[:2]
    flat = arr.reshape(h, w, -1)
    if flat.shape[2] <= _CV_MAX_CHANNELS:
        out = fn(np.ascontiguousarray(flat))
        return out.reshape(out.shape[:2] + arr.shape[2:])
    parts = [
        fn(np.ascontiguousarray(flat[:, :, i : i + _CV_MAX_CHANNELS]))
        for i in range(0, flat.shape[2], _CV_MAX_CHANNELS)
    ]
    parts = [p[:, :, None] if p.ndim == 2 else p for p in parts]
    out = np.concatenate(parts, axis=2)
    return out.reshape(out.shape[:2] + arr.shape[2:])


def _lowfreq_noise(
    rng: np.random.Generator, height: int, width: int, m: int, cells: tuple[int, int]
) -> np.ndarray:
    """Smooth random field (m, H, W) in about [-1, 1], from a coarse grid upsampled by OpenCV."""
    coarse = rng.standard_normal((cells[0], cells[1], m), dtype=np.float32)
    up = _cv_per_channel(
        lambda a: cv2.resize(a, (width, height), interpolation=cv2.INTER_CUBIC), coarse
    )
    return np.ascontiguousarray(up.reshape(height, width, m).transpose(2, 0, 1))


def _render_chunk(
    g: geo.EyeGeometry,
    a: dict[str, np.ndarray],
    height: int,
    width: int,
    domain: str,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """Render one chunk; returns image uint8 (m, H, W, 3) and mask uint8 (m, H, W).

    Scalar fields are (m, H, W) so that per-sample parameters broadcast over long contiguous
    rows; the colour image is one batched matmul of J weight fields with J colours. The stages
    below draw from ``rng`` in a fixed order (skin texture, light, noise).
    """
    real = domain == "real"
    scale = geo.eye_scale(height, width)
    f = {"m": len(g), "height": height, "width": width, "scale": scale, "px": scale / 60.0,
         "X": np.arange(width, dtype=np.float32)[None, None, :],
         "Y": np.arange(height, dtype=np.float32)[None, :, None]}
    f.update(_lid_fields(g, f))
    mask = _iris_fields(g, a, f)
    _skin_fields(g, a, f, rng)
    f["light"] = _light_field(a, f, real, rng)
    f["spec"] = _specular(g, a, f, real)
    img = _colour_image(a, f)
    return _degrade(img, a, f, real, rng), mask


def _p(x: np.ndarray) -> np.ndarray:
    """Per-sample parameters (m,) -> (m, 1, 1), broadcasting over (m, H, W) fields."""
    return x.reshape(-1, 1, 1)


def _lid_fields(g: geo.EyeGeometry, f: dict[str, Any]) -> dict[str, np.ndarray]:
    """Lid frame and aperture (signed distances in pixels, + inside)."""
    p, X, Y = _p, f["X"], f["Y"]
    cr, sr = p(np.cos(g.roll)), p(np.sin(g.roll))
    dx = X - p(g.lid_x)
    dy = Y - p(g.lid_y)
    u = dx * cr + dy * sr
    v = dy * cr - dx * sr
    hw = p(g.half_width)
    t = u / hw
    prof = geo.lid_profile(t)
    s_up = v + p(g.upper) * prof * (1 + p(g.upper_skew * g.side) * t)
    s_lo = p(g.lower) * prof * (1 + p(g.lower_skew * g.side) * t) - v
    ap = np.minimum(s_up, s_lo)
    return {"u": u, "v": v, "hw": hw, "prof": prof, "s_up": s_up, "s_lo": s_lo, "ap": ap,
            "aperture": ap > 0, "A": np.clip(ap + 0.5, 0, 1)}


def _iris_fields(g: geo.EyeGeometry, a: dict[str, np.ndarray], f: dict[str, Any]) -> np.ndarray:
    """Iris / pupil ellipses (q: the radius on the iris plane, pixels), the sclera's shading,
    the iris texture; adds them to ``f`` and returns the label mask."""
    p, X, Y, aperture = _p, f["X"], f["Y"], f["aperture"]
    ex = X - p(g.pupil_x)
    ey = Y - p(g.pupil_y)
    mx, my = p(g.minor_x), p(g.minor_y)
    ea = (ex * mx + ey * my) / p(g.foreshortening)
    eb = ey * mx - ex * my
    q = np.sqrt(ea * ea + eb * eb)
    r_i, r_p = p(g.iris_radius), p(g.pupil_radius)
    mask = aperture.astype(np.uint8)
    mask *= q < r_i
    mask += aperture & (q < r_p)

    ia = np.clip(r_i - q + 0.5, 0, 1)
    pa = np.clip(r_p - q + 0.5, 0, 1)
    rho = q / r_i
    theta = np.arctan2(eb, ea)
    tex = 1 + p(a["streak_amp"]) * (
        0.65 * np.sin(p(a["streak_k1"]) * theta + p(a["streak_phase1"]))
        + 0.35 * np.sin(p(a["streak_k2"]) * theta + p(a["streak_phase2"]) + 3 * rho)
    )
    f["inner"] = np.clip((0.62 - rho) * 5, 0, 1)
    f["iris_w"] = ia * (1 - pa) * tex * (1 - p(a["limbus"]) * np.clip((rho - 0.72) * 3.6, 0, 1))
    # Sclera: sphere shading, darker towards the corners, near the limbus and under the lid.
    rr = ((X - p(g.eye_x)) ** 2 + (Y - p(g.eye_y)) ** 2) / p(g.radius * g.radius)
    sclera_w = (1 - ia) * (0.6 + 0.4 * np.sqrt(np.clip(1 - rr, 0, 1)))
    sclera_w *= 1 - 0.25 * np.clip(1.25 - rho, 0, 1)
    f["sclera_w"] = sclera_w
    f["eye_light"] = f["A"] * (1 - p(a["lid_shadow"]) * np.clip(1 - f["s_up"] / (0.22 * f["hw"]), 0, 1))
    f.update(q=q, r_i=r_i, pa=pa)
    return mask


def _skin_fields(g: geo.EyeGeometry, a: dict[str, np.ndarray], f: dict[str, Any],
                 rng: np.random.Generator) -> None:
    """Skin (socket darkening, lid crease, brow, low-frequency texture), lashes and caruncle."""
    p, Y, hw, prof, s_up, s_lo = _p, f["Y"], f["hw"], f["prof"], f["s_up"], f["s_lo"]
    height, width = f["height"], f["width"]
    skin_w = 1 - p(a["socket"]) * np.clip(1 + f["ap"] / hw * 2.5, 0, 1)
    crease = np.clip(1 - np.abs(s_up / hw + p(a["crease_offset"])) * 8, 0, 1)
    skin_w *= 1 - p(a["crease_strength"]) * crease * np.clip(prof * 2, 0, 1)
    brow_y = p(a["brow_y"]) * height
    skin_w *= 1 - p(a["brow"]) * np.clip((brow_y - Y) / (0.12 * height), 0, 1)
    skin_w *= 1 + p(a["skin_texture"]) * _lowfreq_noise(rng, height, width, f["m"], (5, 7))
    skin_w *= 1 - f["A"]
    lw = p(a["lash_width"]) * hw + 0.6 * f["px"]
    taper = np.clip(prof * 2.5, 0, 1)
    lash = (
        p(a["lash_strength"])
        * taper
        * np.clip(1 - np.abs(s_up + 0.5 * lw) / (0.5 * lw + 0.5), 0, 1)
    )
    lw_lo = 0.4 * lw
    lash_lo = np.clip(1 - np.abs(s_lo + 0.5 * lw_lo) / (0.5 * lw_lo + 0.5), 0, 1)
    f["lash"] = np.maximum(lash, p(a["lower_lash"]) * taper * lash_lo)
    f["car"] = 0.6 * np.clip(
        1 - ((f["u"] - p(g.side * 0.9) * hw) / (0.14 * hw)) ** 2 - (f["v"] / (0.12 * hw)) ** 2, 0, 1
    )
    f["skin_w"] = skin_w


def _light_field(a: dict[str, np.ndarray], f: dict[str, Any], real: bool, rng: np.random.Generator) -> np.ndarray:
    """Light field shared by every channel: gradient, and a cast shadow (real) or faint noise."""
    p, scale = _p, f["scale"]
    sx = (f["X"] - 0.5 * (f["width"] - 1)) / scale
    sy = (f["Y"] - 0.5 * (f["height"] - 1)) / scale
    ang = a["light_angle"]
    light = p(a["brightness"]) * (
        1 + p(a["light_gradient"]) * (sx * p(np.cos(ang)) + sy * p(np.sin(ang)))
    )
    if real:
        sa = a["shadow_angle"]
        edge = sx * p(np.cos(sa)) + sy * p(np.sin(sa)) - p(a["shadow_offset"])
        return light * (1 - p(a["shadow"]) * np.clip(edge / p(a["shadow_soft"]) + 0.5, 0, 1))
    return light * (1 + 0.04 * _lowfreq_noise(rng, f["height"], f["width"], f["m"], (2, 3)))


def _specular(g: geo.EyeGeometry, a: dict[str, np.ndarray], f: dict[str, Any], real: bool) -> np.ndarray:
    """Glints (and sky reflections in the real domain) on the cornea."""
    p, X, Y, q = _p, f["X"], f["Y"], f["q"]
    spec = np.zeros(q.shape, np.float32)
    for k in range(a["glint_dx"].shape[1]):
        if not np.any(a["glint_gain"][:, k] > 0):
            continue
        gx = p(g.pupil_x + a["glint_dx"][:, k] * g.iris_radius)
        gy = p(g.pupil_y + a["glint_dy"][:, k] * g.iris_radius)
        rad = p(np.maximum(a["glint_size"][:, k] * g.iris_radius, 0.7))
        bump = np.clip(1 - ((X - gx) ** 2 + (Y - gy) ** 2) / (rad * rad), 0, 1)
        spec += p(1.6 * a["glint_gain"][:, k]) * bump * bump
    if real:
        cx = X - p(g.pupil_x + a["sky_dx"] * g.iris_radius)
        cy = Y - p(g.pupil_y + a["sky_dy"] * g.iris_radius)
        ct, st = p(np.cos(a["sky_tilt"])), p(np.sin(a["sky_tilt"]))
        size = p(a["sky_size"] * g.iris_radius)
        ru = (cx * ct + cy * st) / size
        rv = (cy * ct - cx * st) / (0.45 * size)
        spec += p(a["sky"]) * np.clip(1 - ru * ru - rv * rv, 0, 1)
    spec *= np.clip(1.08 * f["r_i"] - q + 0.5, 0, 1) * f["A"]
    return spec


def _colour_image(a: dict[str, np.ndarray], f: dict[str, Any]) -> np.ndarray:
    """Colour: (m, HW, J) weight fields @ (m, J, 3) colours -> float (m, H, W, 3) in about [0, 1]."""
    m, lash, car, light, inner, iris_w = f["m"], f["lash"], f["car"], f["light"], f["inner"], f["iris_w"]
    eye = f["eye_light"] * (1 - lash) * light
    eye_body = eye * (1 - car)
    weights = [
        eye_body * f["sclera_w"],
        eye_body * iris_w * (1 - inner),
        eye_body * iris_w * inner,
        eye_body * f["pa"],
        eye * car,
        f["skin_w"] * (1 - lash) * light,
        lash * light,
        f["spec"],
    ]
    W = np.stack([w.reshape(m, -1) for w in weights], axis=-1)
    skin = a["skin"]
    colours = np.stack(
        [
            a["sclera"],
            a["iris"],
            a["iris_inner"],
            np.repeat(a["pupil"][:, None], 3, axis=1),
            np.clip(skin * 0.85 + np.array([0.12, -0.05, -0.03], np.float32), 0, 1),
            skin,
            skin * a["lash_dark"][:, None],
            np.ones_like(skin),
        ],
        axis=1,
    ).astype(np.float32)
    return np.matmul(W, colour_transform(a, colours)).reshape(m, f["height"], f["width"], 3)


def _degrade(img: np.ndarray, a: dict[str, np.ndarray], f: dict[str, Any], real: bool,
             rng: np.random.Generator) -> np.ndarray:
    """Blur, then (real) sensor noise, quantisation, gamma and JPEG -> uint8 (m, H, W, 3)."""
    m = f["m"]
    sigma = a["blur"] * ((1.2 if real else 0.6) * f["px"])
    for i in np.nonzero(sigma > 0.3)[0]:
        cv2.GaussianBlur(img[i], (0, 0), float(sigma[i]), dst=img[i])
    if real:
        bank = rng.standard_normal((min(m, 8), f["height"], f["width"]), dtype=np.float32)
        pick = rng.integers(0, bank.shape[0], m)
        img += (bank[pick] * _p(a["noise"] * np.where(rng.random(m) < 0.5, -1, 1)))[..., None]
    np.clip(img, 0, 1, out=img)
    img *= 255
    img += 0.5
    out = img.astype(np.uint8)
    if real:
        levels = np.arange(256, dtype=np.float32) / 255
        for i in range(m):
            lut = np.clip(levels ** a["gamma"][i] * 255 + 0.5, 0, 255).astype(np.uint8)
            im = cv2.LUT(out[i], lut)
            if a["jpeg"][i]:
                quality = [cv2.IMWRITE_JPEG_QUALITY, int(a["jpeg_quality"][i])]
                ok, buf = cv2.imencode(".jpg", im, quality)
                if ok:
                    im = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)
            out[i] = im
    return out


def chunk_size(height: int, width: int) -> int:
    """Samples per vectorised chunk: small enough that temporaries are recycled from the heap
    (large ones are mmapped and page-faulted afresh on every op), large enough to amortise
    the per-op overhead."""
    return int(np.clip((1 << 16) // max(height * width, 1), 1, 16))


def _subset_appearance(a: dict[str, np.ndarray], sl: slice) -> dict[str, np.ndarray]:
    return {k: v[sl] for k, v in a.items()}


def render_eyes_with_geometry(
    n: int,
    height: int = 64,
    width: int = 96,
    domain: str = "synthetic",
    seed: int = 0,
    eye_scale: float = 1.0,
    **overrides: Any,
) -> tuple[EyeBatch, geo.EyeGeometry]:
    """``render_eyes`` that also returns the sampled geometry (for writers of landmark files)."""
    if domain not in DOMAINS:
        raise ConfigError(f"domain must be one of {DOMAINS}, got {domain!r}")
    if height < MIN_SIZE[0] or width < MIN_SIZE[1]:
        raise ConfigError(f"image size must be at least {MIN_SIZE}, got {(height, width)}")
    geom_rng = np.random.default_rng([int(seed), 0])
    app_rng = np.random.default_rng([int(seed), 1 + DOMAINS.index(domain)])
    g = geo.sample_geometry(int(n), int(height), int(width), geom_rng, eye_scale=eye_scale, **overrides)
    a = sample_appearance(int(n), domain, app_rng)
    images = np.empty((n, height, width, 3), np.uint8)
    masks = np.empty((n, height, width), np.uint8)
    step = chunk_size(height, width)
    for start in range(0, n, step):
        sl = slice(start, min(start + step, n))
        images[sl], masks[sl] = _render_chunk(
            g.subset(sl), _subset_appearance(a, sl), height, width, domain, app_rng
        )
    batch: EyeBatch = {
        "image": images,
        "mask": masks,
        "gaze": g.gaze.astype(np.float32),
        "pitchyaw": g.pitchyaw,
        "pupil_center": g.pupil_center,
    }
    return batch, g


def render_eyes(
    n: int,
    height: int = 64,
    width: int = 96,
    domain: str = "synthetic",
    seed: int = 0,
    eye_scale: float = 1.0,
    **overrides: Any,
) -> EyeBatch:
    """Render ``n`` labelled eyes of ``height`` x ``width`` in ``domain``, deterministically.

    Returns ``image`` uint8 (n, H, W, 3) RGB, ``mask`` uint8 (n, H, W) (0 other, 1 iris,
    2 pupil), ``gaze`` float32 (n, 3) (MPIIGaze convention), ``pitchyaw`` float32 (n, 2) and
    ``pupil_center`` float32 (n, 2) (x, y) pixels. ``overrides`` fix geometry parameters
    (see ``geometry.SAMPLED_PARAMETERS``), each a scalar or an (n,) array; ``eye_scale`` draws
    the same eyes smaller (< 1) or larger in the frame.
    """
    return render_eyes_with_geometry(n, height, width, domain, seed, eye_scale, **overrides)[0]
