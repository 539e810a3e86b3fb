"""Mask preparation for interactive front ends: dilation and plane selection, for arrays and lazy images.

The napari widget holds no array logic; what it needs done to a painted mask
before a fill (grow it by a few pixels, keep only the plane on screen) lives
here, runs without a GUI and is tested like the rest of the backend.

Polarity everywhere: True / non-zero = pixel to fill.
"""

from __future__ import annotations

from typing import Any, Optional, Sequence

import numpy as np
from scipy import ndimage

from inpaint_models.contract.errors import ShapeMismatchError
from inpaint_models.contract.values import mask_to_bool

__all__ = ["dilate_mask", "disk", "empty_mask_like", "new_mask", "prepare_lazy_mask", "prepare_mask"]


def disk(radius: int) -> np.ndarray:
    """bool (2r+1, 2r+1) disk-shaped structuring element of ``radius`` pixels."""
    if radius < 0:
        raise ValueError(f"radius must be non-negative, got {radius}")
    yy, xx = np.mgrid[-radius : radius + 1, -radius : radius + 1]
    return (yy * yy + xx * xx) <= radius * radius


def dilate_mask(mask: np.ndarray, pixels: int) -> np.ndarray:
    """Grow a hole mask by ``pixels`` in the two trailing (H, W) axes only.

    Painted masks often stop just short of an object's blurred border; growing
    them makes the fill start from clean background. Leading axes (Z, T) are
    independent planes and are never dilated into each other.

    Args:
        mask: bool or integer array (..., H, W); non-zero = fill.
        pixels: dilation radius (0 returns a bool copy).

    Returns:
        bool array of the mask's shape.
    """
    if isinstance(pixels, bool) or int(pixels) != pixels or pixels < 0:
        raise ValueError(f"dilation must be a non-negative whole number of pixels, got {pixels!r}")
    mask_bool = mask_to_bool(np.asarray(mask))
    if mask_bool.ndim < 2:
        raise ShapeMismatchError(f"a mask needs at least two axes (H, W); got shape {mask_bool.shape}")
    if pixels == 0 or not mask_bool.any():
        return mask_bool.copy()
    structure = disk(int(pixels)).reshape((1,) * (mask_bool.ndim - 2) + (2 * int(pixels) + 1,) * 2)
    return ndimage.binary_dilation(mask_bool, structure=structure)


def prepare_mask(
    mask: np.ndarray,
    spatial_shape: Sequence[int],
    plane: Optional[Sequence[int]] = None,
    dilation: int = 0,
) -> np.ndarray:
    """The mask a front end hands to :func:`inpaint_models.fill` for one layer.

    Args:
        mask: bool or integer (labels) array; non-zero = fill. Either the image's
            full spatial shape, e.g. (Z, H, W), or its trailing part, e.g. (H, W),
            which then applies to every plane.
        spatial_shape: the image's shape without the channel axis.
        plane: indices of the leading (stack) axes of the one plane to fill
            (e.g. ``(z,)``); None fills every plane of the stack.
        dilation: grow the mask by this many pixels within each plane.

    Returns:
        bool array: of the mask's own shape when every plane is filled, or of
        ``spatial_shape`` with only ``plane`` set when one plane is chosen.

    Raises:
        ShapeMismatchError: the mask does not match the trailing axes of
            ``spatial_shape``, or ``plane`` does not index its stack axes.
    """
    mask_bool = mask_to_bool(np.asarray(mask))
    spatial_shape, plane = _checked_shapes(mask_bool.shape, spatial_shape, plane)
    if plane is None:
        return dilate_mask(mask_bool, dilation)
    result = np.zeros(spatial_shape, dtype=bool)
    result[plane] = dilate_mask(_own_plane(mask_bool, plane), dilation)
    return result


def prepare_lazy_mask(
    mask: Any,
    spatial_shape: Sequence[int],
    plane: Optional[Sequence[int]] = None,
    dilation: int = 0,
) -> Any:
    """:func:`prepare_mask` for a lazy (dask or zarr) image: no mask of the image's size in memory.

    Same arguments, checks and polarity as :func:`prepare_mask`; ``mask`` may be
    a numpy, dask or zarr array. One plane: dask zeros of ``spatial_shape``
    (their chunks cost nothing) with that plane set. Every plane: the mask as
    it is when not dilated (``fill`` reads it chunk by chunk and turns it into
    bool with the same rule), else a dask array dilated chunk by chunk with the
    neighbouring pixels (``map_overlap``).

    Returns:
        A dask bool array, or ``mask`` itself (every plane, no dilation).

    Raises:
        ShapeMismatchError: as :func:`prepare_mask`.
    """
    import dask.array as da

    spatial_shape, plane = _checked_shapes(tuple(mask.shape), spatial_shape, plane)
    if plane is not None:
        one_plane = dilate_mask(np.asarray(_own_plane(mask, plane)), dilation)
        stack_axes = len(spatial_shape) - 2
        result = da.zeros(spatial_shape, dtype=bool, chunks=(1,) * stack_axes + ("auto", "auto"))
        result[plane] = one_plane
        return result
    if not dilation:
        return mask
    if not isinstance(mask, da.Array):  # a zarr array keeps its chunks; numpy gets dask's
        mask = da.from_array(mask, chunks=getattr(mask, "chunks", "auto"))
    pixels = int(dilation)
    depth = {mask.ndim - 2: pixels, mask.ndim - 1: pixels}
    return mask.map_overlap(lambda block: dilate_mask(block, pixels), depth=depth, boundary="none", dtype=bool)


def _checked_shapes(
    mask_shape: Sequence[int], spatial_shape: Sequence[int], plane: Optional[Sequence[int]]
) -> tuple[tuple[int, ...], Optional[tuple[int, ...]]]:
    """``(spatial_shape, plane)`` as int tuples, once the mask's shape and the plane are known to fit them.

    Raises:
        ShapeMismatchError: the mask is not the image's spatial shape or its trailing
            part (at least (H, W)), or ``plane`` does not index the stack axes.
    """
    spatial_shape = tuple(int(n) for n in spatial_shape)
    mask_shape = tuple(int(n) for n in mask_shape)
    ndim = len(mask_shape)
    if not (2 <= ndim <= len(spatial_shape) and spatial_shape[len(spatial_shape) - ndim :] == mask_shape):
        raise ShapeMismatchError(
            f"the mask's shape {mask_shape} does not match the image's spatial shape {spatial_shape}"
        )
    if plane is None:
        return spatial_shape, None
    stack_shape = spatial_shape[:-2]
    plane = tuple(int(i) for i in plane)
    if len(plane) != len(stack_shape) or any(not 0 <= i < n for i, n in zip(plane, stack_shape, strict=True)):
        raise ShapeMismatchError(f"plane {plane} is not a plane of a stack of shape {stack_shape}")
    return spatial_shape, plane


def _own_plane(mask: Any, plane: tuple[int, ...]) -> Any:
    """The (H, W) plane of ``mask`` at stack indices ``plane`` (the mask's own leading axes are
    the trailing part of the stack axes; a 2D mask is every plane's)."""
    ndim = len(mask.shape)
    own = plane[len(plane) - (ndim - 2) :] if ndim > 2 else ()
    return mask[own] if own else mask


def new_mask(spatial_shape: Sequence[int]) -> np.ndarray:
    """An empty uint8 labels array of ``spatial_shape`` for painting a mask (0 = keep, 1 = fill)."""
    return np.zeros(tuple(int(n) for n in spatial_shape), dtype=np.uint8)


def empty_mask_like(image: Any, rgb: bool = False) -> Any:
    """An empty uint8 labels array (0 = keep) for a lazy (dask or zarr) image, to paint a mask on.

    A zarr array in memory with the image's spatial chunks: a chunk takes memory
    only once something is painted in it, so a mask for a 16 GB volume costs
    what is painted, not 8 GB (napari paints into zarr arrays).

    Args:
        image: the dask or zarr image.
        rgb: whether its last axis holds RGB(A) channels (left out of the mask).
    """
    import zarr

    shape = tuple(image.shape)
    chunks = tuple(getattr(image, "chunksize", None) or image.chunks)  # dask's regular chunk size, or zarr's
    if rgb:
        shape, chunks = shape[:-1], chunks[:-1]
    return zarr.create_array(zarr.storage.MemoryStore(), shape=shape, chunks=chunks, dtype=np.uint8, fill_value=0)
