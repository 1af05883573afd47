"""Perceptual losses of the purification objective: Grams, content, style, TV and their total."""

from purify_tf.losses.content import global_content_loss, local_content_loss, local_content_loss_eq9
from purify_tf.losses.gram import class_gram_matrices, gram_matrix, masked_gram_matrix
from purify_tf.losses.masks import downsample_masks, mask_areas, one_hot_masks
from purify_tf.losses.objective import LossWeights, PurificationObjective
from purify_tf.losses.style import global_style_loss, local_style_loss
from purify_tf.losses.tv import total_variation_loss

__all__ = [
    "LossWeights",
    "PurificationObjective",
    "class_gram_matrices",
    "downsample_masks",
    "global_content_loss",
    "global_style_loss",
    "gram_matrix",
    "local_content_loss",
    "local_content_loss_eq9",
    "local_style_loss",
    "mask_areas",
    "masked_gram_matrix",
    "one_hot_masks",
    "total_variation_loss",
]
