"""Definitions every module shares, stated once: the mask classes, the gaze-input size and luma.

Masks are integer label maps with 0 other, 1 iris, 2 pupil (the pupil lies inside the iris).
Gaze estimators (the CNN and the classical ones) read grayscale eyes of 35 x 55 pixels
(H x W), the MPIIGaze crop the paper evaluates on; pupil shifts are reported at that width too.
"""

from __future__ import annotations

OTHER, IRIS, PUPIL = 0, 1, 2
CLASS_NAMES = ("other", "iris", "pupil")  # index = label
NUM_CLASSES = len(CLASS_NAMES)

GAZE_HEIGHT, GAZE_WIDTH = 35, 55
GAZE_SIZE = (GAZE_HEIGHT, GAZE_WIDTH)  # (H, W)
GAZE_INPUT_SHAPE = (GAZE_HEIGHT, GAZE_WIDTH, 1)  # grayscale in [0, 1]
LUMA = (0.299, 0.587, 0.114)  # ITU-R BT.601 RGB -> gray weights, as cv2's
