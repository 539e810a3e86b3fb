"""Reading and writing image and mask files for the CLI and evaluation.

* PNG, JPEG (and BMP / WebP) go through OpenCV with ``IMREAD_UNCHANGED``, so
  8- and 16-bit PNGs keep their depth; colour is returned as RGB(A), never
  OpenCV's BGR(A).
* TIFF goes through tifffile: any dtype, and multi-page files come back as one
  ``(Z, H, W)`` or ``(Z, H, W, C)`` stack and are written back as multi-page.

A format that cannot hold an array (a float image as PNG, a 16-bit image as
JPEG, a stack as anything but TIFF) is refused with an :class:`InpaintError`
saying which suffix to use instead: nothing is silently converted or
truncated. Files are written to a temporary name first and then renamed, so an
interrupted write never leaves half a file behind.
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

PathType = Union[str, "PathLike[str]"]

#: Suffixes (lowercase) of the files the CLI and :func:`evaluate` treat as images.
IMAGE_SUFFIXES: tuple[str, ...] = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp")

TIFF_SUFFIXES = frozenset({".tif", ".tiff"})
JPEG_SUFFIXES = frozenset({".jpg", ".jpeg"})
_EIGHT_BIT_ONLY = JPEG_SUFFIXES | {".bmp", ".webp"}

__all__ = [
    "IMAGE_SUFFIXES",
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


def _check_readable(path: Path, what: str) -> None:
    if not path.exists():
        raise InpaintError(f"{what} file not found: {path}")
    if path.is_dir():
        raise InpaintError(f"{what} path is a folder, not a file: {path}")


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
    _check_readable(p, "image")
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
    _check_readable(p, "mask")
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
def _check_writable(path: Path, array: np.ndarray) -> np.ndarray:
    """The array as OpenCV will encode it (BGR, uint8/uint16), or an InpaintError."""
    suffix = path.suffix.lower()
    if array.dtype == np.bool_:
        array = array.astype(np.uint8) * np.uint8(255)
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[..., 0]
    fmt = suffix.lstrip(".").upper().replace("JPG", "JPEG")
    if array.ndim not in (2, 3):
        raise InpaintError(
            f"cannot write a {array.ndim}-D array of shape {array.shape} to {path.name}: "
            f"{fmt} holds one 2-D image; use .tif for stacks"
        )
    if array.ndim == 3 and array.shape[2] not in (3, 4):
        raise InpaintError(
            f"cannot write an image with {array.shape[2]} channels to {path.name}: "
            f"{fmt} holds grey, RGB or RGBA; use .tif"
        )
    if array.ndim == 3 and array.shape[2] == 4 and suffix in JPEG_SUFFIXES:
        raise InpaintError(f"cannot write an RGBA image to {path.name}: JPEG has no alpha; use .png or .tif")
    if suffix == ".png":
        if array.dtype not in (np.uint8, np.uint16):
            raise InpaintError(
                f"cannot write a {array.dtype} image to {path.name}: PNG holds 8- or 16-bit unsigned "
                f"integers only; use .tif to keep the values"
            )
    elif array.dtype != np.uint8:
        better = ".png or .tif" if array.dtype == np.uint16 else ".tif"
        raise InpaintError(
            f"cannot write a {array.dtype} image to {path.name}: {fmt} holds 8-bit images only; "
            f"use {better} to keep the values"
        )
    if array.ndim == 3 and array.shape[2] == 3:
        return cv2.cvtColor(np.ascontiguousarray(array), cv2.COLOR_RGB2BGR)
    if array.ndim == 3 and array.shape[2] == 4:
        return cv2.cvtColor(np.ascontiguousarray(array), cv2.COLOR_RGBA2BGRA)
    return np.ascontiguousarray(array)


def _encode_tiff(path: Path, array: np.ndarray, axes: Optional[str] = None) -> bytes:
    import io

    import tifffile

    if array.dtype.kind not in "biuf":
        raise InpaintError(f"cannot write a {array.dtype} array to {path.name}")
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
            a round trip; ignored for other formats and when it contains ``Q``.

    Returns:
        The path written.

    Raises:
        InpaintError: the suffix is not supported, or the format cannot hold
            the array's dtype or shape (the message suggests one that can).
    """
    p = Path(path)
    array = np.asarray(array)
    suffix = p.suffix.lower()
    if suffix not in IMAGE_SUFFIXES:
        raise InpaintError(
            f"cannot write {p.name}: unknown image suffix {p.suffix or '(none)'!r}; use one of "
            + ", ".join(IMAGE_SUFFIXES)
        )
    if array.size == 0:
        raise InpaintError(f"cannot write {p.name}: the image is empty (shape {array.shape})")
    if not p.parent.is_dir():
        raise InpaintError(f"cannot write {p}: folder {p.parent} does not exist")
    if suffix in TIFF_SUFFIXES:
        payload = _encode_tiff(p, array, axes)
    else:
        encodable = _check_writable(p, array)
        params = [cv2.IMWRITE_JPEG_QUALITY, 95] if suffix in JPEG_SUFFIXES else []
        ok, buffer = cv2.imencode(suffix, encodable, params)
        if not ok:
            raise InpaintError(f"cannot write {p.name}: OpenCV could not encode the image")
        payload = buffer.tobytes()
    try:
        atomic_write_bytes(p, payload)  # temp file + rename: an interrupted write leaves no half file
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
