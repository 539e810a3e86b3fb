"""The inputs of a lazy fill: whether an image is one (dask or zarr), and both inputs as dask arrays.

Dask is imported only when a lazy image is converted (:func:`as_dask`): an
in-memory fill never loads it.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

import numpy as np

from inpaint_models.contract.errors import ShapeMismatchError
from inpaint_models.contract.values import check_dtype, mask_to_bool
from inpaint_models.io.zarrio import checked_dask

if TYPE_CHECKING:
    import dask.array as da


def is_zarr(array: Any) -> bool:
    """Whether ``array`` is a zarr array (decided without importing zarr)."""
    return type(array).__module__.split(".")[0] == "zarr"


def is_lazy(array: Any) -> bool:
    """Whether ``array`` is a dask or zarr array (filled chunk by chunk by :mod:`inpaint_models.pipeline.chunked`).

    Decided without importing dask: neither can be passed in unless its module is loaded.
    """
    dask_array = sys.modules.get("dask.array")
    return (dask_array is not None and isinstance(array, dask_array.Array)) or is_zarr(array)


def to_dask(array: Any) -> da.Array:
    """A dask array of ``array``: itself if it is one, a zarr array with its chunks.

    A zarr array's chunk that cannot be decoded (a corrupt file) raises an
    :class:`~inpaint_models.contract.errors.InpaintError` naming the store when it
    is read (:func:`inpaint_models.io.zarrio.checked_dask`).
    """
    import dask.array as da

    if isinstance(array, da.Array):
        return array
    if is_zarr(array):
        return checked_dask(array)
    raise TypeError(f"expected a dask or zarr array, got {type(array).__name__}")


def as_dask(image: Any, mask: Any) -> tuple[da.Array, da.Array]:
    """The image and the mask of a lazy fill as dask arrays; the mask as bool, converted chunk by chunk.

    An in-memory mask is wrapped with chunks matching the image's trailing
    axes where the shapes allow. A float mask's chunks are checked for NaN when read.

    Raises:
        UnsupportedDtypeError: complex or object dtypes.
        ShapeMismatchError: chunk sizes unknown (a dask array of unknown shape).
    """
    import dask.array as da

    image = to_dask(image)
    if any(np.isnan(size) for sizes in image.chunks for size in sizes):
        raise ShapeMismatchError("the image's chunk sizes are unknown; call image.compute_chunk_sizes() first")
    if isinstance(mask, da.Array) or is_zarr(mask):
        mask = to_dask(mask)
    else:
        mask = np.asarray(mask)
        check_dtype(mask, "mask")
        mask = da.from_array(mask, chunks=_matching_chunks(image, mask.shape))
    check_dtype(mask, "mask")
    if mask.dtype != np.bool_:
        mask = mask.map_blocks(bool_chunk, dtype=bool)
    return image, mask


def _matching_chunks(image: da.Array, shape: tuple[int, ...]) -> Any:
    for trailing in (0, 1):  # the mask as the image's trailing axes, or those before a channel axis
        axes = image.chunks[len(image.chunks) - trailing - len(shape) : len(image.chunks) - trailing]
        if len(axes) == len(shape) and tuple(sum(c) for c in axes) == tuple(shape):
            return axes
    return "auto"


def is_uniform(block: np.ndarray) -> bool:
    """Whether a chunk is one value broadcast (every stride 0), as ``dask.array.zeros`` makes them."""
    return block.size > 1 and all(stride == 0 for stride in block.strides)


def first_element(block: np.ndarray) -> np.ndarray:
    """The chunk's first element, as a 1-element array (all of a broadcast constant's values)."""
    return np.asarray(block[(0,) * block.ndim]).reshape(1)


def bool_chunk(block: np.ndarray) -> np.ndarray:
    """One mask chunk as bool (True = fill); a broadcast constant stays one element."""
    if is_uniform(block):
        return np.broadcast_to(mask_to_bool(first_element(block))[0], block.shape)
    return mask_to_bool(np.asarray(block))
