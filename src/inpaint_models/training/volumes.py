"""The array a fit learns from, read one window at a time: (N, D, H, W, C) volumes over the caller's array.

A fit (:mod:`inpaint_models.training.array_data`) reads crops of the array
being filled. :class:`StackVolumes` maps a crop of volume ``n``, planes
``z0:z1``, rows ``y0:y1`` and columns ``x0:x1`` to one basic-indexing read of
the caller's own array -- numpy, memory-mapped numpy, dask, zarr or anything
with ``shape``, ``dtype`` and ``array[ints and slices]`` -- in its own axis
order, and the same of its mask. Nothing else of the array is read, converted
or copied: a dask array computes the chunks under the window, a zarr array
decodes them, a memory map pages them in.

Volumes: the axes of the image other than H, W, the channel axis and the
volume axis (the stack axes, row-major) enumerate N0 volumes of D planes
along the volume axis (D = 1 without one). Channels the model does not take
together become further volumes (*channel groups*: volume ``m`` holds the
channels ``channel_sets[m // N0]`` of volume ``m % N0``), so N = N0 x groups.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

import numpy as np

from inpaint_models.contract.values import check_finite, mask_covers, mask_to_bool

#: a small in-memory array whose clean copy (values and mask) takes at most this many bytes is copied
#: (:func:`clean_copy`); any other is read in place
COPY_LIMIT = 16 << 20
#: the survey of the mask (hole shapes, known fraction) reads at most this many mask pixels, whole planes
MASK_BUDGET = 1 << 25


def is_in_memory(array: Any) -> bool:
    """Whether ``array`` is a numpy array held in memory (not a memory map, dask or zarr array)."""
    return isinstance(array, np.ndarray) and not isinstance(array, np.memmap)


@dataclass(frozen=True, eq=False)
class StackVolumes:
    """The caller's image as (N, D, H, W, C) volumes and its mask as bool (N, D, H, W), read window by window.

    Attributes:
        image: the caller's array in its own axis order and dtype (never written).
        mask: the caller's mask, non-zero / True = unknown; its axes are the
            trailing axes of the image's axes without the channel axis (it is
            broadcast over the others, as ``fill`` broadcasts it).
        stack_axes: the image axes that enumerate the volumes (row-major), the volume axis excluded.
        volume_axis: the image axis of a volume's D planes, or None (D = 1).
        rows_axis, cols_axis: the image's H and W axes.
        channel_axis: the image's channel axis, or None (one channel).
        channel_sets: per channel group, the image channels a volume of that
            group holds, in order (``((0, 1, 2),)``: the first three channels
            together; ``((0,), (1,))``: each channel a volume of its own;
            ``((0, 0, 0),)``: grey repeated to RGB).
    """

    image: Any
    mask: Any
    stack_axes: tuple[int, ...]
    volume_axis: Optional[int]
    rows_axis: int
    cols_axis: int
    channel_axis: Optional[int]
    channel_sets: tuple[tuple[int, ...], ...] = ((0,),)

    @classmethod
    def of_arrays(cls, image: Any, mask: Any) -> "StackVolumes":
        """Volumes over an (N, D, H, W, C) image and its (N, D, H, W) mask (any array type)."""
        if len(image.shape) != 5 or tuple(mask.shape) != tuple(image.shape[:4]):
            raise ValueError(f"expected image (N, D, H, W, C) and mask (N, D, H, W), got {tuple(image.shape)} "
                             f"and {tuple(mask.shape)}")
        return cls(image, mask, (0,), 1, 2, 3, 4, (tuple(range(int(image.shape[4]))),))

    # -- geometry -----------------------------------------------------------------------
    @property
    def per_group(self) -> int:
        """N0: the volumes of one channel group."""
        return int(np.prod([self.image.shape[a] for a in self.stack_axes], dtype=np.int64))

    @property
    def shape(self) -> tuple[int, int, int, int, int]:
        """(N, D, H, W, C)."""
        size = self.image.shape
        depth = 1 if self.volume_axis is None else int(size[self.volume_axis])
        return (self.per_group * len(self.channel_sets), depth, int(size[self.rows_axis]),
                int(size[self.cols_axis]), len(self.channel_sets[0]))

    @property
    def dtype(self) -> np.dtype:
        """The image's dtype (the values read are the caller's)."""
        return np.dtype(self.image.dtype)

    @property
    def in_memory(self) -> bool:
        """Whether both arrays are numpy arrays held in memory."""
        return is_in_memory(self.image) and is_in_memory(self.mask)

    # -- reading --------------------------------------------------------------------------
    def read(self, n: int, planes: slice, rows: slice, cols: slice,
             unknown: Optional[np.ndarray] = None) -> tuple[np.ndarray, np.ndarray]:
        """The window of volume ``n``: its values and its unknown pixels.

        Args:
            n: the volume, 0 <= n < N.
            planes, rows, cols: slices (step 1) inside the volume's D, H and W.
            unknown: the window's :meth:`read_mask` when already read (it is then not read again).

        Returns:
            ``(values, unknown)``: (K, h, w, C) in the image's dtype, a new
            array holding the caller's values, 0 where unknown (whatever the
            caller's array holds there, NaN included); bool (K, h, w), True =
            unknown.
        """
        group, index = self._index(n, planes, rows, cols)
        unknown = self.read_mask(n, planes, rows, cols) if unknown is None else unknown
        channels = self.channel_sets[group]
        low, high = min(channels), max(channels) + 1
        if self.channel_axis is not None:
            index[self.channel_axis] = slice(low, high)
        block = self._arranged(np.asarray(self.image[tuple(index)]), index,
                               [self.volume_axis, self.rows_axis, self.cols_axis, self.channel_axis])
        if self.channel_axis is not None and tuple(channels) != tuple(range(low, high)):
            block = block[..., [c - low for c in channels]]
        elif self.channel_axis is None and len(channels) > 1:
            block = np.repeat(block, len(channels), axis=-1)
        return np.where(unknown[..., np.newaxis], np.zeros((), block.dtype), block), unknown

    def read_mask(self, n: int, planes: slice, rows: slice, cols: slice) -> np.ndarray:
        """bool (K, h, w): the unknown pixels of the window of volume ``n`` (True = unknown; a new array)."""
        _, index = self._index(n, planes, rows, cols)
        spatial = [a for a in range(len(self.image.shape)) if a != self.channel_axis]
        mask_axes = spatial[len(spatial) - len(self.mask.shape):]
        mask_index = [index[a] for a in mask_axes]
        block = mask_to_bool(np.asarray(self.mask[tuple(mask_index)]))
        depth_axis = self.volume_axis if self.volume_axis in mask_axes else None  # else broadcast over D
        arranged = self._arranged(block, dict(zip(mask_axes, mask_index)), [depth_axis, self.rows_axis,
                                                                             self.cols_axis])
        depth = len(range(*planes.indices(self.shape[1])))
        return np.array(np.broadcast_to(arranged, (depth,) + arranged.shape[1:]), dtype=bool)

    def volume(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """The whole of volume ``n``: ``(values (D, H, W, C), unknown (D, H, W))`` as :meth:`read` returns them."""
        every = slice(None)
        return self.read(n, slice(0, self.shape[1]), every, every)

    def _index(self, n: int, planes: slice, rows: slice, cols: slice) -> tuple[int, list[Any]]:
        """Volume ``n``'s channel group and the image index (a list over the image's axes) of the window."""
        if not 0 <= n < self.shape[0]:
            raise IndexError(f"volume {n} is out of range for {self.shape[0]} volume(s)")
        group, offset = divmod(int(n), self.per_group)
        sizes = [int(self.image.shape[a]) for a in self.stack_axes]
        index: list[Any] = [slice(None)] * len(self.image.shape)
        for axis, position in zip(self.stack_axes, np.unravel_index(offset, sizes) if sizes else ()):
            index[axis] = int(position)
        if self.volume_axis is not None:
            index[self.volume_axis] = planes
        index[self.rows_axis], index[self.cols_axis] = rows, cols
        return group, index

    @staticmethod
    def _arranged(block: np.ndarray, index: Any, order: list[Optional[int]]) -> np.ndarray:
        """``block`` (read with ``index``: the axes given a slice remain, in the array's order) with its axes
        in ``order`` (image axes; None: a new axis of length 1)."""
        positions = index.items() if isinstance(index, dict) else enumerate(index)
        remaining = [axis for axis, item in sorted(positions) if isinstance(item, slice)]
        block = np.transpose(block, [remaining.index(a) for a in order if a is not None])
        shape = list(block.shape)
        for place, axis in enumerate(order):
            if axis is None:
                shape.insert(place, 1)
        return block.reshape(shape)


# --------------------------------------------------------------------------- setup: bounded reads
def copy_bytes(volumes: StackVolumes) -> int:
    """The bytes of a clean copy of ``volumes`` (values and bool mask)."""
    pixels = int(np.prod(volumes.shape[:4], dtype=np.int64))
    return pixels * (volumes.shape[4] * volumes.dtype.itemsize + 1)


def clean_copy(volumes: StackVolumes) -> StackVolumes:
    """Volumes over a copy of ``volumes`` as (N, D, H, W, C) values (0 where unknown) and a bool mask,
    read volume by volume; known values are checked on the way.

    Raises:
        InvalidValuesError: a known value is NaN or infinite.
    """
    shape = volumes.shape
    values, unknown = np.empty(shape, volumes.dtype), np.empty(shape[:4], bool)
    for n in range(shape[0]):
        values[n], unknown[n] = volumes.volume(n)
        check_finite(values[n], unknown[n])
    return StackVolumes.of_arrays(values, unknown)


@dataclass(frozen=True)
class MaskSurvey:
    """What setup learns of the mask from a bounded set of planes (:func:`survey_mask`).

    Attributes:
        sample: bool (P, H, W), True = unknown: the planes read, in (volume, plane) order.
        planes: P, how many planes were read (every plane when they fit the budget).
        known_fraction: the share of known pixels in them.
        complete: whether every plane was read.
    """

    sample: np.ndarray
    planes: int
    known_fraction: float
    complete: bool


def survey_mask(volumes: StackVolumes, budget: Optional[int] = None, seed: int = 0) -> MaskSurvey:
    """Read whole mask planes of ``volumes``, at most ``budget`` pixels (default :data:`MASK_BUDGET`): every
    plane when they fit, else a seeded random choice of planes; the time and memory do not grow with the array.

    Raises:
        MaskCoversImageError: no plane read holds a known pixel, nor does any other (the others are then
            read one by one, until a known pixel turns up).
    """
    count, depth, height, width, _ = volumes.shape
    total = count * depth
    wanted = int(min(total, max(1, (MASK_BUDGET if budget is None else budget) // (height * width))))
    order = np.arange(total) if wanted >= total else np.sort(
        np.random.default_rng([seed, 5]).choice(total, size=wanted, replace=False))
    sample = np.empty((wanted, height, width), bool)
    for i, index in enumerate(order):
        sample[i] = _plane_mask(volumes, int(index))
    if sample.all():
        read = set(order.tolist())
        if all(_plane_mask(volumes, index).all() for index in range(total) if index not in read):
            raise mask_covers("every pixel of the array", "learn from")
    return MaskSurvey(sample, wanted, float(1.0 - sample.mean()), wanted == total)


def _plane_mask(volumes: StackVolumes, index: int) -> np.ndarray:
    """bool (H, W): the mask of plane ``index`` (volume-major) of ``volumes``."""
    n, z = divmod(index, volumes.shape[1])
    return volumes.read_mask(n, slice(z, z + 1), slice(None), slice(None))[0]
