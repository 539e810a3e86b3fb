"""How wide a hole is: the share of its pixels in parts wider than a thin line (``model="auto"`` reads it).

A hole pixel's *depth* is its distance to the nearest known pixel (the
Euclidean distance transform of the mask; pixels beyond the image border are
not known). A hole is *thin* where no pixel is deeper than
:data:`THIN_HALF_WIDTH`: lines, scratches, dead rows and hot pixels at most
``2 * THIN_HALF_WIDTH`` px across. Its *wide part* is every hole pixel within
that distance of a deeper pixel: the mask opened by a disc of that radius.
"""

from __future__ import annotations

import cv2
import numpy as np

#: depth (px, distance to the nearest known pixel) up to which a hole counts as thin: holes at most
#: 4 px across. Measured on the held-out photographs of docs/results.md (benchmarks/bench_auto.py, rows
#: 1-8 px high): up to 4 px biharmonic beats patchmatch's hole PSNR by 1.3-2.6 dB and keeps a texture
#: ratio of 0.79-0.85; from 5 px its texture falls (0.75 at 5 px, 0.66 at 8 px) while patchmatch keeps
#: about 1.0, so wider holes keep the content-aware fill.
THIN_HALF_WIDTH = 2


def _disc(radius: int) -> np.ndarray:
    """uint8 (2r+1, 2r+1) structuring element: the pixels within ``radius`` of the centre (Euclidean)."""
    yy, xx = np.mgrid[-radius : radius + 1, -radius : radius + 1]
    return (yy * yy + xx * xx <= radius * radius).astype(np.uint8)


def _hole_box(mask: np.ndarray) -> np.ndarray:
    """uint8 crop of a 2D mask around its holes, with one known pixel around them where the image goes on.

    Outside the crop every pixel is known, so the crop's depths are the image's; its edges
    that are the image's border stay unknown, as they are for the whole image.
    """
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    top, bottom = max(rows[0] - 1, 0), min(rows[-1] + 2, mask.shape[0])
    left, right = max(cols[0] - 1, 0), min(cols[-1] + 2, mask.shape[1])
    crop = mask[top:bottom, left:right]
    return crop.view(np.uint8) if crop.dtype == bool else (crop != 0).astype(np.uint8)


def wide_share(mask: np.ndarray, half_width: int = THIN_HALF_WIDTH) -> float:
    """The share of hole pixels in parts of the hole wider than a thin line; 0.0 for a thin (or empty) hole.

    The wide part is the set of hole pixels within ``half_width`` px of a pixel
    deeper than ``half_width`` (depth: Euclidean distance to the nearest known
    pixel), i.e. the mask opened by a disc of radius ``half_width``. Thresholding
    the distance transform at ``half_width`` is the same as eroding the mask by
    that disc, which OpenCV does in about 5 ms at 2048² where its distance
    transform takes 50-90 ms and scipy's about 0.5 s, so the erosion is used
    (written here because no library gives the opening's share directly); only
    the holes' bounding box is read. A box 64 px wide gives about 1.0, lines 2 px
    wide give 0.0, a crossing of two 4 px lines a few hole pixels only.

    Args:
        mask: bool (or any, non-zero = fill) 2D array (H, W); True = hole.
        half_width: depth in px up to which a hole is thin (>= 0).

    Returns:
        A share in [0, 1].
    """
    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise ValueError(f"wide_share takes a 2D mask (H, W), got shape {mask.shape}")
    if half_width < 0:
        raise ValueError(f"half_width must be >= 0, got {half_width}")
    holes = np.count_nonzero(mask)
    if holes == 0:
        return 0.0
    disc = _disc(int(half_width))
    crop = _hole_box(mask)
    deep = cv2.erode(crop, disc, borderType=cv2.BORDER_CONSTANT, borderValue=1)
    if not deep.any():
        return 0.0
    wide = cv2.dilate(deep, disc, borderType=cv2.BORDER_CONSTANT, borderValue=0) & crop
    return float(np.count_nonzero(wide)) / holes
