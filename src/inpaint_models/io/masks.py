"""Mask generators for training and evaluation, and mask file I/O.

Convention everywhere: a mask is a ``bool`` array of shape ``(H, W)`` with
``True`` = hole (a pixel to fill) and ``False`` = known pixel.

Generators (all take an explicit :class:`numpy.random.Generator`, so a seed
fixes every mask):

* ``box`` -- one or more axis-aligned rectangles (GLCIC, reports 001/002);
  sides uniform in 96-128 px at 256 px by default, scaled with the image.
* ``centre`` -- a centred square (report 004: 128x128 in 256x256).
* ``strokes`` -- free-form brush strokes (DeepFill v2 / LaMa style random
  polyline walks), presets ``thin``, ``medium``, ``thick``.
* ``mosaic`` -- the mask set of report 004's mosaic variant: box masks drawn
  exactly as ``box`` draws them (the pixelated network input under the hole is
  made by the deepfill model itself: ``models/deepfill/inputs.py``).

Evaluation sets can be bucketed by hole ratio (0-10 %, ..., 50-60 %) with
:func:`generate_masks`. Only numpy and OpenCV are used here.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import Any, Union

import cv2
import numpy as np

from inpaint_models.contract.errors import InpaintError, ShapeMismatchError
from inpaint_models.contract.values import mask_to_bool

__all__ = [
    "MASK_KINDS",
    "RATIO_BUCKETS",
    "STROKE_PRESETS",
    "StrokePreset",
    "box_mask",
    "centre_mask",
    "generate_masks",
    "hole_ratio",
    "load_mask",
    "make_mask",
    "ratio_bucket",
    "save_masks",
    "strokes_mask",
]

#: Names accepted by :func:`make_mask` / :func:`generate_masks`
#: (``"center"`` is also accepted as an alias of ``"centre"``).
MASK_KINDS: tuple[str, ...] = ("box", "centre", "strokes", "mosaic", "mixed")
_KIND_ALIASES: dict[str, str] = {"center": "centre"}

#: Hole-ratio buckets used for evaluation mask sets, as ``(low, high)``
#: fractions; a ratio ``r`` belongs to the bucket with ``low <= r < high``
#: (the last bucket also includes its upper bound 0.6).
RATIO_BUCKETS: tuple[tuple[float, float], ...] = (
    (0.0, 0.1),
    (0.1, 0.2),
    (0.2, 0.3),
    (0.3, 0.4),
    (0.4, 0.5),
    (0.5, 0.6),
)

#: Reference image side the relative sizes below are expressed in.
_REFERENCE_SIDE = 256

PathType = Union[str, "PathLike[str]"]


# --------------------------------------------------------------------------- #
# helpers
# --------------------------------------------------------------------------- #
def _check_shape(shape: Any) -> tuple[int, int]:
    """Return ``shape`` as ``(H, W)`` of positive ints or raise InpaintError."""
    try:
        h, w = (int(s) for s in shape)
    except (TypeError, ValueError):
        raise InpaintError(
            f"mask shape must be a (height, width) pair of positive ints, got {shape!r}"
        ) from None
    if h < 1 or w < 1:
        raise InpaintError(f"mask shape must be positive, got {(h, w)}")
    return h, w


def _size_to_shape(size: int | tuple[int, int] | Sequence[int]) -> tuple[int, int]:
    if isinstance(size, (int, np.integer)):
        return _check_shape((size, size))
    return _check_shape(size)


def _scale(shape: tuple[int, int]) -> float:
    """Scale factor of an image relative to the 256 px reference (geometric
    mean of the sides, so non-square images get a sensible value)."""
    return math.sqrt(shape[0] * shape[1]) / _REFERENCE_SIDE


# --------------------------------------------------------------------------- #
# box / centre (the "mosaic" kind draws box masks)
# --------------------------------------------------------------------------- #
def _box_mask_ranges(
    shape: tuple[int, int],
    rng: np.random.Generator,
    count: int,
    h_range: tuple[int, int],
    w_range: tuple[int, int],
) -> np.ndarray:
    h, w = shape
    mask = np.zeros((h, w), dtype=bool)
    for _ in range(count):
        bh = int(rng.integers(h_range[0], h_range[1] + 1))
        bw = int(rng.integers(w_range[0], w_range[1] + 1))
        top = int(rng.integers(0, h - bh + 1))
        left = int(rng.integers(0, w - bw + 1))
        mask[top : top + bh, left : left + bw] = True
    return mask


def _side_range(
    side: int, min_size: int | None, max_size: int | None
) -> tuple[int, int]:
    """Side-length range for one axis: defaults 96/256..128/256 of ``side``,
    at least 1 px, clipped to ``side``."""
    lo = round(side * 96 / _REFERENCE_SIDE) if min_size is None else int(min_size)
    hi = round(side * 128 / _REFERENCE_SIDE) if max_size is None else int(max_size)
    lo = min(max(lo, 1), side)
    hi = min(max(hi, 1), side)
    if lo > hi:
        raise InpaintError(
            f"box min_size ({lo}) is larger than max_size ({hi}) "
            f"for an image side of {side} px"
        )
    return lo, hi


def box_mask(
    shape: tuple[int, int],
    rng: np.random.Generator,
    count: int = 1,
    min_size: int | None = None,
    max_size: int | None = None,
) -> np.ndarray:
    """Random axis-aligned rectangular holes (GLCIC / reports 001, 002).

    Args:
        shape: ``(H, W)`` of the mask.
        rng: random generator (e.g. ``np.random.default_rng(seed)``).
        count: number of rectangles (they may overlap).
        min_size, max_size: range of each side in pixels; height and width are
            drawn independently and uniformly in ``[min_size, max_size]``.
            Defaults: 96/256 and 128/256 of the image side along each axis
            (GLCIC's 96-128 px at 256 px), at least 1 px; sizes are clipped to
            the image. Every rectangle lies fully inside the image.

    Returns:
        ``bool`` array of shape ``(H, W)``, ``True`` = hole.
    """
    shape = _check_shape(shape)
    count = int(count)
    if count < 1:
        raise InpaintError(f"box count must be at least 1, got {count}")
    if min_size is not None and int(min_size) < 1:
        raise InpaintError(f"box min_size must be at least 1 px, got {min_size}")
    if max_size is not None and int(max_size) < 1:
        raise InpaintError(f"box max_size must be at least 1 px, got {max_size}")
    h_range = _side_range(shape[0], min_size, max_size)
    w_range = _side_range(shape[1], min_size, max_size)
    return _box_mask_ranges(shape, rng, count, h_range, w_range)


def centre_mask(shape: tuple[int, int], size: int | None = None) -> np.ndarray:
    """A centred square hole (report 004: 128x128 in a 256x256 image).

    Args:
        shape: ``(H, W)`` of the mask.
        size: side of the square in pixels; default half the smaller side.
            Must fit inside the image.

    Returns:
        ``bool`` array of shape ``(H, W)``, ``True`` = hole. The square starts at
        row ``(H - size) // 2`` and column ``(W - size) // 2``.
    """
    h, w = _check_shape(shape)
    if size is None:
        size = max(min(h, w) // 2, 1)
    size = int(size)
    if size < 1 or size > min(h, w):
        raise InpaintError(
            f"centre mask size must be between 1 and {min(h, w)} px for shape "
            f"{(h, w)}, got {size}"
        )
    mask = np.zeros((h, w), dtype=bool)
    top = (h - size) // 2
    left = (w - size) // 2
    mask[top : top + size, left : left + size] = True
    return mask


# --------------------------------------------------------------------------- #
# free-form strokes
# --------------------------------------------------------------------------- #
@dataclass(frozen=True)
class StrokePreset:
    """Parameters of the free-form stroke generator.

    Lengths and widths are in pixels *of a 256 px image*; they are scaled by
    ``sqrt(H * W) / 256`` for other sizes (so the same preset works at 32 px and
    at 4096 px).

    Attributes:
        max_vertices: each stroke has 1..max_vertices segments.
        max_length: segment length is uniform in [max_length / 10, max_length].
        max_width: brush width is uniform in [min_width, max_width].
        min_times, max_times: number of strokes, uniform integer in this range.
        max_angle: segment direction change, uniform in [0, max_angle] radians
            (alternately mirrored, as in DeepFill v2 / LaMa).
        min_width: smallest brush width (relative to 256 px).
    """

    max_vertices: int
    max_length: float
    max_width: float
    min_times: int
    max_times: int
    max_angle: float
    min_width: float = 3.0

    def __post_init__(self) -> None:
        if self.max_vertices < 1:
            raise InpaintError("StrokePreset.max_vertices must be >= 1")
        if self.max_length <= 0:
            raise InpaintError("StrokePreset.max_length must be > 0")
        if not 0 < self.min_width <= self.max_width:
            raise InpaintError("StrokePreset needs 0 < min_width <= max_width")
        if not 1 <= self.min_times <= self.max_times:
            raise InpaintError("StrokePreset needs 1 <= min_times <= max_times")
        if self.max_angle < 0:
            raise InpaintError("StrokePreset.max_angle must be >= 0")


#: Stroke presets (relative to a 256 px image). Measured hole ratio at 256 px
#: (mean, 10th-90th percentile): thin 6 % (2-9 %), medium 12 % (6-20 %),
#: thick 24 % (13-36 %); nearly the same at 32 px and 1024 px.
STROKE_PRESETS: dict[str, StrokePreset] = {
    "thin": StrokePreset(
        max_vertices=8, max_length=60, max_width=8, min_times=2, max_times=6,
        max_angle=4.0, min_width=3,
    ),
    "medium": StrokePreset(
        max_vertices=8, max_length=60, max_width=24, min_times=2, max_times=5,
        max_angle=4.0, min_width=10,
    ),
    "thick": StrokePreset(
        max_vertices=8, max_length=60, max_width=48, min_times=2, max_times=5,
        max_angle=4.0, min_width=24,
    ),
}


def _resolve_preset(preset: str | StrokePreset) -> StrokePreset:
    if isinstance(preset, StrokePreset):
        return preset
    try:
        return STROKE_PRESETS[preset]
    except (KeyError, TypeError):
        raise InpaintError(
            f"unknown stroke preset {preset!r}; valid presets: "
            + ", ".join(STROKE_PRESETS)
        ) from None


def strokes_mask(
    shape: tuple[int, int],
    rng: np.random.Generator,
    preset: str | StrokePreset = "medium",
) -> np.ndarray:
    """Free-form brush-stroke holes (DeepFill v2 / LaMa style; report 003).

    Draws ``min_times..max_times`` strokes; each is a random polyline walk from a
    random start point with a random number of segments, each segment of random
    direction change, length and brush width, drawn with ``cv2.line`` and a
    filled circle at every vertex (round joints). End points are clipped to the
    image.

    Args:
        shape: ``(H, W)`` of the mask.
        rng: random generator.
        preset: a name in :data:`STROKE_PRESETS` (``"thin"``, ``"medium"``,
            ``"thick"``) or a :class:`StrokePreset`.

    Returns:
        ``bool`` array of shape ``(H, W)``, ``True`` = hole (never empty).
    """
    h, w = _check_shape(shape)
    p = _resolve_preset(preset)
    scale = _scale((h, w))
    canvas = np.zeros((h, w), dtype=np.uint8)
    times = int(rng.integers(p.min_times, p.max_times + 1))
    for _ in range(times):
        x = float(rng.uniform(0, w))
        y = float(rng.uniform(0, h))
        n_vertices = int(rng.integers(1, p.max_vertices + 1))
        angle = float(rng.uniform(0, 2 * math.pi))
        width = 1
        for j in range(n_vertices):
            turn = float(rng.uniform(0, p.max_angle))
            angle += -turn if j % 2 == 0 else turn
            length = float(rng.uniform(p.max_length / 10, p.max_length)) * scale
            width = max(1, int(round(float(rng.uniform(p.min_width, p.max_width)) * scale)))
            nx = min(max(x + length * math.cos(angle), 0.0), w - 1.0)
            ny = min(max(y + length * math.sin(angle), 0.0), h - 1.0)
            p0 = (int(round(x)), int(round(y)))
            p1 = (int(round(nx)), int(round(ny)))
            cv2.line(canvas, p0, p1, 255, width)
            cv2.circle(canvas, p0, width // 2, 255, -1)
            x, y = nx, ny
        cv2.circle(canvas, (int(round(x)), int(round(y))), width // 2, 255, -1)
    mask = canvas > 0
    if not mask.any():  # pragma: no cover - a 1 px line always draws a pixel
        mask[min(int(y), h - 1), min(int(x), w - 1)] = True
    return mask


# --------------------------------------------------------------------------- #
# dispatch
# --------------------------------------------------------------------------- #
def _canonical_kind(kind: str) -> str:
    name = str(kind).strip().lower()
    name = _KIND_ALIASES.get(name, name)
    if name not in MASK_KINDS:
        raise InpaintError(
            f"unknown mask kind {kind!r}; valid kinds: "
            + ", ".join(MASK_KINDS)
            + " (alias: center)"
        )
    return name


_KIND_PARAMS: dict[str, tuple[str, ...]] = {
    "box": ("count", "min_size", "max_size"),
    "mosaic": ("count", "min_size", "max_size"),
    "mixed": ("count", "min_size", "max_size"),
    "centre": ("size",),
    "strokes": tuple(f.name for f in dataclasses.fields(StrokePreset)),
}


def _check_request(name: str, preset: str | None, params: dict[str, Any]) -> None:
    """Raise InpaintError for a preset or parameter the kind does not take."""
    if preset is not None:
        if name not in ("strokes", "mixed"):
            raise InpaintError(
                f"mask kind {name!r} takes no preset (got {preset!r}); presets "
                f"({', '.join(STROKE_PRESETS)}) apply to 'strokes' and 'mixed' only"
            )
        _resolve_preset(preset)
    unknown = sorted(set(params) - set(_KIND_PARAMS[name]))
    if unknown:
        raise InpaintError(
            f"unknown parameter(s) {', '.join(unknown)} for mask kind {name!r}; "
            f"valid: {', '.join(_KIND_PARAMS[name])}"
        )


def make_mask(
    kind: str,
    shape: tuple[int, int],
    rng: np.random.Generator,
    preset: str | None = None,
    **params: Any,
) -> np.ndarray:
    """Make one mask of the given kind.

    Args:
        kind: one of :data:`MASK_KINDS` (``"center"`` is accepted for ``"centre"``).
        shape: ``(H, W)`` of the mask.
        rng: random generator (unused by ``centre``).
        preset: stroke preset name (``strokes`` only; default ``"medium"``).
        **params: keyword arguments of the generator: ``count``, ``min_size``,
            ``max_size`` for ``box``/``mosaic``; ``size`` for ``centre``; any
            :class:`StrokePreset` field for ``strokes`` (overrides the preset).
            ``mixed`` draws, with equal chances, a ``box`` mask (with ``params``) or a
            ``strokes`` mask (with ``preset``): training data for models that should
            handle both rectangular holes and free-form scratches.

    Returns:
        ``bool`` array of shape ``(H, W)``, ``True`` = hole.

    Raises:
        InpaintError: unknown kind, preset or parameter.
    """
    name = _canonical_kind(kind)
    _check_request(name, preset, params)
    if name == "box":
        return box_mask(shape, rng, **params)
    if name == "mosaic":  # report 004's mosaic variant uses box holes; the model pixelates under them
        return box_mask(shape, rng, **params)
    if name == "mixed":
        if rng.random() < 0.5:
            return box_mask(shape, rng, **params)
        return strokes_mask(shape, rng, _resolve_preset("medium" if preset is None else preset))
    if name == "centre":
        return centre_mask(shape, **params)
    stroke_preset = _resolve_preset("medium" if preset is None else preset)
    if params:
        stroke_preset = dataclasses.replace(stroke_preset, **params)
    return strokes_mask(shape, rng, stroke_preset)


# --------------------------------------------------------------------------- #
# hole ratio buckets
# --------------------------------------------------------------------------- #
def hole_ratio(mask: np.ndarray) -> float:
    """Fraction of hole (``True`` / non-zero) pixels in ``mask``, in [0, 1]."""
    mask = np.asarray(mask)
    if mask.size == 0:
        raise InpaintError("hole_ratio of an empty array is undefined")
    return float(np.count_nonzero(mask)) / mask.size


def _bucket_label(low: float, high: float) -> str:
    return f"{round(low * 100):d}-{round(high * 100):d}%"


def ratio_bucket(ratio: float) -> str:
    """Label (``"0-10%"``, ``"10-20%"``, ..., ``"50-60%"``) of the
    :data:`RATIO_BUCKETS` entry holding ``ratio``.

    Raises:
        InpaintError: ``ratio`` outside [0, 0.6].
    """
    r = float(ratio)
    top = RATIO_BUCKETS[-1][1]
    if not 0.0 <= r <= top:
        raise InpaintError(
            f"hole ratio {r:.4f} is outside the evaluation buckets [0, {top}]"
        )
    for low, high in RATIO_BUCKETS:
        if low <= r < high:
            return _bucket_label(low, high)
    return _bucket_label(*RATIO_BUCKETS[-1])


_BUCKET_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*-\s*(\d+(?:\.\d+)?)\s*%?\s*$")


def _parse_bucket(bucket: str | tuple[float, float] | Sequence[float]) -> tuple[float, float]:
    if isinstance(bucket, str):
        m = _BUCKET_RE.match(bucket)
        if not m:
            raise InpaintError(
                f"cannot parse hole-ratio bucket {bucket!r}; use e.g. '10-20%' "
                f"(valid: {', '.join(_bucket_label(*b) for b in RATIO_BUCKETS)}) "
                "or a (low, high) pair of fractions"
            )
        low, high = float(m.group(1)) / 100, float(m.group(2)) / 100
    else:
        try:
            low, high = (float(v) for v in bucket)
        except (TypeError, ValueError):
            raise InpaintError(
                f"hole-ratio bucket must be a label like '10-20%' or a (low, high) "
                f"pair, got {bucket!r}"
            ) from None
    if not 0.0 <= low < high <= 1.0:
        raise InpaintError(
            f"hole-ratio bucket must satisfy 0 <= low < high <= 1, got ({low}, {high})"
        )
    return low, high


def _in_bucket(ratio: float, low: float, high: float) -> bool:
    # Same rule as ratio_bucket: [low, high), the top bucket closed at 0.6 / 1.
    return low <= ratio < high or (ratio == high and high >= RATIO_BUCKETS[-1][1])


# --------------------------------------------------------------------------- #
# mask sets
# --------------------------------------------------------------------------- #
def _bucket_side_range(side: int, low: float, high: float) -> tuple[int, int]:
    """Side range [sqrt(low) * side, sqrt(high) * side] (at least 1 px), so a box
    whose height and width both use it has a hole ratio in [low, high]."""
    hi = max(1, math.floor(math.sqrt(high) * side))
    lo = min(max(1, math.ceil(math.sqrt(low) * side)), hi)
    return lo, hi


def generate_masks(
    kind: str,
    count: int,
    size: int | tuple[int, int],
    seed: int,
    preset: str | None = None,
    bucket: str | tuple[float, float] | None = None,
    max_tries: int = 1000,
    **params: Any,
) -> list[np.ndarray]:
    """Deterministic set of masks (e.g. an evaluation mask set).

    Mask ``i`` is drawn from ``np.random.default_rng([seed, i])``, so it depends
    on ``seed`` and ``i`` only: ``generate_masks(..., count=3)`` is a prefix of
    ``count=5`` with the same seed.

    Args:
        kind: mask kind (see :func:`make_mask`).
        count: number of masks (>= 0).
        size: ``H`` (square) or ``(H, W)``.
        seed: random seed.
        preset: stroke preset (``strokes`` only).
        bucket: optional hole-ratio bucket, a label such as ``"10-20%"`` or a
            ``(low, high)`` pair of fractions; masks are redrawn until their
            hole ratio lies in ``[low, high)``. For ``box``/``mosaic`` without
            explicit ``min_size``/``max_size``/``count``, the box sides are
            chosen so that a single box lands in the bucket; for ``centre``
            without ``size``, the square is sized for the bucket's midpoint.
        max_tries: draws per mask before giving up with an InpaintError.
        **params: passed to the generator (see :func:`make_mask`).

    Returns:
        A list of ``count`` ``bool`` ``(H, W)`` arrays, ``True`` = hole.
    """
    name = _canonical_kind(kind)
    shape = _size_to_shape(size)
    count, seed, max_tries = _checked_counts(count, seed, max_tries)
    _check_request(name, preset, params)
    if bucket is None:
        return [make_mask(name, shape, np.random.default_rng([seed, i]), preset=preset, **params)
                for i in range(count)]
    plan = _BucketPlan.make(name, shape, preset, _parse_bucket(bucket), params)
    tries = 1 if name == "centre" else max_tries  # centre is deterministic
    return [plan.draw(np.random.default_rng([seed, i]), tries) for i in range(count)]


def _checked_counts(count: int, seed: int, max_tries: int) -> tuple[int, int, int]:
    """``(count, seed, max_tries)`` as ints; raises InpaintError for a negative count or seed, or no tries."""
    count, seed, max_tries = int(count), int(seed), int(max_tries)
    if count < 0:
        raise InpaintError(f"mask count must be >= 0, got {count}")
    if max_tries < 1:
        raise InpaintError(f"max_tries must be >= 1, got {max_tries}")
    if seed < 0:
        raise InpaintError(f"mask seed must be a non-negative integer, got {seed}")
    return count, seed, max_tries


@dataclass(frozen=True)
class _BucketPlan:
    """How masks of one kind are drawn so that their hole ratio lands in a bucket ``[low, high)``."""

    name: str
    shape: tuple[int, int]
    preset: str | None
    low_high: tuple[float, float]
    params: dict[str, Any]
    #: for ``box`` / ``mosaic`` without explicit sizes: the side ranges of one box in the bucket
    box_ranges: tuple[tuple[int, int], tuple[int, int]] | None = None

    @classmethod
    def make(cls, name: str, shape: tuple[int, int], preset: str | None, low_high: tuple[float, float],
             params: dict[str, Any]) -> "_BucketPlan":
        """Size the boxes (one box with h in [sqrt(low) H, sqrt(high) H] and w likewise has a ratio in
        [low, high]; rejection handles the rounding) or the centre square (the bucket's midpoint)."""
        low, high = low_high
        h, w = shape
        box_ranges = None
        if name in ("box", "mosaic") and not set(params) & {"count", "min_size", "max_size"}:
            box_ranges = (_bucket_side_range(h, low, high), _bucket_side_range(w, low, high))
        elif name == "centre" and "size" not in params:
            target = math.sqrt((low + high) / 2 * h * w)
            params = {**params, "size": int(min(max(round(target), 1), min(h, w)))}
        return cls(name, shape, preset, low_high, dict(params), box_ranges)

    def draw(self, rng: np.random.Generator, tries: int) -> np.ndarray:
        """A bool (H, W) mask in the bucket, drawn at most ``tries`` times; InpaintError when none lands."""
        last = float("nan")
        for _ in range(tries):
            if self.box_ranges is not None:
                mask = _box_mask_ranges(self.shape, rng, 1, self.box_ranges[0], self.box_ranges[1])
            else:
                mask = make_mask(self.name, self.shape, rng, preset=self.preset, **self.params)
            last = hole_ratio(mask)
            if _in_bucket(last, *self.low_high):
                return mask
        raise InpaintError(
            f"could not draw a {self.name!r} mask (preset {self.preset!r}, size {self.shape}) with a "
            f"hole ratio in {_bucket_label(*self.low_high)} after {tries} tries "
            f"(last ratio {last:.3f}); choose another bucket, preset or size parameters"
        )


# --------------------------------------------------------------------------- #
# I/O
# --------------------------------------------------------------------------- #
_JPEG_SUFFIXES = {".jpg", ".jpeg", ".jpe", ".jfif"}


def save_masks(masks: Iterable[np.ndarray], directory: PathType) -> list[Path]:
    """Write masks as 8-bit PNGs (0 = known, 255 = hole) named
    ``mask_0000.png``, ``mask_0001.png``, ... in ``directory`` (created if
    needed; existing files of the same names are overwritten).

    Args:
        masks: ``(H, W)`` arrays, ``True`` / non-zero = hole.
        directory: output folder.

    Returns:
        The written paths, in order.
    """
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []
    for i, mask in enumerate(masks):
        arr = np.asarray(mask)
        if arr.ndim != 2:
            raise ShapeMismatchError(f"mask {i} must be 2-D (H, W), got shape {arr.shape}")
        img = np.where(mask_to_bool(arr), np.uint8(255), np.uint8(0))
        path = folder / f"mask_{i:04d}.png"
        ok, buf = cv2.imencode(".png", img)
        if not ok:  # pragma: no cover - PNG encoding of uint8 never fails
            raise OSError(f"could not encode mask {i} as PNG")
        buf.tofile(str(path))  # works with non-ASCII paths, unlike cv2.imwrite
        paths.append(path)
    return paths


def _jpeg_levels(img: np.ndarray) -> np.ndarray:
    """A decoded JPEG mask snapped back to the two levels it was saved with (0 and 255): JPEG compression
    turns a black background into small non-zero values, which are noise, not holes."""
    return np.where(img > 127, np.uint8(255), np.uint8(0))


def load_mask(path: PathType) -> np.ndarray:
    """Read a mask image (PNG, JPEG, TIFF, BMP... anything OpenCV decodes).

    A pixel is a hole if any channel is non-zero (for JPEG, if any channel is
    > 127, to ignore compression noise). A fully opaque alpha channel (RGBA /
    grey+alpha with alpha at its maximum everywhere) is ignored, so a mask saved
    by an image editor with an opaque background is not read as all-hole.

    Returns:
        ``bool`` array of shape ``(H, W)``, ``True`` = hole.

    Raises:
        InpaintError: the file does not exist or cannot be decoded.
    """
    p = Path(path)
    if not p.is_file():
        raise InpaintError(f"mask file not found: {p}")
    data = np.fromfile(str(p), dtype=np.uint8)
    img = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
    if img is None:
        raise InpaintError(f"cannot read mask file {p}: not a supported image")
    if img.ndim == 3 and img.shape[2] in (2, 4):
        alpha = img[..., -1]
        full = (
            np.iinfo(img.dtype).max if np.issubdtype(img.dtype, np.integer) else 1.0
        )
        if np.all(alpha == full):
            img = img[..., :-1]
    if p.suffix.lower() in _JPEG_SUFFIXES:
        img = _jpeg_levels(img)
    hole = mask_to_bool(img)  # the one rule: non-zero = hole
    if hole.ndim == 3:
        hole = hole.any(axis=2)
    return np.ascontiguousarray(hole, dtype=bool)
