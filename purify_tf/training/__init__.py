"""purify_tf.training."""
