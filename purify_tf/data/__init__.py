"""purify_tf.data."""
