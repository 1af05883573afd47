"""Where the style target comes from: one image (the paper), a folder of synthetic eyes, or the
renderer's synthetic domain (``trainers.purify --style``: :func:`style_arguments`).

One style image is the wrong target for purification: the style loss then measures "look like
that eye" (its skin tone, its exposure), not "look synthetic", and minimising it paints every
eye in that one eye's colours (docs/report). A *set* of synthetic eyes gives the domain's
statistics: the mean Grams (``style_mode="mean"``), or a new synthetic eye per content eye at
every step (``style_mode="per_batch"``); the same set fits the luminance prior.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from purify_tf.errors import ConfigError

if TYPE_CHECKING:  # TensorFlow only once a style set is built: trainers.purify checks --style before it
    from purify_tf.training.inputs import ContentSource

STYLE_SOURCES = ("image", "folder", "renderer")
# trainers.purify's --style: these words, else a path (an image file or a folder of synthetic eyes).
STYLE_WORDS = ("renderer", "render")
STYLE_EXPECTED = ("renderer (the renderer's synthetic set of --style_set_size eyes), render (one synthetic "
                  "render of --style_seed), an existing image file or an existing folder of synthetic eye images")
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


def style_arguments(style: str) -> dict[str, str | None]:
    """:func:`load_style_set`'s ``source``, ``image`` and ``folder`` for a ``--style`` value:
    ``renderer``, ``render`` (the paper's single style image: the synthetic render of the style
    seed), an image file (the style image) or a folder of synthetic eye images."""
    if style == "renderer":
        return {"source": "renderer", "image": None, "folder": None}
    if style == "render":
        return {"source": "image", "image": None, "folder": None}
    if style and Path(style).is_dir():
        return {"source": "folder", "image": None, "folder": style}
    if style and Path(style).is_file():
        return {"source": "image", "image": style, "folder": None}
    raise ConfigError(f"--style={style!r} must be {STYLE_EXPECTED}")


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
    from purify_tf.training.inputs import ArraySource, RendererSource

    if source not in STYLE_SOURCES:
        raise ConfigError(f"style source must be one of {STYLE_SOURCES}, got {source!r} (--style takes "
                          f"{STYLE_EXPECTED})")
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
        raise ConfigError(f"--style={folder!r} is not a folder of synthetic eye images")
    from purify_tf.data.folder import read_folder

    data = read_folder(folder, size=(height, width), limit=limit)
    src = ArraySource(data["image"], height, width, seed=seed)
    return StyleSet(src.images, None, src, src.images, f"folder {folder} ({len(src.images)} images)")
