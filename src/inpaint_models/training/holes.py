"""Artificial holes like the user's own: the shapes of a mask's holes, and holes drawn like them.

A fit (:mod:`inpaint_models.training.array_data`) trains on the known pixels of
the array being filled, hidden by *artificial* holes shaped like its real ones:
:func:`describe_holes` measures the real holes (boxes, lines, strokes),
:func:`draw_hole` draws one like a measured shape and
:func:`suggested_crop_size` sizes the training crops to keep context around them.

Masks are bool, True = hole. Strokes are drawn by the package's one stroke
generator, :func:`inpaint_models.io.masks.make_mask`; boxes and lines are placed
here: ``make_mask`` draws box sides from one range for both axes, so it cannot
draw a box of a given height *and* width, nor a line of a given thickness and
orientation, which imitating a mask's holes needs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal, Sequence

import numpy as np

from inpaint_models.io.masks import make_mask

#: a random walk clipped at the crop's edges and crossing itself covers less than its length times its
#: brush width: strokes are drawn this much longer than the path length they imitate (measured: it keeps
#: the mean area of strokes 3-9 px wide and 30-200 px long within about 15 % of brush x length)
STROKE_LENGTH_FACTOR = 1.3


# --------------------------------------------------------------------------- hole shapes
@dataclass(frozen=True)
class HoleShape:
    """One kind of hole found in the user's mask, to draw artificial holes like it.

    Attributes:
        kind: ``"box"`` (a filled rectangle), ``"line"`` (a straight band, e.g. a
            lost scan line) or ``"stroke"`` (anything else: a brush-like band).
        height, width: the box's size; for a line its thickness (``height``
            when horizontal) and length (``width``; 0 = across the whole crop);
            for a stroke its brush width (``height``) and path length (``width``).
        horizontal: a line's orientation.
    """

    kind: Literal["box", "line", "stroke"]
    height: int
    width: int
    horizontal: bool = True


def describe_holes(mask: np.ndarray, limit: int = 256, seed: int = 0) -> list[HoleShape]:
    """The shapes of the holes of ``mask``, one per connected hole region of each plane.

    Args:
        mask: bool (..., H, W), True = hole; every leading index is one plane.
        limit: at most this many regions are described (chosen at random, seeded).
        seed: seed of that choice.

    Returns:
        A list of :class:`HoleShape` (empty when the mask is empty). A region
        counts as a *line* when it is thin (the short side of its bounding box
        at most a quarter of the long one, or at most 3 px) and either spans
        half its plane or is straight (fills its box); as a *box* when it fills
        at least 80 % of its bounding box; otherwise as a *stroke*, whose brush
        width is twice the largest distance from its inside to its edge.
    """
    from scipy import ndimage

    mask = np.asarray(mask, dtype=bool)
    if mask.ndim < 2:
        raise ValueError(f"mask must have at least 2 dimensions (H, W), got shape {mask.shape}")
    height, width = mask.shape[-2:]
    planes = mask.reshape((-1, height, width))
    regions: list[tuple[int, tuple[slice, slice], int]] = []
    eight = np.ones((3, 3), dtype=bool)
    for index in np.flatnonzero(planes.reshape(len(planes), -1).any(axis=1)):
        labels, _ = ndimage.label(planes[index], structure=eight)
        for label, box in enumerate(ndimage.find_objects(labels), start=1):
            if box is not None:
                regions.append((int(index), box, label))
            if len(regions) > 20 * limit:
                break
    if len(regions) > limit:
        keep = np.random.default_rng([seed, 11]).choice(len(regions), size=limit, replace=False)
        regions = [regions[i] for i in sorted(keep)]
    shapes = []
    for index, box, label in regions:
        region = planes[index][box]
        labels, _ = ndimage.label(region, structure=eight)
        inside = labels == label if labels.max() > 1 else region
        shapes.append(_classify(inside, height, width))
    return shapes


def _classify(region: np.ndarray, plane_height: int, plane_width: int) -> HoleShape:
    """The :class:`HoleShape` of one connected region (bool, cropped to its bounding box)."""
    from scipy import ndimage

    h, w = region.shape
    area = int(region.sum())
    fill_ratio = area / float(h * w)
    long_side, short_side = max(h, w), min(h, w)
    horizontal = w >= h
    thin = short_side <= max(3, long_side // 4)
    spans = (w >= plane_width // 2) if horizontal else (h >= plane_height // 2)
    if thin and (spans or fill_ratio >= 0.8):
        thickness = max(1, int(round(area / float(long_side))))
        return HoleShape("line", thickness, 0 if spans else long_side, horizontal)
    if fill_ratio >= 0.8:
        return HoleShape("box", h, w)
    distance = ndimage.distance_transform_edt(np.pad(region, 1))
    brush = max(1, int(round(2 * float(distance.max()))))
    return HoleShape("stroke", brush, max(brush, int(round(area / brush))))


def default_hole_shapes(size: int) -> list[HoleShape]:
    """Holes to draw when the user's mask has none to imitate: a box a quarter of the crop side."""
    side = max(2, size // 4)
    return [HoleShape("box", side, side)]


def draw_hole(shape: HoleShape, size: int, rng: np.random.Generator, jitter: float = 0.2) -> np.ndarray:
    """An artificial hole like ``shape`` in a ``size`` x ``size`` crop: bool (size, size), True = hole.

    Sizes are scaled by a factor uniform in [1 - jitter, 1 + jitter] and kept
    below three quarters of the crop side for boxes (so some context remains
    in the plane); lines cross the crop (or have their length); strokes are
    drawn by the package's stroke generator (:func:`inpaint_models.io.masks.make_mask`,
    ``"strokes"``: one random polyline walk) with the shape's brush width and
    about its path length. The hole is placed uniformly at random; it is never empty.
    """

    def scaled(value: int, cap: int) -> int:
        return int(min(cap, max(1, round(value * rng.uniform(1.0 - jitter, 1.0 + jitter)))))

    if shape.kind == "stroke":
        brush = scaled(shape.height, max(1, size // 2))
        length = float(min(scaled(shape.width, 4 * size), 4 * size))
        return make_mask("strokes", (size, size), rng, **stroke_parameters(brush, length, size))
    hole = np.zeros((size, size), dtype=bool)
    if shape.kind == "box":
        cap = max(1, (3 * size) // 4)
        h, w = scaled(shape.height, cap), scaled(shape.width, cap)
        top, left = int(rng.integers(0, size - h + 1)), int(rng.integers(0, size - w + 1))
        hole[top : top + h, left : left + w] = True
    else:
        thickness = scaled(shape.height, max(1, size // 2))
        length = size if shape.width <= 0 else scaled(shape.width, size)
        offset = int(rng.integers(0, size - thickness + 1))
        start = int(rng.integers(0, size - length + 1))
        if shape.horizontal:
            hole[offset : offset + thickness, start : start + length] = True
        else:
            hole[start : start + length, offset : offset + thickness] = True
    return hole


def stroke_parameters(brush: int, length: float, size: int) -> dict[str, Any]:
    """:class:`~inpaint_models.io.masks.StrokePreset` fields for one stroke of ``brush`` px width and about
    ``length`` px of path in a ``size`` x ``size`` crop.

    The stroke generator's sizes are relative to a 256-px image (scaled by
    ``size / 256``); its segments are up to a third of the crop side long, turning
    by up to a quarter turn at each vertex, and it draws 1 to ``max_vertices``
    of them: on average :data:`STROKE_LENGTH_FACTOR` times ``length``, so that
    the stroke covers about ``brush`` x ``length`` pixels.
    """
    per_256 = 256.0 / size
    segment = size / 3.0  # the longest segment; they average 0.55 of it
    vertices = max(1, int(round(2.0 * STROKE_LENGTH_FACTOR * length / (0.55 * segment))) - 1)
    return {"max_vertices": vertices, "max_length": segment * per_256, "min_width": brush * per_256,
            "max_width": brush * per_256, "min_times": 1, "max_times": 1, "max_angle": math.pi / 2}


def suggested_crop_size(shapes: Sequence[HoleShape], height: int, width: int, minimum: int = 64,
                        multiple: int = 16) -> int:
    """A training crop side for holes like ``shapes`` in planes of ``height`` x ``width``.

    Twice the largest box or stroke extent (so an artificial hole keeps
    context around it), at least ``minimum``, a multiple of ``multiple``, and
    at most the plane's shorter side (rounded down to ``multiple``; the plane
    itself when that is smaller than ``multiple``).
    """
    extent = max([max(s.height, s.width) for s in shapes if s.kind == "box"]
                 + [s.height * 4 for s in shapes if s.kind != "box"] + [0])
    side = max(minimum, 2 * extent)
    side = int(math.ceil(side / multiple) * multiple)
    limit = min(height, width)
    fitting = (limit // multiple) * multiple
    return min(side, fitting) if fitting > 0 else limit
