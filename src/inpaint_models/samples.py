"""Bundled sample data: a real photograph with a ready mask, and a 3D stack with gaps and its truth.

The photograph is scikit-image's ``astronaut`` (Eileen Collins, NASA, public
domain), which ships inside scikit-image, so nothing is downloaded. The mask
covers the space-shuttle model and the name tag: an object-removal job.

The stack is synthetic (scikit-image's 3D ``binary_blobs``), so its truth is
known: :func:`stack_sample_with_truth` returns the gappy stack with the noisy
truth and the noise-free signal, to measure what a fill recovers. napari's
"Stack with gaps" sample is built from the same generator.
"""

from __future__ import annotations

from dataclasses import dataclass

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


#: (Z, Y, X) shape of the stack sample
STACK_SHAPE = (24, 128, 128)


@dataclass(frozen=True)
class StackSample:
    """The stack sample and its truth.

    Attributes:
        image: uint16 (Z, Y, X) stack as recorded: zero in the gaps.
        mask: bool (Z, Y, X); True = gap (pixel to fill).
        truth: uint16 (Z, Y, X) stack before the gaps were cut (with its Poisson noise).
        signal: float64 (Z, Y, X) noise-free expected value of every pixel, in the
            same camera units as ``truth`` (what a perfect denoising fill would give).
    """

    image: np.ndarray
    mask: np.ndarray
    truth: np.ndarray
    signal: np.ndarray


def stack_sample_with_truth(seed: int = 7, shape: tuple[int, int, int] = STACK_SHAPE) -> StackSample:
    """A microscopy-like uint16 (24, 128, 128) stack with gaps, and its truth (see :class:`StackSample`).

    The structures are scikit-image's 3D ``binary_blobs``, blurred like an
    out-of-focus widefield image, on a slowly varying background, recorded with
    Poisson noise, a camera gain of 40 and an offset of 100. The gaps imitate
    acquisition faults: dropped tiles (14-29 px squares) in every fifth plane and
    lost scan lines (three 2-row lines) in every seventh. Pixels in the gaps are
    zero, as a camera would record them. The same ``seed`` gives the same arrays.
    ``shape`` = (Z, Y, X) makes a stack of another size by the same recipe (the
    blobs scale with the longest side; Y and X at least 64).
    """
    from scipy import ndimage
    from skimage.data import binary_blobs

    rng = np.random.default_rng(seed)
    depth, height, width = (int(n) for n in shape)
    if depth < 1 or min(height, width) < 64:
        raise ValueError(f"shape must be (Z >= 1, Y >= 64, X >= 64), got {shape}")
    blobs = binary_blobs(length=max(depth, height, width), n_dim=3, blob_size_fraction=0.08, volume_fraction=0.25, rng=seed)
    blobs = blobs[:depth, :height, :width].astype(np.float32)
    structure = ndimage.gaussian_filter(blobs, sigma=(1.0, 1.8, 1.8))
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    background = 0.15 + 0.1 * np.sin(xx / width * np.pi) * np.cos(yy / height * np.pi / 2)
    expected = 60.0 * (background[np.newaxis] + structure)
    truth = rng.poisson(expected).astype(np.float32) * 40.0 + 100.0  # camera offset and gain
    truth = np.clip(truth, 0, 65535).astype(np.uint16)
    signal = expected.astype(np.float64) * 40.0 + 100.0

    mask = np.zeros((depth, height, width), dtype=bool)
    for z in range(2, depth, 5):  # dropped tiles
        y, x = rng.integers(8, height - 40), rng.integers(8, width - 40)
        mask[z, y : y + rng.integers(14, 30), x : x + rng.integers(14, 30)] = True
    for z in range(4, depth, 7):  # lost scan lines
        rows = rng.choice(np.arange(10, height - 10), size=3, replace=False)
        for row in rows:
            mask[z, row : row + 2, :] = True
    image = truth.copy()
    image[mask] = 0
    return StackSample(image=image, mask=mask, truth=truth, signal=signal)
