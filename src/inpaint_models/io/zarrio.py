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

Nothing is lost silently (docs/big-data.md, "When something is wrong"):

* an output store is written beside its path and renamed into place when complete
  (:func:`write_zarr`, :func:`inpaint_models.io.atomic.atomic_directory`), with every chunk;
* an image store's missing chunks, which zarr reads as the fill value, are named
  from the store's key listing (:func:`check_chunks`: warn, error or ignore);
* a chunk that cannot be decoded raises an :class:`InpaintError` naming the store
  and the region (:func:`checked_dask`), and malformed OME-Zarr metadata one
  naming the field (:func:`open_lazy`).
"""

from __future__ import annotations

import contextlib
import copy
import itertools
import math
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator, Optional

import numpy as np

from inpaint_models.contract.errors import InpaintError
from inpaint_models.io.atomic import atomic_directory

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


class MissingChunksWarning(UserWarning):
    """A zarr image lacks chunks: they read as its fill value (zarr says nothing), see :func:`check_chunks`."""


#: what to do about an image's missing chunks (:func:`check_chunks`)
MISSING_CHUNKS = ("warn", "error", "ignore")
_NAMED_CHUNKS = 5  # a message names this many missing chunks, then says how many more


def _multiscales(attributes: dict[str, Any]) -> Any:
    if "multiscales" in attributes:
        return attributes["multiscales"]
    ome = attributes.get("ome")  # OME-Zarr 0.5 nests its metadata under "ome"
    return ome.get("multiscales") if isinstance(ome, dict) else None


def describe(array: Any) -> str:
    """Where a zarr array is stored, for messages: its folder on disk, else the store's URL."""
    root = getattr(array.store, "root", None)
    if root is not None:
        return str(Path(root) / array.path) if array.path else str(root)
    return str(array.store_path)


def missing_chunks(array: Any) -> tuple[list[str], int]:
    """The storage keys of a zarr array's chunks (shards, when sharded) absent from its store, and how many it has.

    Only the store's key listing is read, never chunk data: one listing of the
    array's prefix and a set lookup per chunk of the grid. A missing chunk reads
    as the array's fill value. Chunks inside a shard are not looked into.
    """
    from zarr.core.sync import sync  # zarr's own bridge to its asynchronous store API

    async def listing() -> list[str]:
        return [key async for key in array.store.list_prefix(prefix)]

    prefix = f"{array.path}/" if array.path else ""
    present = {key[len(prefix):] for key in sync(listing())}
    grid = [math.ceil(size / step) for size, step in zip(array.shape, array.shards or array.chunks)]
    encode = array.metadata.encode_chunk_key
    missing = [key for key in map(encode, itertools.product(*map(range, grid))) if key not in present]
    return missing, math.prod(grid)


def check_chunks(array: Any, missing: str = "warn", name: Optional[str] = None, stacklevel: int = 2) -> int:
    """Say whether a zarr image has missing chunks (which zarr reads as its fill value, silently); returns how many.

    Args:
        array: a ``zarr.Array``.
        missing: ``"warn"`` (a :class:`MissingChunksWarning` naming the first
            chunks and the count), ``"error"`` (an :class:`InpaintError`) or
            ``"ignore"`` (no check: nothing is listed).
        name: the array's name in messages (default: where it is stored).

    A chunk is missing when it was lost (a copy or a write that did not finish)
    or never written: zarr leaves out chunks equal to the fill value unless the
    array was written with ``write_empty_chunks=True``, so a sparse image may
    be complete; the message says both.

    Raises:
        InpaintError: ``missing="error"`` and chunks are missing, or ``missing`` is not one of :data:`MISSING_CHUNKS`.
    """
    if missing not in MISSING_CHUNKS:
        raise InpaintError(f"missing chunks: choose one of {', '.join(MISSING_CHUNKS)}, not {missing!r}")
    if missing == "ignore":
        return 0
    if not getattr(array.store, "supports_listing", True):  # e.g. a read-only HTTP store
        text = f"{name or describe(array)}: its store cannot list its keys, so missing chunks cannot be found"
        if missing == "error":
            raise InpaintError(text + " (missing chunks 'ignore' skips the check)")
        warnings.warn(text, MissingChunksWarning, stacklevel=stacklevel + 1)
        return 0
    absent, total = missing_chunks(array)
    if not absent:
        return 0
    more = len(absent) - _NAMED_CHUNKS
    named = ", ".join(absent[:_NAMED_CHUNKS]) + (f" and {more} more" if more > 0 else "")
    fill_value = np.asarray(array.fill_value).tolist()
    text = (f"{name or describe(array)}: {len(absent)} of {total} chunks are missing ({named}); they read as the fill "
            f"value {fill_value!r}. Lost chunks (an interrupted copy or write) must be restored; chunks zarr "
            f"left out because they equal the fill value are fine")
    if missing == "error":
        raise InpaintError(text)
    warnings.warn(text + " (missing chunks 'ignore' silences this, 'error' refuses)", MissingChunksWarning,
                  stacklevel=stacklevel + 1)
    return len(absent)


class _CheckedReads:
    """A zarr array whose reads fail as one :class:`InpaintError` naming the store and the region (a corrupt chunk).

    Handed to :func:`dask.array.from_array` in place of the array: each task reads
    its chunk through :meth:`__getitem__`. A codec error (``Zstd decompression
    error``, a truncated file, a wrong size) becomes ``<store>: cannot read
    [rows, columns...]: <the codec's message>``.
    """

    def __init__(self, array: Any, name: str) -> None:
        self.array, self.name = array, name
        self.shape, self.dtype, self.ndim = tuple(array.shape), np.dtype(array.dtype), len(array.shape)

    def __getitem__(self, key: Any) -> np.ndarray:
        try:
            return np.asarray(self.array[key])
        except MemoryError:
            raise
        except Exception as error:  # codecs and stores raise many kinds; all mean this region cannot be read
            where = ", ".join(f"{k.start}:{k.stop}" if isinstance(k, slice) else str(k)
                              for k in (key if isinstance(key, tuple) else (key,)))
            message = " ".join(str(error).split()) or type(error).__name__
            raise InpaintError(f"{self.name}: cannot read [{where}] (a corrupt or unreadable chunk): "
                               f"{message}") from None


def checked_dask(array: Any, name: Optional[str] = None) -> da.Array:
    """A zarr array as a dask array with its chunks, whose corrupt chunks raise :class:`InpaintError` when read.

    Like :func:`dask.array.from_zarr`, but a chunk that cannot be decoded gives a
    one-line error naming the store (``name``, default :func:`describe`) and the region.
    """
    import dask.array as da
    from dask.base import tokenize

    name = name or describe(array)
    token = tokenize(array, array.chunks, "checked")
    meta = np.empty((0,) * len(array.shape), dtype=array.dtype)
    return da.from_array(_CheckedReads(array, name), chunks=array.chunks, name=f"zarr-{token}", meta=meta,
                         asarray=False)


def _levels(path: Path, node: Any, multiscales: Any) -> tuple[dict, list[tuple[str, tuple[int, ...], tuple[int, ...]]]]:
    """The first multiscale and its levels (path, shape, chunks), or an InpaintError naming what is wrong."""
    import zarr

    where = f"{path}: OME-Zarr metadata"
    if not isinstance(multiscales, list) or not multiscales or not isinstance(multiscales[0], dict):
        raise InpaintError(f"{where}: 'multiscales' is not a list of multiscale images")
    scale = multiscales[0]
    datasets = scale.get("datasets")
    if not isinstance(datasets, list) or not datasets:
        raise InpaintError(f"{where}: the multiscales list no datasets")
    levels: list[tuple[str, tuple[int, ...], tuple[int, ...]]] = []
    for index, dataset in enumerate(datasets):
        level_path = dataset.get("path") if isinstance(dataset, dict) else None
        if not isinstance(level_path, str) or not level_path:
            raise InpaintError(f"{where}: datasets[{index}] has no 'path'")
        try:
            level = node[level_path]
        except KeyError:
            level = None
        except Exception as error:  # the level's own metadata is broken: zarr raises JSON, type or value errors
            raise InpaintError(f"{path}: level '{level_path}' cannot be opened: {type(error).__name__}: "
                               f"{' '.join(str(error).split())}") from None
        if not isinstance(level, zarr.Array):
            try:
                found = ", ".join(sorted(name for name, _ in node.arrays())) or "none"
            except Exception:  # another member's metadata is broken: the list is only a hint
                found = "cannot be listed"
            raise InpaintError(f"{where}: datasets[{index}] names level '{level_path}', which is not an array of the "
                               f"store (arrays: {found})")
        if levels and len(level.shape) != len(levels[0][1]):
            raise InpaintError(f"{where}: level '{level_path}' has {len(level.shape)} axes, level '{levels[0][0]}' "
                               f"{len(levels[0][1])}")
        levels.append((level_path, tuple(level.shape), tuple(level.chunks)))
    return scale, levels


def _ome_axes(path: Path, scale: dict, ndim: int) -> str:
    """The axis letters of a multiscale (a name longer than one letter gives ``Q``), checked against the data."""
    axes = scale.get("axes")
    if axes is None:
        return ""
    names = [a.get("name") if isinstance(a, dict) else a for a in axes] if isinstance(axes, list) else None
    if names is None or not all(isinstance(n, str) and n for n in names):
        raise InpaintError(f"{path}: OME-Zarr metadata: 'axes' is not a list of named axes")
    if len(names) != ndim:
        raise InpaintError(f"{path}: OME-Zarr metadata: {len(names)} axes ({', '.join(names)}) for data with "
                           f"{ndim} dimensions")
    if len(set(names)) != len(names):
        raise InpaintError(f"{path}: OME-Zarr metadata: an axis is named twice ({', '.join(names)})")
    return "".join(n.upper() if len(n) == 1 else "Q" for n in names)


def open_lazy(path: Path, missing_chunks: str = "warn") -> LazyImage:
    """Open a zarr array, an OME-Zarr group (its full-resolution level) or a TIFF without reading the pixels.

    Args:
        path: a zarr store (v2 or v3), an OME-Zarr image, or a TIFF file.
        missing_chunks: what to do when the (full-resolution) array lacks chunks
            (:func:`check_chunks`: ``"warn"``, ``"error"``, ``"ignore"``; a mask
            opened here is usually passed ``"ignore"``: its unwritten chunks are
            its empty ones). TIFFs are not checked.

    The returned array raises :class:`InpaintError` naming the file when a chunk
    cannot be decoded (:func:`checked_dask`).

    Raises:
        InpaintError: not a readable zarr store or TIFF, malformed OME-Zarr metadata
            (the message says what), a zarr group that is neither OME-Zarr nor one array,
            or missing chunks with ``missing_chunks="error"``.
    """
    path = Path(path)
    if path.suffix.lower() in TIFF_SUFFIXES:
        return _open_tiff(path)
    import zarr

    if not path.is_dir():
        what = "not found" if not os.path.lexists(path) else "not a folder"
        raise InpaintError(f"cannot open {path} as a zarr store: {what}")
    try:
        node = zarr.open(store=str(path), mode="r")
    except Exception as error:  # zarr raises several kinds for a missing or broken store
        raise InpaintError(f"cannot open {path} as a zarr store: {type(error).__name__}: {error}") from None
    zarr_format = int(node.metadata.zarr_format)
    if isinstance(node, zarr.Array):
        check_chunks(node, missing_chunks, str(path))
        return LazyImage(checked_dask(node, str(path)), _axes_of(dict(node.attrs)), zarr_format=zarr_format)
    attributes = dict(node.attrs)
    multiscales = _multiscales(attributes)
    if multiscales is not None:
        scale, levels = _levels(path, node, multiscales)
        axes = _ome_axes(path, scale, len(levels[0][1]))
        full = node[levels[0][0]]
        check_chunks(full, missing_chunks, f"{path}/{levels[0][0]}")
        return LazyImage(checked_dask(full, f"{path}/{levels[0][0]}"), axes, attributes, levels, zarr_format)
    names = [name for name, member in node.members() if isinstance(member, zarr.Array)]
    if len(names) != 1:
        raise InpaintError(
            f"{path} is a zarr group with {len(names)} arrays ({', '.join(sorted(names)) or 'none'}) and no OME-Zarr "
            f"multiscales: give the array's own path ({path}/NAME)"
        )
    array = node[names[0]]
    check_chunks(array, missing_chunks, f"{path}/{names[0]}")
    return LazyImage(checked_dask(array, f"{path}/{names[0]}"), _axes_of(dict(array.attrs)), zarr_format=zarr_format)


def _open_tiff(path: Path) -> LazyImage:
    """A TIFF through tifffile's zarr interface (only the tiles or pages read are decoded)."""
    import tifffile
    import zarr

    from inpaint_models.io.imageio import check_readable

    check_readable(path, "image")
    try:
        with tifffile.TiffFile(path) as tiff:
            axes = tiff.series[0].axes.upper()
        store = tifffile.imread(path, aszarr=True, series=0, level=0)
        array = zarr.open(store, mode="r")
    except Exception as error:  # tifffile raises many types for broken / exotic files
        raise InpaintError(f"cannot read {path} as a TIFF: {' '.join(str(error).split())}") from None
    return LazyImage(checked_dask(array, str(path)), axes, zarr_format=3)


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


def check_output(out: Path) -> Path:
    """Check, before a fill, that a new zarr store can be written at ``out``; returns it as a Path.

    Raises:
        InpaintError: something exists at ``out`` (nothing is overwritten), or a parent of it is a file.
    """
    out = Path(out)
    if os.path.lexists(out):
        raise InpaintError(f"{out} exists already: choose a new output path (nothing is overwritten)")
    parent = next((p for p in out.absolute().parents if p.exists()), None)
    if parent is not None and not parent.is_dir():
        raise InpaintError(f"cannot write {out}: {parent} is a file, not a folder")
    return out


def write_zarr(
    out: Path, filled: da.Array, source: LazyImage, compute: Callable[[Any], None] = lambda stored: stored.compute()
) -> WriteReport:
    """Write a lazy fill's result to a new zarr store shaped like its source, complete or not at all.

    A plain array is written as one array at ``out``; an OME-Zarr source as an
    OME-Zarr group: its attributes, the filled full-resolution level, and the
    lower levels rebuilt from it (module docstring). ``compute`` runs each
    level's write (a dask collection), e.g. under a progress bar.

    The store is written under a temporary name beside ``out``
    (``.<name>.tmp-<pid>-XXXX``) and renamed to ``out`` once complete
    (:func:`inpaint_models.io.atomic.atomic_directory`): an error removes it, a
    killed process leaves it to the next write of ``out``, which removes it.
    Every chunk is written, also those equal to the fill value, so the store
    has no missing chunks (:func:`check_chunks`).

    Raises:
        InpaintError: ``out`` exists already (:func:`check_output`), or a chunk of the source cannot be read.
    """
    out = check_output(out)
    try:
        with atomic_directory(out) as temporary, _joined_threads():
            report = _write_store(temporary, filled, source, compute)
    except FileExistsError:
        raise InpaintError(f"{out} exists already: choose a new output path (nothing is overwritten)") from None
    return WriteReport([str(out) if name == str(temporary) else name for name in report.written], report.skipped)


@contextlib.contextmanager
def _joined_threads() -> Iterator[None]:
    """Local dask writes in a thread pool of our own, joined on leaving: after a failed chunk write, the writes
    already running finish before the temporary store is deleted (they would create files in it again)."""
    from concurrent.futures import ThreadPoolExecutor

    import dask

    pool = ThreadPoolExecutor(os.cpu_count() or 1)
    try:
        with dask.config.set(pool=pool):
            yield
    finally:
        pool.shutdown(wait=True)


def _write_store(
    out: Path, filled: da.Array, source: LazyImage, compute: Callable[[Any], None]
) -> WriteReport:
    """:func:`write_zarr`'s work, into the (temporary, empty) folder ``out``."""
    import dask.array as da
    import zarr

    options: dict[str, Any] = {"zarr_format": source.zarr_format, "config": {"write_empty_chunks": True}}
    if source.group_attributes is None:
        compute(da.to_zarr(filled, str(out), compute=False, **options))
        return WriteReport([str(out)], [])
    group = zarr.open_group(str(out), mode="w", zarr_format=source.zarr_format)
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
        compute(da.to_zarr(level, str(out), component=name, compute=False, **options))
        written.append(name)
        previous = da.from_zarr(str(out), component=name)  # the next level reads this one back, not the source
    if skipped:  # the metadata lists only what was written
        attributes = copy.deepcopy(source.group_attributes)
        multiscales = _multiscales(attributes)
        assert multiscales is not None
        multiscales[0] = dict(multiscales[0], datasets=[d for d in multiscales[0]["datasets"] if d["path"] in written])
        group.attrs.update(attributes)
    return WriteReport(written, skipped)
