"""The hole regions of an in-memory fill: the checks on its mask, and the crop boxes sent to the model.

Masks are bool, True = hole (to fill). Planes are (N, H, W) views of the mask
(:func:`~inpaint_models.pipeline.layout.as_planes`), volumes (..., D, H, W)
(:func:`~inpaint_models.pipeline.layout.as_volumes`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

from inpaint_models.contract.datatypes import ModelInfo
from inpaint_models.contract.errors import ImageTooSmallError
from inpaint_models.contract.values import check_finite, mask_to_bool, require_known_pixels
from inpaint_models.pipeline.layout import (
    Box,
    Layout,
    VolumeBox,
    as_planes,
    as_volumes,
    channel_last,
    hole_boxes,
    iter_plane_indices,
    volume_boxes,
)


@dataclass(frozen=True)
class Holes:
    """The mask of an in-memory fill, checked (:func:`checked_holes`).

    Attributes:
        mask: bool, the mask's shape, True = hole.
        planes: the image as (N, H, W, C) planes (a view).
        mask_planes: bool (N, H, W), the mask broadcast over the planes.
        plane_indices: the planes holding a hole, in order.
    """

    mask: np.ndarray
    planes: np.ndarray
    mask_planes: np.ndarray
    plane_indices: list[int]


def check_plane_size(info: ModelInfo, layout: Layout) -> None:
    """Raise :class:`ImageTooSmallError` when the image's planes are smaller than the model's ``min_size``."""
    if layout.height < info.min_size or layout.width < info.min_size:
        raise ImageTooSmallError(
            f"image planes are {layout.height}x{layout.width} pixels; model {info.name!r} needs at least "
            f"{info.min_size}x{info.min_size}"
        )


def check_planes_cover(layout: Layout, mask_planes: np.ndarray, plane_indices: list[int]) -> None:
    """Raise MaskCoversImageError when the mask covers a whole plane (a fill plane by plane)."""
    for index in plane_indices:
        where = "the whole image" if layout.planes == 1 else f"the whole of plane {index}"
        require_known_pixels(mask_planes[index], where)


def check_volumes_cover(mask_volumes: np.ndarray) -> None:
    """Raise MaskCoversImageError when the mask covers a whole volume ((..., D, H, W) views, a volume fill)."""
    for outer in np.ndindex(mask_volumes.shape[:-3]):
        require_known_pixels(mask_volumes[outer], "the whole stack" if not outer else f"the whole of volume {outer}")


def checked_holes(
    image: np.ndarray, mask: np.ndarray, layout: Layout, info: ModelInfo, volume_index: Optional[int]
) -> Optional[Holes]:
    """The in-memory checks of a fill, in the order it runs them; None for an empty mask.

    ``mask`` is True / non-zero = fill, of the layout's mask shape. Checks the
    planes' size, that the mask leaves known pixels in every plane (plane by
    plane) or volume (``volume_index`` set), and that no known pixel is NaN/inf.

    Raises:
        ImageTooSmallError, MaskCoversImageError, InvalidValuesError.
    """
    mask_bool = mask_to_bool(mask)
    planes, mask_planes = as_planes(image, mask_bool, layout)
    plane_indices = list(iter_plane_indices(mask_planes))
    if not plane_indices:
        return None
    check_plane_size(info, layout)
    if volume_index is None:
        check_planes_cover(layout, mask_planes, plane_indices)
    else:
        check_volumes_cover(as_volumes(channel_last(image, layout), mask_bool, layout, volume_index)[1])
    check_finite(planes, mask_planes)  # the whole image is at hand: name any NaN before filling
    return Holes(mask_bool, planes, mask_planes, plane_indices)


def plane_regions(
    info: ModelInfo, mask_planes: np.ndarray, plane_indices: list[int], margin: int
) -> list[tuple[int, Box]]:
    """The 2D hole regions a fill sends to the model: ``(plane index, crop box)``, in fill order.

    ``mask_planes`` is bool (N, H, W), True = hole; each box is a connected hole
    region grown by ``margin`` (and to the model's ``min_size``, square for
    ``native_size`` models), overlapping boxes merged (:func:`~inpaint_models.pipeline.layout.hole_boxes`).
    """
    return [
        (index, box)
        for index in plane_indices
        for box in hole_boxes(
            np.ascontiguousarray(mask_planes[index]), margin, info.min_size, square=info.native_size is not None
        )
    ]


def volume_regions(
    info: ModelInfo, mask_volumes: np.ndarray, margin: int, depth_margin: int
) -> list[tuple[tuple[int, ...], VolumeBox]]:
    """The 3D hole regions a volume fill sends to the model: ``(outer index, crop box)``, in fill order.

    ``mask_volumes`` is bool (..., D, H, W), True = hole
    (:func:`~inpaint_models.pipeline.layout.volume_boxes` per volume).
    """
    return [
        (outer, box)
        for outer in np.ndindex(mask_volumes.shape[:-3])
        for box in volume_boxes(mask_volumes[outer], margin, depth_margin, info.min_size)
    ]
