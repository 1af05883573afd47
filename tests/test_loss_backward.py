"""The objective's loss-network backward runs over the outputs only, with the values and
gradients of one forward pass over outputs and contents together."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from purify_tf.losses.objective import PurificationObjective
from tests.model_helpers import tiny_loss_network, tiny_weights


def _setup(batch=2, h=16, w=24):
    rng = np.random.default_rng(5)
    net = tiny_loss_network()
    objective = PurificationObjective(net, tiny_weights(alpha=2.0, beta=3.0, theta=0.1), use_masks=True)
    style = rng.uniform(0, 255, (1, h, w, 3)).astype(np.float32)
    targets = objective.style_targets(style, rng.integers(0, 3, (1, h, w)).astype(np.int32))
    contents = tf.constant(rng.uniform(0, 255, (batch, h, w, 3)).astype(np.float32))
    labels = tf.constant(rng.integers(0, 3, (batch, h, w)).astype(np.int32))
    kernel = tf.Variable(rng.normal(size=(3, 3, 3, 3)).astype(np.float32) * 0.1)
    return objective, targets, contents, labels, kernel


def _concat_pairs(objective):
    """The former formulation: one loss-network pass over concat([outputs, contents])."""
    from purify_tf.losses.roles import as_one_hot

    def pairs(outputs, contents, content_masks, content_targets):
        batch = tf.shape(outputs)[0]
        both = objective._features(tf.concat([outputs, tf.cast(contents, tf.float32)], axis=0))
        return ({n: f[:batch] for n, f in both.items()}, {n: f[batch:] for n, f in both.items()},
                as_one_hot(content_masks))

    return pairs


def _terms_and_grad(objective, targets, contents, labels, kernel):
    with tf.GradientTape() as tape:
        outputs = 127.5 + 127.5 * tf.tanh(tf.nn.conv2d(contents / 127.5 - 1.0, kernel, 1, "SAME"))
        terms = objective(outputs, contents, labels, targets)
    return {k: float(v) for k, v in terms.items()}, tape.gradient(terms["total"], kernel).numpy()


def test_loss_terms_and_gradients_equal_the_one_pass_formulation():
    objective, targets, contents, labels, kernel = _setup()
    new_terms, new_grad = _terms_and_grad(objective, targets, contents, labels, kernel)
    objective._feature_pairs = _concat_pairs(objective)
    old_terms, old_grad = _terms_and_grad(objective, targets, contents, labels, kernel)
    assert new_terms.keys() == old_terms.keys()
    for key, value in old_terms.items():
        np.testing.assert_allclose(new_terms[key], value, rtol=1e-5, atol=1e-6, err_msg=key)
    assert np.abs(old_grad).max() > 0
    np.testing.assert_allclose(new_grad, old_grad, rtol=1e-4, atol=1e-6 * np.abs(old_grad).max())


def test_loss_network_backward_covers_the_outputs_only():
    batch = 2
    objective, targets, contents, labels, kernel = _setup(batch)

    @tf.function(autograph=False)
    def step(contents, labels):
        with tf.GradientTape() as tape:
            outputs = tf.nn.conv2d(contents, kernel, 1, "SAME")
            terms = objective(outputs, contents, labels, targets)
        return tape.gradient(terms["total"], kernel)

    graph = step.get_concrete_function(contents, labels).graph
    backprops = [op for op in graph.get_operations() if op.type == "Conv2DBackpropInput"]
    assert backprops, "expected the loss network's input gradients in the graph"
    assert {int(op.outputs[0].shape[0]) for op in backprops} == {batch}
