"""purify_tf.inference."""
