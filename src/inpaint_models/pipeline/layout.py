"""Array plumbing of the fill pipeline: layout (planes, volumes, channels) and hole boxes.

Everything model-independent lives here so plugins only ever see float32
(H, W, C) crops in [0, 1] with a bool (H, W) hole mask (True = fill).

Terminology:
    plane   one 2D image (H, W, C) of a possibly nD stack;
    region  a group of hole pixels whose context boxes overlap, processed alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterator, Literal, Optional, Union

import cv2
import numpy as np

from inpaint_models.contract.errors import (
    ShapeMismatchError,
)

ChannelAxis = Union[int, None, Literal["auto"]]


VolumeAxis = Union[int, None, Literal["auto"]]


# --------------------------------------------------------------------------- layout
@dataclass(frozen=True)
class Layout:
    """How an nD array maps to a stack of (H, W, C) planes.

    ``channel_axis`` is the image's channel axis (non-negative) or None when it
    has none; ``stack_shape`` holds the leading axes filled plane by plane.
    """

    channel_axis: Optional[int]
    stack_shape: tuple[int, ...]
    height: int
    width: int
    channels: int

    @property
    def planes(self) -> int:
        """Number of 2D planes in the stack."""
        return int(np.prod(self.stack_shape, dtype=np.int64)) if self.stack_shape else 1


def _mask_fits(mask_shape: tuple[int, ...], spatial_shape: tuple[int, ...]) -> bool:
    """A mask fits when it equals the trailing axes of the spatial shape (>= 2 axes)."""
    return 2 <= len(mask_shape) <= len(spatial_shape) and spatial_shape[-len(mask_shape):] == mask_shape


def resolve_layout(image_shape: tuple[int, ...], mask_shape: tuple[int, ...], channel_axis: ChannelAxis = "auto") -> Layout:
    """Work out which axes are channels, stack and (H, W).

    Args:
        image_shape: shape of the image, e.g. (H, W), (H, W, C), (Z, H, W), (T, Z, H, W, C).
        mask_shape: shape of the mask: the image's spatial shape, or its trailing
            (H, W) / (Z, H, W)... part, broadcast over the leading axes.
        channel_axis: the channel axis, None for none, or "auto" to infer it from
            the mask's shape (a trailing axis of size <= 4 wins when both readings fit).

    Raises:
        ShapeMismatchError: the mask cannot be matched to the image, or the image
            has fewer than two spatial axes.
    """
    ndim = len(image_shape)
    if ndim < 2:
        raise ShapeMismatchError(f"image must have at least 2 dimensions (H, W), got shape {image_shape}")
    if len(mask_shape) < 2:
        raise ShapeMismatchError(f"mask must have at least 2 dimensions (H, W), got shape {mask_shape}")

    if channel_axis == "auto":
        fits_plain = _mask_fits(mask_shape, image_shape)
        fits_channel = ndim >= 3 and _mask_fits(mask_shape, image_shape[:-1])
        if fits_plain and fits_channel:
            axis: Optional[int] = ndim - 1 if image_shape[-1] <= 4 else None
        elif fits_channel:
            axis = ndim - 1
        elif fits_plain:
            axis = None
        else:
            raise ShapeMismatchError(
                f"mask shape {mask_shape} does not match image shape {image_shape}: the mask must have "
                f"the image's spatial shape (without the channel axis) or its trailing (H, W) axes"
            )
    elif channel_axis is None:
        axis = None
    else:
        if not isinstance(channel_axis, (int, np.integer)) or isinstance(channel_axis, bool):
            raise ShapeMismatchError(f"channel_axis must be an int, None or 'auto', got {channel_axis!r}")
        if not -ndim <= channel_axis < ndim:
            raise ShapeMismatchError(f"channel_axis {channel_axis} is out of range for an image with {ndim} dimensions")
        axis = int(channel_axis) % ndim

    spatial = tuple(s for i, s in enumerate(image_shape) if i != axis)
    if len(spatial) < 2:
        raise ShapeMismatchError(f"image shape {image_shape} with channel axis {axis} leaves fewer than 2 spatial axes")
    if not _mask_fits(mask_shape, spatial):
        raise ShapeMismatchError(
            f"mask shape {mask_shape} does not match the image's spatial shape {spatial} "
            f"(image shape {image_shape}, channel axis {axis})"
        )
    channels = image_shape[axis] if axis is not None else 1
    if channels < 1:
        raise ShapeMismatchError(f"image shape {image_shape} has an empty channel axis")
    return Layout(axis, spatial[:-2], spatial[-2], spatial[-1], channels)


def as_planes(image: np.ndarray, mask: np.ndarray, layout: Layout) -> tuple[np.ndarray, np.ndarray]:
    """Views of ``image`` as (N, H, W, C) and of ``mask`` as bool-able (N, H, W).

    No data is copied when the layout allows it (channel axis moved by a view,
    the mask broadcast over the stack), so huge stacks cost nothing here.
    """
    if layout.channel_axis is None:
        planes = image[..., np.newaxis]
    else:
        planes = np.moveaxis(image, layout.channel_axis, -1)
    planes = planes.reshape((layout.planes, layout.height, layout.width, layout.channels))
    full_mask_shape = layout.stack_shape + (layout.height, layout.width)
    mask_planes = np.broadcast_to(mask, full_mask_shape).reshape((layout.planes, layout.height, layout.width))
    return planes, mask_planes


# --------------------------------------------------------------------------- regions
@dataclass(frozen=True)
class Box:
    """A half-open pixel box ``[top:bottom, left:right]`` of one plane."""

    top: int
    left: int
    bottom: int
    right: int

    @property
    def slices(self) -> tuple[slice, slice]:
        return slice(self.top, self.bottom), slice(self.left, self.right)

    @property
    def height(self) -> int:
        return self.bottom - self.top

    @property
    def width(self) -> int:
        return self.right - self.left

    def overlaps(self, other: "Box") -> bool:
        return not (
            self.bottom <= other.top or other.bottom <= self.top or self.right <= other.left or other.right <= self.left
        )

    def union(self, other: "Box") -> "Box":
        return Box(min(self.top, other.top), min(self.left, other.left), max(self.bottom, other.bottom), max(self.right, other.right))


def _expand_span(start: int, stop: int, limit: int, margin: int, target: int) -> tuple[int, int]:
    """``[start, stop)`` widened by ``margin`` on both sides, then to ``target`` long (centred), inside ``[0, limit)``."""
    start, stop = max(0, start - margin), min(limit, stop + margin)
    target = min(max(target, stop - start), limit)
    missing = target - (stop - start)
    start = max(0, start - missing // 2)
    stop = min(limit, start + target)
    start = max(0, stop - target)
    return start, stop


def _grow(box: Box, margin: int, min_size: int, square: bool, height: int, width: int) -> Box:
    """Expand ``box`` by ``margin`` and to at least ``min_size`` (square if asked), inside the plane."""

    def expand(start: int, stop: int, limit: int, target: int) -> tuple[int, int]:
        return _expand_span(start, stop, limit, margin, target)

    top, bottom = expand(box.top, box.bottom, height, min_size)
    left, right = expand(box.left, box.right, width, min_size)
    if square:
        side = max(bottom - top, right - left)
        top, bottom = expand(top, bottom, height, side)
        left, right = expand(left, right, width, side)
    return Box(top, left, bottom, right)


def hole_boxes(mask: np.ndarray, margin: int, min_size: int = 1, square: bool = False) -> list[Box]:
    """Context boxes around the holes of one plane, merged where they overlap.

    Args:
        mask: bool (H, W), True = hole.
        margin: context pixels added on every side of each connected hole region.
        min_size: smallest box side (clamped to the plane).
        square: make every box square where the plane allows (fixed-size models).

    Returns:
        Disjoint boxes covering every hole pixel with its margin, so each can be
        filled alone and the cost follows the hole area, not the image size.
    """
    return boxes_around(
        plane_components(mask), mask.shape, margin, min_size, square, lambda box: bool(mask[box.slices].all())
    )


def plane_components(mask: np.ndarray) -> list[Box]:
    """Bounding boxes of the 8-connected hole regions of one bool (H, W) plane."""
    mask_u8 = mask.view(np.uint8) if mask.dtype == np.bool_ else mask.astype(np.uint8)
    # Label only inside the bounding box of all holes: on a huge image with a
    # small hole, labelling the whole plane would dominate the fill time.
    rows = np.flatnonzero(mask.any(axis=1))  # cheaper than cv2.boundingRect on big planes
    if rows.size == 0:
        return []
    top, bottom = int(rows[0]), int(rows[-1]) + 1
    columns = np.flatnonzero(mask[top:bottom].any(axis=0))
    left, right = int(columns[0]), int(columns[-1]) + 1
    sub = np.ascontiguousarray(mask_u8[top:bottom, left:right])
    count, _, stats, _ = cv2.connectedComponentsWithStats(sub, connectivity=8)
    return [Box(top + int(y), left + int(x), top + int(y + h), left + int(x + w)) for x, y, w, h, _area in stats[1:count]]


def boxes_around(
    components: list[Box],
    shape: tuple[int, int],
    margin: int,
    min_size: int,
    square: bool,
    all_hole: Callable[[Box], bool],
) -> list[Box]:
    """The context boxes of :func:`hole_boxes` from the hole regions' bounding boxes.

    The one place that decides 2D crop geometry, for in-memory planes and for
    dask arrays, whose regions are found chunk by chunk (``inpaint_models.pipeline.chunked``).

    Args:
        components: bounding boxes of the plane's 8-connected hole regions, in any
            order (they are sorted first, so the boxes do not depend on how the
            regions were found).
        shape: the plane's (H, W).
        all_hole: whether every pixel of a box is a hole (it then grows until it
            holds context).
    """
    height, width = shape
    ordered = sorted(components, key=lambda b: (b.top, b.left, b.bottom, b.right))
    boxes = merge_overlapping(
        [_grow(box, margin, min_size, square, height, width) for box in ordered], min_size, square, height, width
    )
    # A box with no known pixel gives a model nothing to work from (margin 0 on
    # a rectangular hole): grow it until it holds context.
    for index, box in enumerate(boxes):
        while all_hole(box) and (box.height < height or box.width < width):
            box = _grow(box, 1, min_size, square, height, width)
        boxes[index] = box
    return boxes


def _merge_quadratic(boxes: list[Box], min_size: int, square: bool, height: int, width: int) -> list[Box]:
    merged = True
    while merged:
        merged = False
        result: list[Box] = []
        for box in boxes:
            for index, kept in enumerate(result):
                if kept.overlaps(box):
                    result[index] = _grow(kept.union(box), 0, min_size, square, height, width)
                    merged = True
                    break
            else:
                result.append(box)
        boxes = result
    return boxes


def merge_overlapping(boxes: list[Box], min_size: int, square: bool, height: int, width: int) -> list[Box]:
    """Merge boxes until no two overlap.

    Few boxes are merged pairwise; many (thousands of specks in a noisy mask)
    are rasterised onto a canvas whose connected components give the groups, so
    the cost stays linear in the number of boxes.
    """
    while len(boxes) > 64:
        top = min(b.top for b in boxes)
        left = min(b.left for b in boxes)
        bottom = max(b.bottom for b in boxes)
        right = max(b.right for b in boxes)
        canvas = np.zeros((bottom - top, right - left), np.uint8)
        for box in boxes:
            canvas[box.top - top : box.bottom - top, box.left - left : box.right - left] = 1
        count, _, stats, _ = cv2.connectedComponentsWithStats(canvas, connectivity=4)
        grouped = [
            _grow(Box(top + int(y), left + int(x), top + int(y + h), left + int(x + w)), 0, min_size, square, height, width)
            for x, y, w, h, _area in stats[1:count]
        ]
        if len(grouped) == len(boxes):
            boxes = grouped
            break
        boxes = grouped
    return _merge_quadratic(boxes, min_size, square, height, width) if len(boxes) <= 64 else _sweep_merge(boxes, min_size, square, height, width)


def _sweep_merge(boxes: list[Box], min_size: int, square: bool, height: int, width: int) -> list[Box]:
    """Final pairwise check for many boxes after rasterised grouping: sort by top, compare neighbours in a sweep."""
    changed = True
    while changed:
        changed = False
        boxes.sort(key=lambda b: (b.top, b.left))
        result: list[Box] = []
        active: list[int] = []
        for box in boxes:
            active = [i for i in active if result[i].bottom > box.top]
            for i in active:
                if result[i].overlaps(box):
                    result[i] = _grow(result[i].union(box), 0, min_size, square, height, width)
                    changed = True
                    break
            else:
                active.append(len(result))
                result.append(box)
        boxes = result
    return boxes


# --------------------------------------------------------------------------- volumes
def resolve_volume_axis(image_shape: tuple[int, ...], layout: Layout, volume_axis: VolumeAxis = "auto") -> Optional[int]:
    """Which stack axis forms the third spatial dimension, as an index into ``layout.stack_shape``.

    Args:
        image_shape: the image's shape.
        layout: the image's layout (:func:`resolve_layout`).
        volume_axis: an axis of the image (an index into ``image_shape``,
            negative counts from the end) that is a stack axis: 0 for Z of
            (Z, H, W), 1 for Z of (T, Z, H, W, C); None for none; "auto" for the
            innermost stack axis (the one just before H), or none for a single image.

    Returns:
        The position of that axis in ``layout.stack_shape``, or None (plane by plane).

    Raises:
        ShapeMismatchError: ``volume_axis`` is out of range, the channel axis,
            H or W, or not an int / None / "auto".
    """
    if volume_axis is None:
        return None
    ndim = len(image_shape)
    stack_axes = [axis for axis in range(ndim) if axis != layout.channel_axis][: len(layout.stack_shape)]
    if isinstance(volume_axis, str) and volume_axis == "auto":
        return len(stack_axes) - 1 if stack_axes else None
    if not isinstance(volume_axis, (int, np.integer)) or isinstance(volume_axis, bool):
        raise ShapeMismatchError(f"volume_axis must be an axis index (int), None or 'auto', got {volume_axis!r}")
    if not -ndim <= volume_axis < ndim:
        raise ShapeMismatchError(f"volume_axis {volume_axis} is out of range for an image with {ndim} dimensions")
    axis = int(volume_axis) % ndim
    if axis in stack_axes:
        return stack_axes.index(axis)
    if axis == layout.channel_axis:
        role = "the channel axis"
    elif not stack_axes:
        role = "H or W of a single image: there is no stack to fill as a volume"
    else:
        role = "H or W of each plane"
    raise ShapeMismatchError(
        f"volume_axis {volume_axis} is {role}; the stack axes of an image of shape {tuple(image_shape)} "
        f"are {', '.join(map(str, stack_axes)) or 'none'}"
    )


def channel_last(image: np.ndarray, layout: Layout) -> np.ndarray:
    """A view of ``image`` as ``stack + (H, W, C)`` (C = 1 for an image without channel axis)."""
    if layout.channel_axis is None:
        return image[..., np.newaxis]
    return np.moveaxis(image, layout.channel_axis, -1)


def as_volumes(
    image: np.ndarray, mask: np.ndarray, layout: Layout, volume_index: int
) -> tuple[np.ndarray, np.ndarray]:
    """Views of a channel-last image as (..., D, H, W, C) and of its mask as (..., D, H, W).

    D is the volume axis; the leading axes are the other stack axes (iterate
    them with ``np.ndindex(volumes.shape[:-4])``). No data is copied, so writing
    to the views of an output buffer writes the buffer.

    Args:
        image: ``stack + (H, W, C)``, e.g. from :func:`channel_last`.
        mask: bool, broadcastable to ``stack + (H, W)``.
        layout: from :func:`resolve_layout`.
        volume_index: from :func:`resolve_volume_axis`.
    """
    depth_position = len(layout.stack_shape) - 1
    full_mask = np.broadcast_to(mask, layout.stack_shape + (layout.height, layout.width))
    return np.moveaxis(image, volume_index, depth_position), np.moveaxis(full_mask, volume_index, depth_position)


@dataclass(frozen=True)
class VolumeBox:
    """A half-open voxel box ``[start[i]:stop[i]]`` along (D, H, W) of one volume."""

    start: tuple[int, int, int]
    stop: tuple[int, int, int]

    @property
    def slices(self) -> tuple[slice, slice, slice]:
        return tuple(slice(a, b) for a, b in zip(self.start, self.stop))  # type: ignore[return-value]

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(b - a for a, b in zip(self.start, self.stop))  # type: ignore[return-value]

    def overlaps(self, other: "VolumeBox") -> bool:
        return all(a < d and c < b for a, b, c, d in zip(self.start, self.stop, other.start, other.stop))

    def union(self, other: "VolumeBox") -> "VolumeBox":
        return VolumeBox(
            tuple(map(min, self.start, other.start)),  # type: ignore[arg-type]
            tuple(map(max, self.stop, other.stop)),  # type: ignore[arg-type]
        )


def volume_boxes(mask: np.ndarray, margin: int, volume_margin: int, min_size: int = 1) -> list[VolumeBox]:
    """Context boxes around the holes of one volume, found in 3D and merged where they overlap.

    Args:
        mask: bool (D, H, W), True = hole (a broadcast view is fine).
        margin: context pixels added along H and W on every side of each hole
            region (a connected component of the mask, 26-connected in 3D).
        volume_margin: context planes added along D on every side.
        min_size: smallest box side along H and W (clamped to the volume).

    Returns:
        Disjoint boxes covering every hole voxel with its margins; each holds at
        least one known voxel (a box that would be all hole grows until it does),
        so each can be filled alone and the cost follows the holes, not the volume.
    """
    return volume_boxes_around(
        volume_components(mask), mask.shape, margin, volume_margin, min_size, lambda box: bool(mask[box.slices].all())
    )


def volume_components(mask: np.ndarray) -> list[VolumeBox]:
    """Bounding boxes of the 26-connected hole regions of one bool (D, H, W) volume."""
    from scipy import ndimage

    start, stop = [], []
    for axis in range(3):  # label only inside the bounding box of all holes
        present = np.flatnonzero(mask.any(axis=tuple(a for a in range(3) if a != axis)))
        if present.size == 0:
            return []
        start.append(int(present[0]))
        stop.append(int(present[-1]) + 1)
    sub = np.ascontiguousarray(mask[tuple(slice(a, b) for a, b in zip(start, stop))])
    labels, _ = ndimage.label(sub, structure=np.ones((3, 3, 3), bool))
    return [
        VolumeBox(
            tuple(start[axis] + found[axis].start for axis in range(3)),  # type: ignore[arg-type]
            tuple(start[axis] + found[axis].stop for axis in range(3)),  # type: ignore[arg-type]
        )
        for found in ndimage.find_objects(labels)
    ]


def volume_boxes_around(
    components: list[VolumeBox],
    shape: tuple[int, int, int],
    margin: int,
    volume_margin: int,
    min_size: int,
    all_hole: Callable[[VolumeBox], bool],
) -> list[VolumeBox]:
    """The context boxes of :func:`volume_boxes` from the hole regions' bounding boxes.

    As :func:`boxes_around` for 3D: ``components`` in any order (sorted first),
    ``shape`` the volume's (D, H, W), ``all_hole`` whether a box holds no known voxel.
    """
    margins = (volume_margin, margin, margin)
    targets = (1, min_size, min_size)
    boxes = []
    for found in sorted(components, key=lambda b: (b.start, b.stop)):
        spans = [
            _expand_span(found.start[axis], found.stop[axis], shape[axis], margins[axis], targets[axis])
            for axis in range(3)
        ]
        box = VolumeBox(tuple(a for a, _ in spans), tuple(b for _, b in spans))  # type: ignore[arg-type]
        while all_hole(box) and box.shape != tuple(shape):  # no known voxel: nothing to fill from
            spans = [_expand_span(a, b, limit, 1, 1) for (a, b), limit in zip(spans, shape)]
            box = VolumeBox(tuple(a for a, _ in spans), tuple(b for _, b in spans))  # type: ignore[arg-type]
        boxes.append(box)
    return _merge_volume_boxes(boxes)


def _merge_volume_boxes(boxes: list[VolumeBox]) -> list[VolumeBox]:
    """Merge boxes until no two overlap: pairwise for a few, on a raster for many (linear in their count)."""
    from scipy import ndimage

    while len(boxes) > 64:
        low = np.min([b.start for b in boxes], axis=0)
        high = np.max([b.stop for b in boxes], axis=0)
        canvas = np.zeros(tuple(high - low), bool)
        for box in boxes:
            canvas[tuple(slice(a - o, b - o) for a, b, o in zip(box.start, box.stop, low))] = True
        labels, count = ndimage.label(canvas)
        grouped = [
            VolumeBox(tuple(int(o + s.start) for o, s in zip(low, found)), tuple(int(o + s.stop) for o, s in zip(low, found)))  # type: ignore[arg-type]
            for found in ndimage.find_objects(labels)
        ]
        if count == len(boxes):  # every box its own component: none overlaps another
            return grouped
        boxes = grouped
    merged = True
    while merged:
        merged = False
        result: list[VolumeBox] = []
        for box in boxes:
            for index, kept in enumerate(result):
                if kept.overlaps(box):
                    result[index] = kept.union(box)
                    merged = True
                    break
            else:
                result.append(box)
        boxes = result
    return boxes


def iter_plane_indices(mask_planes: np.ndarray) -> Iterator[int]:
    """Indices of the planes that have at least one hole pixel."""
    for index in range(mask_planes.shape[0]):
        if mask_planes[index].any():
            yield index


def resize_plane(array: np.ndarray, height: int, width: int) -> np.ndarray:
    """Resize float32 (H, W, C) with area averaging when shrinking, bicubic when enlarging."""
    shrinking = height * width < array.shape[0] * array.shape[1]
    interpolation = cv2.INTER_AREA if shrinking else cv2.INTER_CUBIC
    channels = array.shape[2]
    resized = cv2.resize(array, (width, height), interpolation=interpolation)
    return resized.reshape(height, width, channels)


def resize_mask(mask: np.ndarray, height: int, width: int) -> np.ndarray:
    """Resize a bool mask; any source hole pixel under a target pixel makes it a hole."""
    resized = cv2.resize(mask.astype(np.float32), (width, height), interpolation=cv2.INTER_AREA)
    return resized > 0
