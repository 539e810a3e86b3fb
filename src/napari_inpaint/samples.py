"""Sample data contributed to napari's File > Open Sample menu.

Both samples are made from data that ships with scikit-image, so nothing is
downloaded: the astronaut photo with an object-removal mask, and a small
fluorescence-like 3D stack with dropped-out regions to fill.
"""

from __future__ import annotations

import numpy as np

from inpaint_models.samples import STACK_SHAPE, sample_photo_with_mask, stack_sample_with_truth

__all__ = ["STACK_SHAPE", "photo_with_mask", "stack_with_gaps", "stack_with_gaps_arrays"]


def photo_with_mask() -> list[tuple]:
    """The astronaut photo (RGB image layer) and its mask (labels layer, 1 = fill)."""
    photo, mask = sample_photo_with_mask()
    return [
        (photo, {"name": "astronaut", "rgb": True}, "image"),
        (mask.astype("uint8"), {"name": "astronaut mask", "opacity": 0.6}, "labels"),
    ]


def stack_with_gaps_arrays(seed: int = 7) -> tuple[np.ndarray, np.ndarray]:
    """A microscopy-like uint16 (Z, Y, X) = (24, 128, 128) stack and its uint8 gap mask (1 = missing).

    Made by :func:`inpaint_models.samples.stack_sample_with_truth` (which also
    returns the truth); pixels in the gaps are zero, as a camera would record them.
    """
    sample = stack_sample_with_truth(seed)
    return sample.image, sample.mask.astype(np.uint8)


def stack_with_gaps() -> list[tuple]:
    """A small 3D fluorescence-like stack (image layer) and its missing regions (labels layer, 1 = fill)."""
    stack, gaps = stack_with_gaps_arrays()
    return [
        (stack, {"name": "stack", "colormap": "gray", "contrast_limits": (0, int(stack.max()))}, "image"),
        (gaps, {"name": "stack gaps", "opacity": 0.5}, "labels"),
    ]
