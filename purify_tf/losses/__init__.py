"""purify_tf.losses."""
