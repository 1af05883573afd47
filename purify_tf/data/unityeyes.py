"""UnityEyes reader: ``N.jpg`` + ``N.json`` pairs to images, iris/pupil masks and gaze.

Conventions of the json (and how they are converted):
- 2D points ``"(x, y, z)"`` are Unity screen coordinates: origin at the image's bottom-left
  corner, y up, pixel centres at half-integers. Image coordinates (x right, y down, pixel
  centres at integers) are ``(x - 0.5, H - y - 0.5)``; the third value (depth) is ignored.
- ``eye_details.look_vec`` ``"(x, y, z, 0)"`` is the gaze in Unity's camera frame (x right,
  y up, z away from the camera; looking at the camera is -z). The MPIIGaze camera frame has
  y down, so ``gaze = normalise(x, -y, z)``: looking up gives a positive MPIIGaze pitch.
- Masks: iris = polygon ``iris_2d``; pupil = that polygon scaled about its centroid by
  ``pupil_size / iris_size``; both clipped to the ``interior_margin_2d`` aperture polygon.
  ``pupil_center`` is the iris polygon's centroid (mean of its points).
``purify_tf.data.writers.write_unityeyes`` writes with exactly these conversions, so a written
dataset reads back to the same labels.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import cv2
import numpy as np
from absl import logging

from purify_tf.data.image_io import read_image, resize_pair, scale_points
from purify_tf.errors import DataError
from purify_tf.vectors import vector_to_pitchyaw

_FLOAT = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")
_SUBPIXEL_BITS = 8


def parse_tuple(text: str, name: str, field: str, min_len: int) -> np.ndarray:
    """Parse a UnityEyes ``"(a, b, c)"`` string to a float64 array."""
    if not isinstance(text, str):
        raise DataError(
            f"{name}: field {field!r} should be a string like '(x, y, z)', got {text!r}"
        )
    values = [float(v) for v in _FLOAT.findall(text)]
    if len(values) < min_len:
        raise DataError(f"{name}: field {field!r} should hold >= {min_len} numbers, got {text!r}")
    if not all(np.isfinite(values[:min_len])):  # e.g. 1e999: would become garbage polygons
        raise DataError(f"{name}: field {field!r} holds a non-finite number: {text!r}")
    return np.asarray(values, np.float64)


def unity_to_image(points: np.ndarray, height: int) -> np.ndarray:
    """Unity screen points (k, >=2) to image (x, y) pixel coordinates (k, 2)."""
    pts = np.asarray(points, np.float64)
    return np.stack([pts[:, 0] - 0.5, height - pts[:, 1] - 0.5], axis=1)


def image_to_unity(points: np.ndarray, height: int) -> np.ndarray:
    """Image (x, y) pixel coordinates (k, 2) to Unity screen (x, y) (k, 2)."""
    pts = np.asarray(points, np.float64)
    return np.stack([pts[:, 0] + 0.5, height - pts[:, 1] - 0.5], axis=1)


def look_vec_to_gaze(look_vec: np.ndarray) -> np.ndarray:
    """UnityEyes look_vec (3,) -> unit gaze vector (3,) in the MPIIGaze camera frame."""
    v = np.asarray(look_vec[:3], np.float64) * np.array([1.0, -1.0, 1.0])
    return v / max(np.linalg.norm(v), 1e-12)


def gaze_to_look_vec(gaze: np.ndarray) -> np.ndarray:
    """Inverse of ``look_vec_to_gaze`` (unit vector in, unit vector out)."""
    v = np.asarray(gaze, np.float64)[:3] * np.array([1.0, -1.0, 1.0])
    return v / max(np.linalg.norm(v), 1e-12)


def _points(ann: dict, key: str, name: str, height: int, min_points: int) -> np.ndarray:
    raw = ann.get(key)
    if not isinstance(raw, list) or len(raw) < min_points:
        raise DataError(
            f"{name}: expected {key!r} as a list of >= {min_points} '(x, y, z)' strings"
        )
    pts = np.stack([parse_tuple(p, name, key, 2)[:2] for p in raw])
    return unity_to_image(pts, height)


def parse_annotation(json_path: str | Path, height: int) -> dict[str, np.ndarray]:
    """Parse one UnityEyes json for an image ``height`` pixels tall.

    Returns ``gaze`` (3,), ``look_vec`` (3,), ``iris_2d`` (k, 2), ``interior_margin_2d``
    (k, 2), ``caruncle_2d`` (k, 2) (absent if missing), ``pupil_size``, ``iris_size`` and
    ``head_pose`` (3,) degrees (when present).
    """
    path = Path(json_path)
    name = str(path)
    try:
        ann = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise DataError(f"{name}: cannot read annotation ({exc.strerror or exc})") from exc
    except json.JSONDecodeError as exc:
        raise DataError(f"{name}: not valid JSON ({exc.msg} at line {exc.lineno})") from exc
    except UnicodeDecodeError as exc:
        raise DataError(f"{name}: not valid JSON (not UTF-8 text: {exc.reason})") from exc
    except RecursionError as exc:
        raise DataError(f"{name}: not valid JSON (nested too deeply)") from exc
    if not isinstance(ann, dict):
        raise DataError(f"{name}: expected a JSON object with UnityEyes fields")
    details = ann.get("eye_details")
    if not isinstance(details, dict) or "look_vec" not in details:
        raise DataError(f"{name}: missing 'eye_details.look_vec' (the gaze direction)")
    look = parse_tuple(details["look_vec"], name, "eye_details.look_vec", 3)[:3]
    if not np.all(np.isfinite(look)) or np.linalg.norm(look) < 1e-9:
        raise DataError(f"{name}: 'eye_details.look_vec' is not a finite non-zero vector")
    out: dict[str, np.ndarray] = {"look_vec": look, "gaze": look_vec_to_gaze(look)}
    out["iris_2d"] = _points(ann, "iris_2d", name, height, 3)
    out["interior_margin_2d"] = _points(ann, "interior_margin_2d", name, height, 3)
    if isinstance(ann.get("caruncle_2d"), list) and ann["caruncle_2d"]:
        out["caruncle_2d"] = _points(ann, "caruncle_2d", name, height, 1)
    for key in ("pupil_size", "iris_size"):
        if key not in details:
            raise DataError(f"{name}: missing 'eye_details.{key}'")
        try:
            out[key] = np.float64(float(details[key]))
        except (TypeError, ValueError) as exc:
            raise DataError(
                f"{name}: 'eye_details.{key}' should be a number, got {details[key]!r}"
            ) from exc
        if not np.isfinite(out[key]):
            raise DataError(f"{name}: 'eye_details.{key}' should be finite, got {details[key]!r}")
    if out["iris_size"] <= 0:
        raise DataError(f"{name}: 'eye_details.iris_size' must be > 0")
    if "head_pose" in ann:
        out["head_pose"] = parse_tuple(ann["head_pose"], name, "head_pose", 3)[:3]
    return out


def _fill(polygon: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    canvas = np.zeros(shape, np.uint8)
    pts = np.round(polygon * (1 << _SUBPIXEL_BITS)).astype(np.int32)
    cv2.fillPoly(canvas, [pts], 1, lineType=cv2.LINE_8, shift=_SUBPIXEL_BITS)
    return canvas.astype(bool)


def annotation_masks(
    ann: dict[str, np.ndarray], shape: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray]:
    """Label map (H, W) uint8 and pupil centre (2,) from a parsed annotation."""
    iris = ann["iris_2d"]
    centre = iris.mean(axis=0)
    ratio = float(np.clip(ann["pupil_size"] / ann["iris_size"], 0.0, 1.0))
    pupil = centre + (iris - centre) * ratio
    aperture = _fill(ann["interior_margin_2d"], shape)
    mask = np.zeros(shape, np.uint8)
    mask[_fill(iris, shape) & aperture] = 1
    if ratio > 0:
        mask[_fill(pupil, shape) & aperture] = 2
    return mask, centre.astype(np.float32)


def load_sample(
    image_path: str | Path, json_path: str | Path | None = None
) -> dict[str, np.ndarray]:
    """One UnityEyes sample: image (H, W, 3) uint8, mask, gaze (3,), pitchyaw (2,), pupil_center."""
    image_path = Path(image_path)
    json_path = Path(json_path) if json_path is not None else image_path.with_suffix(".json")
    image = read_image(image_path)
    ann = parse_annotation(json_path, image.shape[0])
    mask, centre = annotation_masks(ann, image.shape[:2])
    gaze = ann["gaze"].astype(np.float32)
    return {
        "image": image,
        "mask": mask,
        "gaze": gaze,
        "pitchyaw": vector_to_pitchyaw(gaze[None])[0],
        "pupil_center": centre,
    }


def _sort_key(path: Path) -> tuple[int, int | str]:
    return (0, int(path.stem)) if path.stem.isdigit() else (1, path.stem)


def list_samples(directory: str | Path) -> list[tuple[Path, Path]]:
    """(image, json) pairs in ``directory``, numerically ordered like UnityEyes names them."""
    root = Path(directory)
    if not root.is_dir():
        raise DataError(f"{root}: UnityEyes directory does not exist")
    pairs = []
    for js in sorted(root.glob("*.json"), key=_sort_key):
        for ext in (".jpg", ".jpeg", ".png"):
            img = js.with_suffix(ext)
            if img.exists():
                pairs.append((img, js))
                break
        else:
            logging.warning("UnityEyes: %s has no image beside it; skipped", js)
    if not pairs:
        raise DataError(f"{root}: no UnityEyes samples (expected N.jpg + N.json pairs)")
    return pairs


def read_unityeyes(
    directory: str | Path, limit: int | None = None, size: tuple[int, int] | None = None
) -> dict[str, np.ndarray]:
    """Read a UnityEyes folder to an EyeBatch (image, mask, gaze, pitchyaw, pupil_center).

    ``size`` = (H, W) resizes every sample (mask by nearest neighbour, pupil centre scaled);
    without it all images must share one size.
    """
    pairs = list_samples(directory)[: limit if limit else None]
    samples = []
    for img, js in pairs:
        s = load_sample(img, js)
        if size is not None:
            src = s["image"].shape[:2]
            s["image"], s["mask"] = resize_pair(s["image"], s["mask"], size)
            s["pupil_center"] = scale_points(s["pupil_center"], src, size)
        samples.append(s)
    shapes = {s["image"].shape for s in samples}
    if len(shapes) > 1:
        raise DataError(
            f"{directory}: images have different sizes {sorted(shapes)}; pass size=(H, W)"
        )
    return {k: np.stack([s[k] for s in samples]) for k in samples[0]}
