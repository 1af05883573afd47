"""PatchNCE (Park et al., "Contrastive Learning for Unpaired Image-to-Image Translation", 2020).

A patch of f_W's output should be recognisable as the patch of the content eye at the same place,
among the content eye's other patches. Why: the VGG content term pins the output's features to the
raw eye's, and so its appearance too; PatchNCE asks only that each output patch keep what tells it
apart from the rest of its eye (a lower bound on their mutual information), so the network may
change more than exposure while the geometry stays. Here the patches are loss-network (VGG)
features rather than CUT's generator encoder: they are computed for the content terms anyway.

Per layer: ``S`` positions are drawn (the same for output and content), each feature goes through a
small MLP head ``H_l`` (trained with f_W, CUT's projection) and is L2-normalised; the loss is the
cross-entropy of picking the content patch at the same position, ``-log softmax_j(q_i . k_j / tau)_i``,
averaged over positions and layers. The keys are not differentiated (CUT detaches them): the head
learns through the queries only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import keras
import tensorflow as tf

from purify_tf.errors import ConfigError

NCE_LAYERS: tuple[str, ...] = ("block1_conv2", "block2_conv2", "block3_conv2", "block4_conv2")
NCE_PATCHES = 256  # positions drawn per layer and image (CUT's num_patches); all of a smaller map
NCE_TEMPERATURE = 0.07  # CUT's tau
NCE_HEAD_UNITS = 256  # CUT's projection width


def build_nce_head(channels: int, units: int = NCE_HEAD_UNITS, name: str = "nce_head") -> keras.Model:
    """CUT's projection H_l: Dense(units) -> ReLU -> Dense(units) on (N, channels) patch features."""
    features = keras.Input((int(channels),), name=f"{name}_features")
    hidden = keras.layers.Dense(units, activation="relu", name=f"{name}_hidden")(features)
    return keras.Model(features, keras.layers.Dense(units, name=f"{name}_out")(hidden), name=name)


def build_nce_heads(loss_network, layers: Sequence[str] = NCE_LAYERS) -> dict[str, keras.Model]:
    """One head per tapped layer, sized from the loss network's channels (``loss_network.model``'s
    output dict, as :class:`~purify_tf.models.vgg.LossNetwork` has it)."""
    outputs = loss_network.model.output
    missing = [name for name in layers if name not in outputs]
    if missing:
        raise ConfigError(f"PatchNCE matches patches at {list(layers)}, but the loss network taps "
                          f"{sorted(outputs)}: it lacks {missing}")
    return {name: build_nce_head(outputs[name].shape[-1], name=f"nce_head_{name}") for name in layers}


def sample_positions(height: tf.Tensor, width: tf.Tensor, count: int, seed: tf.Tensor) -> tf.Tensor:
    """(min(count, height * width),) distinct flat positions of a map, drawn statelessly from ``seed``
    (a (2,) integer tensor), so that a resumed run draws what a straight one does."""
    total = tf.cast(height * width, tf.int32)
    keys = tf.random.stateless_uniform(tf.reshape(total, [1]), seed=seed)
    return tf.argsort(keys)[: tf.minimum(total, count)]


def patch_nce_loss(query: tf.Tensor, key: tf.Tensor, temperature: float = NCE_TEMPERATURE) -> tf.Tensor:
    """(B, S, D) projected output patches and content patches at the same S positions -> (B,) the
    mean cross-entropy of matching each query to its own key among the S keys of its image.

    Both are L2-normalised here; the keys get no gradient."""
    q = tf.math.l2_normalize(tf.cast(query, tf.float32), axis=-1)
    k = tf.stop_gradient(tf.math.l2_normalize(tf.cast(key, tf.float32), axis=-1))
    logits = tf.einsum("bsd,btd->bst", q, k) / temperature
    labels = tf.broadcast_to(tf.range(tf.shape(q)[1]), tf.shape(logits)[:2])
    return tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels, logits), axis=1)


def patch_nce_term(out_features: Mapping[str, tf.Tensor], in_features: Mapping[str, tf.Tensor],
                   heads: Mapping[str, keras.Model], seed: tf.Tensor, patches: int = NCE_PATCHES) -> tf.Tensor:
    """(B,) PatchNCE averaged over the heads' layers: the same positions for output and content at a
    layer (one draw per layer, shared by the batch as in CUT), each projected by that layer's head."""
    total = 0.0
    for index, (name, head) in enumerate(heads.items()):
        f_out, f_in = out_features[name], in_features[name]
        shape = tf.shape(f_out)
        positions = sample_positions(shape[1], shape[2], patches, tf.random.experimental.stateless_fold_in(seed, index))
        flat_out = tf.gather(tf.reshape(f_out, [shape[0], -1, shape[3]]), positions, axis=1)
        flat_in = tf.gather(tf.reshape(f_in, [shape[0], -1, shape[3]]), positions, axis=1)

        def project(x: tf.Tensor, head: keras.Model = head) -> tf.Tensor:
            s = tf.shape(x)
            return tf.reshape(head(tf.reshape(x, [-1, s[2]])), [s[0], s[1], -1])

        total += patch_nce_loss(project(flat_out), project(tf.stop_gradient(flat_in)))
    return total / float(len(heads))
