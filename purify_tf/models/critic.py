"""The local domain critic D: a small fully-convolutional patch discriminator (SimGAN, Shrivastava
et al. 2017; least-squares scores, Mao et al. 2017).

Why local: what Gram statistics miss on real eyes (cast shadows with edges, extra glints, sky
reflections, local contrast) is local, and a critic that saw the whole eye could also judge gaze
geometry (where the iris sits) and push the purifier to move it. Each score of D's output map sees
a patch of ``receptive_field`` pixels (23 px with the defaults, against eyes 48-72 px wide), so it
can only judge lighting and texture. There is no normalisation: the critic's batches mix synthetic,
purified and history eyes, and batch statistics would let it compare them with each other.
"""

from __future__ import annotations

import keras
from keras import layers

KERNEL = 3
STRIDES_FIRST = (2, 2)  # the first two convs halve the resolution; the others keep it


def critic_strides(num_layers: int) -> tuple[int, ...]:
    """Stride of each 3x3 conv: 2 for the first two, 1 after."""
    return tuple(STRIDES_FIRST[i] if i < len(STRIDES_FIRST) else 1 for i in range(num_layers))


def receptive_field(num_layers: int) -> int:
    """Side in pixels of the input patch behind one score: ``r += (k - 1) * jump`` per conv."""
    field, jump = 1, 1
    for stride in critic_strides(num_layers):
        field += (KERNEL - 1) * jump
        jump *= stride
    return field  # the final 1x1 conv adds nothing


def build_patch_critic(filters: int = 32, num_layers: int = 4, name: str = "critic") -> keras.Model:
    """D: RGB [0, 255] (B, H, W, 3) -> (B, ceil(H/4), ceil(W/4), 1) per-patch scores (float32).

    ``num_layers`` 3x3 convs with LeakyReLU(0.2) (widths ``filters``, then ``2 * filters``), then a
    1x1 conv to one score per patch. LSGAN targets: 1 for synthetic eyes, 0 for purified ones.
    """
    if num_layers < 1 or filters < 1:
        raise ValueError(f"critic needs num_layers >= 1 and filters >= 1, got {num_layers}, {filters}")
    images = keras.Input((None, None, 3), name="image")
    x = layers.Rescaling(1.0 / 127.5, offset=-1.0, name="scale")(images)
    for i, stride in enumerate(critic_strides(num_layers)):
        width = filters if i == 0 else 2 * filters
        x = layers.Conv2D(width, KERNEL, strides=stride, padding="same", name=f"conv{i + 1}")(x)
        x = layers.LeakyReLU(0.2, name=f"lrelu{i + 1}")(x)
    scores = layers.Conv2D(1, 1, name="score", dtype="float32")(x)
    return keras.Model(images, scores, name=name)
