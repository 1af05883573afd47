"""Renderer: determinism, sizes, domains, and labels that match the pixels."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from purify_tf.data import geometry as geo
from purify_tf.data.renderer import render_eyes, render_eyes_with_geometry
from purify_tf.errors import ConfigError
from purify_tf.vectors import pitchyaw_to_vector


def test_deterministic_and_seed_dependent():
    a = render_eyes(6, 36, 60, "real", seed=3)
    b = render_eyes(6, 36, 60, "real", seed=3)
    c = render_eyes(6, 36, 60, "real", seed=4)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])
    assert not np.array_equal(a["image"], c["image"])


@pytest.mark.parametrize("size", [(36, 60), (64, 96), (256, 256), (512, 512)])
@pytest.mark.parametrize("domain", ["synthetic", "real"])
def test_shapes_and_dtypes(size, domain):
    n = 2 if size[0] >= 256 else 4
    b = render_eyes(n, *size, domain=domain, seed=1)
    h, w = size
    assert b["image"].shape == (n, h, w, 3) and b["image"].dtype == np.uint8
    assert b["mask"].shape == (n, h, w) and b["mask"].dtype == np.uint8
    assert b["gaze"].shape == (n, 3) and b["gaze"].dtype == np.float32
    assert b["pitchyaw"].shape == (n, 2) and b["pitchyaw"].dtype == np.float32
    assert b["pupil_center"].shape == (n, 2) and b["pupil_center"].dtype == np.float32
    assert set(np.unique(b["mask"])) <= {0, 1, 2}
    np.testing.assert_allclose(b["gaze"], pitchyaw_to_vector(b["pitchyaw"]), atol=1e-6)
    assert (b["mask"] == 2).any() and (b["mask"] == 1).any()


def test_domains_share_labels_but_differ_in_look():
    s = render_eyes(8, 64, 96, "synthetic", seed=7)
    r = render_eyes(8, 64, 96, "real", seed=7)
    for k in ("mask", "gaze", "pitchyaw", "pupil_center"):
        np.testing.assert_array_equal(s[k], r[k])
    diff = np.abs(s["image"].astype(int) - r["image"].astype(int)).mean(axis=(1, 2, 3))
    assert (diff > 5).all()

    # The real domain is noisier: larger high-frequency energy on average.
    def hf(x):
        x = x.astype(float).mean(-1)
        return np.abs(np.diff(x, axis=2)).mean()

    assert hf(r["image"]) > hf(s["image"])


def test_gaze_ranges_and_overrides():
    b = render_eyes(200, 36, 60, seed=0)
    p, y = b["pitchyaw"].T
    assert p.min() >= geo.PITCH_RANGE[0] - 1e-6 and p.max() <= geo.PITCH_RANGE[1] + 1e-6
    assert y.min() >= geo.YAW_RANGE[0] - 1e-6 and y.max() <= geo.YAW_RANGE[1] + 1e-6
    fixed = render_eyes(3, 36, 60, seed=0, pitch=0.1, yaw=np.array([-0.2, 0.0, 0.2]))
    np.testing.assert_allclose(fixed["pitchyaw"], [[0.1, -0.2], [0.1, 0.0], [0.1, 0.2]], atol=1e-6)
    with pytest.raises(ConfigError, match="bogus"):
        render_eyes(2, seed=0, bogus=1.0)
    with pytest.raises(ConfigError, match="domain"):
        render_eyes(2, domain="cartoon")


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10_000), h=st.integers(36, 80), w=st.integers(60, 120))
def test_pupil_centre_inside_pupil_mask(seed, h, w):
    b, g = render_eyes_with_geometry(8, h, w, "synthetic", seed)
    pc = b["pupil_center"]
    visible = geo.inside_aperture(g, pc[:, :1].astype(np.float64), pc[:, 1:].astype(np.float64))[
        :, 0
    ]
    for i in np.nonzero(visible)[0]:
        x, y = np.rint(pc[i]).astype(int)
        if (
            0 <= x < w
            and 0 <= y < h
            and geo.inside_aperture(
                g.subset(slice(i, i + 1)), np.array([[float(x)]]), np.array([[float(y)]])
            )[0, 0]
        ):
            assert b["mask"][i, y, x] == 2
        # The pupil region is centred on the label (up to lid occlusion and pixelisation).
        ys, xs = np.nonzero(b["mask"][i] == 2)
        assert len(xs) > 0


def _centroid(mask):
    ys, xs = np.nonzero(mask > 0)
    return xs.mean(), ys.mean()


def test_mask_centroid_follows_gaze():
    """Positive yaw moves the iris towards image left (-x), positive pitch moves it up (-y).

    MPIIGaze: g = (-cos p sin y, -sin p, -cos p cos y) with x right and y down, so yaw > 0
    points the gaze to -x and pitch > 0 points it to -y; the iris follows the gaze.
    """
    common = dict(head_pitch=0.0, head_yaw=0.0, head_roll=0.0, lid_tilt=0.0, openness=1.0)
    yaws = np.array([-0.5, -0.2, 0.2, 0.5])
    by_yaw = render_eyes(4, 72, 120, seed=5, pitch=0.0, yaw=yaws, **common)
    xs = [_centroid(m)[0] for m in by_yaw["mask"]]
    assert np.all(np.diff(xs) < 0)
    pitches = np.array([-0.35, -0.1, 0.1, 0.25])
    by_pitch = render_eyes(4, 72, 120, seed=5, yaw=0.0, pitch=pitches, **common)
    ys = [_centroid(m)[1] for m in by_pitch["mask"]]
    assert np.all(np.diff(ys) < 0)
    # Pupil centres move the same way.
    assert np.all(np.diff(by_yaw["pupil_center"][:, 0]) < 0)
    assert np.all(np.diff(by_pitch["pupil_center"][:, 1]) < 0)


def test_upper_lid_follows_vertical_gaze():
    common = dict(head_pitch=0.0, head_yaw=0.0, head_roll=0.0, openness=0.8, yaw=0.0)
    _, g = render_eyes_with_geometry(2, 36, 60, seed=1, pitch=np.array([-0.3, 0.25]), **common)
    assert g.upper[1] > g.upper[0]
