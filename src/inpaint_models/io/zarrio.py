"""Images too big for memory, on disk: zarr stores (OME-Zarr too) and large TIFFs, read and written chunk by chunk.

The CLI's lazy ``inpaint fill`` reads through here and fills with
:func:`inpaint_models.fill`, which takes dask arrays (:mod:`inpaint_models.pipeline.chunked`).
A TIFF is read through tifffile's zarr interface (``tifffile.imread(..., aszarr=True)``),
so only the tiles or pages a crop touches are decoded.

OME-Zarr (NGFF multiscales): the full-resolution level is filled and the lower
levels are rebuilt from it, each from the one above by the factor between their
shapes (a mean over each block where the level's shape is the floor of the
division, the first pixel of each block where it is the ceiling); a level whose
shape fits neither is left out, and :attr:`WriteReport.skipped` says so. The
group's attributes (axes, scales, OMERO display settings) are copied.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Optional

import numpy as np

from inpaint_models.contract.errors import InpaintError

if TYPE_CHECKING:  # dask is imported when a store is opened: \`inpaint fill photo.png\` does not pay for it
    import dask.array as da

#: TIFF files above this size are read chunk by chunk (and the result must go to a zarr store)
LAZY_TIFF_BYTES = 2 << 30
TIFF_SUFFIXES = (".tif", ".tiff")
ZARR_MARKERS = ("zarr.json", ".zarray", ".zgroup")


@dataclass
class LazyImage:
    """An array opened lazily, with what is needed to write a result like it.

    Attributes:
        array: the full-resolution data as a dask array.
        axes: axis letters (``"TCZYX"``, tifffile's ``"ZYX"``...), upper case; "" when unknown.
        group_attributes: an OME-Zarr group's attributes (None for a plain array or a TIFF).
        levels: the OME-Zarr dataset paths, full resolution first, with each level's shape and chunks.
        zarr_format: 2 or 3 (what to write back).
    """

    array: da.Array
    axes: str = ""
    group_attributes: Optional[dict[str, Any]] = None
    levels: list[tuple[str, tuple[int, ...], tuple[int, ...]]] = field(default_factory=list)
    zarr_format: int = 3


@dataclass
class WriteReport:
    """What :func:`write_zarr` wrote: the dataset paths, and the pyramid levels it could not rebuild (with why)."""

    written: list[str]
    skipped: list[str]


def is_zarr_path(path: Path) -> bool:
    """A zarr store on disk: a ``.zarr`` path or a folder holding zarr metadata."""
    path = Path(path)
    return path.suffix.lower() == ".zarr" or (path.is_dir() and any((path / name).exists() for name in ZARR_MARKERS))


def is_big_tiff(path: Path) -> bool:
    """A TIFF file too big to read whole (:data:`LAZY_TIFF_BYTES`)."""
    path = Path(path)
    return path.suffix.lower() in TIFF_SUFFIXES and path.is_file() and path.stat().st_size > LAZY_TIFF_BYTES


def _multiscales(attributes: dict[str, Any]) -> Optional[list]:
    if "multiscales" in attributes:
        return attributes["multiscales"]
    ome = attributes.get("ome")  # OME-Zarr 0.5 nests its metadata under "ome"
    return ome.get("multiscales") if isinstance(ome, dict) else None


def open_lazy(path: Path) -> LazyImage:
    """Open a zarr array, an OME-Zarr group (its full-resolution level) or a TIFF without reading the pixels.

    Raises:
        InpaintError: not a readable zarr store or TIFF, or a zarr group that is neither OME-Zarr nor one array.
    """
    import dask.array as da

    path = Path(path)
    if path.suffix.lower() in TIFF_SUFFIXES:
        import tifffile

        try:
            with tifffile.TiffFile(path) as tiff:
                axes = tiff.series[0].axes.upper()
            store = tifffile.imread(path, aszarr=True, series=0, level=0)
        except (OSError, ValueError, IndexError) as error:
            raise InpaintError(f"cannot read {path} as a TIFF: {error}") from None
        import zarr

        return LazyImage(da.from_zarr(zarr.open(store, mode="r")), axes, zarr_format=3)
    import zarr

    try:
        node = zarr.open(store=str(path), mode="r")
    except Exception as error:  # zarr raises several kinds for a missing or broken store
        raise InpaintError(f"cannot open {path} as a zarr store: {type(error).__name__}: {error}") from None
    zarr_format = int(node.metadata.zarr_format)
    if isinstance(node, zarr.Array):
        return LazyImage(da.from_zarr(node), _axes_of(dict(node.attrs)), zarr_format=zarr_format)
    attributes = dict(node.attrs)
    multiscales = _multiscales(attributes)
    if multiscales:
        scale = multiscales[0]
        levels = []
        for dataset in scale.get("datasets", []):
            level = node[dataset["path"]]
            levels.append((str(dataset["path"]), tuple(level.shape), tuple(level.chunks)))
        if not levels:
            raise InpaintError(f"{path}: the OME-Zarr multiscales list no datasets")
        axes = "".join(str(a["name"] if isinstance(a, dict) else a) for a in scale.get("axes", [])).upper()
        return LazyImage(da.from_zarr(node[levels[0][0]]), axes, attributes, levels, zarr_format)
    names = [name for name, member in node.members() if isinstance(member, zarr.Array)]
    if len(names) != 1:
        raise InpaintError(
            f"{path} is a zarr group with {len(names)} arrays ({', '.join(sorted(names)) or 'none'}) and no OME-Zarr "
            f"multiscales: give the array's own path ({path}/NAME)"
        )
    array = node[names[0]]
    return LazyImage(da.from_zarr(array), _axes_of(dict(array.attrs)), zarr_format=zarr_format)


def _axes_of(attributes: dict[str, Any]) -> str:
    """Axis letters of a plain zarr array, from xarray's ``_ARRAY_DIMENSIONS`` when present."""
    dims = attributes.get("_ARRAY_DIMENSIONS")
    return "".join(str(d)[:1] for d in dims).upper() if isinstance(dims, list) else ""


def _downsample(level: da.Array, shape: tuple[int, ...]) -> Optional[da.Array]:
    """``level`` reduced to ``shape`` by whole factors per axis.

    The mean over blocks where ``shape`` is the floor of the division, every f-th
    pixel where it is the ceiling; None where neither fits.
    """
    import dask.array as da

    factors = []
    for big, small in zip(level.shape, shape):
        factor = max(1, round(big / small)) if small else 0
        if factor == 0 or big // factor != small and math.ceil(big / factor) != small:
            return None
        factors.append(factor)
    if all(big // f == small for big, f, small in zip(level.shape, factors, shape)):
        step = {axis: f for axis, f in enumerate(factors) if f > 1}
        if not step:
            return level
        dtype = level.dtype
        mean = da.coarsen(np.mean, level.astype(np.float64), step, trim_excess=True)
        if dtype.kind in "iu":
            info = np.iinfo(dtype)
            mean = da.clip(da.round(mean), info.min, info.max)
        elif dtype == np.bool_:
            mean = mean >= 0.5
        return mean.astype(dtype)
    strided = level[tuple(slice(None, None, f) for f in factors)]
    return strided if strided.shape == tuple(shape) else None


def write_zarr(
    out: Path, filled: da.Array, source: LazyImage, compute: Callable[[Any], None] = lambda stored: stored.compute()
) -> WriteReport:
    """Write a lazy fill's result to a new zarr store shaped like its source.

    A plain array is written as one array at ``out``; an OME-Zarr source as an
    OME-Zarr group: its attributes, the filled full-resolution level, and the
    lower levels rebuilt from it (module docstring). ``compute`` runs each
    level's write (a dask collection), e.g. under a progress bar.

    Raises:
        InpaintError: ``out`` exists already, or the result's chunks are not regular.
    """
    import dask.array as da
    import zarr

    out = Path(out)
    if out.exists():
        raise InpaintError(f"{out} exists already: choose a new output path (nothing is overwritten)")
    if source.group_attributes is None:
        stored = da.to_zarr(filled, str(out), compute=False, zarr_format=source.zarr_format)
        compute(stored)
        return WriteReport([str(out)], [])
    group = zarr.open_group(str(out), mode="w-", zarr_format=source.zarr_format)
    group.attrs.update(source.group_attributes)
    written, skipped = [], []
    previous: Optional[da.Array] = None
    for index, (name, shape, chunks) in enumerate(source.levels):
        if index == 0:
            level = filled
        else:
            assert previous is not None
            level = _downsample(previous, shape)
            if level is None:
                skipped += [path for path, _, _ in source.levels[index:]]
                break
            level = level.rechunk(chunks)
        stored = da.to_zarr(level, str(out), component=name, compute=False, zarr_format=source.zarr_format)
        compute(stored)
        written.append(name)
        previous = da.from_zarr(str(out), component=name)  # the next level reads this one back, not the source
    if skipped:  # the metadata lists only what was written
        attributes = copy.deepcopy(source.group_attributes)
        multiscales = _multiscales(attributes)
        assert multiscales is not None
        multiscales[0] = dict(multiscales[0], datasets=[d for d in multiscales[0]["datasets"] if d["path"] in written])
        group.attrs.update(attributes)
    return WriteReport(written, skipped)
