"""Which VGG layers each loss role taps (docs/DESIGN.md's layer table), by Keras layer name.

The objective owns its taps: the loss network (:mod:`purify_tf.models.vgg`) computes whatever
layers its caller asks for, and callers ask for :data:`LOSS_LAYERS`.
"""

from __future__ import annotations

from collections.abc import Sequence

GLOBAL_CONTENT_LAYERS: tuple[str, ...] = ("block3_conv2",)
LOCAL_CONTENT_LAYERS: tuple[str, ...] = ("block4_conv2",)
GLOBAL_STYLE_LAYERS: tuple[str, ...] = (
    "block1_conv2",
    "block2_conv2",
    "block3_conv3",
    "block4_conv3",
    "block5_conv3",
)
LOCAL_STYLE_LAYERS: tuple[str, ...] = (
    "block1_conv1",
    "block2_conv1",
    "block3_conv1",
    "block4_conv1",
    "block5_conv1",
)


STYLE_BLOCKS = 5  # the paper's style taps reach VGG block 5


def style_layers(blocks: int) -> dict[str, tuple[str, ...]]:
    """The global and local style taps of VGG blocks 1..``blocks`` (``STYLE_BLOCKS``: the paper's).

    Why fewer: at an eye's size (40x64) block 5's maps are 2x4, so its Grams average 8 positions
    and its convolutions run on maps too small to use the cores (docs/BENCHMARKS.md, "Style from
    blocks 1-4")."""
    if not 1 <= blocks <= STYLE_BLOCKS:
        raise ValueError(f"style blocks must be 1..{STYLE_BLOCKS}, got {blocks}")
    return {role: tuple(name for name in layers if int(name[len("block")]) <= blocks)
            for role, layers in (("global_style", GLOBAL_STYLE_LAYERS), ("local_style", LOCAL_STYLE_LAYERS))}


def _ordered_union(*groups: Sequence[str]) -> tuple[str, ...]:
    seen: dict[str, None] = {}
    for group in groups:
        for name in group:
            seen.setdefault(name, None)
    return tuple(seen)


# Every layer of the table, in role order: the taps the loss network must compute.
LOSS_LAYERS: tuple[str, ...] = _ordered_union(
    GLOBAL_CONTENT_LAYERS, LOCAL_CONTENT_LAYERS, GLOBAL_STYLE_LAYERS, LOCAL_STYLE_LAYERS
)


def layer_stride(name: str) -> int:
    """Downsampling factor of a ``blockK_convJ`` tap relative to the input (2^(K-1)): the masks
    are downsampled by it to meet that layer's features."""
    return 2 ** (int(name[len("block")]) - 1)
