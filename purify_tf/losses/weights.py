"""Weights of the purification objective: alpha, beta, theta, gamma, lambda and per-layer weights.

The roles are the four perceptual terms of the paper; each weighs its layers (the VGG taps of
docs/DESIGN.md's layer table) with a per-layer weight, 1.0 unless set (``--layer_weights=unit``)
or computed by ``objective.balanced_layer_weights``.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from purify_tf.losses.layers import (
    GLOBAL_CONTENT_LAYERS,
    GLOBAL_STYLE_LAYERS,
    LOCAL_CONTENT_LAYERS,
    LOCAL_STYLE_LAYERS,
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
