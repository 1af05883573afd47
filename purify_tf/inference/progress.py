"""Kept only for ``purify_tf.cli``'s import: the progress rule and ``Reporter`` live in
:mod:`purify_tf.progress`. Remove this module once the command imports from there."""

from purify_tf.progress import Reporter

__all__ = ["Reporter"]
