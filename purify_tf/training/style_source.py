"""Where the style target comes from: one image (the paper), a folder of synthetic eyes, or the
renderer's synthetic domain.

One style image is the wrong target for purification: the style loss then measures "look like
that eye" (its skin tone, its exposure), not "look synthetic", and minimising it paints every
eye in that one eye's colours (docs/report). A *set* of synthetic eyes gives the domain's
statistics: the mean Grams (``style_mode="mean"``), or a new synthetic eye per content eye at
every step (``style_mode="per_batch"``); the same set fits the luminance prior.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from purify_tf.errors import ConfigError
from purify_tf.training.inputs import ArraySource, ContentSource, RendererSource

STYLE_SOURCES = ("image", "folder", "renderer")
PRIOR_IMAGES = 512  # renderer eyes for the luminance prior (no VGG pass: cheap)


@dataclasses.dataclass
class StyleSet:
    """The style images (N, H, W, 3) uint8, their oracle masks (or None: the FCN labels them), a
    per-step stream of style eyes, and the images the luminance prior is fitted on."""

    images: np.ndarray
    masks: np.ndarray | None
    stream: ContentSource
    prior_images: np.ndarray
    description: str


def load_style_set(
    source: str, height: int, width: int, image: str | None = None, folder: str | None = None,
    set_size: int = 64, seed: int = 7, limit: int = 5000,
) -> StyleSet:
    """Build the style set named by ``source`` (see ``STYLE_SOURCES``) at ``height`` x ``width``.

    ``image``: a style image file (``source="image"``; None: the synthetic render of ``seed``).
    ``folder``: synthetic eye images (``source="folder"``). ``set_size``: renderer eyes for the
    mean Grams (``source="renderer"``).
    """
    from purify_tf.data.renderer import render_eyes

    if source not in STYLE_SOURCES:
        raise ConfigError(f"--style_source must be one of {STYLE_SOURCES}, got {source!r}")
    if source == "renderer":
        eyes = render_eyes(set_size, height, width, domain="synthetic", seed=seed)
        prior = render_eyes(PRIOR_IMAGES, height, width, domain="synthetic", seed=seed + 1)
        return StyleSet(eyes["image"], eyes["mask"], RendererSource(height, width, "synthetic", seed + 2),
                        prior["image"], f"renderer synthetic domain ({set_size} eyes, seed {seed})")
    if source == "image":
        if image:
            from purify_tf.data.image_io import read_image, resize_images

            one = resize_images(np.asarray(read_image(image))[None, ..., :3], height, width)
            masks, what = None, f"image {image}"
        else:
            eye = render_eyes(1, height, width, domain="synthetic", seed=seed)
            one, masks, what = eye["image"], eye["mask"], f"synthetic render of seed {seed}"
        src = ArraySource(one, height, width, masks=masks, seed=seed)
        return StyleSet(src.images, masks, src, src.images, f"one style image: {what}")
    if not folder or not Path(folder).is_dir():
        raise ConfigError(f"--style={folder!r}: --style_source=folder needs a folder of synthetic eye images")
    from purify_tf.data.folder import read_folder

    data = read_folder(folder, size=(height, width), limit=limit)
    src = ArraySource(data["image"], height, width, seed=seed)
    return StyleSet(src.images, None, src, src.images, f"folder {folder} ({len(src.images)} images)")
