"""The array data source: training samples from the array being filled (fitting a model to the user's data).

A *fit* trains a model on the data it will fill. The data is read as
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
  (:mod:`inpaint_models.training.holes`: boxes of similar size, lines of
  similar width and orientation, strokes of similar width), clipped to known pixels, so the
  model learns to fill holes like the real ones where the truth is known;
* models that use the neighbouring planes (a task with ``context_planes = r``
  > 0, e.g. ``stack-unet``) get crops of the 2r + 1 planes around the target
  plane, real holes included (their mask is part of the input; their values
  are zero), and batches whose ``weight`` (:class:`~inpaint_models.training.data.Batch`)
  marks the pixels the loss may read: artificial-hole pixels of the target plane whose truth is
  known and not held back. Other models (every 2D model of the package) get
  crops of one plane that hold no real hole and no held-back pixel at all, so
  a loss over the whole crop never reads an unknown value either;
* part of the known pixels is held back for validation: square cells of the
  crop size (``validation_split`` of them, at least one when there are two or
  more, at most ``validation_images``). No training loss reads them; each
  validation sample is one cell with an artificial hole scored on its known
  pixels (``weight``).

Fitting at any size: the array is read window by window
(:class:`~inpaint_models.training.volumes.StackVolumes`, over the caller's
numpy, memory-mapped, dask or zarr array in its own axis order): each sample
reads its crop's planes, nothing else, and the whole array is never loaded,
converted or copied (only a small in-memory one is copied,
:data:`~inpaint_models.training.volumes.COPY_LIMIT`). Setup reads a bounded
part of it, whatever its size: the hole shapes and the known fraction come
from at most :data:`~inpaint_models.training.volumes.MASK_BUDGET` mask pixels
(every plane when they fit, else a seeded random choice of planes); the
validation cells are then drawn at random and kept when they qualify; the
network's input statistics come from 64 sampled crops. Known values are
checked (NaN, a range float32 holds) crop by crop, as ``fill`` checks its
crop boxes.

:class:`ArraySource` is the run's
:class:`~inpaint_models.training.sources.DataSource`: ``fit`` sets it on the
run's config (``TrainConfig.data_source``), so a fit is an ordinary run of the
shared trainer (checkpoints, resume, events, previews, cancel) and nothing is
copied to disk. A resumed fit is given the same array again.

Every random choice of a sample is drawn from a generator seeded by
``(seed, epoch, index)``: a run is reproducible for a seed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from inpaint_models.contract.datatypes import DEFAULT_VOLUME_MARGIN
from inpaint_models.contract.errors import ConfigError
from inpaint_models.contract.values import check_dtype, value_range
from inpaint_models.training.config import TrainSettings
from inpaint_models.training.data import VALIDATION_EPOCH
from inpaint_models.training.holes import HoleShape, default_hole_shapes, describe_holes, draw_hole
from inpaint_models.training.sources import TrainingSets
from inpaint_models.training.volumes import COPY_LIMIT, StackVolumes, clean_copy, copy_bytes, survey_mask

#: nominal length of the training set: samples are drawn at random, this only paces epochs
_TRAIN_SET_LENGTH = 4096
#: an artificial hole must leave at least this many known pixels to learn from, else it is redrawn
_MIN_HOLE_PIXELS = 4
_PLACEMENT_TRIES = 64
#: a large array's validation cells are drawn at random, at most this many draws per cell wanted
_CELL_DRAWS = 20
#: training crops get artificial holes until they cover this share of the crop (at most _MAX_HOLES holes;
#: validation crops get one hole, like the real data)
HOLE_COVERAGE = 0.15
_MAX_HOLES = 8


# --------------------------------------------------------------------------- the source
@dataclass
class ArraySource:
    """The array being filled as a :class:`~inpaint_models.training.sources.DataSource` (see the module docstring).

    Build it with :meth:`from_volumes` or :meth:`from_arrays`.

    Attributes:
        volumes: the (N, D, H, W, C) volumes and their mask, read window by
            window (:class:`~inpaint_models.training.volumes.StackVolumes`):
            over the caller's own array, or over a clean copy of a small
            in-memory one (:data:`COPY_LIMIT`). Values in the caller's dtype,
            converted to [0, 1] per crop.
        meta: a JSON-able description: the source array's shape and dtype,
            ``channel_groups`` (channels stored as separate volumes; a crop's
            value range is taken over all of them), ``known_fraction`` (of the
            planes surveyed), ``planes_surveyed`` / ``planes``.
        shapes: the shapes of the mask's holes
            (:func:`~inpaint_models.training.holes.describe_holes` of the planes surveyed).
        surveyed_all: whether setup read every mask plane (the mask fits
            :data:`~inpaint_models.training.volumes.MASK_BUDGET`): validation
            cells are then chosen among all cells, else drawn at random.
    """

    volumes: StackVolumes
    meta: dict[str, Any] = field(default_factory=dict)
    shapes: list[HoleShape] = field(default_factory=list)
    surveyed_all: bool = True

    @classmethod
    def from_arrays(cls, image: Any, mask: Any, meta: Optional[dict[str, Any]] = None) -> "ArraySource":
        """An array data source over an (N, D, H, W, C) ``image`` and its (N, D, H, W) ``mask``.

        Args:
            image: (N, D, H, W, C) in the caller's dtype and range (bool, integer
                or float; values under the mask are never read as truth: NaN is
                fine there); numpy, memory-mapped, dask or zarr. Never modified.
            mask: (N, D, H, W), True / non-zero = unknown.
            meta: extra JSON-able description (e.g. ``channel_groups``).

        Raises:
            As :meth:`from_volumes`; ValueError for shapes that do not match.
        """
        return cls.from_volumes(StackVolumes.of_arrays(image, mask), meta)

    @classmethod
    def from_volumes(cls, volumes: StackVolumes, meta: Optional[dict[str, Any]] = None) -> "ArraySource":
        """An array data source over ``volumes``; setup reads a bounded part of the array.

        A small in-memory array (clean copy at most :data:`COPY_LIMIT` bytes)
        is copied, checked whole (NaN outside the mask) and held: later changes
        of the caller's array do not reach the fit. Any other array (memory-
        mapped, dask, zarr, a large in-memory one) is read in place, window by
        window: only the mask planes of the survey (at most
        :data:`~inpaint_models.training.volumes.MASK_BUDGET` pixels) are read here; every crop's known values
        are checked when it is read.

        Raises:
            UnsupportedDtypeError: an unsupported image or mask dtype;
            InvalidValuesError (a ValueError): NaN or infinite known values of
            a copied array; MaskCoversImageError: no known pixel to learn from.
        """
        check_dtype(volumes.image, "image")
        check_dtype(volumes.mask, "mask")
        if volumes.in_memory and copy_bytes(volumes) <= COPY_LIMIT:
            volumes = clean_copy(volumes)
        survey = survey_mask(volumes)
        description = {"shape": list(volumes.shape), "known_fraction": survey.known_fraction,
                       "planes_surveyed": survey.planes, "planes": volumes.shape[0] * volumes.shape[1],
                       **dict(meta or {})}
        return cls(volumes, description, describe_holes(survey.sample), survey.complete)

    @property
    def image(self) -> Any:
        """The image array read: the caller's (in its own axis order) or the clean (N, D, H, W, C) copy."""
        return self.volumes.image

    @property
    def mask(self) -> Any:
        """The mask array read: the caller's or the (N, D, H, W) bool copy (True = unknown)."""
        return self.volumes.mask

    @property
    def shape(self) -> tuple[int, int, int, int, int]:
        """(N, D, H, W, C)."""
        return self.volumes.shape

    def training_sets(self, settings: TrainSettings, context_planes: int = 0) -> TrainingSets:
        """The training, validation and preview sets of a run on the array.

        Args:
            settings: the run's ``[train]`` section (crop size, seed, channels,
                validation split and count, flips, preview count).
            context_planes: planes on each side of the target plane the model
                reads (a task's ``context_planes``); 0 for 2D models.

        Returns:
            :class:`~inpaint_models.training.sources.TrainingSets`: training
            samples (an endless random stream; nominal length), one validation
            sample per held-back cell (none when nothing is held back), previews
            (validation samples first, topped up with training samples); samples
            ``(image, mask, weight, bad_files)``; statistics ``{"mean", "std"}``
            per channel of the known pixels the model sees, and ``files`` (volumes).

        Raises:
            ConfigError: the crop size does not fit the planes, the channels do
                not match, or (2D models) no crop free of holes exists.
        """
        n_volumes, depth, height, width, channels = self.shape
        if channels != settings.channels:
            raise ConfigError(f"[train] channels = {settings.channels}, but the array has {channels} channel(s)")
        if settings.image_size > min(height, width):
            raise ConfigError(f"[train] image_size {settings.image_size} is larger than the planes "
                              f"({height}x{width}) of the array")
        if context_planes < 0:
            raise ConfigError(f"the model asks for {context_planes} context planes; expected 0 or more")
        sampler = _Sampler(self, settings, context_planes)
        sampler.hold_back()
        train = _ArraySet(sampler, True, _TRAIN_SET_LENGTH)
        validation = _ArraySet(sampler, False, len(sampler.cells), sampler.cells)
        count = max(0, settings.preview_images)
        preview_cells = sampler.cells[:count]
        preview = _ArraySet(sampler, False, len(preview_cells) or count, preview_cells)
        if context_planes == 0:  # fail now, not at the first batch, when no hole-free crop exists
            train[(0, 0)]
        surveyed = self.meta.get("planes_surveyed", n_volumes * depth)
        survey = "" if surveyed >= n_volumes * depth else f" in the {surveyed} plane(s) surveyed"
        summary = (f"array data: {n_volumes} volume(s) of {depth} plane(s) of {height}x{width}x{channels}, "
                   f"{100 * self.meta.get('known_fraction', 1.0):.1f}% known, {len(sampler.shapes)} hole shape(s)"
                   f"{survey}; "
                   f"{len(sampler.cells)} held-back {settings.image_size}-px cell(s) for validation; "
                   f"{2 * context_planes + 1} plane(s) per sample")
        record = {"source": "array", "shape": list(self.shape), "validation_cells": len(sampler.cells),
                  "held_back_pixels": len(sampler.cells) * settings.image_size**2,
                  "hole_shapes": len(sampler.shapes), "planes_surveyed": surveyed, "context_planes": context_planes}
        return TrainingSets(train, validation, preview, lambda: _crop_statistics(sampler), summary, record)

    def held_back_holes(self, settings: TrainSettings) -> list[tuple["Cell", np.ndarray]]:
        """The held-back validation cells of a run with ``settings`` and the artificial hole each is scored on.

        The same cells and holes as the run's validation samples (the same
        seeded draws, :meth:`training_sets`): ``(cell, hole)`` per cell, ``hole``
        bool (S, S) over the cell, True = an artificial-hole pixel whose truth
        is known (the pixels validation scores). Empty when nothing is held back.
        """
        sampler = _Sampler(self, settings, 0)
        sampler.hold_back()
        validation = _ArraySet(sampler, False, len(sampler.cells), sampler.cells)
        return [(cell, validation[(index, 0)][2][0].numpy() > 0) for index, cell in enumerate(sampler.cells)]


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

    def __init__(self, data: ArraySource, settings: TrainSettings, context_planes: int) -> None:
        self.data = data
        self.settings = settings
        self.radius = int(context_planes)
        self.size = int(settings.image_size)
        self.shapes = list(data.shapes) or default_hole_shapes(self.size)
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
        """Choose the validation cells (deterministic for the seed): cells of the crop size on a grid over
        every plane, at most half unknown. When setup read every mask plane (``surveyed_all``) every cell is a
        candidate; otherwise cells are drawn at random and kept when they qualify (a bounded
        number of draws: setup reads a bounded part of the mask)."""
        s = self.settings
        n_volumes, depth, height, width, _ = self.data.shape
        size = self.size
        ys = sorted(set(list(range(0, height - size + 1, size)) + [height - size]))
        xs = sorted(set(list(range(0, width - size + 1, size)) + [width - size]))
        total = len(ys) * len(xs) * n_volumes * depth
        if total < 2 or s.validation_split <= 0 or s.validation_images <= 0:
            return
        count = min(max(1, int(round(s.validation_split * total))), s.validation_images, total - 1)
        rng = np.random.default_rng([s.seed, 7])
        if self.data.surveyed_all:
            candidates = [Cell(n, z, y, x, size) for n in range(n_volumes) for z in range(depth)
                          for y, x, usable in self._usable_cells(n, z, ys, xs) if usable]
            order = rng.permutation(len(candidates))
            self.cells = [candidates[i] for i in sorted(order[: min(count, len(candidates))])]
        else:
            chosen: set[Cell] = set()
            for _ in range(_CELL_DRAWS * count):
                if len(chosen) == count:
                    break
                n, z = int(rng.integers(0, n_volumes)), int(rng.integers(0, depth))
                cell = Cell(n, z, ys[int(rng.integers(0, len(ys)))], xs[int(rng.integers(0, len(xs)))], size)
                window = (slice(cell.y, cell.y + size), slice(cell.x, cell.x + size))
                if cell not in chosen and self.data.volumes.read_mask(n, slice(z, z + 1), *window).mean() <= 0.5:
                    chosen.add(cell)
            self.cells = sorted(chosen, key=lambda c: (c.n, c.z, c.y, c.x))
        for cell in self.cells:
            self.cells_by_plane.setdefault((cell.n, cell.z), []).append(cell)

    def _usable_cells(self, n: int, z: int, ys: Sequence[int], xs: Sequence[int]):
        """``(y, x, usable)`` of the grid cells of plane (n, z): usable when at most half of it is unknown."""
        plane = self.data.volumes.read_mask(n, slice(z, z + 1), slice(None), slice(None))[0]
        size = self.size
        return [(y, x, plane[y : y + size, x : x + size].mean() <= 0.5) for y in ys for x in xs]

    def held_back(self, n: int, z: int, y: int, x: int) -> np.ndarray:
        """bool (size, size): the held-back pixels of the window at (y, x) of plane (n, z)."""
        out = np.zeros((self.size, self.size), dtype=bool)
        for cell in self.cells_by_plane.get((n, z), ()):
            out[cell.window(y, x, self.size)] = True
        return out

    # -- one sample -----------------------------------------------------------------
    def box_mask(self, n: int, z: int, y: int, x: int) -> tuple[np.ndarray, int]:
        """The unknown pixels of the window at (y, x) of planes z - m .. z + m (m = ``stats_radius``, clipped
        to the stack; they hold planes z - r .. z + r): bool (k, S, S), True = unknown, and the first plane's index."""
        depth, size, m = self.data.shape[1], self.size, self.stats_radius
        low, high = max(0, z - m), min(depth, z + m + 1)
        return self.data.volumes.read_mask(n, slice(low, high), slice(y, y + size), slice(x, x + size)), low

    def around(self, box: np.ndarray, z: int, low: int, outside: Any) -> np.ndarray:
        """Planes z - r .. z + r (K) of ``box`` (which holds planes ``low`` ..), ``outside`` beyond the stack."""
        depth, r = self.data.shape[1], self.radius
        out = np.full((2 * r + 1,) + box.shape[1:], outside, dtype=box.dtype)
        first, last = max(0, z - r), min(depth, z + r + 1)
        out[first - (z - r) : last - (z - r)] = box[first - low : last - low]
        return out

    def unknown(self, n: int, z: int, y: int, x: int) -> np.ndarray:
        """bool (K, S, S): the unknown pixels of the window at (y, x) of planes z - r .. z + r (planes
        outside the stack: unknown)."""
        box, low = self.box_mask(n, z, y, x)
        return self.around(box, z, low, True)

    def window(self, n: int, z: int, y: int, x: int,
               box_unknown: Optional[np.ndarray] = None) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
        """The window at (y, x) of planes z - m .. z + m (see :meth:`box_mask`), read once: ``(values, box,
        unknown, low)``: volume n's values (k, S, S, C) in the stored dtype (0 where unknown); the values of
        every channel group of it side by side, (k, S, S, C x groups) (see :meth:`value_range`); bool (k, S, S),
        True = unknown (``box_unknown``, :meth:`box_mask`'s, when given: not read again); the first plane's index."""
        low = max(0, z - self.stats_radius)
        if box_unknown is None:
            box_unknown, _ = self.box_mask(n, z, y, x)
        count = self.data.shape[0] // self.groups
        window = (slice(low, low + len(box_unknown)), slice(y, y + self.size), slice(x, x + self.size))
        reads = {index: self.data.volumes.read(index, *window, unknown=box_unknown)[0]
                 for index in [n % count + k * count for k in range(self.groups)]}
        return reads[n], np.concatenate(list(reads.values()), axis=-1), box_unknown, low

    def value_range(self, box: np.ndarray, unknown: np.ndarray, target: int, hole: np.ndarray):
        """The conversion of a window (:meth:`window`) around a target plane, chosen as ``fill`` chooses a
        crop box's.

        :func:`inpaint_models.contract.values.value_range` (the fill's one owner of it)
        over the window's known pixels in planes z - m .. z + m (m =
        ``stats_radius``: ``fill``'s default volume margin for models that read
        neighbouring planes, 0 for 2D models, which fill plane by plane),
        ``hole`` (bool (S, S), True = artificial hole in plane z) excluded with
        the real holes: the pixels a fill of that hole would see. When the hole
        hides every known pixel there, the range is taken with it. Channels
        stored as separate volumes (``channel_groups``) count together, as a
        fill's crop holds them all.

        Args:
            box, unknown: :meth:`window`'s values of every channel group and unknown pixels.
            target: the index of plane z in them.
            hole: bool (S, S), the artificial hole.

        Returns:
            An :class:`inpaint_models.contract.values.ValueRange`.
        """
        ranged = unknown.copy()
        ranged[target] |= hole
        return value_range(box, unknown if ranged.all() else ranged)

    def normalised(self, n: int, z: int, y: int, x: int, hole: np.ndarray,
                   box_unknown: Optional[np.ndarray] = None) -> tuple[np.ndarray, np.ndarray]:
        """The window at (y, x) of planes z - r .. z + r as the model sees it.

        Args:
            n, z, y, x: volume, target plane, top-left corner of the S x S window.
            hole: bool (S, S), True = the artificial hole drawn in plane z
                (excluded from the value range, not from the returned values:
                the loss reads them as truth).
            box_unknown: :meth:`box_mask` of the window when already read.

        Returns:
            ``(image, unknown)``: float32 (K, S, S, C) in [0, 1], converted by
            :meth:`value_range`'s map (``ValueRange.to_unit``, as ``fill``
            converts its crops), 0 where unknown; bool (K, S, S), True = real
            hole or outside the stack (the artificial hole not included).
        """
        values, box, box_unknown, low = self.window(n, z, y, x, box_unknown)
        raw, unknown = self.around(values, z, low, 0), self.around(box_unknown, z, low, True)
        unit = self.value_range(box, box_unknown, z - low, hole).to_unit(raw)
        unit[unknown] = 0.0
        np.clip(unit, 0.0, 1.0, out=unit)  # artificial-hole truth beyond the known range: a fill clips there too
        return np.ascontiguousarray(unit, dtype=np.float32), unknown

    def sample(self, rng: np.random.Generator, train: bool, cell: Optional[Cell] = None) -> tuple:
        """One ``(image, mask, weight, bad)`` sample (CPU tensors, see :class:`~inpaint_models.training.data.Batch`)."""
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
            box_unknown, low = self.box_mask(n, z, y, x)
            unknown = self.around(box_unknown, z, low, True)
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
        image, unknown = self.normalised(n, z, y, x, hole, box_unknown)
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
        rng = np.random.default_rng([seed, epoch if self.train else VALIDATION_EPOCH, index])
        cell = self.cells[index % len(self.cells)] if self.cells else None
        return self.sampler.sample(rng, self.train, cell)


def _crop_statistics(sampler: _Sampler, count: int = 64) -> dict[str, Any]:
    """Mean and standard deviation (C,) of the known pixels the model sees: those of ``count`` training
    samples (seeded), each converted by its own value range as every sample is."""
    channels = sampler.data.shape[4]
    values = []
    for index in range(count):
        rng = np.random.default_rng([sampler.settings.seed, 13, index])
        image, mask, _, _ = sampler.sample(rng, True)
        pixels = torch.movedim(image, 0, -1).reshape(-1, channels)
        values.append(pixels[mask.reshape(-1) < 0.5])  # float32 until they are all in: half the memory
    known = torch.cat(values).double() if values else torch.zeros((0, channels), dtype=torch.float64)
    if known.shape[0] == 0:
        return {"mean": np.zeros(channels, np.float32), "std": np.ones(channels, np.float32),
                "files": sampler.data.shape[0]}
    return {"mean": known.mean(dim=0).numpy().astype(np.float32),
            "std": known.std(dim=0, unbiased=False).numpy().astype(np.float32), "files": sampler.data.shape[0]}
