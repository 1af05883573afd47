"""purify_tf.baselines."""
