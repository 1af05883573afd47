"""Fuzzing every reader with the broken and odd files users actually have.

Contract under test (docs/RELIABILITY.md): each bad input either decodes correctly (the result's
shape, dtype and values are checked) or raises exactly one ``DataError`` whose message names the
file and the problem. Nothing crashes with another exception type, nothing hangs (every test has a
timeout), and batch readers (the image folder, the CLI's file loop) skip and count bad files
instead of stopping the job.
"""

from __future__ import annotations

import io
import json
import struct
from pathlib import Path

import cv2
import numpy as np
import pytest
import scipy.io
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from purify_tf.data import folder, image_io, lpw, mpiigaze, tfrecord, unityeyes, writers
from purify_tf.errors import DataError
from purify_tf.vectors import pitchyaw_to_vector

# Few examples each: the point is the variety of inputs, and the machine is shared.
FUZZ = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

pytestmark = pytest.mark.timeout(60)


# ----------------------------------------------------------------------------- helpers
def png_bytes(image: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".png", image)
    assert ok
    return buf.tobytes()


def jpeg_bytes(image: np.ndarray, quality: int = 95) -> bytes:
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return buf.tobytes()


def gradient_bgr(h: int = 12, w: int = 16) -> np.ndarray:
    """A small BGR image whose every pixel differs, so flips and turns are visible."""
    yy, xx = np.mgrid[0:h, 0:w]
    return np.dstack([xx * 255 // max(w - 1, 1), yy * 255 // max(h - 1, 1), np.full((h, w), 60)]).astype(
        np.uint8
    )


def assert_rgb_uint8(image: np.ndarray, shape: tuple[int, int]) -> None:
    assert isinstance(image, np.ndarray)
    assert image.shape == (*shape, 3) and image.dtype == np.uint8
    assert image.flags["C_CONTIGUOUS"]


def decode_or_data_error(data: bytes, name: str) -> np.ndarray | None:
    """Decode; a failure must be a DataError naming ``name``. Returns the image or None."""
    try:
        image = image_io.decode_image(data, name)
    except DataError as exc:
        assert name in str(exc)
        return None
    assert image.ndim == 3 and image.shape[2] == 3 and image.dtype == np.uint8
    assert image.shape[0] >= 1 and image.shape[1] >= 1
    return image


def exif_jpeg(jpeg: bytes, orientation: int, big_endian: bool = False) -> bytes:
    """Insert an APP1 Exif segment holding one IFD0 entry, Orientation (0x0112), by hand."""
    e = ">" if big_endian else "<"
    tiff = (b"MM" if big_endian else b"II") + struct.pack(e + "HI", 42, 8)
    tiff += struct.pack(e + "H", 1) + struct.pack(e + "HHIHH", 0x0112, 3, 1, orientation, 0)
    tiff += struct.pack(e + "I", 0)
    app1 = b"Exif\x00\x00" + tiff
    return jpeg[:2] + b"\xff\xe1" + struct.pack(">H", len(app1) + 2) + app1 + jpeg[2:]


# What each EXIF orientation means for the stored pixels (the inverse turns them upright).
UPRIGHT = {
    1: lambda a: a,
    2: lambda a: a[:, ::-1],
    3: lambda a: a[::-1, ::-1],
    4: lambda a: a[::-1],
    5: lambda a: np.swapaxes(a, 0, 1),
    6: lambda a: np.swapaxes(a, 0, 1)[:, ::-1],
    7: lambda a: np.swapaxes(a, 0, 1)[::-1, ::-1],
    8: lambda a: np.swapaxes(a, 0, 1)[::-1],
}


# ----------------------------------------------------------------------------- image decoding
@FUZZ
@given(
    h=st.integers(1, 40),
    w=st.integers(1, 40),
    channels=st.sampled_from([1, 3, 4]),
    deep=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_png_of_any_size_depth_and_channels_decodes_exactly(h, w, channels, deep, seed):
    rng = np.random.default_rng(seed)
    dtype = np.uint16 if deep else np.uint8
    top = 65535 if deep else 255
    stored = rng.integers(0, top + 1, (h, w, channels), dtype=np.int64).astype(dtype)
    if channels == 4:
        stored[..., 3] = top  # opaque: colours must come through unchanged
    out = image_io.decode_image(png_bytes(stored if channels > 1 else stored[..., 0]), "x.png")
    assert_rgb_uint8(out, (h, w))
    eight = stored if not deep else ((stored.astype(np.uint32) * 255 + 32767) // 65535).astype(np.uint8)
    expected = np.repeat(eight, 3, axis=2) if channels == 1 else eight[..., 2::-1]
    np.testing.assert_array_equal(out, expected[..., :3])


def test_extreme_shapes_and_transparency():
    # 1x1 and 4x10000 (a long thin strip) decode at their own size.
    for h, w in ((1, 1), (4, 10000), (10000, 4)):
        out = image_io.decode_image(png_bytes(np.full((h, w, 3), 77, np.uint8)), f"{h}x{w}.png")
        assert_rgb_uint8(out, (h, w))
        assert (out == 77).all()
    # Alpha is composited over black: half-transparent white becomes mid grey.
    rgba = np.zeros((2, 3, 4), np.uint8)
    rgba[..., :3], rgba[..., 3] = 255, 128
    np.testing.assert_array_equal(image_io.decode_image(png_bytes(rgba), "a.png"), 128)
    # Gray + alpha (2 channels) as OpenCV never writes it: through the array path.
    ga = np.dstack([np.full((2, 2), 200, np.uint8), np.full((2, 2), 255, np.uint8)])
    np.testing.assert_array_equal(image_io.to_rgb_uint8(ga, "ga"), 200)


def test_cmyk_jpeg_decodes_to_rgb(tmp_path):
    pil = pytest.importorskip("PIL.Image", reason="Pillow is needed to write a CMYK JPEG")
    buf = io.BytesIO()
    # Pure cyan ink: (C, M, Y, K) = (255, 0, 0, 0) is RGB (0, 255, 255).
    pil.new("CMYK", (9, 5), (255, 0, 0, 0)).save(buf, format="JPEG", quality=95)
    path = tmp_path / "cmyk.jpg"
    path.write_bytes(buf.getvalue())
    out = image_io.read_image(path)
    assert_rgb_uint8(out, (5, 9))
    r, g, b = out.reshape(-1, 3).mean(axis=0)
    assert r < 40 and g > 215 and b > 215, (r, g, b)


@pytest.mark.parametrize("big_endian", [False, True])
@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_is_applied(orientation, big_endian):
    stored = gradient_bgr(12, 16)
    data = exif_jpeg(jpeg_bytes(stored, 100), orientation, big_endian)
    assert image_io.exif_orientation(data) == orientation
    out = image_io.decode_image(data, "rot.jpg")
    expected = UPRIGHT[orientation](stored[..., ::-1])
    assert out.shape == expected.shape
    assert np.abs(out.astype(int) - expected.astype(int)).mean() < 4  # JPEG rounding only


@FUZZ
@given(junk=st.binary(max_size=64), cut=st.integers(0, 40), orientation=st.integers(0, 70000))
def test_malformed_exif_never_breaks_decoding(junk, cut, orientation):
    jpeg = jpeg_bytes(gradient_bgr(6, 8))
    good = exif_jpeg(jpeg, orientation % 65536)
    # Damage the Exif payload: truncate the TIFF block or replace it with junk (length kept valid).
    seg_len = struct.unpack(">H", good[4:6])[0]
    payload = good[6 : 4 + seg_len]
    damaged_payload = (payload[: 6 + cut] + junk) if cut % 2 else b"Exif\x00\x00" + junk
    damaged = jpeg[:2] + b"\xff\xe1" + struct.pack(">H", len(damaged_payload) + 2) + damaged_payload + jpeg[2:]
    assert 1 <= image_io.exif_orientation(damaged) <= 8
    out = image_io.decode_image(damaged, "junk-exif.jpg")
    assert out.dtype == np.uint8 and sorted(out.shape[:2]) == [6, 8]


@FUZZ
@given(fmt=st.sampled_from([".png", ".jpg"]), fraction=st.floats(0.0, 0.999))
def test_truncated_images_decode_partially_or_raise_data_error(fmt, fraction):
    data = png_bytes(gradient_bgr()) if fmt == ".png" else jpeg_bytes(gradient_bgr())
    cut = data[: int(len(data) * fraction)]
    out = decode_or_data_error(cut, f"cut{fmt}")
    if out is not None:
        assert out.shape == (12, 16, 3)  # a decoder may fill the missing rows, never resize


@FUZZ
@given(
    fmt=st.sampled_from([".png", ".jpg"]),
    flips=st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), min_size=1, max_size=8),
)
def test_corrupted_bytes_decode_or_raise_data_error(fmt, flips):
    data = bytearray(png_bytes(gradient_bgr()) if fmt == ".png" else jpeg_bytes(gradient_bgr()))
    for pos, value in flips:
        data[pos % len(data)] = value
    decode_or_data_error(bytes(data), f"flipped{fmt}")


@FUZZ
@given(data=st.binary(max_size=256))
def test_arbitrary_bytes_decode_or_raise_data_error(data):
    decode_or_data_error(data, "random.jpg")


def test_empty_and_text_files_name_the_file(tmp_path):
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    with pytest.raises(DataError, match=r"empty\.jpg: empty file"):
        image_io.read_image(empty)
    text = tmp_path / "notes.jpg"
    text.write_text("these are my notes, not a picture\n")
    with pytest.raises(DataError, match=r"notes\.jpg: cannot decode"):
        image_io.read_image(text)
    with pytest.raises(DataError, match=r"missing\.png: cannot read"):
        image_io.read_image(tmp_path / "missing.png")
    with pytest.raises(DataError, match=r"a_dir\.png: cannot read"):
        (tmp_path / "a_dir.png").mkdir()
        image_io.read_image(tmp_path / "a_dir.png")


@FUZZ
@given(
    bad=st.lists(st.sampled_from([float("nan"), float("inf"), float("-inf")]), min_size=1, max_size=4),
    scale=st.sampled_from([1.0, 255.0]),
)
def test_non_finite_float_images_are_rejected(bad, scale):
    image = np.random.default_rng(0).uniform(0, scale, (4, 5, 3)).astype(np.float32)
    image.reshape(-1)[: len(bad)] = bad
    with pytest.raises(DataError, match=r"float\.exr: .*non-finite"):
        image_io.to_rgb_uint8(image, "float.exr")


def test_float_images_in_unit_and_pixel_range():
    unit = np.full((2, 2), 0.5, np.float32)
    np.testing.assert_array_equal(image_io.to_rgb_uint8(unit, "u"), 128)
    pixels = np.full((2, 2, 3), 300.0)
    np.testing.assert_array_equal(image_io.to_rgb_uint8(pixels, "p", bgr=False), 255)
    with pytest.raises(DataError, match=r"weird: expected an \(H, W"):
        image_io.to_rgb_uint8(np.zeros((0, 4, 3), np.uint8), "weird")
    with pytest.raises(DataError, match=r"cplx: unsupported pixel type"):
        image_io.to_rgb_uint8(np.zeros((2, 2), np.complex64), "cplx")


# ----------------------------------------------------------------------------- folder reader
BAD_FILES: dict[str, bytes] = {
    "zero.jpg": b"",
    "text.jpg": b"hello, I am text\n",
    "cut.png": b"",  # filled in below: a truncated PNG
    "cut.jpg": b"",  # a JPEG cut before its first scan
    "junk.tif": bytes(range(256)) * 4,
}


def write_bad_files(directory: Path) -> list[str]:
    png = png_bytes(gradient_bgr())
    jpg = jpeg_bytes(gradient_bgr())
    files = dict(BAD_FILES, **{"cut.png": png[: len(png) // 3], "cut.jpg": jpg[:100]})
    for name, data in files.items():
        (directory / name).write_bytes(data)
    return sorted(files)


def test_folder_reader_skips_and_counts_every_bad_file(tmp_path, caplog):
    bad = write_bad_files(tmp_path)
    good = {"gray.png": np.full((12, 16), 90, np.uint8), "deep.png": np.full((12, 16, 3), 65535, np.uint16)}
    for name, image in good.items():
        cv2.imwrite(str(tmp_path / name), image)
    (tmp_path / "rot.jpg").write_bytes(exif_jpeg(jpeg_bytes(gradient_bgr(16, 12)), 6))  # 12x16 upright
    out = folder.read_folder(tmp_path)
    assert out["image"].shape == (3, 12, 16, 3) and out["image"].dtype == np.uint8
    assert int(out["skipped"]) == len(bad)
    images, paths, skipped = folder.load_images(tmp_path)
    reasons = dict((p.name, r) for p, r in skipped)
    assert sorted(reasons) == bad
    for name, reason in reasons.items():
        assert reason.startswith(str(tmp_path / name) + ": ")  # one message, naming the file
    assert sum("skipped 5 unreadable" in r.getMessage() for r in caplog.records) >= 1


def test_folder_of_only_bad_files_is_one_clear_error(tmp_path):
    write_bad_files(tmp_path)
    with pytest.raises(DataError, match="none of the image files could be decoded"):
        folder.read_folder(tmp_path)


def test_cli_file_loop_counts_bad_files_and_writes_only_good_ones(tmp_path):
    files = pytest.importorskip("purify_tf.inference.files")

    class Identity:
        def purify(self, images):
            return [np.asarray(im) for im in images]

    src, dst = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    bad = write_bad_files(src)
    cv2.imwrite(str(src / "ok.png"), gradient_bgr())
    (src / "rot.jpg").write_bytes(exif_jpeg(jpeg_bytes(gradient_bgr(16, 12), 100), 8))
    summary = files.purify_path(Identity(), src, dst, verbose=False)
    assert (summary.done, summary.failed) == (2, len(bad))
    assert sorted(Path(p).name for p, _ in summary.failures) == bad
    assert sorted(p.name for p in dst.iterdir()) == ["ok.png", "rot.jpg"]
    assert image_io.read_image(dst / "rot.jpg").shape == (12, 16, 3)


# ----------------------------------------------------------------------------- UnityEyes
@pytest.fixture(scope="module")
def unity_sample(tmp_path_factory) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("unity")
    writers.write_unityeyes(root, 1, 36, 60, seed=0)
    return root, json.loads((root / "1.json").read_text())


json_values = st.recursive(
    st.none() | st.booleans() | st.floats(allow_nan=False) | st.integers() | st.text(max_size=12),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)


def load_or_data_error(root: Path) -> dict | None:
    try:
        sample = unityeyes.load_sample(root / "1.jpg")
    except DataError as exc:
        assert "1.json" in str(exc) or "1.jpg" in str(exc), str(exc)
        return None
    assert sample["image"].shape == (36, 60, 3) and sample["mask"].shape == (36, 60)
    assert set(np.unique(sample["mask"])) <= {0, 1, 2}
    assert np.all(np.isfinite(sample["gaze"])) and abs(np.linalg.norm(sample["gaze"]) - 1) < 1e-5
    assert np.all(np.isfinite(sample["pitchyaw"])) and np.all(np.isfinite(sample["pupil_center"]))
    return sample


def _set(ann: dict, path: tuple[str, ...], value: object) -> dict:
    out = json.loads(json.dumps(ann))
    node = out
    for key in path[:-1]:
        node = node[key]
    if value is _DELETE:
        node.pop(path[-1], None)
    else:
        node[path[-1]] = value
    return out


_DELETE = object()
FIELDS = [
    ("eye_details", "look_vec"),
    ("eye_details", "pupil_size"),
    ("eye_details", "iris_size"),
    ("eye_details",),
    ("iris_2d",),
    ("interior_margin_2d",),
    ("caruncle_2d",),
    ("head_pose",),
]
ODD_STRINGS = ["(nan, 0, 1)", "(1e999, 0, -1, 0)", "()", "(0, 0, 0, 0)", "nan", "inf", "-1e400", "12"]


@FUZZ
@given(
    field=st.sampled_from(FIELDS),
    value=st.one_of(st.just(_DELETE), json_values, st.sampled_from(ODD_STRINGS),
                    st.lists(st.sampled_from(ODD_STRINGS), max_size=5)),
)
def test_unityeyes_json_with_a_damaged_field(unity_sample, tmp_path, field, value):
    root, ann = unity_sample
    (tmp_path / "1.jpg").write_bytes((root / "1.jpg").read_bytes())
    (tmp_path / "1.json").write_text(json.dumps(_set(ann, field, value)))
    load_or_data_error(tmp_path)


@FUZZ
@given(doc=json_values)
def test_unityeyes_json_of_any_shape(unity_sample, tmp_path, doc):
    root, _ = unity_sample
    (tmp_path / "1.jpg").write_bytes((root / "1.jpg").read_bytes())
    (tmp_path / "1.json").write_text(json.dumps(doc))
    assert load_or_data_error(tmp_path) is None


@pytest.mark.parametrize(
    "text",
    ["", "{not json", "[" * 100_000, "\xff\xfe garbage".encode("latin-1"), b"\x00\x01\x02", '{"eye_details": {}}'],
    ids=["empty", "syntax", "deep-nesting", "latin1", "binary", "no-look_vec"],
)
def test_unityeyes_unreadable_json(unity_sample, tmp_path, text):
    root, _ = unity_sample
    (tmp_path / "1.jpg").write_bytes((root / "1.jpg").read_bytes())
    path = tmp_path / "1.json"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    with pytest.raises(DataError, match=r"1\.json: "):
        unityeyes.read_unityeyes(tmp_path)


def test_unityeyes_values_that_must_not_become_labels(unity_sample, tmp_path):
    root, ann = unity_sample
    (tmp_path / "1.jpg").write_bytes((root / "1.jpg").read_bytes())
    cases = {
        ("eye_details", "look_vec"): ("(1e999, 0, -1, 0)", "look_vec"),
        ("eye_details", "pupil_size"): ("nan", "pupil_size"),
        ("eye_details", "iris_size"): ("inf", "iris_size"),
        ("iris_2d",): (["(1e999, 2, 3)"] * 8, "iris_2d"),
    }
    for field, (value, named) in cases.items():
        (tmp_path / "1.json").write_text(json.dumps(_set(ann, field, value)))
        with pytest.raises(DataError, match=rf"1\.json: .*{named}"):
            unityeyes.load_sample(tmp_path / "1.jpg")


def test_unityeyes_broken_image_names_the_image(unity_sample, tmp_path):
    root, _ = unity_sample
    (tmp_path / "1.json").write_text((root / "1.json").read_text())
    (tmp_path / "1.jpg").write_bytes((root / "1.jpg").read_bytes()[:50])
    with pytest.raises(DataError, match=r"1\.jpg: cannot decode"):
        unityeyes.read_unityeyes(tmp_path)


# ----------------------------------------------------------------------------- MPIIGaze .mat
def mat_side(n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    return {
        "image": rng.integers(0, 255, (n, 36, 60), dtype=np.uint8),
        "gaze": pitchyaw_to_vector(rng.uniform(-0.3, 0.3, (n, 2))),
        "pose": rng.normal(0, 0.1, (n, 3)),
    }


MAT_DAMAGE = st.sampled_from(
    [
        ("drop", "data"),
        ("drop", "left"),
        ("drop", "image"),
        ("drop", "gaze"),
        ("drop", "pose"),
        ("set", "image", np.zeros((2, 36, 61), np.uint8)),
        ("set", "image", np.zeros((2, 5), np.uint8)),
        ("set", "image", "not pixels"),
        ("set", "gaze", np.zeros((2, 2))),
        ("set", "gaze", "up and left"),
        ("set", "gaze", np.full((2, 3), np.nan)),
        ("set", "pose", np.full((2, 3), np.inf)),
        ("set", "pose", {"nested": 1}),
        ("set", "data", 7),
    ]
)


@FUZZ
@given(damage=MAT_DAMAGE, seed=st.integers(0, 100))
def test_mpiigaze_mat_missing_or_wrong_fields(tmp_path, damage, seed):
    rng = np.random.default_rng(seed)
    data: dict = {"left": mat_side(2, rng), "right": mat_side(2, rng)}
    top: dict = {"data": data}
    kind, key = damage[0], damage[1]
    if key == "data":
        if kind == "drop":
            top = {"other": 1}
        else:
            top["data"] = damage[2]
    elif key == "left":
        del data["left"]
    elif kind == "drop":
        del data["left"][key]
    else:
        data["left"][key] = damage[2]
    path = tmp_path / "day07.mat"
    scipy.io.savemat(path, top)
    with pytest.raises(DataError, match=r"day07\.mat: .*(data|left|image|gaze|pose)"):
        mpiigaze.load_mat(path)


@FUZZ
@given(fraction=st.floats(0.0, 0.99), compress=st.booleans())
def test_mpiigaze_truncated_mat(tmp_path, fraction, compress):
    rng = np.random.default_rng(0)
    path = tmp_path / "day01.mat"
    scipy.io.savemat(path, {"data": {"left": mat_side(3, rng), "right": mat_side(3, rng)}},
                     do_compression=compress)
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * fraction)])
    with pytest.raises(DataError, match=r"day01\.mat: "):
        mpiigaze.load_mat(path)


@pytest.mark.parametrize("content", [b"", b"MATLAB 5.0? no, just text", bytes(200)], ids=["empty", "text", "zeros"])
def test_mpiigaze_not_a_mat_file(tmp_path, content):
    path = tmp_path / "day02.mat"
    path.write_bytes(content)
    with pytest.raises(DataError, match=r"day02\.mat: "):
        mpiigaze.load_mat(path)


# ----------------------------------------------------------------------------- LPW
@pytest.fixture(scope="module")
def lpw_video(tmp_path_factory) -> Path:
    video = tmp_path_factory.mktemp("lpw") / "1.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 30, (32, 24))
    assert writer.isOpened()
    for f in range(4):
        writer.write(np.full((24, 32, 3), 40 * f, np.uint8))
    writer.release()
    return video


@FUZZ
@given(text=st.text(max_size=80) | st.binary(max_size=40))
def test_lpw_label_file_of_any_content(tmp_path, text):
    path = tmp_path / "1.txt"
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8", "surrogatepass"))
    try:
        centres = lpw.read_centres(path)
    except DataError as exc:
        assert "1.txt" in str(exc)
        return
    assert centres.ndim == 2 and centres.shape[1] == 2 and centres.dtype == np.float32
    assert np.all(np.isfinite(centres))


def test_lpw_non_finite_labels_and_broken_videos(tmp_path, lpw_video):
    labels = tmp_path / "1.txt"
    labels.write_text("1 2\nnan 3\n")
    with pytest.raises(DataError, match=r"1\.txt:2: .*finite"):
        lpw.read_centres(labels)
    for name, data in {"zero.avi": b"", "text.avi": b"not a video at all", "cut.avi": lpw_video.read_bytes()[:300]}.items():
        video = tmp_path / name
        video.write_bytes(data)
        video.with_suffix(".txt").write_text("1 2\n" * 4)
        try:
            out = lpw.read_video(video)
        except DataError as exc:
            assert name in str(exc)
        else:  # a cut video may still give its first frames
            assert out["image"].dtype == np.uint8 and out["image"].shape[1:] == (24, 32, 3)


# ----------------------------------------------------------------------------- TFRecord
@pytest.fixture(scope="module")
def shard_bytes(tmp_path_factory) -> bytes:
    root = tmp_path_factory.mktemp("tfr")
    (path,) = writers.write_tfrecords(root, 2, shards=1, height=12, width=16, seed=1)
    return path.read_bytes()


@FUZZ
@given(fraction=st.floats(0.0, 0.999), flip=st.none() | st.tuples(st.integers(0, 10**6), st.integers(0, 255)))
def test_tfrecord_truncated_or_corrupted(tmp_path, shard_bytes, fraction, flip):
    data = bytearray(shard_bytes[: max(1, int(len(shard_bytes) * fraction))] if flip is None else shard_bytes)
    if flip is not None:
        data[flip[0] % len(data)] ^= flip[1] or 1
    path = tmp_path / "eyes.tfrecord"
    path.write_bytes(bytes(data))
    try:
        out = tfrecord.read_tfrecords(path)
    except DataError as exc:
        assert "eyes.tfrecord" in str(exc)
        return
    assert out["image"].dtype == np.uint8 and out["image"].shape[1:] == (12, 16, 3)


def test_tfrecord_with_non_image_payload(tmp_path):
    import tensorflow as tf

    path = tmp_path / "odd.tfrecord"
    with tf.io.TFRecordWriter(str(path)) as w:
        feature = {"image": tf.train.Feature(bytes_list=tf.train.BytesList(value=[b"text, not a PNG"]))}
        w.write(tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString())
        w.write(b"not an Example proto")
    with pytest.raises(DataError, match=r"odd\.tfrecord: cannot read TFRecords"):
        tfrecord.read_tfrecords(path)
    (tmp_path / "zero.tfrecord").write_bytes(b"")
    with pytest.raises(DataError, match=r"zero\.tfrecord: TFRecords hold no samples"):
        tfrecord.read_tfrecords(tmp_path / "zero.tfrecord")


# ----------------------------------------------------------------------------- float arrays
@FUZZ
@given(bad=st.sampled_from([np.nan, np.inf, -np.inf]), where=st.integers(0, 2 * 8 * 8 * 3 - 1))
def test_array_source_rejects_non_finite_pixels(bad, where):
    from purify_tf.training.inputs import ArraySource

    images = np.full((2, 8, 8, 3), 100.0, np.float32)
    images.reshape(-1)[where] = bad
    with pytest.raises(DataError, match="non-finite"):
        ArraySource(images, 8, 8)


def test_array_source_float_pixels_are_rounded_and_clipped():
    from purify_tf.training.inputs import ArraySource

    images = np.array([-5.0, 0.4, 0.6, 254.6, 300.0], np.float32).reshape(1, 1, 5, 1)
    src = ArraySource(images, 1, 5)
    np.testing.assert_array_equal(src.images[0, 0, :, 0], [0, 0, 1, 255, 255])
    assert src.images.dtype == np.uint8


def test_purifier_rejects_float_and_non_finite_inputs():
    pytest.importorskip("purify_tf.inference.purifier")
    from purify_tf.inference.purifier import Purifier
    from purify_tf.models.transformer import build_transformer

    purifier = Purifier(build_transformer("johnson"), batch_size=2)
    good = np.full((1, 8, 8, 3), 100, np.uint8)
    assert purifier.purify(good).shape == (1, 8, 8, 3)
    for bad in (np.full((1, 8, 8, 3), np.nan, np.float32), np.full((1, 8, 8, 3), np.inf)):
        with pytest.raises(DataError, match="must be uint8"):
            purifier.purify(bad)
    with pytest.raises(DataError, match=r"\(H, W, 3\)"):
        purifier.purify(np.zeros((1, 8, 8, 4), np.uint8))
