"""Sample data contributed to napari's File > Open Sample menu.

Both samples are made from data that ships with scikit-image, so nothing is
downloaded: the astronaut photo with an object-removal mask, and a small
fluorescence-like 3D stack with dropped-out regions to fill.
"""

from __future__ import annotations

import numpy as np

from inpaint_models.samples import sample_photo_with_mask

STACK_SHAPE = (24, 128, 128)


def photo_with_mask() -> list[tuple]:
    """The astronaut photo (RGB image layer) and its mask (labels layer, 1 = fill)."""
    photo, mask = sample_photo_with_mask()
    return [
        (photo, {"name": "astronaut", "rgb": True}, "image"),
        (mask.astype("uint8"), {"name": "astronaut mask", "opacity": 0.6}, "labels"),
    ]


def stack_with_gaps_arrays(seed: int = 7) -> tuple[np.ndarray, np.ndarray]:
    """A microscopy-like uint16 (Z, Y, X) = (24, 128, 128) stack and its uint8 gap mask (1 = missing).

    The structures are scikit-image's 3D ``binary_blobs``, blurred like an
    out-of-focus widefield image, on a slowly varying background with Poisson
    noise. The gaps imitate acquisition faults: dropped tiles in some planes
    and lost scan lines in others. Pixels in the gaps are zero, as a camera
    would record them.
    """
    from scipy import ndimage
    from skimage.data import binary_blobs

    rng = np.random.default_rng(seed)
    depth, height, width = STACK_SHAPE
    blobs = binary_blobs(length=height, n_dim=3, blob_size_fraction=0.08, volume_fraction=0.25, rng=seed)
    blobs = blobs[:depth, :height, :width].astype(np.float32)
    signal = ndimage.gaussian_filter(blobs, sigma=(1.0, 1.8, 1.8))
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    background = 0.15 + 0.1 * np.sin(xx / width * np.pi) * np.cos(yy / height * np.pi / 2)
    expected = 60.0 * (background[np.newaxis] + signal)
    stack = rng.poisson(expected).astype(np.float32) * 40.0 + 100.0  # camera offset and gain
    stack = np.clip(stack, 0, 65535).astype(np.uint16)

    gaps = np.zeros(STACK_SHAPE, dtype=np.uint8)
    for z in range(2, depth, 5):  # dropped tiles
        y, x = rng.integers(8, height - 40), rng.integers(8, width - 40)
        gaps[z, y : y + rng.integers(14, 30), x : x + rng.integers(14, 30)] = 1
    for z in range(4, depth, 7):  # lost scan lines
        rows = rng.choice(np.arange(10, height - 10), size=3, replace=False)
        for row in rows:
            gaps[z, row : row + 2, :] = 1
    stack[gaps.astype(bool)] = 0
    return stack, gaps


def stack_with_gaps() -> list[tuple]:
    """A small 3D fluorescence-like stack (image layer) and its missing regions (labels layer, 1 = fill)."""
    stack, gaps = stack_with_gaps_arrays()
    return [
        (stack, {"name": "stack", "colormap": "gray", "contrast_limits": (0, int(stack.max()))}, "image"),
        (gaps, {"name": "stack gaps", "opacity": 0.5}, "labels"),
    ]
