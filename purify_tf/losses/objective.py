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

The terms beyond the paper (``DomainWeights``; each off at weight 0) are part of the same
objective: ``total = perceptual + adversarial * l_adv + identity * l_id + paired * l_pair`` with

* ``l_adv``: the least-squares generator loss on a patch critic's scores of the outputs (the
  caller runs the critic, a network, and passes ``critic_scores``);
* ``l_id``: L1 between synthetic eyes passed through f_W and the eyes themselves;
* ``l_pair``: on renderer pairs, L1 plus the layer-weighted global content error of f_W's output
  against the synthetic twin (``paired_targets``: the twin as ``paired_target`` makes it);
* ``l_gaze``: on the same pairs, the disagreement of a frozen synthetic-trained gaze network's
  reading of f_W's output with its reading of the twin (:mod:`purify_tf.losses.gaze_consistency`);
* ``l_pupil``: the coarse FCN's soft pupil centre on f_W's output against the content eye's, beyond
  a dead zone of about a pixel (:mod:`purify_tf.losses.pupil_shift`);
* ``l_pc``: the Weber contrast of the content eye's pupil (its mask) to its surround may not rise from
  the content eye to f_W's output: the pupil stays as dark (:mod:`purify_tf.losses.pupil_contrast`);
* ``l_nce``: PatchNCE between the output's and the content eye's loss-network patches, through
  projection heads trained with f_W (:mod:`purify_tf.losses.patch_nce`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

import tensorflow as tf

from purify_tf.errors import ConfigError
from purify_tf.hyperparameters import LAYER_WEIGHTINGS
from purify_tf.losses.adversarial import lsgan_generator_loss
from purify_tf.losses.gaze_consistency import (
    GAZE_TOLERANCE_DEG,
    gaze_consistency_loss,
    gaze_network_input,
)
from purify_tf.losses.gram import class_gram_matrices, gram_matrix
from purify_tf.losses.l1 import l1_loss
from purify_tf.losses.luminance import luminance_prior_loss
from purify_tf.losses.masks import mask_areas
from purify_tf.losses.paired import paired_target
from purify_tf.losses.patch_nce import NCE_LAYERS, NCE_PATCHES, NCE_TEMPERATURE, patch_nce_term
from purify_tf.losses.pupil_contrast import (
    PUPIL_CONTRAST_TOLERANCE,
    pupil_contrast_loss,
    pupil_mask_of,
    pupil_weber_contrast,
)
from purify_tf.losses.pupil_shift import PUPIL_DEAD_ZONE_PX, pupil_shift_loss, soft_pupil_centre
from purify_tf.losses.roles import ROLE_RECORDS, Role, as_one_hot, layer_masks
from purify_tf.losses.style import AREA_EPS
from purify_tf.losses.tv import total_variation_loss
from purify_tf.losses.weights import DOMAIN_TERMS, ROLES, DomainWeights, LossWeights
from purify_tf.luminance_prior import LuminancePrior

__all__ = ["BALANCE_IMAGES", "DOMAIN_TERMS", "ROLES", "ROLE_RECORDS", "DomainWeights", "LossWeights",
           "PurificationObjective", "Role", "Term", "balanced_layer_weights", "build_objective"]

BALANCE_IMAGES = 16  # style eyes that estimate the balanced layer weights (as well as the whole set)


def _mean(x: tf.Tensor) -> tf.Tensor:
    return tf.reduce_mean(tf.cast(x, tf.float32))


@dataclasses.dataclass(frozen=True)
class Term:
    """One row of the objective: ``weight * function(...)`` at ``layer`` enters the total."""

    role: str
    layer: str
    weight: float  # the factor in the total (alpha/beta * lambda * layer weight, theta * tv_scale, gamma)
    function: str  # the module-level function that computes it per image
    equation: str


class PurificationObjective:
    """Callable total loss: ``objective(outputs, contents, content_masks, targets, ...) -> dict``.

    ``loss_network`` maps RGB [0, 255] images to ``{layer: features}`` and must tap every layer
    that ``weights`` names (callers build it with ``layers=purify_tf.losses.layers.LOSS_LAYERS``).
    ``domain``: the weights of the terms beyond the perceptual ones (default: all off);
    ``gaze_network``: the frozen gaze reader of the gaze-consistency term (needed when it is on);
    ``pupil_network``: the coarse FCN (logits) whose pupil centre the pupil-shift term keeps (needed when it is on);
    ``nce_heads``: ``{layer: projection head}`` of PatchNCE (``losses.patch_nce.build_nce_heads``; needed when it
    is on): trainable, so the caller trains their variables with f_W (``PurifyTrainer.trained_variables``).
    """

    def __init__(self, loss_network, weights: LossWeights | None = None, use_masks: bool = True,
                 luminance_prior: LuminancePrior | None = None, domain: DomainWeights | None = None,
                 gaze_network=None, pupil_network=None, nce_heads=None):
        self.loss_network = loss_network
        self.luminance_prior = luminance_prior
        self.weights = weights or LossWeights()
        self.domain = domain or DomainWeights()
        if self.domain.gaze > 0 and gaze_network is None:
            raise ConfigError(f"the gaze-consistency term (gaze={self.domain.gaze}) needs a gaze_network: "
                              "a frozen gaze reader (training.gaze_reader.load_or_train_gaze_reader)")
        self.gaze_network = gaze_network
        if self.domain.pupil > 0 and pupil_network is None:
            raise ConfigError(f"the pupil-shift term (pupil={self.domain.pupil}) needs a pupil_network: the coarse "
                              "FCN (masks from the FCN, --masks=fcn)")
        self.pupil_network = pupil_network
        if self.domain.pupil_contrast > 0 and not use_masks:
            raise ConfigError(f"the pupil-contrast term (pupil_contrast={self.domain.pupil_contrast}) reads the content "
                              "eyes' pupil masks: it needs use_masks (--masks=fcn or oracle)")
        if self.domain.patch_nce > 0 and not nce_heads:
            raise ConfigError(f"PatchNCE (patch_nce={self.domain.patch_nce}) needs nce_heads: one projection head per "
                              f"layer of {list(NCE_LAYERS)} (losses.patch_nce.build_nce_heads)")
        self.nce_heads = dict(nce_heads or {}) if self.domain.patch_nce > 0 else {}
        self._paired_network = None  # the loss network up to the paired term's layers (_paired_features)
        if self.domain.paired > 0:
            self._paired_features(None)
        self.use_masks = bool(use_masks)
        # The plain perceptual loss (no masks) has no local terms.
        roles = tuple(role for role in ROLES if self.use_masks or not ROLE_RECORDS[role].local)
        self.roles = roles
        available = getattr(loss_network, "layers", None)
        # The perceptual terms' network: the loss network up to the deepest layer they read
        # (``LossNetwork.tap``), so that a tap no term reads is neither computed nor counted.
        self.perceptual_network = loss_network
        if available is not None:
            needed = {name for role in roles for name in self.weights.layers[role]} | set(self.nce_heads)
            missing = sorted(needed - set(available))
            if missing:
                raise ConfigError(
                    f"loss network taps {list(available)} but the objective needs {missing}; "
                    "build it with layers=None (all of DESIGN.md's taps) or add these"
                )
            if hasattr(loss_network, "tap"):
                self.perceptual_network = loss_network.tap([name for name in available if name in needed])

    # ------------------------------------------------------------------ targets

    def _features(self, images: tf.Tensor) -> dict[str, tf.Tensor]:
        features = self.perceptual_network(tf.cast(images, tf.float32))
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
        for name in self.weights.layers["global_style"]:
            f = features[name]
            hw = tf.shape(f)[1:3]
            targets["gram"][name] = gram_matrix(f)
            targets["positions"][name] = tf.cast(hw[0] * hw[1], tf.float32)
        if self.use_masks:
            one_hot = as_one_hot(style_mask)
            targets["class_gram"], targets["class_area"] = {}, {}
            for name in self.weights.layers["local_style"]:
                f = features[name]
                masks = layer_masks(one_hot, f, name)
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
        layers = set(self.weights.layers["global_content"]) | set(self.nce_heads)
        if self.use_masks:
            layers |= set(self.weights.layers["local_content"])
        targets: dict[str, Any] = {"features": {n: features[n] for n in layers}}
        targets["masks"] = (
            as_one_hot(content_masks) if self.use_masks and content_masks is not None else None
        )
        if self.domain.pupil > 0:
            targets["pupil"] = self.pupil_centre(contents)
        if self.domain.pupil_contrast > 0:
            targets["pupil_contrast"] = pupil_weber_contrast(contents, pupil_mask_of(content_masks))
        return targets

    # ------------------------------------------------------------------ loss

    def terms(self) -> tuple[Term, ...]:
        """The objective as a table: one :class:`Term` per (role, layer), then TV and luminance."""
        w = self.weights
        rows = [
            Term(role, layer, float(ROLE_RECORDS[role].scale(w) * w.layer_weight(role, layer)),
                 ROLE_RECORDS[role].function.__name__, ROLE_RECORDS[role].equation)
            for role in self.roles for layer in w.layers[role]
        ]
        rows.append(Term("tv", "pixels", float(w.theta * w.tv_scale), total_variation_loss.__name__,
                         "TV(O) = sum of squared neighbour differences"))
        if self.luminance_prior is not None:
            rows.append(Term("luminance", "coarse log-luminance", float(w.gamma), luminance_prior_loss.__name__,
                             "l_lum = (m[O] - mu)^T P (m[O] - mu) / D"))
        d = self.domain
        if d.adversarial > 0:
            rows.append(Term("adversarial", "patch critic scores", float(d.adversarial), lsgan_generator_loss.__name__,
                             "l_adv = 1/2 mean (D(O) - 1)^2"))
        if d.identity > 0:
            rows.append(Term("identity", "pixels", float(d.identity), l1_loss.__name__,
                             "l_id = mean |f_W(S) - S| / 255 on synthetic eyes S"))
        if d.paired > 0:
            layers = ", ".join(w.layers["global_content"])
            rows.append(Term("paired", f"pixels + {layers}", float(d.paired),
                             f"{l1_loss.__name__} + layer-weighted {ROLE_RECORDS['global_content'].function.__name__}",
                             f"l_pair = l1(O_p, T) + sum_layers w l_gc(O_p, T), T = {d.paired_target} of the twin"))
        if d.gaze > 0:
            rows.append(Term("gaze", "frozen gaze reader g", float(d.gaze), gaze_consistency_loss.__name__,
                             f"l_gaze = ||g(O_p) - g(twin)||^2 / chord({GAZE_TOLERANCE_DEG:g} deg)^2"))
        if d.pupil > 0:
            rows.append(Term("pupil", "coarse FCN's pupil probability", float(d.pupil), pupil_shift_loss.__name__,
                             f"l_pupil = max(0, ||c(O) - c(I)|| - {PUPIL_DEAD_ZONE_PX:g} px)^2, c: soft pupil centre"))
        if d.pupil_contrast > 0:
            rows.append(Term("pupil_contrast", "luminance over the content eye's pupil mask", float(d.pupil_contrast),
                             pupil_contrast_loss.__name__,
                             f"l_pc = (max(0, w(O) - w(I)) / {PUPIL_CONTRAST_TOLERANCE:g})^2, w: the pupil's Weber "
                             "contrast to its surround"))
        if d.patch_nce > 0:
            rows.append(Term("patch_nce", ", ".join(self.nce_heads), float(d.patch_nce), patch_nce_term.__name__,
                             f"l_nce = mean_layers,i -log softmax_j(H(F[O])_i . H(F[I])_j / {NCE_TEMPERATURE:g})_i, "
                             f"{NCE_PATCHES} positions"))
        return tuple(rows)

    def describe(self) -> str:
        """The term table as Markdown (role | layer | weight | function | equation)."""
        lines = ["| role | layer | weight | function | equation |", "|---|---|---|---|---|"]
        lines += [f"| {t.role} | {t.layer} | {t.weight:.4g} | `{t.function}` | {t.equation} |" for t in self.terms()]
        return "\n".join(lines)

    def _feature_pairs(self, outputs, contents, content_masks, content_targets):
        """Output and content features and one-hot masks.

        The contents get their own forward pass: they do not depend on the trained weights, so
        a gradient tape does not record it and the loss network's backward runs over the outputs
        only (one pass over both would be recorded whole: a backward over twice the images);
        ``__call__`` computes ``content_targets`` when the caller did not.
        """
        out_f = self._features(outputs)
        one_hot = content_targets.get("masks") if self.use_masks else None
        if self.use_masks and one_hot is None:
            one_hot = as_one_hot(content_masks)
        return out_f, content_targets["features"], one_hot

    def __call__(
        self,
        outputs,
        contents,
        content_masks,
        targets: Mapping[str, Any],
        content_targets: Mapping[str, Any] | None = None,
        *,
        critic_scores: tf.Tensor | None = None,
        identity: tuple[tf.Tensor, tf.Tensor] | None = None,
        paired: tuple[tf.Tensor, Mapping[str, Any]] | None = None,
        seed: tf.Tensor | None = None,
    ) -> dict[str, tf.Tensor]:
        """Loss terms, each a float32 scalar averaged over the batch.

        Args:
          outputs: (B, H, W, 3) transformer outputs in [0, 255].
          contents: (B, H, W, 3) content images; may be None with ``content_targets``.
          content_masks: (B, H, W) labels or (B, H, W, K) one-hot masks of the contents;
            ignored (may be None) without masks or with ``content_targets``.
          targets: from :meth:`style_targets`.
          content_targets: from :meth:`content_targets`, to skip the content forward pass.
          critic_scores: a patch critic's scores of ``outputs`` (the adversarial term).
          identity: (f_W's outputs on synthetic eyes, those eyes) (the identity term).
          paired: (f_W's outputs on pair eyes, :meth:`paired_targets` of their twins) (the paired term);
            pair outputs None: the pairs are ``outputs`` themselves (content eyes with their own twins),
            and their loss-network features above serve the paired term too (no second pass).
          seed: (2,) integer stateless seed of PatchNCE's patch positions (default (0, 0)).
        Returns ``{"total", <each role>, "tv", "luminance"}``: each role is its layer-weighted sum
        before alpha, beta and lambda (a role not computed is 0); with domain terms also
        ``"perceptual"`` (the total of the terms above) and each active domain term, unweighted.
        """
        w = self.weights
        outputs = tf.cast(outputs, tf.float32)
        if content_targets is None:
            content_targets = self.content_targets(tf.stop_gradient(contents), content_masks)
        out_f, in_f, one_hot = self._feature_pairs(outputs, contents, content_masks, content_targets)
        values = dict.fromkeys(ROLES, tf.constant(0.0, tf.float32))
        for role in self.roles:
            for name in w.layers[role]:
                value = ROLE_RECORDS[role].loss(name, out_f[name], in_f.get(name), one_hot, targets)
                values[role] += w.layer_weight(role, name) * _mean(value)
        values["tv"] = _mean(total_variation_loss(outputs))
        values["luminance"] = tf.constant(0.0, tf.float32)
        if self.luminance_prior is not None:
            values["luminance"] = _mean(luminance_prior_loss(outputs, self.luminance_prior))
        total = sum(ROLE_RECORDS[role].scale(w) * values[role] for role in ROLES)
        total += w.theta * w.tv_scale * values["tv"] + w.gamma * values["luminance"]
        if not self.domain.active():
            return {"total": total, **values}
        out = {"total": total, **values, "perceptual": total}
        if self.domain.adversarial > 0:
            out["adversarial"] = _mean(lsgan_generator_loss(critic_scores))
        if self.domain.identity > 0:
            out["identity"] = _mean(l1_loss(*identity))
        if self.domain.paired > 0:
            pair_outputs, pair_targets = paired
            if pair_outputs is None:
                out["paired"] = _mean(self.paired_loss(outputs, pair_targets, features=out_f))
            else:
                out["paired"] = _mean(self.paired_loss(pair_outputs, pair_targets))
        if self.domain.gaze > 0:
            pair_outputs, pair_targets = paired
            read = self.read_gaze(outputs if pair_outputs is None else pair_outputs)
            out["gaze"] = _mean(gaze_consistency_loss(read, pair_targets["gaze"]))
        if self.domain.pupil > 0:
            out["pupil"] = _mean(self.pupil_loss(outputs, contents, content_targets))
        if self.domain.pupil_contrast > 0:
            ref, area = content_targets["pupil_contrast"]
            out["pupil_contrast"] = _mean(pupil_contrast_loss(pupil_weber_contrast(outputs, pupil_mask_of(one_hot))[0],
                                                              ref, area))
        if self.domain.patch_nce > 0:
            seed = tf.zeros([2], tf.int64) if seed is None else seed
            out["patch_nce"] = _mean(patch_nce_term(out_f, in_f, self.nce_heads, seed))
        for name in DOMAIN_TERMS:
            if name in out:
                total += getattr(self.domain, name) * out[name]
        out["total"] = total
        return out

    def of_one_image(self) -> tuple[PurificationObjective, dict[str, str]]:
        """This objective restricted to the terms that are a function of one output image (and its
        content, masks and twin): what an optimisation of the image itself (Gatys) can minimise.
        Returns (that objective, ``{term: why it is left out}``): the adversarial term needs the
        critic trained beside f_W, the identity term f_W's outputs on synthetic eyes."""
        d = self.domain
        left_out = {}
        if d.adversarial > 0:
            left_out["adversarial"] = "scores of the patch critic trained beside f_W (no critic for one image)"
        if d.identity > 0:
            left_out["identity"] = "f_W's outputs on synthetic eyes (a property of the network, not of one image)"
        if d.patch_nce > 0:
            left_out["patch_nce"] = "projection heads trained beside f_W over many eyes (none for one image)"
        kept = dataclasses.replace(d, adversarial=0.0, identity=0.0, patch_nce=0.0)
        return PurificationObjective(self.loss_network, self.weights, self.use_masks, self.luminance_prior,
                                     kept, self.gaze_network, self.pupil_network), left_out

    # ------------------------------------------------------------------ paired term

    def paired_targets(self, twins: tf.Tensor, reference: tf.Tensor | None = None) -> dict[str, Any]:
        """What the paired term compares with, computed once and outside any gradient tape:
        ``{"images"}``, the twins as ``paired_target`` makes them from ``reference`` (the pair eyes
        as the front end leaves them; only the structure target reads it), ``{"features"}``,
        theirs at the global content layers, and with the gaze-consistency term ``{"gaze"}``, the
        gaze reader's reading of the exact twins."""
        images = tf.stop_gradient(paired_target(twins, twins if reference is None else reference,
                                                self.domain.paired_target))
        features = {name: tf.stop_gradient(f) for name, f in self._paired_features(images).items()}
        targets = {"images": images, "features": features}
        if self.domain.gaze > 0:
            targets["gaze"] = tf.stop_gradient(self.read_gaze(twins))
        return targets

    def read_gaze(self, images: tf.Tensor) -> tf.Tensor:
        """(B, H, W, 3) RGB [0, 255] -> (B, 3) the frozen gaze reader's gaze, float32."""
        return tf.cast(self.gaze_network(gaze_network_input(images), training=False), tf.float32)

    def pupil_centre(self, images: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        """(B, H, W, 3) RGB [0, 255] -> ((B, 2) the FCN's soft pupil centre (x, y), (B,) pupil mass in px)."""
        return soft_pupil_centre(self.pupil_network(tf.cast(images, tf.float32), training=False))

    def pupil_loss(self, outputs: tf.Tensor, contents: tf.Tensor | None,
                   content_targets: Mapping[str, Any] | None = None) -> tf.Tensor:
        """The pupil-shift term per image (B,): the outputs' pupil centre against the contents' (or
        ``content_targets["pupil"]``, (centres, masses) computed once)."""
        if content_targets is not None and "pupil" in content_targets:
            ref, mass = content_targets["pupil"]
        else:
            ref, mass = self.pupil_centre(tf.stop_gradient(contents))
        centre, _ = self.pupil_centre(outputs)
        return pupil_shift_loss(centre, ref, mass)

    def paired_loss(self, outputs: tf.Tensor, targets: Mapping[str, Any],
                    features: Mapping[str, tf.Tensor] | None = None) -> tf.Tensor:
        """L1 + the layer-weighted global content error against the :meth:`paired_targets`, per image (B,);
        ``features``: the outputs' loss-network features when already computed (a pass saved)."""
        layers = self.weights.layers["global_content"]
        if features is None or any(name not in features for name in layers):
            features = self._paired_features(outputs)
        outputs = tf.cast(outputs, tf.float32)
        role = ROLE_RECORDS["global_content"]
        content = tf.zeros([tf.shape(outputs)[0]], tf.float32)
        for name in self.weights.layers["global_content"]:
            f_out, f_twin = features[name], targets["features"][name]
            content += self.weights.layer_weight("global_content", name) * role.loss(name, f_out, f_twin, None, None)
        return l1_loss(outputs, targets["images"]) + content

    def _paired_features(self, images: tf.Tensor | None) -> dict[str, tf.Tensor]:
        """Features at the global content layers only: the loss network up to the deepest of them
        (``LossNetwork.tap``, built on the first call; a network without ``tap`` runs whole)."""
        if self._paired_network is None:
            tap = getattr(self.loss_network, "tap", None)
            self._paired_network = self.loss_network if tap is None else tap(self.weights.layers["global_content"])
        if images is None:
            return {}
        features = self._paired_network(tf.cast(images, tf.float32))
        return {name: tf.cast(features[name], tf.float32) for name in self.weights.layers["global_content"]}


def balanced_layer_weights(
    objective: PurificationObjective, style_images, style_masks=None, batch_size: int = 16
) -> LossWeights:
    """The rule that makes alpha, beta, theta and gamma mean what they say (``--layer_weighting=balanced``).

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
    energy, tv_total = _zero_feature_energies(objective, images, masks, batch_size)
    tables = {role: dict(table) for role, table in weights.layer_weights.items()}
    for role in objective.roles:
        count = len(weights.layers[role])
        for name in weights.layers[role]:
            tables[role][name] = weights.layer_weight(role, name) / (count * max(energy[(role, name)] / n, 1e-12))
    return dataclasses.replace(weights, layer_weights=tables, tv_scale=1.0 / max(tv_total / n, 1e-12))


def _zero_feature_energies(objective: PurificationObjective, images, masks, batch_size: int):
    """Per (role, layer): the term's sum over the style images for all-zero output features
    against their own features; and the images' summed TV."""
    energy: dict[tuple[str, str], float] = {}
    tv_total = 0.0
    for start in range(0, int(images.shape[0]), batch_size):
        part = images[start : start + batch_size]
        part_masks = None if masks is None else masks[start : start + batch_size]
        features = objective._features(part)
        one_hot = as_one_hot(part_masks) if part_masks is not None else None
        targets = objective.style_targets(part, part_masks)
        for role in objective.roles:
            for name in objective.weights.layers[role]:
                f = features[name]
                value = ROLE_RECORDS[role].loss(name, tf.zeros_like(f), f, one_hot, targets)
                energy[(role, name)] = energy.get((role, name), 0.0) + float(tf.reduce_sum(value))
        tv_total += float(tf.reduce_sum(total_variation_loss(part)))
    return energy, tv_total


def label_style_set(style_images, mask_fn: Callable[[tf.Tensor], tf.Tensor], batch_size: int = 32) -> tf.Tensor:
    """(N, H, W) int32 labels of a style set from ``mask_fn`` (the coarse FCN), in batches."""
    images = tf.convert_to_tensor(style_images, tf.float32)
    return tf.concat([tf.cast(mask_fn(images[i : i + batch_size]), tf.int32)
                      for i in range(0, int(images.shape[0]), batch_size)], axis=0)


def build_objective(
    loss_network,
    weights: LossWeights,
    *,
    use_masks: bool,
    layer_weighting: str,
    style_images,
    style_masks=None,
    mask_fn: Callable[[tf.Tensor], tf.Tensor] | None = None,
    luminance_prior: LuminancePrior | None = None,
    balance_images: int = BALANCE_IMAGES,
    domain: DomainWeights | None = None,
    gaze_network=None,
    pupil_network=None,
    nce_heads=None,
) -> tuple[PurificationObjective, dict[str, Any]]:
    """The objective and its style targets, built once from the style set (N, H, W, 3).

    Why one function: the trainer, the report and the saved purifier's metadata must describe
    the same objective. With masks, the style set's labels are ``style_masks`` or, when absent,
    ``mask_fn``'s. ``layer_weighting="balanced"`` sets the per-layer weights from the first
    ``balance_images`` style eyes (:func:`balanced_layer_weights`); the luminance term is part of
    the objective only when ``weights.gamma > 0``; ``domain`` adds the terms beyond the perceptual
    ones (``gaze_network``: the frozen gaze reader of the gaze-consistency term; ``pupil_network``:
    the coarse FCN of the pupil-shift term; ``nce_heads``: PatchNCE's projection heads). Returns
    ``(objective, style_targets)``.
    """
    if layer_weighting not in LAYER_WEIGHTINGS:
        raise ConfigError(f"layer_weighting must be one of {LAYER_WEIGHTINGS}, got {layer_weighting!r}")
    images = tf.convert_to_tensor(style_images, tf.float32)
    masks = None
    if use_masks:
        if style_masks is not None:
            masks = tf.convert_to_tensor(style_masks)
        elif mask_fn is not None:
            masks = label_style_set(images, mask_fn)
    prior = luminance_prior if weights.gamma > 0 else None
    objective = PurificationObjective(loss_network, weights, use_masks=use_masks, luminance_prior=prior, domain=domain,
                                      gaze_network=gaze_network, pupil_network=pupil_network, nce_heads=nce_heads)
    if layer_weighting == "balanced":
        balanced = balanced_layer_weights(
            objective, images[:balance_images], None if masks is None else masks[:balance_images]
        )
        objective = PurificationObjective(loss_network, balanced, use_masks=use_masks, luminance_prior=prior,
                                          domain=domain, gaze_network=gaze_network, pupil_network=pupil_network,
                                          nce_heads=nce_heads)
    return objective, objective.style_set_targets(images, masks)
