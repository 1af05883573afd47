"""One mask palette for every figure: iris and pupil clearly distinct, and a legend wherever masks show."""

from __future__ import annotations

import numpy as np

from purify_tf.palette import (
    LEGEND_HEIGHT,
    MASK_PALETTE,
    image_grid,
    legend_strip,
    mask_to_rgb,
    overlay,
    with_legend,
)


def test_palette_is_distinct_and_mask_to_rgb_uses_it():
    colours = MASK_PALETTE.astype(int)
    for i in range(3):
        for j in range(i + 1, 3):
            assert np.abs(colours[i] - colours[j]).sum() > 150, (i, j)
    assert (colours[0] < 40).all()  # other stays dark, so masks read as shapes on black
    assert not (colours[1:] > 250).all(axis=1).any()  # no white class (it vanishes on white strips)
    rgb = mask_to_rgb(np.array([[[0, 1, 2, 7]]]))
    assert rgb.shape == (1, 1, 4, 3) and rgb.dtype == np.uint8
    np.testing.assert_array_equal(rgb[0, 0], MASK_PALETTE[[0, 1, 2, 2]])


def test_overlay_tints_only_iris_and_pupil():
    image = np.full((4, 4, 3), 100, np.uint8)
    mask = np.zeros((4, 4), np.uint8)
    mask[0, 0], mask[1, 1] = 1, 2
    out = overlay(image, mask)
    np.testing.assert_array_equal(out[2, 2], image[2, 2])
    np.testing.assert_array_equal(out[0, 0], (100 + MASK_PALETTE[1].astype(int)) // 2)
    np.testing.assert_array_equal(out[1, 1], (100 + MASK_PALETTE[2].astype(int)) // 2)


def _has_colour(image: np.ndarray, colour: np.ndarray) -> bool:
    return bool((image.reshape(-1, 3) == colour).all(axis=1).any())


def test_legend_strip_shows_both_swatches():
    strip = legend_strip(200)
    assert strip.shape == (LEGEND_HEIGHT, 200, 3)
    assert _has_colour(strip, MASK_PALETTE[1]) and _has_colour(strip, MASK_PALETTE[2])
    grid = np.zeros((30, 200, 3), np.uint8)
    out = with_legend(grid)
    assert out.shape == (30 + LEGEND_HEIGHT, 200, 3)
    np.testing.assert_array_equal(out[:30], grid)


def test_image_grid_adds_the_legend_where_masks_are_shown():
    eyes = np.full((2, 8, 12, 3), 128, np.uint8)
    masks = mask_to_rgb(np.ones((2, 8, 12), np.uint8))
    plain = image_grid([eyes, eyes], ["real", "purified"], tile_height=16)
    with_masks = image_grid([eyes, masks], ["real", "FCN mask"], tile_height=16)
    assert with_masks.shape[0] == plain.shape[0] + LEGEND_HEIGHT
    assert _has_colour(with_masks[-LEGEND_HEIGHT:], MASK_PALETTE[2])
    assert not _has_colour(plain, MASK_PALETTE[2])
    forced = image_grid([eyes], ["x"], tile_height=16, legend=True)
    assert forced.shape[0] == image_grid([eyes], ["x"], tile_height=16).shape[0] + LEGEND_HEIGHT
