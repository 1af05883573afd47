"""Starting f_W from a trained purifier's weights: fine-tuning instead of training from scratch.

Why: the shipped purifier is trained on the built-in renderer. A user with unlabelled eyes of their
own (``--content_dir``) or an ablation that adds a term should be able to go on from its weights
for a few hundred steps instead of the 1500 a new network takes. The weights are matched by layer
name (a flip-symmetric purifier's nested network included), cast to the new network's dtype, and
every mismatch is an error naming the layer: a silently half-initialised network would train into
something nobody asked for.

The illumination front end is not copied: its prior and centre are set by the trainer from the
synthetic set and the centre flag, as for a network trained from scratch.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from purify_tf.errors import ConfigError
from purify_tf.models.transformer import ILLUMINATION_LAYER


def weighted_layers(model: Any) -> dict[str, Any]:
    """{layer name: layer} of every layer with weights, nested models flattened (their own name
    dropped: a flip-symmetric purifier's ``f_w_residual`` holds the same names as a plain one)."""
    import keras

    found: dict[str, Any] = {}
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            found.update(weighted_layers(layer))
        elif layer.weights:
            found[layer.name] = layer
    return found


def copy_transformer_weights(source: Any, target: Any, source_name: str = "the source purifier") -> int:
    """Copy every weighted layer of ``target`` but the front end from the same-named layer of
    ``source``; returns how many weights (variables) were copied. Raises ConfigError naming the first
    layer that is missing from ``source`` or whose weights differ in number or shape."""
    donors = weighted_layers(source)
    copied = 0
    for name, layer in weighted_layers(target).items():
        if name == ILLUMINATION_LAYER:
            continue
        donor = donors.get(name)
        if donor is None:
            raise ConfigError(f"{source_name} has no layer {name!r}: it is not a transformer of this "
                              "architecture (check --config, --upsample, --residual and --illumination)")
        if len(donor.weights) != len(layer.weights):
            raise ConfigError(f"{source_name}: layer {name!r} has {len(donor.weights)} weights, the network "
                              f"being trained {len(layer.weights)} (a different normalisation?)")
        for mine, theirs in zip(layer.weights, donor.weights, strict=True):
            if tuple(mine.shape) != tuple(theirs.shape):
                raise ConfigError(f"{source_name}: weight {theirs.path} has shape {tuple(theirs.shape)}, the "
                                  f"network being trained expects {tuple(mine.shape)} (a different architecture)")
            mine.assign(np.asarray(theirs.numpy(), dtype=np.dtype(mine.dtype)))
            copied += 1
    return copied
