"""``patchmatch``: content-aware fill by PatchMatch (Barnes et al. 2009) through the PyPatchMatch package.

PyPatchMatch matches and fills 8-bit 3-channel images only. This plugin gives it
an 8-bit *guide* of each crop and turns its 8-bit fill back into the caller's
precision and channels:

- 8-bit grey or RGB data is its own guide (grey repeated three times): the fill
  is PyPatchMatch's, exactly.
- Any other data (16-bit, float; 2, 4 or more channels) is mapped linearly
  onto three 8-bit channels stretched to the crop's own known range: RGB with
  one scale for all channels, grey repeated, other channel counts projected on
  their three main components. After the fill, each hole pixel looks up the
  known pixel whose 3x3 guide patch is nearest to its filled patch (its
  source) and becomes that source pixel at full precision plus the fill's
  deviation from it, mapped back: where PatchMatch copied a pixel, the hole
  gets the source pixel itself; where it blended or shifted colours, the value
  lies within half an 8-bit step of the 8-bit fill and keeps the source's finer
  detail. Channels beyond the guide's three components come from the source.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np

from inpaint_models.contract.datatypes import FillContext, ModelInfo
from inpaint_models.contract.errors import OptionError
from inpaint_models.contract.hookspecs import hookimpl
from inpaint_models.contract.options import fill_option
from inpaint_models.contract.values import require_known_pixels

#: PyPatchMatch keeps its seed in one process-wide variable read when a fill
#: starts: a seed and its fill must not interleave with another thread's.
_SEED_LOCK = threading.Lock()

#: How far the source search may be from the exact nearest patch: a distance at
#: most (1 + eps) times the best (scipy's approximate k-d tree search, ~4x faster).
_SEARCH_EPS = 1.0
#: The source search compares the patches' main components (27 values -> 9).
_SEARCH_DIMS = 9
#: At most this many known pixels are searched as sources (a seeded sample beyond).
_MAX_SOURCES = 1 << 18


@dataclass(frozen=True)
class PatchMatchOptions:
    """Options of the PatchMatch fill.

    Attributes:
        patch_size: radius of the compared patches, which span 2 * patch_size + 1
            pixels a side; larger patches follow larger structures but are much slower.
        seed: seed of the randomized search: the same seed gives the same fill.
    """

    patch_size: int = fill_option(3)
    seed: int = fill_option(0)

    def __post_init__(self) -> None:
        if isinstance(self.patch_size, bool) or not isinstance(self.patch_size, (int, np.integer)):
            raise OptionError(f"patch_size must be an integer, got {self.patch_size!r}")
        if self.patch_size < 1:
            raise OptionError(f"patch_size must be at least 1, got {self.patch_size}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, (int, np.integer)):
            raise OptionError(f"seed must be an integer, got {self.seed!r}")


@hookimpl
def model_info() -> ModelInfo:
    """Describe the PatchMatch fill."""
    return ModelInfo(
        name="patchmatch",
        title="PatchMatch content-aware fill (Barnes et al. 2009)",
        description="Classical content-aware fill copying patches of the surrounding image, so texture and edges "
                    "continue into the hole",
        source="Barnes, Shechtman, Finkelstein & Goldman 2009, 'PatchMatch: A Randomized Correspondence Algorithm "
               "for Structural Image Editing' (ACM Transactions on Graphics 28(3), SIGGRAPH); the PyPatchMatch package",
        trainable=False,
        options=PatchMatchOptions,
        channels=None,
        min_size=1,
        crop_margin=48,
    )


@hookimpl
def fill(image: np.ndarray, mask: np.ndarray, options: PatchMatchOptions, context: FillContext) -> np.ndarray:
    """Fill one crop by PatchMatch.

    Args:
        image: float32 (H, W, C) in [0, 1], any C; values under the mask are ignored.
        mask: bool (H, W), True = fill.
        options: patch size and seed.
        context: ``context.source_dtype`` picks the exact 8-bit path (``uint8``
            or ``bool`` with 1 or 3 channels) or the full-precision one.

    Returns:
        float32 (H, W, C) in [0, 1] (the hole filled; other pixels as given). On the
        full-precision path every hole value lies inside the crop's known range per channel.

    Raises:
        MaskCoversImageError: the crop has no known pixel (the pipeline grows such crops
            until they have some; a direct call may not).
    """
    require_known_pixels(mask, "the whole crop around a hole region (use a larger margin)", "copy from")
    channels = image.shape[-1]
    if context.source_dtype in ("uint8", "bool") and channels in (1, 3):
        guide = np.rint(image * np.float32(255.0)).astype(np.uint8)
        if channels == 1:
            guide = np.repeat(guide, 3, axis=-1)
        filled = _patchmatch(guide, mask, options)
        # grey: the three channels are filled alike (the library treats channels symmetrically)
        picked = filled[..., :1] if channels == 1 else filled
        return picked.astype(np.float32) * np.float32(1.0 / 255.0)
    return _fill_full_precision(image, mask, options)


def _patchmatch(guide: np.ndarray, mask: np.ndarray, options: PatchMatchOptions) -> np.ndarray:
    """PyPatchMatch on a uint8 (H, W, 3) guide and bool (H, W) mask (True = fill) -> uint8 (H, W, 3)."""
    try:
        import patchmatch
    except ImportError as error:  # pragma: no cover - a dependency of this distribution
        raise ImportError("the patchmatch model needs the PyPatchMatch package: pip install PyPatchMatch") from error
    if not patchmatch.patchmatch_available:  # pragma: no cover - no wheel for this platform
        raise RuntimeError(
            "PyPatchMatch is installed without its native library (no wheel for this platform and the build "
            "from source failed): install a C++ compiler, CMake and OpenCV, then "
            "pip install --force-reinstall --no-deps --no-cache-dir PyPatchMatch"
        )
    hole = np.ascontiguousarray(mask, dtype=np.uint8)
    with _SEED_LOCK:
        patchmatch.set_random_seed(int(options.seed) % 2**32)
        return patchmatch.inpaint(np.ascontiguousarray(guide), hole, patch_size=int(options.patch_size))


@dataclass(frozen=True)
class _Guide:
    """A linear map of C-channel pixels onto three 8-bit guide channels: ``guide = pixels @ forward.T + offset``."""

    forward: np.ndarray  # (3, C)
    offset: np.ndarray  # (3,)
    backward: np.ndarray  # (C, 3): the pseudo-inverse of forward

    @classmethod
    def fit(cls, known_pixels: np.ndarray) -> _Guide:
        """Fit to (N, C) float known pixels: stretched to 0..255 over the guide's known values."""
        channels = known_pixels.shape[-1]
        pixels = known_pixels.astype(np.float64)
        if channels == 1:
            basis, centre = np.ones((3, 1)), np.zeros(1)
        elif channels == 3:
            basis, centre = np.eye(3), np.zeros(3)  # one scale for all channels keeps colour distances
        else:
            # the three main components keep the pixel distances best; one scale for all of them
            centre = pixels.mean(axis=0)
            basis = np.zeros((3, channels))
            components = _main_components(pixels - centre, 3)
            basis[: len(components)] = components
        used = np.abs(basis).sum(axis=1) > 0  # guide channels that carry data (the others stay 0)
        projected = (pixels - centre) @ basis[used].T
        low, high = (float(projected.min()), float(projected.max())) if projected.size else (0.0, 0.0)
        scale = 255.0 / (high - low) if high > low else 1.0
        forward = basis * scale
        offset = np.where(used, -(centre @ basis.T + low) * scale, 0.0)
        return cls(forward, offset, np.linalg.pinv(forward))

    def to_guide(self, pixels: np.ndarray) -> np.ndarray:
        """(..., C) pixels -> uint8 (..., 3)."""
        values = pixels.astype(np.float64) @ self.forward.T + self.offset
        return np.clip(np.rint(values), 0, 255).astype(np.uint8)


def _fill_full_precision(image: np.ndarray, mask: np.ndarray, options: PatchMatchOptions) -> np.ndarray:
    """Match on an 8-bit guide, fill the hole from full-precision source pixels (see the module docstring)."""
    from scipy import ndimage
    from scipy.spatial import cKDTree

    known = ~mask
    known_pixels = image[known]
    guide_map = _Guide.fit(known_pixels)
    guide = guide_map.to_guide(image)
    guide[mask] = 0
    filled = _patchmatch(guide, mask, options)

    # the source of each hole pixel: the known pixel whose 3x3 guide patch is nearest to its filled patch
    whole = ndimage.binary_erosion(known, np.ones((3, 3), bool), border_value=1)
    rows, cols = np.nonzero(whole if whole.any() else known)
    if len(rows) > _MAX_SOURCES:  # a huge crop: a seeded sample of the sources bounds time and memory
        keep = np.sort(np.random.default_rng(options.seed % 2**32).choice(len(rows), _MAX_SOURCES, replace=False))
        rows, cols = rows[keep], cols[keep]
    hole_rows, hole_cols = np.nonzero(mask)
    sources, queries = _descriptors(_patches(guide, rows, cols), _patches(filled, hole_rows, hole_cols))
    _, nearest = cKDTree(sources, balanced_tree=False, compact_nodes=False).query(queries, k=1, eps=_SEARCH_EPS)
    source = (rows[nearest], cols[nearest])

    origin = image[source].astype(np.float64)
    deviation = (filled[mask].astype(np.float64) - guide[source].astype(np.float64)) @ guide_map.backward.T
    # stay inside the crop's known range per channel by shortening each pixel's deviation as a whole (not a
    # clip per channel): the source pixel is inside it, and relations between channels are kept
    low, high = known_pixels.min(axis=0), known_pixels.max(axis=0)
    room = np.where(deviation > 0, high - origin, np.where(deviation < 0, low - origin, np.inf))
    with np.errstate(divide="ignore", invalid="ignore"):
        fraction = np.where(deviation != 0, room / deviation, np.inf)
    shortening = np.clip(fraction.min(axis=1, keepdims=True), 0.0, 1.0)
    out = image.copy()
    out[mask] = (origin + shortening * deviation).astype(np.float32)
    return out


def _descriptors(sources: np.ndarray, queries: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(N, 27) and (M, 27) patches -> their main components: a k-d tree is slow in 27 dimensions."""
    centre = sources.mean(axis=0)
    basis = _main_components(sources - centre, _SEARCH_DIMS).T
    if basis.shape[1] == 0:  # every known patch alike: any is the nearest
        basis = np.zeros((sources.shape[1], 1))
    return (sources - centre) @ basis, (queries - centre) @ basis


def _main_components(centred: np.ndarray, count: int) -> np.ndarray:
    """The ``count`` (or fewer) main axes of (N, D) centred data, as (k, D) unit rows, largest first.

    Axes along which the data does not vary are left out: their direction is
    arbitrary, and a fill's deviation mapped back along one would break the
    relations between channels. From the D x D scatter matrix (an SVD of the
    N x D data is far slower).
    """
    data = centred.astype(np.float64)
    values, vectors = np.linalg.eigh(data.T @ data)
    values, vectors = values[::-1], vectors[:, ::-1]
    keep = values > max(float(values[0]), 0.0) * 1e-9
    return vectors[:, keep][:, :count].T


def _patches(guide: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """uint8 (H, W, 3) and N pixel positions -> float32 (N, 27): their 3x3 neighbourhoods (edges mirrored)."""
    padded = np.pad(guide, ((1, 1), (1, 1), (0, 0)), mode="symmetric")
    return np.concatenate(
        [padded[rows + dy, cols + dx] for dy in range(3) for dx in range(3)], axis=-1, dtype=np.float32
    )
