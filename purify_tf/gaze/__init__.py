"""purify_tf.gaze."""
