"""Helpers shared by the experiments: loading and applying a purifier, writing PNGs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np

from purify_tf.data.image_io import resize_images
from purify_tf.errors import DataError
from purify_tf.model_io import load_keras_model, read_card
from purify_tf.palette import as_rgb_uint8

# Names of the two baseline rows every comparison carries beside the purifiers.
FRONT_END_ONLY = "front end only"
# The front end alone, its gain centred on the mean coarse map of the training subjects' (unlabelled) eyes.
FRONT_END_CENTRED = "front end only, centred on training eyes"
MEAN_CONTRAST = "mean/contrast match"
# The pupil table's reference row: the test eyes' synthetic twins, what a perfect purifier returns.
TWIN = "synthetic twin (the ideal)"


def load_purifier(path: str | Path) -> tuple[Any, tuple[int, int] | None]:
    """A saved transformer (``model_io.load_keras_model``: ``ConfigError`` naming the file when it
    is missing or cannot load) and its training (H, W) from its card, if any.

    The paper applies f_W at the resolution it was trained at; the card records it.
    """
    model = load_keras_model(path)
    _, card = read_card(path)
    size = None
    if card and card.get("image_size"):
        size = (int(card["image_size"][0]), int(card["image_size"][1]))
    return model, size


def purify(
    model: Any, images: np.ndarray, size: tuple[int, int] | None = None, batch_size: int = 16
) -> np.ndarray:
    """Purify uint8 images with f_W at ``size`` (H, W) (default: their own size) -> uint8 at size.

    Any size works (``apply_padded`` reflect-pads to a multiple of 4 and crops back).
    """
    import tensorflow as tf

    from purify_tf.models.transformer import apply_padded

    x = as_rgb_uint8(images)
    if size is not None:
        x = resize_images(x, *size)
    # Eager calls: a tf.function with autograph would try to convert the Keras model's call.
    outs = [
        apply_padded(model, tf.constant(x[i : i + batch_size], tf.float32)).numpy()
        for i in range(0, len(x), batch_size)
    ]
    return np.clip(np.rint(np.concatenate(outs)), 0, 255).astype(np.uint8)


def front_end_only(images: np.ndarray, prior_images: np.ndarray, centre_images: np.ndarray | None = None) -> np.ndarray:
    """The illumination front end alone (no network), its prior fitted on ``prior_images``
    (synthetic eyes), with the shipped purifier's tone step: what the classical step buys by itself.
    With ``centre_images`` (unlabelled eyes of the domain being purified) its gain pulls towards their
    mean coarse map instead of the synthetic one (``IlluminationNormalization.set_centre``)."""
    import tensorflow as tf

    from purify_tf.hyperparameters import SHIPPED
    from purify_tf.luminance_prior import fit_luminance_prior, mean_coarse_map
    from purify_tf.models.illumination import IlluminationNormalization

    layer = IlluminationNormalization(tone=SHIPPED.illumination_tone)
    layer.set_prior(fit_luminance_prior(prior_images))
    if centre_images is not None:
        layer.set_centre(mean_coarse_map(centre_images))
    out = np.concatenate([layer(tf.constant(images[i : i + 256], tf.float32)).numpy()
                          for i in range(0, len(images), 256)])
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def write_png(image: np.ndarray, path: str | Path) -> Path:
    """Write an RGB uint8 image as PNG (creating the folder)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), cv2.cvtColor(as_rgb_uint8(image[None])[0], cv2.COLOR_RGB2BGR)):
        raise DataError(f"could not write {path}")
    return path
