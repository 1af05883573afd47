"""Weights of the purification objective: alpha, beta, theta, gamma, lambda and per-layer weights.

The roles are the four perceptual terms of the paper; each weighs its layers (the VGG taps of
docs/DESIGN.md's layer table) with a per-layer weight, 1.0 unless set (``--layer_weighting=unit``)
or computed by ``objective.balanced_layer_weights``. Layers and layer weights are mappings keyed
by role, so that a role is looked up, never spelt into an attribute name.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from purify_tf.errors import ConfigError
from purify_tf.hyperparameters import DOMAIN, GAMMA, LAMBDA_G, LAMBDA_L, PAIRED_TARGETS, PAPER
from purify_tf.losses.layers import (
    GLOBAL_CONTENT_LAYERS,
    GLOBAL_STYLE_LAYERS,
    LOCAL_CONTENT_LAYERS,
    LOCAL_STYLE_LAYERS,
    style_layers,
)

ROLES = ("global_content", "local_content", "global_style", "local_style")
# The terms beyond the perceptual objective, in the order they enter the total.
DOMAIN_TERMS = ("adversarial", "identity", "paired", "gaze", "pupil", "pupil_contrast", "patch_nce")
_SCALARS = ("alpha", "beta", "theta", "gamma", "lambda_g", "lambda_l")
DEFAULT_LAYERS: dict[str, tuple[str, ...]] = {
    "global_content": GLOBAL_CONTENT_LAYERS,
    "local_content": LOCAL_CONTENT_LAYERS,
    "global_style": GLOBAL_STYLE_LAYERS,
    "local_style": LOCAL_STYLE_LAYERS,
}


def _check_roles(field: str, table: Mapping[str, Any]) -> None:
    unknown = sorted(set(table) - set(ROLES))
    if unknown:
        raise ConfigError(f"LossWeights.{field}: unknown roles {unknown}; the roles are {list(ROLES)}")


@dataclasses.dataclass
class LossWeights:
    """Weights of the total objective (defaults: the paper's section 4.1 values).

    ``layers`` maps a role to its loss-network taps (roles not given keep DESIGN.md's);
    ``layer_weights`` maps a role to ``{layer: weight}`` (a layer missing there weighs 1.0).
    """

    alpha: float = PAPER.alpha
    beta: float = PAPER.beta
    theta: float = PAPER.theta
    gamma: float = GAMMA
    tv_scale: float = 1.0
    lambda_g: float = LAMBDA_G
    lambda_l: float = LAMBDA_L
    layers: dict[str, tuple[str, ...]] = dataclasses.field(default_factory=lambda: dict(DEFAULT_LAYERS))
    layer_weights: dict[str, dict[str, float]] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        _check_roles("layers", self.layers)
        _check_roles("layer_weights", self.layer_weights)
        self.layers = {role: tuple(self.layers.get(role, DEFAULT_LAYERS[role])) for role in ROLES}
        self.layer_weights = {
            role: {**dict.fromkeys(self.layers[role], 1.0), **dict(self.layer_weights.get(role, {}))}
            for role in ROLES
        }

    def layer_weight(self, role: str, layer: str) -> float:
        """Weight of ``layer`` in ``role``; layers missing from the mapping weigh 1.0."""
        return float(self.layer_weights[role].get(layer, 1.0))

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_settings(cls, settings: Any, **overrides: Any) -> LossWeights:
        """The weights that ``settings`` (flags, a config dataclass, a mapping of flagfile strings)
        name: ``alpha``, ``beta``, ``theta``, ``gamma``, ``lambda_g``, ``lambda_l`` where present
        (as floats), the style taps of ``style_blocks`` VGG blocks where given, and ``<role>_layers``
        lists where given (they win over ``style_blocks``); ``overrides`` win. The one place the
        entry points, the report and the benchmarks turn their settings into weights."""
        def get(name: str) -> Any:
            return settings.get(name) if isinstance(settings, Mapping) else getattr(settings, name, None)

        def names(value: Any) -> tuple[str, ...]:  # a list, or a flagfile's comma-separated string
            return tuple(value.split(",")) if isinstance(value, str) else tuple(value)

        values: dict[str, Any] = {k: float(get(k)) for k in _SCALARS if get(k) is not None}
        layers: dict[str, tuple[str, ...]] = style_layers(int(get("style_blocks"))) if get("style_blocks") else {}
        layers.update({role: names(get(f"{role}_layers")) for role in ROLES if get(f"{role}_layers")})
        if layers:
            values["layers"] = layers
        return cls(**{**values, **overrides})


@dataclasses.dataclass(frozen=True)
class DomainWeights:
    """Weights of the terms beyond the perceptual objective (0: the term is off) and what the
    paired term compares with (``losses.paired.paired_target``)."""

    adversarial: float = DOMAIN.adversarial
    identity: float = DOMAIN.identity
    paired: float = DOMAIN.paired
    paired_target: str = DOMAIN.paired_target
    gaze: float = DOMAIN.gaze
    pupil: float = DOMAIN.pupil
    pupil_contrast: float = DOMAIN.pupil_contrast
    patch_nce: float = DOMAIN.patch_nce

    def __post_init__(self) -> None:
        if self.paired_target not in PAIRED_TARGETS:
            raise ValueError(f"paired_target must be one of {PAIRED_TARGETS}, got {self.paired_target!r}")
        if self.gaze > 0 and self.paired <= 0:
            raise ValueError(f"the gaze-consistency term (gaze={self.gaze}) reads the paired term's synthetic "
                             "twins: it needs paired > 0")

    def active(self) -> tuple[str, ...]:
        """The terms with a weight above 0, in ``DOMAIN_TERMS`` order."""
        return tuple(name for name in DOMAIN_TERMS if getattr(self, name) > 0)

    @classmethod
    def from_settings(cls, settings: Any) -> DomainWeights:
        """From anything with ``adversarial``, ``identity``, ``paired``, ``paired_target`` attributes
        (and ``gaze``, ``pupil``, ``pupil_contrast``, ``patch_nce``, 0 where absent)."""
        return cls(adversarial=float(settings.adversarial), identity=float(settings.identity),
                   paired=float(settings.paired), paired_target=settings.paired_target,
                   gaze=float(getattr(settings, "gaze", DOMAIN.gaze)),
                   pupil=float(getattr(settings, "pupil", DOMAIN.pupil)),
                   pupil_contrast=float(getattr(settings, "pupil_contrast", DOMAIN.pupil_contrast)),
                   patch_nce=float(getattr(settings, "patch_nce", DOMAIN.patch_nce)))
