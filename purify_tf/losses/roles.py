"""The four perceptual roles of the objective (paper Eq. 8, 9, 13, 14), one record each.

A :class:`Role` both describes its term (equation, the function that computes it, the factor it
enters the total with) and computes it at a layer, so the table that the saved purifier's
metadata shows and the loss that training minimises cannot drift apart.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import tensorflow as tf

from purify_tf.conventions import NUM_CLASSES
from purify_tf.losses.content import global_content_loss, local_content_loss
from purify_tf.losses.layers import layer_stride
from purify_tf.losses.masks import downsample_masks, one_hot_masks
from purify_tf.losses.style import global_style_loss, local_style_loss
from purify_tf.losses.weights import ROLES, LossWeights

__all__ = ["ROLE_RECORDS", "Role", "as_one_hot", "layer_masks"]


def _stride(name: str) -> int | None:
    """The input-to-tap stride of a VGG ``blockK_convJ`` layer (None for other names)."""
    return layer_stride(name) if name.startswith("block") and "_conv" in name else None


def _spatial_hw(features: tf.Tensor) -> tf.Tensor:
    return tf.shape(features)[1:3]


def as_one_hot(masks: tf.Tensor) -> tf.Tensor:
    """Integer (B, H, W) labels or one-hot (B, H, W, K) -> float32 one-hot."""
    masks = tf.convert_to_tensor(masks)
    if masks.shape.rank == 3:
        return one_hot_masks(masks, NUM_CLASSES)
    return tf.cast(masks, tf.float32)


def layer_masks(one_hot: tf.Tensor, f_out: tf.Tensor, layer: str) -> tf.Tensor:
    """The full-resolution one-hot masks downsampled to ``layer``'s feature map."""
    return downsample_masks(one_hot, _spatial_hw(f_out), _stride(layer))


@dataclasses.dataclass(frozen=True)
class Role:
    """One perceptual term of the paper: what it is, how it enters the total, how it is computed.

    ``targets``: the two style-target entries (Gram, area) a style role compares with; None for a
    content role, which compares with the content features. ``local``: per class, so it needs
    masks. ``scale(weights)`` is the factor of its layer-weighted sum in the total.
    """

    name: str
    equation: str
    function: Callable[..., tf.Tensor]  # the per-image loss of :mod:`purify_tf.losses`
    weight: Callable[[LossWeights], float]  # alpha or beta
    spatial: Callable[[LossWeights], float]  # lambda_g or lambda_l
    targets: tuple[str, str] | None
    local: bool

    def scale(self, weights: LossWeights) -> float:
        """alpha/beta * lambda_g/lambda_l: this role's factor in the total."""
        return self.weight(weights) * self.spatial(weights)

    def loss(self, layer: str, f_out: tf.Tensor, f_in: tf.Tensor | None, one_hot, targets) -> tf.Tensor:
        """The per-image value (B,) at ``layer``.

        ``f_out``/``f_in``: output and content features at ``layer``; ``one_hot``: the contents'
        full-resolution one-hot masks (downsampled here to the layer); ``targets``: style targets.
        """
        masks = (layer_masks(one_hot, f_out, layer),) if self.local else ()
        if self.targets is None:
            return self.function(f_out, f_in, *masks)
        gram, area = self.targets
        return self.function(f_out, *masks, targets[gram][layer], targets[area][layer])


def _alpha(w: LossWeights) -> float:
    return w.alpha


def _beta(w: LossWeights) -> float:
    return w.beta


def _lambda_g(w: LossWeights) -> float:
    return w.lambda_g


def _lambda_l(w: LossWeights) -> float:
    return w.lambda_l


# The objective's terms as records, in the spirit of a PerceptualCriterion (one per role, in ROLES order).
ROLE_RECORDS: dict[str, Role] = {r.name: r for r in (
    Role("global_content", "l_gc = 1/(2NM) sum (F[O] - F[I])^2 (Eq. 8)", global_content_loss,
         _alpha, _lambda_g, targets=None, local=False),
    Role("local_content", "l_lc = sum_c 1/(2NM) sum (F[O] S_c[I] - F[I] S_c[I])^2 (Eq. 9)", local_content_loss,
         _alpha, _lambda_l, targets=None, local=True),
    Role("global_style", "l_gs = 1/(4N^2) sum (G[O]/M_O - G[S]/M_S)^2 (Eq. 13)", global_style_loss,
         _beta, _lambda_g, targets=("gram", "positions"), local=False),
    Role("local_style", "l_ls = sum_c 1/(4N^2) sum (G_c[O]/M_c[I] - G_c[S]/M_c[S])^2 (Eq. 14)", local_style_loss,
         _beta, _lambda_l, targets=("class_gram", "class_area"), local=True),
)}

if tuple(ROLE_RECORDS) != ROLES:
    raise ImportError(f"ROLE_RECORDS {tuple(ROLE_RECORDS)} must list the roles of LossWeights {ROLES} in order")
