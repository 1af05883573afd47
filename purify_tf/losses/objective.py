"""The total purification objective (paper Eq. 18-19) over a VGG loss network.

``L = alpha * (lambda_g * l_gc + lambda_l * l_lc) + beta * (lambda_g * l_gs + lambda_l * l_ls)
+ theta * tv_scale * TV(O) + gamma * l_lum``, where each term is a per-layer-weighted sum over its layers (DESIGN.md's
table) and everything is averaged over the batch. The reported terms are those weighted layer
sums before alpha, beta, lambda and theta, so that they can be compared across settings.

``l_lum`` (:mod:`purify_tf.losses.luminance`, not in the paper) is the Mahalanobis distance of
the output's coarse log-luminance map under the synthetic set's Gaussian: the term that sees
shadows and light gradients, which Gram statistics cannot. It is 0 unless ``gamma > 0`` and the
objective has a ``luminance_prior``.

The style target is one image (the paper), or a set of synthetic eyes: :meth:`style_set_targets`
averages the area-normalised Grams over the set (per class for the local terms), and
:meth:`style_targets` on a batch of style images gives each content image its own target.

The plain perceptual loss of Johnson et al. is the same objective with ``use_masks=False``: the
local terms are then not computed (reported as 0) and no masks are needed.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import tensorflow as tf

from purify_tf.conventions import NUM_CLASSES
from purify_tf.errors import ConfigError
from purify_tf.losses.content import global_content_loss, local_content_loss
from purify_tf.losses.gram import class_gram_matrices, gram_matrix
from purify_tf.losses.luminance import LuminancePrior, luminance_prior_loss
from purify_tf.losses.masks import downsample_masks, mask_areas, one_hot_masks
from purify_tf.losses.style import AREA_EPS, global_style_loss, local_style_loss
from purify_tf.losses.tv import total_variation_loss
from purify_tf.models.vgg import (
    GLOBAL_CONTENT_LAYERS,
    GLOBAL_STYLE_LAYERS,
    LOCAL_CONTENT_LAYERS,
    LOCAL_STYLE_LAYERS,
    layer_stride,
)

ROLES = ("global_content", "local_content", "global_style", "local_style")


def _unit_weights(layers: tuple[str, ...]) -> dict[str, float]:
    return dict.fromkeys(layers, 1.0)


@dataclasses.dataclass
class LossWeights:
    """Weights of the total objective; per-layer weights default to 1.0 for each tapped layer."""

    alpha: float = 1e2
    beta: float = 1e4
    theta: float = 1e-6
    gamma: float = 0.0
    tv_scale: float = 1.0
    lambda_g: float = 1.0
    lambda_l: float = 1.0
    global_content_layers: tuple[str, ...] = GLOBAL_CONTENT_LAYERS
    local_content_layers: tuple[str, ...] = LOCAL_CONTENT_LAYERS
    global_style_layers: tuple[str, ...] = GLOBAL_STYLE_LAYERS
    local_style_layers: tuple[str, ...] = LOCAL_STYLE_LAYERS
    global_content_layer_weights: dict[str, float] = dataclasses.field(
        default_factory=lambda: _unit_weights(GLOBAL_CONTENT_LAYERS)
    )
    local_content_layer_weights: dict[str, float] = dataclasses.field(
        default_factory=lambda: _unit_weights(LOCAL_CONTENT_LAYERS)
    )
    global_style_layer_weights: dict[str, float] = dataclasses.field(
        default_factory=lambda: _unit_weights(GLOBAL_STYLE_LAYERS)
    )
    local_style_layer_weights: dict[str, float] = dataclasses.field(
        default_factory=lambda: _unit_weights(LOCAL_STYLE_LAYERS)
    )

    def __post_init__(self) -> None:
        for role in ROLES:
            setattr(self, f"{role}_layers", tuple(getattr(self, f"{role}_layers")))
            setattr(self, f"{role}_layer_weights", dict(getattr(self, f"{role}_layer_weights")))

    def layers(self, role: str) -> tuple[str, ...]:
        return tuple(getattr(self, f"{role}_layers"))

    def layer_weight(self, role: str, layer: str) -> float:
        """Weight of ``layer`` in ``role``; layers missing from the dict weigh 1.0."""
        return float(getattr(self, f"{role}_layer_weights").get(layer, 1.0))

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _mean(x: tf.Tensor) -> tf.Tensor:
    return tf.reduce_mean(tf.cast(x, tf.float32))


def _stride(name: str) -> int | None:
    """The input-to-tap stride of a VGG ``blockK_convJ`` layer (None for other names)."""
    return layer_stride(name) if name.startswith("block") and "_conv" in name else None


def _spatial_hw(features: tf.Tensor) -> tf.Tensor:
    return tf.shape(features)[1:3]


def _as_one_hot(masks: tf.Tensor) -> tf.Tensor:
    """Integer (B, H, W) labels or one-hot (B, H, W, K) -> float32 one-hot."""
    masks = tf.convert_to_tensor(masks)
    if masks.shape.rank == 3:
        return one_hot_masks(masks, NUM_CLASSES)
    return tf.cast(masks, tf.float32)


class PurificationObjective:
    """Callable total loss: ``objective(outputs, contents, content_masks, targets) -> dict``.

    ``loss_network`` maps RGB [0, 255] images to ``{layer: features}`` and must tap every layer
    that ``weights`` names (``purify_tf.models.vgg.build_loss_network`` taps them by default).
    """

    def __init__(self, loss_network, weights: LossWeights | None = None, use_masks: bool = True,
                 luminance_prior: LuminancePrior | None = None):
        self.loss_network = loss_network
        self.luminance_prior = luminance_prior
        self.weights = weights or LossWeights()
        self.use_masks = bool(use_masks)
        roles = ROLES if self.use_masks else ("global_content", "global_style")
        self.roles = roles
        available = getattr(loss_network, "layers", None)
        if available is not None:
            missing = sorted(
                {name for role in roles for name in self.weights.layers(role)} - set(available)
            )
            if missing:
                raise ConfigError(
                    f"loss network taps {list(available)} but the objective needs {missing}; "
                    "build it with layers=None (all of DESIGN.md's taps) or add these"
                )

    # ------------------------------------------------------------------ targets

    def _features(self, images: tf.Tensor) -> dict[str, tf.Tensor]:
        features = self.loss_network(tf.cast(images, tf.float32))
        return {name: tf.cast(value, tf.float32) for name, value in features.items()}

    def style_targets(self, style_image, style_mask=None) -> dict[str, Any]:
        """Gram statistics of the style image, computed once.

        Args:
          style_image: (1, H, W, 3) RGB [0, 255].
          style_mask: (1, H, W) integer labels (or one-hot) of the style image; required when
            ``use_masks``.
        Returns a dict ``{"gram": {layer: (1, C, C)}, "positions": {layer: ()}, "class_gram":
        {layer: (1, K, C, C)}, "class_area": {layer: (1, K)}}`` (the last two only with masks).
        """
        if self.use_masks and style_mask is None:
            raise ConfigError(
                "style_targets: style_mask is required when use_masks=True (the local style "
                "loss compares masked Grams); pass the style image's (1, H, W) labels"
            )
        features = self._features(style_image)
        targets: dict[str, Any] = {"gram": {}, "positions": {}}
        for name in self.weights.layers("global_style"):
            f = features[name]
            hw = tf.shape(f)[1:3]
            targets["gram"][name] = gram_matrix(f)
            targets["positions"][name] = tf.cast(hw[0] * hw[1], tf.float32)
        if self.use_masks:
            one_hot = _as_one_hot(style_mask)
            targets["class_gram"], targets["class_area"] = {}, {}
            for name in self.weights.layers("local_style"):
                f = features[name]
                masks = downsample_masks(one_hot, _spatial_hw(f), _stride(name))
                targets["class_gram"][name] = class_gram_matrices(f, masks)
                targets["class_area"][name] = mask_areas(masks)
        return targets

    def style_set_targets(self, style_images, style_masks=None, batch_size: int = 32) -> dict[str, Any]:
        """Style targets of a *set* of images: Grams normalised by their area, averaged over the set.

        The result has the layout of :meth:`style_targets` with ``positions`` 1 and ``class_area``
        1 (0 for a class absent from every image), so the style losses compare the output's
        normalised Gram with the set's mean normalised Gram. A class's mean is taken over the
        images where it is present.
        """
        images = tf.convert_to_tensor(style_images, tf.float32)
        n = int(images.shape[0])
        sums: dict[str, Any] = {"gram": {}, "class_gram": {}, "class_count": {}}
        for start in range(0, n, batch_size):
            part = images[start : start + batch_size]
            masks = None if style_masks is None else style_masks[start : start + batch_size]
            t = self.style_targets(part, masks)
            for name, g in t["gram"].items():
                sums["gram"][name] = sums["gram"].get(name, 0.0) + tf.reduce_sum(g / t["positions"][name], 0)
            for name, g in t.get("class_gram", {}).items():
                area = t["class_area"][name]  # (b, K)
                present = tf.cast(area > AREA_EPS, tf.float32)
                safe = tf.where(area > AREA_EPS, area, tf.ones_like(area))
                normed = g / safe[..., None, None] * present[..., None, None]
                sums["class_gram"][name] = sums["class_gram"].get(name, 0.0) + tf.reduce_sum(normed, 0)
                sums["class_count"][name] = sums["class_count"].get(name, 0.0) + tf.reduce_sum(present, 0)
        targets: dict[str, Any] = {
            "gram": {k: (v / n)[None] for k, v in sums["gram"].items()},
            "positions": dict.fromkeys(sums["gram"], tf.constant(1.0)),
        }
        if self.use_masks:
            targets["class_gram"], targets["class_area"] = {}, {}
            for name, total in sums["class_gram"].items():
                count = sums["class_count"][name]
                targets["class_gram"][name] = (total / tf.maximum(count, 1.0)[:, None, None])[None]
                targets["class_area"][name] = tf.cast(count > 0, tf.float32)[None]
        return targets

    def content_targets(self, contents, content_masks=None) -> dict[str, Any]:
        """Content features (and one-hot masks), computed once when the same contents are
        optimised over many iterations (the Gatys baseline); pass as ``content_targets=``."""
        features = self._features(contents)
        layers = set(self.weights.layers("global_content"))
        if self.use_masks:
            layers |= set(self.weights.layers("local_content"))
        targets: dict[str, Any] = {"features": {n: features[n] for n in layers}}
        targets["masks"] = (
            _as_one_hot(content_masks) if self.use_masks and content_masks is not None else None
        )
        return targets

    # ------------------------------------------------------------------ loss

    def __call__(
        self,
        outputs,
        contents,
        content_masks,
        targets: Mapping[str, Any],
        content_targets: Mapping[str, Any] | None = None,
    ) -> dict[str, tf.Tensor]:
        """Loss terms, each a float32 scalar averaged over the batch.

        Args:
          outputs: (B, H, W, 3) transformer outputs in [0, 255].
          contents: (B, H, W, 3) content images; may be None with ``content_targets``.
          content_masks: (B, H, W) labels or (B, H, W, K) one-hot masks of the contents;
            ignored (may be None) without masks or with ``content_targets``.
          targets: from :meth:`style_targets`.
          content_targets: from :meth:`content_targets`, to skip the content forward pass.
        """
        w = self.weights
        outputs = tf.cast(outputs, tf.float32)
        if content_targets is None:
            # One forward pass for outputs and contents together.
            batch = tf.shape(outputs)[0]
            both = self._features(tf.concat([outputs, tf.cast(contents, tf.float32)], axis=0))
            out_f = {name: f[:batch] for name, f in both.items()}
            in_f = {name: f[batch:] for name, f in both.items()}
            one_hot = _as_one_hot(content_masks) if self.use_masks else None
        else:
            out_f = self._features(outputs)
            in_f = content_targets["features"]
            one_hot = content_targets.get("masks") if self.use_masks else None
            if self.use_masks and one_hot is None:
                one_hot = _as_one_hot(content_masks)

        zero = tf.constant(0.0, tf.float32)
        gc = zero
        for name in w.layers("global_content"):
            gc += w.layer_weight("global_content", name) * _mean(
                global_content_loss(out_f[name], in_f[name])
            )
        gs = zero
        for name in w.layers("global_style"):
            gs += w.layer_weight("global_style", name) * _mean(
                global_style_loss(out_f[name], targets["gram"][name], targets["positions"][name])
            )
        lc = zero
        ls = zero
        if self.use_masks:
            for name in w.layers("local_content"):
                masks = downsample_masks(one_hot, _spatial_hw(out_f[name]), _stride(name))
                lc += w.layer_weight("local_content", name) * _mean(
                    local_content_loss(out_f[name], in_f[name], masks)
                )
            for name in w.layers("local_style"):
                masks = downsample_masks(one_hot, _spatial_hw(out_f[name]), _stride(name))
                ls += w.layer_weight("local_style", name) * _mean(
                    local_style_loss(
                        out_f[name], masks, targets["class_gram"][name], targets["class_area"][name]
                    )
                )
        tv = _mean(total_variation_loss(outputs))
        lum = zero
        if self.luminance_prior is not None:
            lum = _mean(luminance_prior_loss(outputs, self.luminance_prior))
        total = (
            w.alpha * (w.lambda_g * gc + w.lambda_l * lc)
            + w.beta * (w.lambda_g * gs + w.lambda_l * ls)
            + w.theta * w.tv_scale * tv
            + w.gamma * lum
        )
        return {
            "total": total,
            "global_content": gc,
            "local_content": lc,
            "global_style": gs,
            "local_style": ls,
            "tv": tv,
            "luminance": lum,
        }


def balanced_layer_weights(
    objective: PurificationObjective, style_images, style_masks=None, batch_size: int = 16
) -> LossWeights:
    """The rule that makes alpha, beta, theta and gamma mean what they say (``--layer_weights=balanced``).

    With unnormalised ImageNet VGG features, layer magnitudes differ by orders of magnitude (a
    conv1 tap of block 4 outweighs block 1 by ~1e3 in the Gram loss), so with unit weights one
    or two deep layers decide the objective. Here, per layer and role, the weight is divided by
    that term's value for an all-zero feature map against the style images' own features (averaged
    over the style set, one image or many) and by the number of layers in the role:

    * each role (global/local content, global/local style) is then the *mean relative error*
      over its layers (``||F[O] - F[I]||^2 / ||F[S]||^2``, ``||G[O] - G[S]||^2 / ||G[S]||^2``): 1
      for all-zero features, 0 for a perfect match;
    * ``tv_scale`` is 1 / the style images' own mean TV, so ``theta * tv_scale * TV`` is the
      output's roughness relative to a synthetic eye's;
    * the luminance term is already per cell (about 1 for a synthetic eye).

    So ``alpha : beta : theta : gamma`` are the relative importances of content, style,
    smoothness and illumination, all of order 1-100 (docs/DESIGN.md). The formulas of the
    objective are unchanged; only per-layer weights and ``tv_scale`` are set, once.
    """
    weights = objective.weights
    images = tf.convert_to_tensor(style_images, tf.float32)
    if images.shape.rank == 3:
        images = images[None]
    masks = None if style_masks is None else tf.convert_to_tensor(style_masks)
    if masks is not None and masks.shape.rank == 2:
        masks = masks[None]
    n = int(images.shape[0])

    def zero_term(role: str, name: str, features, one_hot, targets) -> tf.Tensor:
        f = features[name]
        zeros = tf.zeros_like(f)
        if role == "global_content":
            return global_content_loss(zeros, f)
        if role == "global_style":
            return global_style_loss(zeros, targets["gram"][name], targets["positions"][name])
        m = downsample_masks(one_hot, _spatial_hw(f), _stride(name))
        if role == "local_content":
            return local_content_loss(zeros, f, m)
        return local_style_loss(zeros, m, targets["class_gram"][name], targets["class_area"][name])

    energy: dict[tuple[str, str], float] = {}
    tv_total = 0.0
    for start in range(0, n, batch_size):
        part = images[start : start + batch_size]
        part_masks = None if masks is None else masks[start : start + batch_size]
        features = objective._features(part)
        one_hot = _as_one_hot(part_masks) if part_masks is not None else None
        targets = objective.style_targets(part, part_masks)
        for role in objective.roles:
            for name in weights.layers(role):
                value = float(tf.reduce_sum(zero_term(role, name, features, one_hot, targets)))
                energy[(role, name)] = energy.get((role, name), 0.0) + value
        tv_total += float(tf.reduce_sum(total_variation_loss(part)))

    new = dataclasses.replace(weights)
    for role in objective.roles:
        table = dict(getattr(weights, f"{role}_layer_weights"))
        count = len(weights.layers(role))
        for name in weights.layers(role):
            table[name] = weights.layer_weight(role, name) / (count * max(energy[(role, name)] / n, 1e-12))
        setattr(new, f"{role}_layer_weights", table)
    new.tv_scale = 1.0 / max(tv_total / n, 1e-12)
    return new
