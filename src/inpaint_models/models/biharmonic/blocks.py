"""The biharmonic fill of a crop of any size: its holes cut into systems of bounded size where that is exact.

A crop's holes are filled by :func:`fill_box`, recursively:

1. the box shrinks to the holes' bounding box and a ring of 2 voxels (the
   biharmonic stencil's reach);
2. holes of at most :data:`MAX_UNKNOWNS` voxels (in a box of at most
   :data:`MAX_BOX`) are one system (:mod:`.system`);
3. otherwise, where the holes leave a gap of 2 or more hole-free slices across
   the box, the two sides do not couple: each side is a box of its own;
4. otherwise a *thin* hole (every voxel within :data:`THIN_DEPTH` voxels of a
   known one: a lost plane between known planes, rows, columns, scratches, of
   any length) is solved in overlapping tiles of at most :data:`MAX_UNKNOWNS`
   unknowns, one after the other, each keeping its core: a wrong value at a
   tile's cut side fades by orders of magnitude within a few hole widths, so
   :data:`OVERLAP` voxels make the tiles agree with the whole solve to 1e-6;
5. a thick hole larger than the budget (a big 2D tile) is one system, solved by
   multigrid-preconditioned conjugate gradients: time and memory grow with the
   hole (roughly linearly), but are not bounded by the budget. (Tiles whose cut
   sides come from a half-resolution solve were measured and rejected: a thick
   hole's solution depends on the derivatives its boundary ring encodes, and a
   200**2 hole so tiled was 18 dB away from the whole solve.)

No library decomposes a hole this way (pyamg and scipy solve a given matrix,
whose memory is the whole hole's), so it is written here.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from inpaint_models.contract.datatypes import ProgressEvent, Reporter, ignore_progress
from inpaint_models.models.lost_planes import fill_lost_planes
from inpaint_models.models.biharmonic.system import assemble, one_blas_thread, solve

#: unknowns of one system (a tile): about 100 MB while it is assembled and solved
MAX_UNKNOWNS = 1 << 18
#: voxels of one system's box (its lookup table and values copy)
MAX_BOX = 1 << 23
#: voxels a tile's window reaches beyond its core on each side (a thin hole's tiles then agree with its whole
#: solve to about 1e-6, on the [0, 1] scale, even where the cut sides start at 0)
OVERLAP = 32
#: a hole is thin when no voxel is farther than this from a known voxel (city-block; holes up to 8 voxels across)
THIN_DEPTH = 4
#: the biharmonic stencil's reach: a system's unknowns need this many voxels of known values around them
RING = 2
#: voxels per slab when a whole crop is scanned
SLAB_VOXELS = 1 << 22

Slices = tuple[slice, ...]


@dataclass
class SolveProgress:
    """Hole voxels solved so far, reported as ``ProgressEvent("solve", k, n)`` in thousands of voxels.

    ``report`` is the fill's (:attr:`FillContext.report`): it raises ``Cancelled``
    when the caller cancels, so a big fill stops between two systems. A fill
    that is one system reports nothing (``report`` is ``ignore_progress``).
    """

    report: Reporter
    total: int
    done: int = 0

    def add(self, voxels: int) -> None:
        """Count ``voxels`` more hole voxels as solved and report it."""
        self.done += int(voxels)
        self.report(ProgressEvent("solve", self.done // 1000, max(self.total // 1000, 1),
                                  message=f"{self.done:,} of {self.total:,} hole voxels solved"))


def fill_box(out: np.ndarray, hole: np.ndarray, progress: SolveProgress) -> None:
    """Fill ``out[hole]`` in place with the biharmonic solution, its known voxels as boundary.

    Args:
        out: float32 (*shape, C), writable (a view is fine); voxels outside
            ``hole`` are the known values; the box's sides are the image's
            sides, or hold at least :data:`RING` known voxels beyond any hole.
        hole: bool (*shape), True = fill.
        progress: where each solved system is counted.
    """
    bounds = hole_bounds(hole)
    if bounds is None:
        return
    out, hole = out[bounds], hole[bounds]
    unknowns = np.count_nonzero(hole)
    if unknowns <= MAX_UNKNOWNS and hole.size <= MAX_BOX:
        solve_window(out, hole, tuple(slice(0, n) for n in hole.shape))
        progress.add(unknowns)
        return
    gap = find_gap(hole)
    if gap is not None:
        axis, low_stop, high_start = gap
        before = (slice(None),) * axis
        fill_box(out[before + (slice(0, low_stop),)], hole[before + (slice(0, low_stop),)], progress)
        fill_box(out[before + (slice(high_start, None),)], hole[before + (slice(high_start, None),)], progress)
        return
    if is_thin(hole):
        fill_tiled(out, hole, progress)
    else:
        solve_window(out, hole, tuple(slice(0, n) for n in hole.shape))
        progress.add(unknowns)


def is_thin(hole: np.ndarray) -> bool:
    """Whether every hole voxel lies within :data:`THIN_DEPTH` voxels (city-block) of a known voxel.

    The box's sides count as hole (a hole at the image's border is mirrored there).
    """
    from scipy import ndimage

    return not ndimage.binary_erosion(hole, iterations=THIN_DEPTH, border_value=1).any()


def hole_bounds(hole: np.ndarray) -> Slices | None:
    """The holes' bounding box grown by :data:`RING` voxels (clipped to the box); None without a hole."""
    bounds = []
    for axis in range(hole.ndim):
        present = np.flatnonzero(hole.any(axis=tuple(a for a in range(hole.ndim) if a != axis)))
        if present.size == 0:
            return None
        bounds.append(slice(max(int(present[0]) - RING, 0), min(int(present[-1]) + 1 + RING, hole.shape[axis])))
    return tuple(bounds)


def find_gap(hole: np.ndarray) -> tuple[int, int, int] | None:
    """A cut between holes that do not couple: ``(axis, low_stop, high_start)``, or None.

    Looks along the longest axes first for a run of ``RING`` or more slices
    without a hole voxel (nearest the middle): no stencil reaches across it, so
    ``[:low_stop]`` and ``[high_start:]`` along ``axis`` (each keeping a ring of
    known slices) are independent systems.
    """
    for axis in sorted(range(hole.ndim), key=lambda a: -hole.shape[a]):
        profile = hole.any(axis=tuple(a for a in range(hole.ndim) if a != axis))
        present = np.flatnonzero(profile)
        steps = np.diff(present)
        wide = np.flatnonzero(steps > RING)  # steps - 1 empty slices between two hole slices
        if wide.size == 0:
            continue
        middle = (present[0] + present[-1]) / 2.0
        best = wide[np.argmin(np.abs(present[wide] + steps[wide] / 2.0 - middle))]
        return axis, int(present[best]) + 1 + RING, int(present[best + 1]) - RING
    return None


def solve_window(out: np.ndarray, hole: np.ndarray, core: Slices, window: Slices | None = None) -> None:
    """Solve the holes in ``window`` (default: the core) and write the solution inside ``core``.

    Hole voxels outside the window, within :data:`RING` of it, are taken as
    known with their current values in ``out`` (the coarse guess, or tiles
    solved before).
    """
    window = core if window is None else window
    reach = tuple(slice(max(w.start - RING, 0), min(w.stop + RING, n)) for w, n in zip(window, hole.shape))
    unknown = np.zeros(tuple(s.stop - s.start for s in reach), bool)
    inner = tuple(slice(w.start - r.start, w.stop - r.start) for w, r in zip(window, reach))
    unknown[inner] = hole[window]
    if not unknown.any():
        return
    values = out[reach]
    system = assemble(values, unknown)
    solution = solve(system)
    target = np.zeros_like(unknown)
    kept = tuple(slice(c.start - r.start, c.stop - r.start) for c, r in zip(core, reach))
    target[kept] = unknown[kept]
    inside = target.reshape(-1)[system.flat]  # the unknowns in the core, in the order of target's voxels
    values[target] = solution[inside].astype(out.dtype, copy=False)


def fill_tiled(out: np.ndarray, hole: np.ndarray, progress: SolveProgress) -> None:
    """Fill one thin hole larger than a system in overlapping tiles, one after the other.

    A tile's cut sides read the tiles solved before it, or 0 where none has been.
    Each tile is counted in ``progress`` when solved.
    """
    out[hole] = 0.0
    for core in tile_cores(hole, tuple(slice(0, n) for n in hole.shape)):
        window = tuple(slice(max(c.start - OVERLAP, 0), min(c.stop + OVERLAP, n)) for c, n in zip(core, hole.shape))
        solve_window(out, hole, core, window)
        progress.add(np.count_nonzero(hole[core]))


def tile_cores(hole: np.ndarray, core: Slices) -> list[Slices]:
    """The box cut in halves (longest side first) until each core's window fits one system."""
    window = tuple(slice(max(c.start - OVERLAP, 0), min(c.stop + OVERLAP, n)) for c, n in zip(core, hole.shape))
    sizes = [c.stop - c.start for c in core]
    window_size = int(np.prod([w.stop - w.start + 2 * RING for w in window], dtype=np.int64))
    if max(sizes) < 2 or (window_size <= MAX_BOX and np.count_nonzero(hole[window]) <= MAX_UNKNOWNS):
        return [core]
    axis = int(np.argmax(sizes))
    middle = (core[axis].start + core[axis].stop) // 2
    low = core[:axis] + (slice(core[axis].start, middle),) + core[axis + 1:]
    high = core[:axis] + (slice(middle, core[axis].stop),) + core[axis + 1:]
    return tile_cores(hole, low) + tile_cores(hole, high)


def biharmonic_fill(image: np.ndarray, mask: np.ndarray, report: Reporter = ignore_progress,
                    predict_lost_planes: bool = False) -> np.ndarray:
    """The biharmonic fill of a float (*spatial, C) image (2D or 3D) under a bool (*spatial) mask, True = fill.

    Returns float32 of the image's shape: known voxels unchanged, the hole
    solved as scikit-image's ``inpaint_biharmonic`` does (and, like it, clipped
    to each channel's range of known values), in time and memory that grow
    with the hole (:func:`fill_box`). A hole too big for one system reports its
    progress to ``report`` (``"solve"`` events, thousands of hole voxels), which
    may raise ``Cancelled`` between two systems. With ``predict_lost_planes``, a
    3D image's isolated wholly lost planes (axis 0) are then overwritten by the
    predictor fitted on the stack's known planes
    (:func:`inpaint_models.models.lost_planes.fill_lost_planes`); every
    other hole voxel is the biharmonic solution all the same.

    Raises:
        ValueError: the shapes do not match, or no voxel is known.
    """
    mask = np.asarray(mask, dtype=bool)
    if image.shape[:-1] != mask.shape:
        raise ValueError(f"image of shape {image.shape} and mask of shape {mask.shape} do not match (image: (..., C))")
    if mask.all():
        raise ValueError("the mask covers the whole image: there is no known voxel to fill from")
    low, high = known_range(image, mask)
    out = np.array(image, dtype=np.float32, order="C", copy=True)
    unknowns = int(np.count_nonzero(mask))
    progress = SolveProgress(report if unknowns > MAX_UNKNOWNS else ignore_progress, unknowns)
    with one_blas_thread():
        fill_box(out, mask, progress)
        if predict_lost_planes and mask.ndim == 3:  # its least squares on one BLAS thread too (less memory)
            fill_lost_planes(out, mask)
    for channel in range(out.shape[-1]):
        np.clip(out[..., channel], low[channel], high[channel], out=out[..., channel])
    return out


def known_range(image: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each channel's lowest and highest known value (float64 (C,) each), read slab by slab along axis 0."""
    channels = image.shape[-1]
    low, high = np.full(channels, np.inf), np.full(channels, -np.inf)
    step = max(1, SLAB_VOXELS // max(1, int(np.prod(mask.shape[1:], dtype=np.int64))))
    for start in range(0, mask.shape[0], step):
        known = image[start:start + step][~mask[start:start + step]]
        if known.size:
            low, high = np.minimum(low, known.min(axis=0)), np.maximum(high, known.max(axis=0))
    return low, high
