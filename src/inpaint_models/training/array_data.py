"""Training samples from the array being filled: fitting a model to the user's own image or stack.

A *fit* trains a model on the data it will fill. The data is one array of
volumes (N, D, H, W, C) holding the caller's values in the caller's dtype
(N volumes of D planes: a 2D image is N = D = 1, a Z-stack is N = 1, a
(T, Z, H, W) time-lapse of Z-stacks with Z as the volume axis is N = T;
channels the model does not take are split into further volumes), with its
mask, bool (N, D, H, W), True = unknown (the holes being filled). The pixels
under the mask hold no information and are never read as truth:

* every crop is converted to the model's float32 [0, 1] exactly as ``fill``
  converts its crop boxes: by :func:`inpaint_models.contract.values.value_range` of its
  own *known* pixels (uint8 / 255, float data in [0, 1] as it is, any other
  range stretched from the crop's known minimum to its maximum), the known
  pixels being those a fill would see: real holes and the crop's artificial
  holes excluded. Like a fill's box (the hole plus its context margin, plus
  ``fill``'s default ``volume_margin`` planes on each side for a volume fill),
  the statistics come from the crop window in H and W and, for models that
  read neighbouring planes, from the planes within
  :data:`~inpaint_models.contract.datatypes.DEFAULT_VOLUME_MARGIN` of the target plane
  (:meth:`_Sampler.normalised`). So on a stack whose brightness varies
  across it the network sees the same scale in training as when it fills;

* training crops come from the known pixels; an *artificial* hole is drawn in
  the crop's target plane, shaped like the user's own holes
  (:func:`describe_holes`: boxes of similar size, lines of similar width and
  orientation, strokes of similar width), clipped to known pixels, so the
  model learns to fill holes like the real ones where the truth is known;
* models that use the neighbouring planes (a task with ``context_planes = r``
  > 0, e.g. ``stack-unet``) get crops of the 2r + 1 planes around the target
  plane, real holes included (their mask is part of the input; their values
  are zero), and an :class:`ArrayBatch` whose ``weight`` marks the pixels the
  loss may read: artificial-hole pixels of the target plane whose truth is
  known and not held back. Other models (every 2D model of the package) get
  crops of one plane that hold no real hole and no held-back pixel at all, so
  a loss over the whole crop never reads an unknown value either;
* part of the known pixels is held back for validation: square cells of the
  crop size (``validation_split`` of them, at least one when there are two or
  more, at most ``validation_images``). No training loss reads them; each
  validation sample is one cell with an artificial hole scored on its known
  pixels (``weight``).

The array lives in a folder (:func:`write_array_data`: ``image.npy``,
``mask.npy`` and a marker ``inpaint-array-data.json``) named as the run's
``[train] data``; the trainer recognises it (:func:`find_array_data`), so a fit
is an ordinary run: checkpoints, resume, events, previews, cancel. The arrays
are memory-mapped, so a large stack is not loaded to train on a few crops.

Every random choice of a sample is drawn from a generator seeded by
``(seed, epoch, index)``: a run is reproducible for a seed.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Literal, Optional, Sequence, Union

import numpy as np
import torch
from torch.utils.data import Dataset

from inpaint_models.contract.datatypes import DEFAULT_VOLUME_MARGIN
from inpaint_models.contract.errors import ConfigError
from inpaint_models.contract.values import value_range
from inpaint_models.training.config import TrainSettings
from inpaint_models.training.data import Batch

#: file marking a folder as an array data source (and holding its description)
MARKER = "inpaint-array-data.json"
#: 2: ``image.npy`` holds the caller's values (converted per crop); 1: float32 in [0, 1] (still read: float
#: data in [0, 1] is converted as it is, so a version-1 folder trains as it did)
FORMAT_VERSION = 2

_VALIDATION_EPOCH = 1_000_003
#: nominal length of the training set: samples are drawn at random, this only paces epochs
_TRAIN_SET_LENGTH = 4096
#: an artificial hole must leave at least this many known pixels to learn from, else it is redrawn
_MIN_HOLE_PIXELS = 4
_PLACEMENT_TRIES = 64
#: training crops get artificial holes until they cover this share of the crop (at most _MAX_HOLES holes;
#: validation crops get one hole, like the real data)
HOLE_COVERAGE = 0.15
_MAX_HOLES = 8


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
    in the plane); lines cross the crop (or have their length); strokes are a
    random polyline of the shape's length drawn with its brush width. The
    hole is placed uniformly at random; it is never empty.
    """
    import cv2

    def scaled(value: int, cap: int) -> int:
        return int(min(cap, max(1, round(value * rng.uniform(1.0 - jitter, 1.0 + jitter)))))

    hole = np.zeros((size, size), dtype=np.uint8)
    cap = max(1, (3 * size) // 4)
    if shape.kind == "box":
        h, w = scaled(shape.height, cap), scaled(shape.width, cap)
        top, left = int(rng.integers(0, size - h + 1)), int(rng.integers(0, size - w + 1))
        hole[top : top + h, left : left + w] = 1
    elif shape.kind == "line":
        thickness = scaled(shape.height, max(1, size // 2))
        length = size if shape.width <= 0 else scaled(shape.width, size)
        offset = int(rng.integers(0, size - thickness + 1))
        start = int(rng.integers(0, size - length + 1))
        if shape.horizontal:
            hole[offset : offset + thickness, start : start + length] = 1
        else:
            hole[start : start + length, offset : offset + thickness] = 1
    else:
        brush = scaled(shape.height, max(1, size // 2))
        remaining = float(min(scaled(shape.width, 4 * size), 4 * size))
        x, y = rng.uniform(0, size, 2)
        angle = rng.uniform(0, 2 * np.pi)
        cv2.circle(hole, (int(x), int(y)), max(1, brush // 2), 1, -1)
        while remaining > 0:
            step = min(remaining, rng.uniform(size / 8, size / 3))
            angle += rng.uniform(-np.pi / 2, np.pi / 2)
            nx = float(np.clip(x + step * np.cos(angle), 0, size - 1))
            ny = float(np.clip(y + step * np.sin(angle), 0, size - 1))
            cv2.line(hole, (int(x), int(y)), (int(nx), int(ny)), 1, brush)
            cv2.circle(hole, (int(nx), int(ny)), max(1, brush // 2), 1, -1)
            remaining -= step
            x, y = nx, ny
    if not hole.any():
        hole[int(rng.integers(0, size)), int(rng.integers(0, size))] = 1
    return hole.astype(bool)


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


# --------------------------------------------------------------------------- storage
@dataclass
class ArrayData:
    """An array data source as stored on disk (see the module docstring).

    Attributes:
        folder: the folder holding it.
        image: (N, D, H, W, C), the caller's values and dtype (bool, integer or
            float; memory-mapped); zero under the mask. Converted to [0, 1] per
            crop (see the module docstring); a version-1 folder holds float32 in [0, 1].
        mask: bool (N, D, H, W) (memory-mapped), True = unknown.
        meta: the marker's contents (shape, source description, hole shapes).
    """

    folder: Path
    image: np.ndarray
    mask: np.ndarray
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def shape(self) -> tuple[int, int, int, int, int]:
        """(N, D, H, W, C)."""
        return tuple(int(n) for n in self.image.shape)  # type: ignore[return-value]

    def hole_shapes(self) -> list[HoleShape]:
        """The user's hole shapes recorded in the marker (or measured now when absent)."""
        recorded = self.meta.get("hole_shapes")
        if recorded is None:
            return describe_holes(self.mask)
        return [HoleShape(str(s["kind"]), int(s["height"]), int(s["width"]), bool(s.get("horizontal", True)))  # type: ignore[arg-type]
                for s in recorded]

    def datasets(self, settings: TrainSettings, context_planes: int = 0) -> "ArrayDataSets":
        """The training, validation and preview sets of a run (see :class:`ArrayDataSets`).

        Args:
            settings: the run's ``[train]`` section (crop size, seed, channels,
                validation split and count, flips, preview count).
            context_planes: planes on each side of the target plane the model
                reads (a task's ``context_planes``); 0 for 2D models.

        Raises:
            ConfigError: the crop size does not fit the planes, the channels do
                not match, or (2D models) no crop free of holes exists.
        """
        return ArrayDataSets.build(self, settings, context_planes)


def write_array_data(folder: Union[str, Path], image: np.ndarray, mask: np.ndarray,
                     meta: Optional[dict[str, Any]] = None) -> ArrayData:
    """Store an array data source in ``folder`` (created; files replaced atomically).

    Args:
        folder: where to write ``image.npy``, ``mask.npy`` and the marker.
        image: (N, D, H, W, C) in the caller's dtype and range (bool, integer
            or float; values under the mask are stored as 0, whatever they
            were: NaN is fine there). Each crop is mapped to [0, 1] when it is
            sampled, as ``fill`` maps its crop boxes.
        mask: bool (N, D, H, W), True = unknown.
        meta: extra JSON-able description kept in the marker (e.g. the source
            array's shape and value range).

    Returns:
        The stored data, opened (:func:`open_array_data`).

    Raises:
        ValueError: shapes that do not match, an unsupported dtype, or
            non-finite known values (InvalidValuesError, a ValueError).
    """
    from inpaint_models.contract.values import check_dtype

    folder = Path(folder)
    image = np.asarray(image)
    mask = np.asarray(mask, dtype=bool)
    if image.ndim != 5 or mask.shape != image.shape[:4]:
        raise ValueError(f"expected image (N, D, H, W, C) and mask (N, D, H, W), got {image.shape} and {mask.shape}")
    check_dtype(image, "image")
    clean = np.where(mask[..., np.newaxis], np.zeros((), image.dtype), image)
    if clean.dtype.kind == "f" and not np.isfinite(clean).all():
        raise ValueError("the image holds NaN or infinite values outside the mask")
    folder.mkdir(parents=True, exist_ok=True)
    shapes = describe_holes(mask)
    description = {
        "format": FORMAT_VERSION,
        "shape": list(clean.shape),
        "known_fraction": float(1.0 - mask.mean()) if mask.size else 1.0,
        "hole_shapes": [{"kind": s.kind, "height": s.height, "width": s.width, "horizontal": s.horizontal}
                        for s in shapes],
        **dict(meta or {}),
    }
    _save_npy(folder / "image.npy", clean)
    _save_npy(folder / "mask.npy", mask)
    from inpaint_models.io.atomic import atomic_write_text

    atomic_write_text(folder / MARKER, json.dumps(description, indent=1))
    return open_array_data(folder)


def _save_npy(path: Path, array: np.ndarray) -> None:
    descriptor, temporary = tempfile.mkstemp(prefix=f".{path.name}.tmp-", dir=path.parent)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            np.save(handle, np.ascontiguousarray(array))
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def is_array_data(folder: Union[str, Path]) -> bool:
    """Whether ``folder`` holds an array data source (its marker file)."""
    return (Path(folder) / MARKER).is_file()


def open_array_data(folder: Union[str, Path]) -> ArrayData:
    """Open the array data source in ``folder`` (arrays memory-mapped, read-only).

    Raises:
        ConfigError: missing or inconsistent files.
    """
    folder = Path(folder)
    try:
        meta = json.loads((folder / MARKER).read_text(encoding="utf-8"))
        image = np.load(folder / "image.npy", mmap_mode="r")
        mask = np.load(folder / "mask.npy", mmap_mode="r")
    except (OSError, ValueError) as error:
        raise ConfigError(f"[train] data: {folder} is not a readable array data folder: {error}") from None
    from inpaint_models.contract.values import SUPPORTED_KINDS

    if image.ndim != 5 or mask.shape != image.shape[:4] or image.dtype.kind not in SUPPORTED_KINDS \
            or mask.dtype != np.bool_:
        raise ConfigError(f"[train] data: {folder}: image.npy must be bool, integer or float (N, D, H, W, C) and "
                          f"mask.npy bool (N, D, H, W); got {image.dtype} {image.shape} and {mask.dtype} {mask.shape}")
    return ArrayData(folder, image, mask, meta)


def find_array_data(folders: Sequence[Union[str, Path]]) -> Optional[ArrayData]:
    """The array data source named by a run's ``[train] data``, or None for image folders.

    Raises:
        ConfigError: an array data folder listed together with other folders.
    """
    marked = [Path(f) for f in folders if is_array_data(f)]
    if not marked:
        return None
    if len(folders) != 1:
        raise ConfigError(f"[train] data: {marked[0]} is an array data folder (a fit); it must be the only data folder")
    return open_array_data(marked[0])


# --------------------------------------------------------------------------- batches
@dataclass
class ArrayBatch(Batch):
    """A :class:`Batch` from an array data source, with the pixels a loss may read.

    Attributes:
        image: float32 (B, C, H, W), or (B, C, K, H, W) with the K = 2r + 1 planes
            around the target plane (the middle one) for models with context
            planes; in [0, 1], each sample converted by its own known pixels as
            ``fill`` converts a crop box (:meth:`_Sampler.normalised`); 0
            wherever the truth is unknown.
        mask: float, the image's shape with 1 channel: 1 = hole as the model
            sees it (real holes and the artificial ones).
        weight: float, like ``mask``: 1 where a loss (training) or a metric
            (validation) may compare the output with ``image``: known pixels of
            the artificial holes in the target plane (not held back in training,
            held back in validation). Zero on every real hole pixel.
    """

    weight: Optional[torch.Tensor] = None

    def pin_memory(self) -> "ArrayBatch":
        return ArrayBatch(self.image.pin_memory(), self.mask.pin_memory(), self.bad_files,
                          None if self.weight is None else self.weight.pin_memory())

    def to(self, device: torch.device, channels_last: bool = False) -> "ArrayBatch":
        """The batch on ``device`` (channels-last only for 4D batches, when asked)."""
        fmt = torch.channels_last if channels_last and self.image.ndim == 4 else torch.contiguous_format

        def move(t: Optional[torch.Tensor]) -> Optional[torch.Tensor]:
            return None if t is None else t.to(device, non_blocking=True).contiguous(memory_format=fmt)

        return ArrayBatch(move(self.image), move(self.mask), self.bad_files, move(self.weight))

    def target_plane(self) -> "ArrayBatch":
        """The middle plane of a (B, C, K, H, W) batch as a 4D batch (itself when already 4D)."""
        if self.image.ndim == 4:
            return self
        k = self.image.shape[2] // 2
        return ArrayBatch(self.image[:, :, k], self.mask[:, :, k], self.bad_files,
                          None if self.weight is None else self.weight[:, :, k])


def collate_array(samples: list) -> ArrayBatch:
    """Stack ``(image, mask, weight, bad)`` samples into a CPU :class:`ArrayBatch`."""
    images, masks, weights, bads = zip(*samples)
    return ArrayBatch(torch.stack(images), torch.stack(masks), [b for bad in bads for b in bad], torch.stack(weights))


# --------------------------------------------------------------------------- sampling
@dataclass(frozen=True)
class Cell:
    """A held-back square of one plane: volume ``n``, plane ``z``, top-left (``y``, ``x``), side ``size``."""

    n: int
    z: int
    y: int
    x: int
    size: int

    def window(self, y: int, x: int, size: int) -> tuple[slice, slice]:
        """The part of this cell inside the window at (y, x) of side ``size``, in window coordinates."""
        top, left = max(self.y, y), max(self.x, x)
        bottom, right = min(self.y + self.size, y + size), min(self.x + self.size, x + size)
        if bottom <= top or right <= left:
            return slice(0, 0), slice(0, 0)
        return slice(top - y, bottom - y), slice(left - x, right - x)


class _Sampler:
    """Crops, artificial holes and weights of one array data source (shared by the three sets)."""

    def __init__(self, data: ArrayData, settings: TrainSettings, context_planes: int) -> None:
        self.data = data
        self.settings = settings
        self.radius = int(context_planes)
        self.size = int(settings.image_size)
        self.shapes = data.hole_shapes() or default_hole_shapes(self.size)
        self.coverage = HOLE_COVERAGE

        #: planes on each side of the target plane whose known pixels set a crop's value range: a volume
        #: fill's box spans ``volume_margin`` planes on each side of a hole (the default; at least the planes
        #: the model reads); a 2D model fills plane by plane, from the hole's plane alone
        self.stats_radius = max(self.radius, DEFAULT_VOLUME_MARGIN) if self.radius > 0 else 0
        #: channels of one image stored as separate volumes (fit_volumes: a model taking fewer channels): a
        #: crop's value range is taken over all of them, as a fill takes it over a crop's channels
        groups = int(data.meta.get("channel_groups", 1) or 1)
        self.groups = groups if groups > 1 and data.shape[0] % groups == 0 else 1
        self.cells: list[Cell] = []
        self.cells_by_plane: dict[tuple[int, int], list[Cell]] = {}

    # -- held-back pixels ---------------------------------------------------------
    def hold_back(self) -> None:
        """Choose the validation cells (deterministic for the seed)."""
        s = self.settings
        n_volumes, depth, height, width, _ = self.data.shape
        size = self.size
        ys = sorted(set(list(range(0, height - size + 1, size)) + [height - size]))
        xs = sorted(set(list(range(0, width - size + 1, size)) + [width - size]))
        candidates = []
        for n in range(n_volumes):
            for z in range(depth):
                plane = self.data.mask[n, z]
                for y in ys:
                    for x in xs:
                        if plane[y : y + size, x : x + size].mean() <= 0.5:
                            candidates.append(Cell(n, z, y, x, size))
        total = len(ys) * len(xs) * n_volumes * depth
        if total < 2 or not candidates or s.validation_split <= 0 or s.validation_images <= 0:
            return
        count = max(1, int(round(s.validation_split * total)))
        count = min(count, s.validation_images, len(candidates), total - 1)
        order = np.random.default_rng([s.seed, 7]).permutation(len(candidates))
        self.cells = [candidates[i] for i in sorted(order[:count])]
        for cell in self.cells:
            self.cells_by_plane.setdefault((cell.n, cell.z), []).append(cell)

    def held_back(self, n: int, z: int, y: int, x: int) -> np.ndarray:
        """bool (size, size): the held-back pixels of the window at (y, x) of plane (n, z)."""
        out = np.zeros((self.size, self.size), dtype=bool)
        for cell in self.cells_by_plane.get((n, z), ()):
            out[cell.window(y, x, self.size)] = True
        return out

    # -- one sample -----------------------------------------------------------------
    def planes(self, n: int, z: int, y: int, x: int) -> tuple[np.ndarray, np.ndarray]:
        """The window at (y, x) of planes z - r .. z + r: (K, S, S, C) in the stored dtype (the caller's
        values; 0 where unknown) and bool (K, S, S), True = unknown (planes outside the stack: unknown)."""
        depth = self.data.shape[1]
        size, r = self.size, self.radius
        channels = self.data.shape[4]
        image = np.zeros((2 * r + 1, size, size, channels), dtype=self.data.image.dtype)
        low, high = max(0, z - r), min(depth, z + r + 1)
        image[low - (z - r) : high - (z - r)] = self.data.image[n, low:high, y : y + size, x : x + size]
        unknown = self.unknown(n, z, y, x)
        image[unknown] = 0
        return image, unknown

    def unknown(self, n: int, z: int, y: int, x: int) -> np.ndarray:
        """bool (K, S, S): the unknown pixels of the window at (y, x) of planes z - r .. z + r."""
        depth = self.data.shape[1]
        size, r = self.size, self.radius
        unknown = np.ones((2 * r + 1, self.size, self.size), dtype=bool)
        low, high = max(0, z - r), min(depth, z + r + 1)
        unknown[low - (z - r) : high - (z - r)] = self.data.mask[n, low:high, y : y + size, x : x + size]
        return unknown

    def value_range(self, n: int, z: int, y: int, x: int, hole: np.ndarray):
        """The conversion of the window at (y, x) around plane (n, z), chosen as ``fill`` chooses a crop box's.

        :func:`inpaint_models.contract.values.value_range` (the fill's one owner of it)
        over the window's known pixels in planes z - m .. z + m (m =
        ``stats_radius``: ``fill``'s default volume margin for models that read
        neighbouring planes, 0 for 2D models, which fill plane by plane),
        ``hole`` (bool (S, S), True = artificial hole in plane z) excluded with
        the real holes: the pixels a fill of that hole would see. When the hole
        hides every known pixel there, the range is taken with it. Channels
        stored as separate volumes (``channel_groups``) count together, as a
        fill's crop holds them all.

        Returns:
            An :class:`inpaint_models.contract.values.ValueRange`.
        """
        depth = self.data.shape[1]
        size, m = self.size, self.stats_radius
        low, high = max(0, z - m), min(depth, z + m + 1)
        count = self.data.shape[0] // self.groups
        box = np.concatenate([np.asarray(self.data.image[n % count + k * count, low:high, y : y + size, x : x + size])
                              for k in range(self.groups)], axis=-1)
        unknown = np.array(self.data.mask[n, low:high, y : y + size, x : x + size], dtype=bool)
        real = unknown[z - low].copy()
        unknown[z - low] |= hole
        if unknown.all():
            unknown[z - low] = real
        return value_range(box, unknown)

    def normalised(self, n: int, z: int, y: int, x: int, hole: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The window at (y, x) of planes z - r .. z + r as the model sees it.

        Args:
            n, z, y, x: volume, target plane, top-left corner of the S x S window.
            hole: bool (S, S), True = the artificial hole drawn in plane z
                (excluded from the value range, not from the returned values:
                the loss reads them as truth).

        Returns:
            ``(image, unknown)``: float32 (K, S, S, C) in [0, 1], converted by
            :meth:`value_range`'s map (``ValueRange.to_unit``, as ``fill``
            converts its crops), 0 where unknown; bool (K, S, S), True = real
            hole or outside the stack (the artificial hole not included).
        """
        raw, unknown = self.planes(n, z, y, x)
        unit = self.value_range(n, z, y, x, hole).to_unit(raw)
        unit[unknown] = 0.0
        np.clip(unit, 0.0, 1.0, out=unit)  # artificial-hole truth beyond the known range: a fill clips there too
        return np.ascontiguousarray(unit, dtype=np.float32), unknown

    def sample(self, rng: np.random.Generator, train: bool, cell: Optional[Cell] = None) -> tuple:
        """One ``(image, mask, weight, bad)`` sample (tensors, see :class:`ArrayBatch`)."""
        s = self.settings
        n_volumes, depth, height, width, _ = self.data.shape
        size = self.size
        r = self.radius
        for attempt in range(_PLACEMENT_TRIES):
            if cell is not None:
                n, z, y, x = cell.n, cell.z, cell.y, cell.x
            else:
                n, z = int(rng.integers(0, n_volumes)), int(rng.integers(0, depth))
                y, x = int(rng.integers(0, height - size + 1)), int(rng.integers(0, width - size + 1))
            unknown = self.unknown(n, z, y, x)
            held = self.held_back(n, z, y, x)
            if train and r == 0 and (unknown[0].any() or held.any()):
                continue  # 2D models: crops without any unknown or held-back pixel
            hole = draw_hole(self.shapes[int(rng.integers(0, len(self.shapes)))], size, rng)
            if train:  # more holes, up to a share of the crop: more pixels to learn from per step
                for _ in range(_MAX_HOLES - 1):
                    if hole.mean() >= self.coverage:
                        break
                    hole |= draw_hole(self.shapes[int(rng.integers(0, len(self.shapes)))], size, rng)
            hole &= ~unknown[r]  # an artificial hole never covers a real hole pixel
            weight = hole & (~held if train else held)
            if cell is not None or int(weight.sum()) >= _MIN_HOLE_PIXELS or attempt == _PLACEMENT_TRIES - 1:
                break
        else:
            raise ConfigError(f"[train] no {size}x{size} crop free of holes and held-back pixels was found in "
                              f"{_PLACEMENT_TRIES} draws; use a smaller train.image_size or a model that reads "
                              f"the neighbouring planes")
        image, unknown = self.normalised(n, z, y, x, hole)
        mask = unknown.copy()
        mask[r] |= hole
        plane_weight = np.zeros_like(mask)
        plane_weight[r] = weight
        if train and s.flip:
            if rng.random() < 0.5:
                image, mask, plane_weight = image[:, :, ::-1], mask[:, :, ::-1], plane_weight[:, :, ::-1]
            if rng.random() < 0.5:
                image, mask, plane_weight = image[:, ::-1], mask[:, ::-1], plane_weight[:, ::-1]
            if r > 0 and rng.random() < 0.5:  # the stack read the other way round
                image, mask, plane_weight = image[::-1], mask[::-1], plane_weight[::-1]
        image_t = torch.from_numpy(np.ascontiguousarray(np.moveaxis(image, -1, 0)))  # (C, K, S, S)
        mask_t = torch.from_numpy(np.ascontiguousarray(mask, dtype=np.float32))[None]
        weight_t = torch.from_numpy(np.ascontiguousarray(plane_weight, dtype=np.float32))[None]
        if r == 0:
            image_t, mask_t, weight_t = image_t[:, 0], mask_t[:, 0], weight_t[:, 0]
        return image_t, mask_t, weight_t, []


class _ArraySet(Dataset):
    """Samples of one role (training / validation / preview); indexed by ``(index, epoch)``."""

    def __init__(self, sampler: _Sampler, train: bool, length: int, cells: Sequence[Cell] = ()) -> None:
        self.sampler = sampler
        self.train = train
        self.length = length
        self.cells = list(cells)

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, key):
        index, epoch = key if isinstance(key, tuple) else (key, 0)
        seed = self.sampler.settings.seed
        rng = np.random.default_rng([seed, epoch if self.train else _VALIDATION_EPOCH, index])
        cell = self.cells[index % len(self.cells)] if self.cells else None
        return self.sampler.sample(rng, self.train, cell)


@dataclass
class ArrayDataSets:
    """What the trainer takes from an array data source.

    Attributes:
        train: training samples (an endless random stream; nominal length).
        validation: one sample per held-back cell (empty when nothing is held back).
        preview: validation samples first, topped up with training samples.
        collate: the DataLoader's ``collate_fn`` (:func:`collate_array`).
        statistics: ``{"mean", "std"}`` per channel of the known pixels and
            ``files`` (volumes), for ``TrainTask.prepare``.
        summary: one line describing the data (the run's first event).
        record: the run log's ``data`` record.
    """

    train: Dataset
    validation: Dataset
    preview: Dataset
    collate: Callable[[list], ArrayBatch]
    statistics: dict[str, Any]
    summary: str
    record: dict[str, Any]

    @classmethod
    def build(cls, data: ArrayData, settings: TrainSettings, context_planes: int) -> "ArrayDataSets":
        n_volumes, depth, height, width, channels = data.shape
        if channels != settings.channels:
            raise ConfigError(f"[train] channels = {settings.channels}, but the array data in {data.folder} has "
                              f"{channels} channel(s)")
        if settings.image_size > min(height, width):
            raise ConfigError(f"[train] image_size {settings.image_size} is larger than the planes "
                              f"({height}x{width}) of the array data in {data.folder}")
        if context_planes < 0:
            raise ConfigError(f"the model asks for {context_planes} context planes; expected 0 or more")
        if bool(np.all(data.mask)):
            raise ConfigError(f"[train] data: the mask of {data.folder} covers every pixel: nothing to learn from")
        sampler = _Sampler(data, settings, context_planes)
        sampler.hold_back()
        train = _ArraySet(sampler, True, _TRAIN_SET_LENGTH)
        validation = _ArraySet(sampler, False, len(sampler.cells), sampler.cells)
        count = max(0, settings.preview_images)
        preview_cells = sampler.cells[:count]
        preview = _ArraySet(sampler, False, len(preview_cells) or count, preview_cells)
        if context_planes == 0:  # fail now, not at the first batch, when no hole-free crop exists
            train[(0, 0)]
        statistics = _crop_statistics(sampler)
        held = len(sampler.cells) * settings.image_size**2
        summary = (f"array data: {n_volumes} volume(s) of {depth} plane(s) of {height}x{width}x{channels}, "
                   f"{100 * data.meta.get('known_fraction', 1.0):.1f}% known, {len(sampler.shapes)} hole shape(s); "
                   f"{len(sampler.cells)} held-back {settings.image_size}-px cell(s) for validation; "
                   f"{2 * context_planes + 1} plane(s) per sample")
        record = {"array_data": str(data.folder), "shape": list(data.shape), "validation_cells": len(sampler.cells),
                  "held_back_pixels": held, "hole_shapes": len(sampler.shapes), "context_planes": context_planes}
        return cls(train, validation, preview, collate_array, statistics, summary, record)


def _crop_statistics(sampler: _Sampler, count: int = 64) -> dict[str, Any]:
    """Mean and standard deviation (C,) of the known pixels the model sees: those of ``count`` training
    samples (seeded), each converted by its own value range as every sample is."""
    channels = sampler.data.shape[4]
    values = []
    for index in range(count):
        rng = np.random.default_rng([sampler.settings.seed, 13, index])
        image, mask, _, _ = sampler.sample(rng, True)
        pixels = torch.movedim(image, 0, -1).reshape(-1, channels)
        values.append(pixels[mask.reshape(-1) < 0.5].double())
    known = torch.cat(values) if values else torch.zeros((0, channels), dtype=torch.float64)
    if known.shape[0] == 0:
        return {"mean": np.zeros(channels, np.float32), "std": np.ones(channels, np.float32),
                "files": sampler.data.shape[0]}
    return {"mean": known.mean(dim=0).numpy().astype(np.float32),
            "std": known.std(dim=0, unbiased=False).numpy().astype(np.float32), "files": sampler.data.shape[0]}
