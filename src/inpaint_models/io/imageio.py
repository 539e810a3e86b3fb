"""Reading and writing image and mask files for the CLI and evaluation.

* PNG, JPEG (and BMP / WebP) go through OpenCV with ``IMREAD_UNCHANGED``, so
  8- and 16-bit PNGs keep their depth; colour is returned as RGB(A), never
  OpenCV's BGR(A).
* TIFF goes through tifffile: any dtype, and multi-page files come back as one
  ``(Z, H, W)`` or ``(Z, H, W, C)`` stack and are written back as multi-page.

A format that cannot hold an array (a float image as PNG, a 16-bit image as
JPEG, a stack as anything but TIFF) is refused with an :class:`InpaintError`
saying which suffix to use instead: nothing is silently converted or
truncated; :func:`check_writable` makes the same checks from a shape and dtype
alone, before the work that makes the array. Files are written to a temporary
name first and then renamed (:mod:`inpaint_models.io.atomic`), so an interrupted
write never leaves half a file behind, and the next write of the same file removes
the temporary a killed one left. Only regular files are read (:func:`check_readable`):
a folder, FIFO, device, symlink loop or empty file is refused as such.
"""

from __future__ import annotations

import os
from os import PathLike
from pathlib import Path
from typing import Optional, Union

import cv2
import numpy as np

from inpaint_models.contract.errors import InpaintError
from inpaint_models.io import masks as _masks
from inpaint_models.io.atomic import atomic_write_bytes
from inpaint_models.io.regular_files import file_problem

PathType = Union[str, "PathLike[str]"]

#: Suffixes (lowercase) of the files the CLI and :func:`evaluate` treat as images.
IMAGE_SUFFIXES: tuple[str, ...] = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp")

TIFF_SUFFIXES = frozenset({".tif", ".tiff"})
JPEG_SUFFIXES = frozenset({".jpg", ".jpeg"})
_EIGHT_BIT_ONLY = JPEG_SUFFIXES | {".bmp", ".webp"}

__all__ = [
    "IMAGE_SUFFIXES",
    "check_readable",
    "check_writable",
    "is_image_file",
    "list_images",
    "read_image",
    "read_image_with_axes",
    "read_mask",
    "refuse_overwrite",
    "write_image",
]


def is_image_file(path: PathType) -> bool:
    """Whether ``path`` has one of :data:`IMAGE_SUFFIXES` (and is not a hidden file)."""
    p = Path(path)
    return p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".")


def list_images(directory: PathType) -> list[Path]:
    """The image files directly inside ``directory``, sorted by name.

    Raises:
        InpaintError: ``directory`` is not a folder.
    """
    folder = Path(directory)
    if not folder.is_dir():
        raise InpaintError(f"not a folder: {folder}")
    return sorted(p for p in folder.iterdir() if p.is_file() and is_image_file(p))


def check_readable(path: PathType, what: str = "image") -> Path:
    """``path`` as a Path when it is a regular file with content, else an :class:`InpaintError` saying what it is.

    Refused before any read (:func:`inpaint_models.io.regular_files.file_problem`):
    a missing path, a broken link or symlink loop, a folder, a FIFO, a device or
    socket (reading one would block or never end); and an empty file.
    """
    p = Path(path)
    problem = file_problem(p, "regular file")
    if problem is not None:
        raise InpaintError(f"{what} file not found: {p}" if problem.missing else f"{what} path {problem.message}")
    if p.stat().st_size == 0:
        raise InpaintError(f"cannot read {what} file {p}: the file is empty")
    return p


# --------------------------------------------------------------------------- reading
def _read_tiff(path: Path) -> tuple[np.ndarray, str]:
    """The TIFF's pixels and the tifffile axes string (e.g. ``"QYX"``, ``"YXS"``)."""
    import tifffile

    try:
        with tifffile.TiffFile(path) as tif:
            series = list(tif.series)
            if not series:
                raise InpaintError(f"cannot read image file {path}: the TIFF holds no image")
            first = series[0]
            same = all(s.shape == first.shape and s.dtype == first.dtype for s in series[1:])
            if len(series) > 1 and same:
                # pages written one by one without shape metadata: one stack
                return np.stack([s.asarray() for s in series]), "Q" + first.axes
            return first.asarray(), first.axes
    except InpaintError:
        raise
    except Exception as error:  # tifffile raises many types for broken / exotic files
        raise InpaintError(f"cannot read image file {path}: {error}") from None


def _bgr_to_rgb(array: np.ndarray) -> np.ndarray:
    if array.ndim == 3 and array.shape[2] == 3:
        return cv2.cvtColor(array, cv2.COLOR_BGR2RGB)
    if array.ndim == 3 and array.shape[2] == 4:
        return cv2.cvtColor(array, cv2.COLOR_BGRA2RGBA)
    return array


def read_image(path: PathType) -> np.ndarray:
    """Read an image file into a numpy array, keeping its dtype.

    Args:
        path: a PNG, JPEG, BMP, WebP or TIFF file.

    Returns:
        PNG/JPEG/BMP/WebP: ``(H, W)`` grey or ``(H, W, 3|4)`` RGB(A), uint8 or
        uint16. TIFF: the stored dtype and shape, a multi-page file as a
        ``(Z, H, W)`` or ``(Z, H, W, C)`` stack.

    Raises:
        InpaintError: the file is missing or cannot be decoded (the message names it).
    """
    return read_image_with_axes(path)[0]


def read_image_with_axes(path: PathType) -> tuple[np.ndarray, str]:
    """Like :func:`read_image`, and the image's axes as tifffile names them.

    Returns:
        The array and one letter per axis: ``Y``/``X`` rows and columns,
        ``S`` colour samples, ``Z`` depth, ``T`` time, ``C`` channels, ``Q``
        an axis whose meaning the file does not record (e.g. ``"QYX"`` for a
        stack written without axes metadata). PNG, JPEG, BMP and WebP give
        ``"YX"`` or ``"YXS"``.

    Raises:
        InpaintError: the file is missing or cannot be decoded (the message names it).
    """
    p = Path(path)
    check_readable(p, "image")
    if p.suffix.lower() in TIFF_SUFFIXES:
        data, axes = _read_tiff(p)
        if len(axes) != data.ndim:  # exotic files: do not guess
            axes = "Q" * (data.ndim - 2) + "YX" if data.ndim >= 2 else "Q" * data.ndim
        return data, axes
    return _read_flat(p)


def _read_flat(p: Path) -> tuple[np.ndarray, str]:
    try:
        data = np.fromfile(str(p), dtype=np.uint8)  # unlike cv2.imread, works with non-ASCII paths
    except OSError as error:
        raise InpaintError(f"cannot read image file {p}: {error.strerror or error}") from None
    image = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
    if image is None:
        raise InpaintError(f"cannot read image file {p}: not a supported image (PNG, JPEG, TIFF...)")
    return np.ascontiguousarray(_bgr_to_rgb(image)), "YXS" if image.ndim == 3 else "YX"


def read_mask(path: PathType) -> np.ndarray:
    """Read a mask file: True (hole) where any channel is non-zero.

    PNG / JPEG / BMP / WebP are read by :func:`inpaint_models.io.masks.load_mask`
    (JPEG thresholded at > 127 against compression noise; a fully opaque alpha
    channel ignored). TIFF masks keep their stack axes: a multi-page mask gives
    a ``(Z, H, W)`` array that pairs plane by plane with a ``(Z, H, W)`` image.

    Returns:
        bool array, ``(H, W)`` or ``(Z, H, W)``; True = pixel to fill.

    Raises:
        InpaintError: the file is missing or cannot be decoded.
    """
    p = Path(path)
    check_readable(p, "mask")
    if p.suffix.lower() not in TIFF_SUFFIXES:
        return _masks.load_mask(p)
    data, axes = _read_tiff(p)
    if data.dtype.kind not in "biuf":
        raise InpaintError(f"cannot use {p} as a mask: unsupported dtype {data.dtype}")
    if data.dtype.kind == "f" and not np.isfinite(data).all():
        raise InpaintError(f"cannot use {p} as a mask: it holds NaN or infinite values")
    if axes.endswith("S") and data.ndim >= 3:  # samples (colour channels) last
        if data.shape[-1] in (2, 4):
            alpha = data[..., -1]
            full = np.iinfo(data.dtype).max if data.dtype.kind in "iu" else 1
            if np.all(alpha == full):
                data = data[..., :-1]
        return np.ascontiguousarray((data != 0).any(axis=-1))
    return np.ascontiguousarray(data != 0)


# --------------------------------------------------------------------------- writing
def check_writable(path: PathType, shape: tuple[int, ...], dtype: np.dtype, axes: Optional[str] = None) -> Path:
    """Check, before any work, that an array of ``shape`` and ``dtype`` can be written to ``path``; returns the Path.

    The same checks :func:`write_image` makes, without the array, so a front
    end can refuse a bad output before a long fill rather than after it.
    ``axes`` (as :func:`read_image_with_axes` gives them) tells a ``(Z, H, W)``
    stack from an ``(H, W, C)`` image in the message.

    Raises:
        InpaintError: an unknown suffix, a missing folder, a folder at ``path``, an
            empty shape, or a format that cannot hold the dtype or shape (the message
            suggests a suffix that can: a 16-bit image to .jpg, a stack to .png...).
    """
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix not in IMAGE_SUFFIXES:
        raise InpaintError(
            f"cannot write {p.name}: unknown image suffix {p.suffix or '(none)'!r}; use one of "
            + ", ".join(IMAGE_SUFFIXES)
        )
    shape, dtype = tuple(int(n) for n in shape), np.dtype(dtype)
    if 0 in shape or not shape:
        raise InpaintError(f"cannot write {p.name}: the image is empty (shape {shape})")
    if not p.parent.is_dir():
        raise InpaintError(f"cannot write {p}: folder {p.parent} does not exist")
    if p.is_dir():
        raise InpaintError(f"cannot write {p}: it is a folder")
    if suffix in TIFF_SUFFIXES:
        if dtype.kind not in "biuf":
            raise InpaintError(f"cannot write a {dtype} array to {p.name}")
        return p
    if axes is not None and len(axes) == len(shape) > 2 and not axes.endswith("S"):  # a stack, not colour samples
        raise InpaintError(f"cannot write a {len(shape)}-D stack of shape {shape} ({dtype}) to {p.name}: "
                           f"{_format_name(p)} holds one 2-D image; use .tif for stacks")
    problem = _flat_format_problem(p, shape, np.dtype(np.uint8) if dtype == np.bool_ else dtype)
    if problem:
        raise InpaintError(problem)
    return p


def _flat_format_problem(path: Path, shape: tuple[int, ...], dtype: np.dtype) -> Optional[str]:
    """Why a PNG / JPEG / BMP / WebP file cannot hold an image of ``shape`` and ``dtype`` (None: it can)."""
    suffix = path.suffix.lower()
    if len(shape) == 3 and shape[2] == 1:
        shape = shape[:2]
    fmt = _format_name(path)
    if len(shape) not in (2, 3):
        return (f"cannot write a {len(shape)}-D array of shape {shape} to {path.name}: "
                f"{fmt} holds one 2-D image; use .tif for stacks")
    if len(shape) == 3 and shape[2] not in (3, 4):
        return (f"cannot write an image with {shape[2]} channels to {path.name}: "
                f"{fmt} holds grey, RGB or RGBA; use .tif")
    if len(shape) == 3 and shape[2] == 4 and suffix in JPEG_SUFFIXES:
        return f"cannot write an RGBA image to {path.name}: JPEG has no alpha; use .png or .tif"
    if suffix == ".png":
        if dtype not in (np.uint8, np.uint16):
            return (f"cannot write a {dtype} image to {path.name}: PNG holds 8- or 16-bit unsigned "
                    f"integers only; use .tif to keep the values")
    elif dtype != np.uint8:
        better = ".png or .tif" if dtype == np.uint16 else ".tif"
        return (f"cannot write a {dtype} image to {path.name}: {fmt} holds 8-bit images only; "
                f"use {better} to keep the values")
    return None


def _format_name(path: Path) -> str:
    return path.suffix.lower().lstrip(".").upper().replace("JPG", "JPEG")


def _encodable(array: np.ndarray) -> np.ndarray:
    """A checked (:func:`check_writable`) array as OpenCV encodes it: BGR(A), uint8 / uint16, no channel axis of 1."""
    if array.dtype == np.bool_:
        array = array.astype(np.uint8) * np.uint8(255)
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[..., 0]
    if array.ndim == 3 and array.shape[2] == 3:
        return cv2.cvtColor(np.ascontiguousarray(array), cv2.COLOR_RGB2BGR)
    if array.ndim == 3 and array.shape[2] == 4:
        return cv2.cvtColor(np.ascontiguousarray(array), cv2.COLOR_RGBA2BGRA)
    return np.ascontiguousarray(array)


def _encode_tiff(path: Path, array: np.ndarray, axes: Optional[str] = None) -> bytes:
    import io

    import tifffile

    if array.dtype == np.bool_:
        array = array.astype(np.uint8) * np.uint8(255)
    if axes is not None and (len(axes) != array.ndim or "Q" in axes):
        axes = None  # unknown or mismatched axes are not recorded rather than recorded wrongly
    rgb = array.ndim >= 3 and array.shape[-1] in (3, 4) and (axes is None or axes.endswith("S"))
    extra = {"metadata": {"axes": axes}} if axes else {}
    buffer = io.BytesIO()
    try:
        tifffile.imwrite(buffer, array, photometric="rgb" if rgb else "minisblack", **extra)
    except Exception as error:
        raise InpaintError(f"cannot write {path.name}: {error}") from None
    return buffer.getvalue()


def write_image(path: PathType, array: np.ndarray, axes: Optional[str] = None) -> Path:
    """Write ``array`` to ``path`` in the format its suffix names.

    Args:
        path: ``.png`` (uint8 / uint16), ``.jpg`` / ``.jpeg`` / ``.bmp`` /
            ``.webp`` (uint8), ``.tif`` / ``.tiff`` (any dtype and shape; a
            ``(Z, H, W[, C])`` stack becomes a multi-page file). The parent
            folder must exist. An existing file is replaced.
        array: ``(H, W)`` grey or ``(H, W, 3|4)`` RGB(A) (not BGR); bool
            arrays are written as 0 / 255.
        axes: for TIFF, the axes to record (as :func:`read_image_with_axes`
            returns them, e.g. ``"ZYX"``), so a stack's Z or T axis survives
            a round trip (not recorded when it contains ``Q``); for other formats
            it only tells a stack from colour samples in an error message.

    Returns:
        The path written.

    Raises:
        InpaintError: the suffix is not supported, or the format cannot hold
            the array's dtype or shape (the message suggests one that can):
            :func:`check_writable`.
    """
    array = np.asarray(array)
    p = check_writable(path, array.shape, array.dtype, axes)
    suffix = p.suffix.lower()
    if suffix in TIFF_SUFFIXES:
        payload = _encode_tiff(p, array, axes)
    else:
        params = [cv2.IMWRITE_JPEG_QUALITY, 95] if suffix in JPEG_SUFFIXES else []
        ok, buffer = cv2.imencode(suffix, _encodable(array), params)
        if not ok:
            raise InpaintError(f"cannot write {p.name}: OpenCV could not encode the image")
        payload = buffer.tobytes()
    try:
        atomic_write_bytes(p, payload)  # temp file + rename; a killed write's stale temporaries are removed
    except OSError as error:
        raise InpaintError(f"cannot write {p}: {error.strerror or error}") from None
    return p


def refuse_overwrite(output: PathType, *inputs: PathType) -> None:
    """Raise :class:`InpaintError` if ``output`` is the same file as one of ``inputs``.

    Front ends call this before writing so a fill never replaces its own input.
    """
    out = Path(output)
    for source in inputs:
        src = Path(source)
        same = out.exists() and src.exists() and os.path.samefile(out, src)
        if same or out.resolve() == src.resolve():
            raise InpaintError(
                f"refusing to overwrite the input file {src}: choose another output path"
            )
