"""purify_tf.models."""
