"""Bundled sample data: a real photograph with a ready mask.

The photograph is scikit-image's ``astronaut`` (Eileen Collins, NASA, public
domain), which ships inside scikit-image, so nothing is downloaded. The mask
covers the space-shuttle model and the name tag: an object-removal job.
"""

from __future__ import annotations

import cv2
import numpy as np

#: polygons (x, y) of the sample mask, in the 512x512 astronaut photo
_SHUTTLE = np.array(
    [[380, 40], [394, 0], [444, 0], [462, 60], [462, 205], [470, 250], [475, 292],
     [362, 292], [348, 230], [372, 175], [378, 60]],
    dtype=np.int32,
)
_NAME_TAG = np.array([[276, 336], [332, 336], [332, 380], [276, 380]], dtype=np.int32)


def astronaut_mask() -> np.ndarray:
    """bool (512, 512) mask of the sample photo; True = pixels to fill."""
    canvas = np.zeros((512, 512), np.uint8)
    cv2.fillPoly(canvas, [_SHUTTLE, _NAME_TAG], 255)
    return canvas > 0


def astronaut_photo() -> np.ndarray:
    """uint8 (512, 512, 3) RGB sample photo (scikit-image's astronaut)."""
    from skimage import data

    return data.astronaut()


def sample_photo_with_mask() -> tuple[np.ndarray, np.ndarray]:
    """The sample photo (uint8 (512, 512, 3) RGB) and its mask (bool (512, 512), True = fill)."""
    return astronaut_photo(), astronaut_mask()
