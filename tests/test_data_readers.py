"""Readers on fixtures written in each dataset's own format, and their error messages."""

from __future__ import annotations

import json
import shutil

import cv2
import numpy as np
import pytest
import scipy.io

from purify_tf.data import folder, image_io, lpw, mpiigaze, tfrecord, unityeyes, writers
from purify_tf.data.renderer import render_eyes
from purify_tf.errors import DataError
from purify_tf.vectors import angular_error_deg, pitchyaw_to_vector


def test_unityeyes_round_trip(tmp_path):
    n, h, w = 6, 48, 80
    writers.write_unityeyes(tmp_path, n, h, w, "real", seed=2)
    assert sorted(p.name for p in tmp_path.iterdir())[:2] == ["1.jpg", "1.json"]
    ref = render_eyes(n, h, w, "real", seed=2)
    got = unityeyes.read_unityeyes(tmp_path)
    assert got["image"].shape == (n, h, w, 3)
    assert angular_error_deg(got["gaze"], ref["gaze"]).max() < 1e-3
    np.testing.assert_allclose(got["pitchyaw"], ref["pitchyaw"], atol=1e-5)
    np.testing.assert_allclose(got["pupil_center"], ref["pupil_center"], atol=1e-3)
    # Polygon masks agree with the renderer's closed-form masks up to boundary pixels.
    for k in (1, 2):
        a, b = got["mask"] == k, ref["mask"] == k
        inter = (a & b).sum(axis=(1, 2))
        union = np.maximum((a | b).sum(axis=(1, 2)), 1)
        assert (inter / union)[b.sum(axis=(1, 2)) > 20].min() > 0.6
    ann = json.loads((tmp_path / "1.json").read_text())
    assert ann["eye_details"]["look_vec"].startswith("(") and ann["eye_details"][
        "look_vec"
    ].endswith(", 0.0000)")
    assert len(ann["iris_2d"]) == 32 and len(ann["interior_margin_2d"]) == 16
    assert len(ann["caruncle_2d"]) == 7


def test_unityeyes_conventions():
    g = np.array([0.3, -0.4, -0.866])
    np.testing.assert_allclose(
        unityeyes.look_vec_to_gaze(unityeyes.gaze_to_look_vec(g)), g / np.linalg.norm(g)
    )
    pts = np.array([[0.0, 0.0], [10.0, 5.0]])
    np.testing.assert_allclose(unityeyes.unity_to_image(unityeyes.image_to_unity(pts, 30), 30), pts)


def test_genuine_unityeyes_json(shared_dir, tmp_path):
    src = shared_dir / "data" / "unityeyes-json" / "1.json"
    if not src.exists():
        pytest.skip("genuine UnityEyes json not present")
    shutil.copy(src, tmp_path / "1.json")
    cv2.imwrite(str(tmp_path / "1.jpg"), np.full((600, 800, 3), 128, np.uint8))
    s = unityeyes.load_sample(tmp_path / "1.jpg")
    # look_vec (0.3404, 0.3879, -0.8566): looking up (pitch > 0) and to image right (yaw < 0).
    assert s["pitchyaw"][0] > 0.3 and s["pitchyaw"][1] < -0.3
    assert (s["mask"] == 1).sum() > 1000 and (s["mask"] == 2).sum() > 10
    assert 380 < s["pupil_center"][0] < 470 and 220 < s["pupil_center"][1] < 320


def test_unityeyes_errors(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        unityeyes.read_unityeyes(tmp_path / "missing")
    with pytest.raises(DataError, match="no UnityEyes samples"):
        unityeyes.read_unityeyes(tmp_path)
    writers.write_unityeyes(tmp_path, 1, 36, 60, seed=0)
    ann = json.loads((tmp_path / "1.json").read_text())
    del ann["eye_details"]["look_vec"]
    (tmp_path / "1.json").write_text(json.dumps(ann))
    with pytest.raises(DataError, match=r"1\.json.*look_vec"):
        unityeyes.read_unityeyes(tmp_path)
    (tmp_path / "1.json").write_text("{not json")
    with pytest.raises(DataError, match=r"1\.json"):
        unityeyes.read_unityeyes(tmp_path)


def _mat_side(n, rng):
    return {
        "image": rng.integers(0, 255, (n, 36, 60), dtype=np.uint8),
        "gaze": pitchyaw_to_vector(rng.uniform(-0.3, 0.3, (n, 2))).astype(np.float64),
        "pose": rng.normal(0, 0.1, (n, 3)),
    }


def test_mpiigaze_reader(tmp_path):
    rng = np.random.default_rng(0)
    day = tmp_path / "Data" / "Normalized" / "p00"
    day.mkdir(parents=True)
    left, right = _mat_side(3, rng), _mat_side(3, rng)
    scipy.io.savemat(
        day / "day01.mat", {"data": {"left": left, "right": right}, "filenames": ["a", "b", "c"]}
    )
    one_l, one_r = _mat_side(1, rng), _mat_side(1, rng)  # squeeze_me edge case
    scipy.io.savemat(day / "day02.mat", {"data": {"left": one_l, "right": one_r}})
    out = mpiigaze.read_mpiigaze(tmp_path)
    assert out["image"].shape == (8, 36, 60, 3) and out["image"].dtype == np.uint8
    np.testing.assert_array_equal(out["image"][:3, :, :, 0], left["image"])
    np.testing.assert_allclose(out["gaze"][:3], left["gaze"], atol=1e-6)
    np.testing.assert_allclose(out["gaze"][6], one_l["gaze"][0], atol=1e-6)
    assert out["head_pose"].shape == (8, 3) and list(out["eye"]) == [0, 0, 0, 1, 1, 1, 0, 1]
    flipped = mpiigaze.read_mpiigaze(tmp_path, eyes=("right",), flip_right=True)
    np.testing.assert_array_equal(flipped["image"][0, :, :, 0], right["image"][0, :, ::-1])
    np.testing.assert_allclose(flipped["gaze"][0, 0], -right["gaze"][0, 0], atol=1e-6)


def test_mpiigaze_errors(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        mpiigaze.read_mpiigaze(tmp_path / "nope")
    with pytest.raises(DataError, match="no MPIIGaze files"):
        mpiigaze.read_mpiigaze(tmp_path)
    day = tmp_path / "p01"
    day.mkdir()
    scipy.io.savemat(
        day / "day03.mat", {"data": {"left": {"image": np.zeros((2, 36, 60), np.uint8)}}}
    )
    with pytest.raises(DataError, match=r"day03\.mat.*data\.left\.gaze"):
        mpiigaze.read_mpiigaze(tmp_path)
    scipy.io.savemat(day / "day03.mat", {"other": 1})
    with pytest.raises(DataError, match=r"day03\.mat.*'data'"):
        mpiigaze.read_mpiigaze(tmp_path)


def test_lpw_reader(tmp_path):
    video = tmp_path / "1" / "10.avi"
    video.parent.mkdir()
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 30, (64, 48))
    assert writer.isOpened(), "MJPG/.avi writing unsupported by this OpenCV build"
    centres = []
    for f in range(5):
        frame = np.full((48, 64, 3), 200, np.uint8)
        x, y = 20 + 4 * f, 24
        cv2.circle(frame, (x, y), 6, (0, 0, 0), -1)
        writer.write(frame)
        centres.append((x, y))
    writer.release()
    video.with_suffix(".txt").write_text("".join(f"{x}.0 {y}.0\n" for x, y in centres))
    out = lpw.read_lpw(tmp_path)
    assert out["image"].shape == (5, 48, 64, 3)
    np.testing.assert_allclose(out["pupil_center"], centres)
    for img, (x, y) in zip(out["image"], centres, strict=True):
        assert img[y, x].mean() < 60  # the label sits on the dark pupil
    small = lpw.read_lpw(tmp_path, size=(24, 32), every=2)
    assert small["image"].shape == (3, 24, 32, 3)
    np.testing.assert_allclose(
        small["pupil_center"][0], [(20 + 0.5) / 2 - 0.5, (24 + 0.5) / 2 - 0.5]
    )
    video.with_suffix(".txt").unlink()
    with pytest.raises(DataError, match=r"10\.avi.*10\.txt"):
        lpw.read_lpw(tmp_path)
    with pytest.raises(DataError, match="does not exist"):
        lpw.read_lpw(tmp_path / "missing")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataError, match=r"empty.*no \*\.avi"):
        lpw.read_lpw(empty)


def test_folder_reader(tmp_path, caplog):
    base = np.zeros((10, 12, 3), np.uint8)
    base[..., 0] = 200  # red in RGB
    cv2.imwrite(str(tmp_path / "a.png"), base[:, :, ::-1])
    sub = tmp_path / "sub"
    sub.mkdir()
    cv2.imwrite(str(sub / "gray.jpg"), np.full((10, 12), 90, np.uint8))
    rgba = np.dstack([base[:, :, ::-1], np.full((10, 12), 255, np.uint8)])
    cv2.imwrite(str(sub / "rgba.png"), rgba)
    cv2.imwrite(str(sub / "deep.tif"), np.full((10, 12), 65535, np.uint16))
    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    (tmp_path / "notes.txt").write_text("ignored")
    out = folder.read_folder(tmp_path)
    names = [p.rsplit("/", 1)[-1] for p in out["path"]]
    assert names == ["a.png", "deep.tif", "gray.jpg", "rgba.png"]
    assert int(out["skipped"]) == 1
    assert out["image"].shape == (4, 10, 12, 3) and out["image"].dtype == np.uint8
    np.testing.assert_array_equal(out["image"][0, 0, 0], [200, 0, 0])
    np.testing.assert_array_equal(out["image"][1, 0, 0], [255, 255, 255])
    assert abs(int(out["image"][2, 0, 0, 0]) - 90) <= 2
    np.testing.assert_array_equal(out["image"][3], out["image"][0])
    with pytest.raises(DataError, match="does not exist"):
        folder.read_folder(tmp_path / "missing")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataError, match="no images"):
        folder.read_folder(empty)


def test_image_io_errors_and_exif(tmp_path):
    bad = tmp_path / "corrupt.png"
    bad.write_bytes(b"\x89PNG garbage")
    with pytest.raises(DataError, match=r"corrupt\.png.*cannot decode"):
        image_io.read_image(bad)
    with pytest.raises(DataError, match=r"empty\.jpg.*empty"):
        (tmp_path / "empty.jpg").write_bytes(b"")
        image_io.read_image(tmp_path / "empty.jpg")
    img = np.zeros((4, 6, 3), np.uint8)
    img[0, 0] = 255
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 100])
    data = buf.tobytes()
    tiff = (
        b"II*\x00\x08\x00\x00\x00\x01\x00"
        + b"\x12\x01\x03\x00\x01\x00\x00\x00\x06\x00\x00\x00"
        + b"\x00\x00\x00\x00"
    )
    app1 = b"Exif\x00\x00" + tiff
    rotated = data[:2] + b"\xff\xe1" + (len(app1) + 2).to_bytes(2, "big") + app1 + data[2:]
    assert image_io.exif_orientation(rotated) == 6
    out = image_io.decode_image(rotated, "rot.jpg")
    assert out.shape == (6, 4, 3)
    assert out[0, -1].mean() > 150  # top-left moved to top-right by a 90 degree clockwise turn


def test_tfrecord_round_trip(tmp_path):
    paths = writers.write_tfrecords(
        tmp_path, 5, shards=2, height=36, width=60, domain="real", seed=4
    )
    assert len(paths) == 2 and all(p.exists() for p in paths)
    ref = render_eyes(5, 36, 60, "real", seed=4)
    got = tfrecord.read_tfrecords(tmp_path)
    order = [0, 1, 2, 3, 4]  # written round-robin, read back interleaved: original order
    np.testing.assert_array_equal(got["image"], ref["image"][order])
    np.testing.assert_array_equal(got["mask"], ref["mask"][order])
    np.testing.assert_allclose(got["gaze"], ref["gaze"][order])
    np.testing.assert_allclose(got["pupil_center"], ref["pupil_center"][order])
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataError, match=r"empty.*no \*\.tfrecord"):
        tfrecord.read_tfrecords(empty)
    (tmp_path / "bad.tfrecord").write_bytes(b"this is not a record file at all")
    with pytest.raises(DataError, match="bad.tfrecord|TFRecords"):
        tfrecord.read_tfrecords(tmp_path / "bad.tfrecord")
