"""Robust image decoding shared by every reader (bytes in, uint8 RGB out, or a DataError), the
one resize rule every module uses, and the conversion to the gaze estimators' input.

``cv2.imdecode(IMREAD_UNCHANGED)`` keeps bit depth and alpha (so 16-bit and RGBA files are
handled deliberately instead of silently) but ignores EXIF orientation, so the orientation tag
is parsed here and applied.
"""

from __future__ import annotations

import struct
from pathlib import Path

import cv2
import numpy as np

from purify_tf.conventions import GAZE_SIZE, LUMA
from purify_tf.errors import DataError

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")


def exif_orientation(data: bytes) -> int:
    """EXIF orientation (1-8) of a JPEG byte string; 1 when absent or unreadable."""
    if len(data) < 4 or data[:2] != b"\xff\xd8":
        return 1
    pos = 2
    while pos + 4 <= len(data) and data[pos] == 0xFF:
        marker = data[pos + 1]
        if marker in (0xD9, 0xDA):  # end of image / start of scan: no more metadata
            return 1
        seg_len = struct.unpack(">H", data[pos + 2 : pos + 4])[0]
        seg = data[pos + 4 : pos + 2 + seg_len]
        if marker == 0xE1 and seg[:6] == b"Exif\x00\x00":
            return _tiff_orientation(seg[6:])
        pos += 2 + seg_len
    return 1


def _tiff_orientation(tiff: bytes) -> int:
    try:
        endian = {b"II": "<", b"MM": ">"}[tiff[:2]]
        ifd = struct.unpack(endian + "I", tiff[4:8])[0]
        count = struct.unpack(endian + "H", tiff[ifd : ifd + 2])[0]
        for i in range(count):
            entry = tiff[ifd + 2 + 12 * i : ifd + 14 + 12 * i]
            tag, _typ, _n = struct.unpack(endian + "HHI", entry[:8])
            if tag == 0x0112:
                value = struct.unpack(endian + "H", entry[8:10])[0]
                return value if 1 <= value <= 8 else 1
    except (KeyError, struct.error, IndexError):
        return 1
    return 1


def apply_orientation(image: np.ndarray, orientation: int) -> np.ndarray:
    """Turn an image stored with EXIF ``orientation`` upright."""
    if orientation == 2:
        return image[:, ::-1]
    if orientation == 3:
        return image[::-1, ::-1]
    if orientation == 4:
        return image[::-1]
    if orientation == 5:
        return np.swapaxes(image, 0, 1)
    if orientation == 6:
        return np.swapaxes(image, 0, 1)[:, ::-1]
    if orientation == 7:
        return np.swapaxes(image, 0, 1)[::-1, ::-1]
    if orientation == 8:
        return np.swapaxes(image, 0, 1)[::-1]
    return image


def to_rgb_uint8(image: np.ndarray, name: str = "<array>", bgr: bool = True) -> np.ndarray:
    """Normalise any decoded image to (H, W, 3) uint8 RGB.

    16-bit is scaled down (not clipped), floats in [0, 1] are scaled up, gray is expanded and
    alpha is composited over black (opaque pixels are unchanged). ``bgr`` says whether colour
    channels arrive in OpenCV order.
    """
    img = np.asarray(image)
    if img.ndim == 2:
        img = img[:, :, None]
    if img.ndim != 3 or img.shape[2] not in (1, 2, 3, 4) or img.shape[0] == 0 or img.shape[1] == 0:
        raise DataError(f"{name}: expected an (H, W[, 1|3|4]) image, got shape {image.shape}")
    if img.dtype == np.uint8:
        pass
    elif img.dtype == np.uint16:
        img = ((img.astype(np.uint32) * 255 + 32767) // 65535).astype(np.uint8)
    elif np.issubdtype(img.dtype, np.floating):
        # NaN/inf would silently become black or white pixels (and decide the [0, 1] scale).
        bad = int(np.count_nonzero(~np.isfinite(img)))
        if bad:
            raise DataError(f"{name}: image has {bad} non-finite (NaN or inf) pixel value(s)")
        scale = 255.0 if float(img.max()) <= 1.0 else 1.0
        img = np.clip(img * scale + 0.5, 0, 255).astype(np.uint8)
    elif np.issubdtype(img.dtype, np.integer):
        img = np.clip(img, 0, 255).astype(np.uint8)
    else:
        raise DataError(f"{name}: unsupported pixel type {img.dtype}")
    c = img.shape[2]
    if c in (2, 4):
        alpha = img[:, :, -1:].astype(np.uint16)
        colour = img[:, :, :-1].astype(np.uint16)
        img = ((colour * alpha + 127) // 255).astype(np.uint8)
        c -= 1
    if c == 1:
        return np.ascontiguousarray(np.repeat(img, 3, axis=2))
    return np.ascontiguousarray(img[:, :, ::-1] if bgr else img)


def decode_image(data: bytes, name: str = "<bytes>") -> np.ndarray:
    """Decode image bytes (any format OpenCV reads) to upright (H, W, 3) uint8 RGB."""
    if not data:
        raise DataError(f"{name}: empty file, expected an image")
    raw = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if raw is None:
        raise DataError(f"{name}: cannot decode image (corrupt or not PNG/JPEG/BMP/TIFF)")
    img = to_rgb_uint8(raw, name)
    return np.ascontiguousarray(apply_orientation(img, exif_orientation(data)))


def read_image(path: str | Path) -> np.ndarray:
    """Read an image file to upright (H, W, 3) uint8 RGB; DataError names the file."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DataError(f"{path}: cannot read image file ({exc.strerror or exc})") from exc
    return decode_image(data, str(path))


def interpolation_for(src_hw: tuple[int, int], dst_hw: tuple[int, int]) -> int:
    """The one resize rule for images: area averaging when no side grows, bilinear otherwise.

    (Labels are always resized by nearest neighbour, so classes stay integers.)
    """
    shrinks = dst_hw[0] <= src_hw[0] and dst_hw[1] <= src_hw[1]
    return cv2.INTER_AREA if shrinks else cv2.INTER_LINEAR


def resize_pair(
    image: np.ndarray, mask: np.ndarray | None, size: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray | None]:
    """Resize an image (:func:`interpolation_for`) and its label map (nearest) to ``size`` = (H, W)."""
    h, w = size
    if image.shape[:2] == (h, w):
        return image, mask
    out = cv2.resize(image, (w, h), interpolation=interpolation_for(image.shape[:2], (h, w)))
    if mask is not None:
        mask = cv2.resize(mask, (w, h), interpolation=cv2.INTER_NEAREST)
    return out, mask


def resize_images(images: np.ndarray, height: int, width: int, labels: bool = False) -> np.ndarray:
    """Resize a batch (N, h, w[, C]) to (N, height, width[, C]) by the one rule (``labels``: nearest)."""
    x = np.asarray(images)
    if x.shape[1:3] == (height, width):
        return x
    interp = cv2.INTER_NEAREST if labels else interpolation_for(x.shape[1:3], (height, width))
    out = np.stack([cv2.resize(im, (width, height), interpolation=interp) for im in x]) if len(x) else x
    return out.reshape(len(x), height, width, *x.shape[3:])


def to_gaze_input(images: np.ndarray) -> np.ndarray:
    """(N, H, W[, 1|3]) uint8 or float [0, 255] -> (N, 35, 55, 1) float32 gray in [0, 1]."""
    x = np.asarray(images)
    if x.ndim == 3:
        x = x[..., None]
    if x.ndim != 4 or x.shape[-1] not in (1, 3):
        raise DataError(f"to_gaze_input: expected (N, H, W, 1|3) images, got shape {x.shape}")
    x = x.astype(np.float32)
    gray = x[..., 0] if x.shape[-1] == 1 else x @ np.asarray(LUMA, np.float32)
    if len(gray):
        gray = resize_images(gray, *GAZE_SIZE)
    return (np.clip(gray, 0, 255) / 255.0).astype(np.float32)[..., None]


def scale_points(points: np.ndarray, src: tuple[int, int], dst: tuple[int, int]) -> np.ndarray:
    """Map (x, y) pixel coordinates (pixel centres at integers) from src (H, W) to dst (H, W)."""
    pts = np.asarray(points, np.float64)
    sx, sy = dst[1] / src[1], dst[0] / src[0]
    out = np.empty_like(pts)
    out[..., 0] = (pts[..., 0] + 0.5) * sx - 0.5
    out[..., 1] = (pts[..., 1] + 0.5) * sy - 0.5
    return out.astype(np.float32)
