"""Write rendered eyes to disk in the UnityEyes layout (jpg + json) and as TFRecord shards.

Writing the built-in data in the real datasets' formats means the readers (and everything
downstream of them) are exercised by the same code path as the real data.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
from absl import logging

from purify_tf.data import geometry as geo
from purify_tf.data.renderer import EyeBatch, render_eyes, render_eyes_with_geometry
from purify_tf.data.unityeyes import gaze_to_look_vec, image_to_unity
from purify_tf.errors import DataError

BLOCK = 1000  # samples rendered at a time, so memory stays bounded for large datasets


def _blocks(n: int, seed: int) -> Iterator[tuple[int, int, int]]:
    """(start, count, seed) per block; block b uses seed + b * 1_000_003."""
    for b, start in enumerate(range(0, n, BLOCK)):
        yield start, min(BLOCK, n - start), int(seed) + b * 1_000_003


def _fmt_points(points: np.ndarray, height: int, depth: float) -> list[str]:
    uni = image_to_unity(points, height)
    return [f"({x:.4f}, {y:.4f}, {depth:.4f})" for x, y in uni]


def unityeyes_annotation(g: geo.EyeGeometry, i: int, height: int, domain: str) -> dict:
    """UnityEyes-format annotation of sample ``i`` of a rendered geometry."""
    one = g.subset(slice(i, i + 1))
    look = gaze_to_look_vec(one.gaze[0])
    iris = geo.ellipse_points(one, one.iris_radius, 32)[0]
    margin = geo.aperture_points(one, 16)[0]
    caruncle = geo.caruncle_points(one, 7)[0]
    hp = np.degrees([one.head_pitch[0], one.head_yaw[0], one.head_roll[0]])
    iris_size = float(one.iris_size[0])
    return {
        "interior_margin_2d": _fmt_points(margin, height, 9.0),
        "caruncle_2d": _fmt_points(caruncle, height, 9.0),
        "iris_2d": _fmt_points(iris, height, 9.0),
        "eye_details": {
            "look_vec": "({:.7f}, {:.7f}, {:.7f}, 0.0000)".format(*look),
            "pupil_size": f"{float(one.pupil_size[0]) * iris_size:.7f}",
            "iris_size": f"{iris_size:.7f}",
            "iris_texture": f"purify_tf_{domain}",
        },
        "lighting_details": {
            "skybox_texture": f"purify_tf_{domain}",
            "skybox_exposure": "1.0",
            "skybox_rotation": "0",
            "ambient_intensity": "1.0",
            "light_rotation": "(0.0, 0.0, 0.0)",
            "light_intensity": "1.0",
        },
        "eye_region_details": {"pca_shape_coeffs": [], "primary_skin_texture": "procedural"},
        # Unity Euler angles (x pitch, y yaw, z roll) in degrees; 180 yaw faces the camera.
        "head_pose": f"({hp[0] % 360.0:.4f}, {(180.0 + hp[1]) % 360.0:.4f}, {hp[2] % 360.0:.4f})",
    }


def write_unityeyes(
    out_dir: str | Path,
    n: int,
    height: int = 80,
    width: int = 120,
    domain: str = "synthetic",
    seed: int = 0,
    jpeg_quality: int = 95,
) -> list[Path]:
    """Render ``n`` eyes and write ``1.jpg``/``1.json`` ... ``n.jpg``/``n.json``; returns json paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for start, count, block_seed in _blocks(n, seed):
        batch, g = render_eyes_with_geometry(count, height, width, domain, block_seed)
        for i in range(count):
            idx = start + i + 1
            ok, buf = cv2.imencode(
                ".jpg", batch["image"][i][:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, int(jpeg_quality)]
            )
            if not ok:
                raise DataError(f"{out / f'{idx}.jpg'}: JPEG encoding failed")
            (out / f"{idx}.jpg").write_bytes(buf.tobytes())
            path = out / f"{idx}.json"
            path.write_text(json.dumps(unityeyes_annotation(g, i, height, domain), indent=2))
            paths.append(path)
    logging.info(
        "wrote %d UnityEyes-layout samples (%s, %dx%d) to %s", n, domain, height, width, out
    )
    return paths


def _png(image: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".png", image)
    if not ok:
        raise DataError("PNG encoding failed")
    return buf.tobytes()


def serialize_example(batch: EyeBatch, i: int) -> bytes:
    """One sample of an EyeBatch as a serialised ``tf.train.Example``."""
    import tensorflow as tf

    image = batch["image"][i]
    feats = {
        "image": tf.train.Feature(bytes_list=tf.train.BytesList(value=[_png(image[:, :, ::-1])])),
        "height": tf.train.Feature(int64_list=tf.train.Int64List(value=[image.shape[0]])),
        "width": tf.train.Feature(int64_list=tf.train.Int64List(value=[image.shape[1]])),
    }
    if "mask" in batch:
        feats["mask"] = tf.train.Feature(
            bytes_list=tf.train.BytesList(value=[_png(batch["mask"][i])])
        )
    for key in ("gaze", "pitchyaw", "pupil_center"):
        if key in batch:
            vals = np.asarray(batch[key][i], np.float32).ravel().tolist()
            feats[key] = tf.train.Feature(float_list=tf.train.FloatList(value=vals))
    return tf.train.Example(features=tf.train.Features(feature=feats)).SerializeToString()


def write_tfrecords(
    out_dir: str | Path,
    n: int,
    shards: int = 1,
    height: int = 64,
    width: int = 96,
    domain: str = "synthetic",
    seed: int = 0,
    batch: EyeBatch | None = None,
) -> list[Path]:
    """Write ``n`` rendered eyes (or the given ``batch``) round-robin into ``shards`` files.

    Files are ``eyes-SSSSS-of-NNNNN.tfrecord``; readers: ``purify_tf.data.tfrecord``.
    """
    import tensorflow as tf

    if shards < 1:
        raise DataError(f"shards must be >= 1, got {shards}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / f"eyes-{s:05d}-of-{shards:05d}.tfrecord" for s in range(shards)]
    writers = [tf.io.TFRecordWriter(str(p)) for p in paths]
    try:
        if batch is not None:
            for i in range(len(batch["image"])):
                writers[i % shards].write(serialize_example(batch, i))
        else:
            for start, count, block_seed in _blocks(n, seed):
                block = render_eyes(count, height, width, domain, block_seed)
                for i in range(count):
                    writers[(start + i) % shards].write(serialize_example(block, i))
    finally:
        for w in writers:
            w.close()
    logging.info(
        "wrote %d samples into %d TFRecord shard(s) in %s",
        n if batch is None else len(batch["image"]),
        shards,
        out,
    )
    return paths
