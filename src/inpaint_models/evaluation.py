"""Quality and speed of one or more models on a set of images and masks.

:func:`evaluate` fills every image with every model through
:func:`inpaint_models.api.fill` (so the same validation, cropping and
compositing apply as for users) and averages :mod:`inpaint_models.training.metrics`
over the images; :func:`format_markdown` turns the rows into the table shown by
``inpaint eval`` and used in the docs.

Images are compared as float RGB in [0, 1]: grey images are repeated to three
channels, alpha is dropped, integers are divided by their type's maximum.
"""

from __future__ import annotations

import math
import statistics
import time
import warnings
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence, Union

import cv2
import numpy as np

from inpaint_models import api
from inpaint_models.contract.datatypes import ProgressEvent, Reporter
from inpaint_models.contract.errors import EmptyMaskWarning, InpaintError, ShapeMismatchError
from inpaint_models.contract.registry import ModelRegistry, default_registry
from inpaint_models.contract.values import check_dtype, image_to_unit, mask_to_bool
from inpaint_models.io import imageio, mask_files
from inpaint_models.io import masks as mask_sets

PathType = Union[str, "PathLike[str]"]

__all__ = ["evaluate", "format_markdown", "load_eval_images", "to_float_rgb", "center_crop_resize"]

#: (column title, row key, format) of the markdown table.
TABLE_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("PSNR", "psnr", "{:.2f}"),
    ("PSNR hole", "psnr_hole", "{:.2f}"),
    ("SSIM", "ssim", "{:.4f}"),
    ("SSIM hole", "ssim_hole", "{:.4f}"),
    ("Texture", "texture_ratio", "{:.2f}"),
    ("L1", "l1", "{:.4f}"),
    ("MSE", "mse", "{:.5f}"),
    ("TV", "tv", "{:.4f}"),
    ("ms/image", "ms_per_image", "{:.1f}"),
)


# --------------------------------------------------------------------------- images
def to_float_rgb(image: np.ndarray, name: str = "image") -> np.ndarray:
    """float32 (H, W, 3) in [0, 1] from a grey, grey+alpha, RGB or RGBA image of any dtype.

    Values become floats as a fill and the trainer convert them
    (:func:`inpaint_models.contract.values.image_to_unit`: uint8 / 255, bool 0 / 1, floats
    in [0, 1] as they are, other ranges stretched from the image's min to its
    max), so a model is scored on the floats it is trained on and fills.

    Raises:
        InpaintError: a stack (more than 2 spatial axes) or an unsupported shape / dtype.
    """
    array = np.asarray(image)
    if array.dtype.kind not in "biuf":
        raise InpaintError(f"{name} has unsupported dtype {array.dtype}")
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[..., 0]
    if array.ndim == 3 and array.shape[2] == 2:  # grey + alpha
        array = array[..., 0]
    if array.ndim == 3 and array.shape[2] == 4:
        array = array[..., :3]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] != 3):
        raise InpaintError(
            f"{name} has shape {array.shape}; evaluation takes 2-D grey or RGB(A) images, not stacks"
        )
    if array.dtype.kind == "f" and not np.isfinite(array).all():
        raise InpaintError(f"{name} holds NaN or infinite values")
    unit = image_to_unit(array)  # the one conversion (fill, training, evaluation)
    if unit.ndim == 2:
        unit = np.repeat(unit[..., np.newaxis], 3, axis=2)
    return np.ascontiguousarray(unit, dtype=np.float32)


def center_crop_resize(array: np.ndarray, size: int, nearest: bool = False) -> np.ndarray:
    """The largest centred square of ``array`` (H, W[, C]) resized to ``size`` x ``size``.

    Area interpolation when shrinking, cubic (clipped to [0, 1]) when growing;
    ``nearest=True`` for masks. bool arrays stay bool.
    """
    height, width = array.shape[:2]
    side = min(height, width)
    top, left = (height - side) // 2, (width - side) // 2
    square = array[top : top + side, left : left + side]
    if side == size:
        return np.ascontiguousarray(square)
    if square.dtype == np.bool_:
        resized = cv2.resize(square.astype(np.uint8), (size, size), interpolation=cv2.INTER_NEAREST)
        return resized.astype(bool)
    if nearest:
        interpolation = cv2.INTER_NEAREST
    else:
        interpolation = cv2.INTER_AREA if size < side else cv2.INTER_CUBIC
    resized = cv2.resize(np.ascontiguousarray(square), (size, size), interpolation=interpolation)
    if square.ndim == 3 and resized.ndim == 2:
        resized = resized[..., np.newaxis]
    if resized.dtype.kind == "f":
        resized = np.clip(resized, 0.0, 1.0)
    return resized


def _check_size(size: Optional[int]) -> Optional[int]:
    if size is None:
        return None
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 8:
        raise InpaintError(f"size must be an integer of at least 8 pixels (or None to keep sizes), got {size!r}")
    return int(size)


def load_eval_images(
    images: Union[Sequence[np.ndarray], PathType], size: Optional[int] = 256
) -> tuple[list[np.ndarray], list[Optional[str]]]:
    """Images as float32 RGB [0, 1] (centre-cropped and resized when ``size`` is given) and their file stems.

    Args:
        images: a folder (its PNG/JPEG/TIFF... files, sorted by name) or a list of arrays.
        size: output side in pixels; None keeps each image's size.

    Returns:
        The images and, for a folder, each file's stem (None for arrays).

    Raises:
        InpaintError: an empty folder or list, an unreadable file, a stack.
    """
    size = _check_size(size)
    if isinstance(images, (str, PathLike)):
        folder = Path(images)
        if not folder.exists():
            raise InpaintError(f"image folder not found: {folder}")
        files = imageio.list_images(folder)
        if not files:
            raise InpaintError(f"no images ({', '.join(imageio.IMAGE_SUFFIXES)}) in {folder}")
        arrays = [(imageio.read_image(f), f.name) for f in files]
        stems: list[Optional[str]] = [f.stem for f in files]
    else:
        arrays = [(np.asarray(a), f"image {i}") for i, a in enumerate(images)]
        if not arrays:
            raise InpaintError("no images to evaluate on")
        stems = [None] * len(arrays)
    loaded = []
    for array, name in arrays:
        unit = to_float_rgb(array, name)
        if size is not None:
            unit = center_crop_resize(unit, size)
        loaded.append(unit)
    return loaded, stems


# --------------------------------------------------------------------------- masks
def _mask_to_bool(mask: np.ndarray, name: str) -> np.ndarray:
    """bool (H, W), True = hole: the one threshold rule (non-zero), any channel of an (H, W, C) mask.

    Raises:
        UnsupportedDtypeError: not bool, integer or float (an :class:`InpaintError`).
        InvalidValuesError: a float mask with NaN or infinite values.
        ShapeMismatchError: neither (H, W) nor (H, W, C).
    """
    array = np.asarray(mask)
    check_dtype(array, name)
    hole = mask_to_bool(array)
    if hole.ndim == 3:
        hole = hole.any(axis=2)
    if hole.ndim != 2:
        raise ShapeMismatchError(f"{name} has shape {array.shape}; a mask is (H, W)")
    return hole


def _fit_mask(mask: np.ndarray, shape: tuple[int, int], name: str, resize: bool) -> np.ndarray:
    """A mask of another size is centre-cropped and resized (nearest) like its image, if ``resize``."""
    if mask.shape == shape:
        return mask
    if not resize or shape[0] != shape[1]:
        raise ShapeMismatchError(f"{name} has shape {mask.shape}; its image has {shape}")
    return center_crop_resize(mask, shape[0])


def _masks_from_folder(folder: Path, stems: list[Optional[str]], count: int) -> list[tuple[np.ndarray, str]]:
    files = imageio.list_images(folder)
    if not files:
        raise InpaintError(f"no mask images ({', '.join(imageio.IMAGE_SUFFIXES)}) in {folder}")
    by_stem = {f.stem: f for f in files}
    matches: list[Optional[Path]] = []
    for stem in stems:
        found = None
        if stem is not None:
            found = next((by_stem[c] for c in mask_files.mask_stems(stem) if c in by_stem), None)
        matches.append(found)
    if any(m is not None for m in matches):
        missing = [stem for stem, m in zip(stems, matches) if m is None]
        if missing:
            raise InpaintError(
                f"no mask in {folder} for image(s) {', '.join(map(str, missing))} "
                f"(masks are matched by file stem: {mask_files.expected_names('NAME')})"
            )
        chosen = [m for m in matches if m is not None]
    else:  # no name matches: pair by sorted order, cycling through the masks
        chosen = [files[i % len(files)] for i in range(count)]
    return [(imageio.read_mask(p), p.name) for p in chosen]


def _resolve_masks(
    masks: Union[Sequence[np.ndarray], PathType],
    images: list[np.ndarray],
    stems: list[Optional[str]],
    resize: bool,
    seed: int,
    preset: Optional[str],
) -> list[np.ndarray]:
    count = len(images)
    named: list[tuple[np.ndarray, str]]
    if isinstance(masks, (str, PathLike)):
        path = Path(masks)
        if path.is_dir():
            named = _masks_from_folder(path, stems, count)
        elif path.is_file():
            one = imageio.read_mask(path)
            named = [(one, path.name)] * count
        else:
            kind = str(masks)
            valid = set(mask_sets.MASK_KINDS) | {"center"}
            if kind.strip().lower() not in valid:
                raise InpaintError(
                    f"masks {kind!r} is neither a folder, a mask file nor a mask kind "
                    f"({', '.join(mask_sets.MASK_KINDS)})"
                )
            shapes = {image.shape[:2] for image in images}
            if len(shapes) == 1:
                generated = mask_sets.generate_masks(kind, count, next(iter(shapes)), seed, preset=preset)
            else:  # mask i from default_rng([seed, i]), as generate_masks draws it
                generated = [
                    mask_sets.make_mask(kind, image.shape[:2], np.random.default_rng([seed, i]), preset=preset)
                    for i, image in enumerate(images)
                ]
            return [np.asarray(m, dtype=bool) for m in generated]
    else:
        given = list(masks)
        if not given:
            raise InpaintError("no masks given")
        named = [(given[i % len(given)], f"mask {i % len(given)}") for i in range(count)]
    if preset is not None:
        raise InpaintError("preset applies to generated masks (a mask kind), not to mask files or arrays")
    result = []
    for (mask, name), image in zip(named, images):
        result.append(_fit_mask(_mask_to_bool(mask, name), image.shape[:2], name, resize))
    return result


# --------------------------------------------------------------------------- evaluate
def evaluate(
    models: Union[list[str], str],
    images: Union[list[np.ndarray], PathType],
    masks: Union[list[np.ndarray], PathType],
    size: Optional[int] = 256,
    seed: int = 0,
    preset: Optional[str] = None,
    weights: Optional[Mapping[str, PathType]] = None,
    device: str = "auto",
    registry: Optional[ModelRegistry] = None,
    progress: Optional[Reporter] = None,
    options: Optional[Mapping[str, Mapping[str, Any]]] = None,
) -> list[dict[str, Any]]:
    """Fill every image with every model and average the quality metrics.

    Args:
        models: a model name or a list of names (see ``available_models()``).
        images: a folder of images (PNG, JPEG, TIFF..., sorted by name) or a
            list of arrays (grey or RGB(A), any dtype). Each is converted to
            float32 RGB in [0, 1] and, when ``size`` is set, centre-cropped to a
            square and resized to ``size`` x ``size``.
        masks: one of
            * a folder of mask files, matched to the images by file stem
              (``NAME.png``, ``NAME_mask.png``, ``NAME.mask.png``) or, when no
              name matches, paired by sorted order and cycled;
            * one mask file used for every image;
            * a list of arrays (True / non-zero = hole), cycled;
            * a mask kind (``"box"``, ``"centre"``, ``"strokes"``, ``"mosaic"``):
              masks generated with ``masks.generate_masks(kind, n, size, seed, preset)``.
            When ``size`` is set, masks of another size than their image are
            centre-cropped and resized (nearest neighbour) like the images;
            with ``size=None`` they must match their image.
        size: side of the evaluation images in pixels; None keeps their sizes.
        seed: seed of generated masks.
        preset: stroke preset of generated ``strokes`` masks.
        weights: weights file per model name (default: each model's own).
        device: ``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:N"``.
        registry: the plugin registry (default: installed plugins).
        progress: called with a :class:`ProgressEvent` (phase ``"evaluate"``)
            after each fill.
        options: model options per model name, e.g. ``{"telea": {"radius": 5}}``.

    Returns:
        One dict per model, in the given order: ``model``, ``images`` (count),
        the mean of every :data:`~inpaint_models.training.metrics.METRIC_NAMES` key over
        the images (hole metrics ignore images with an empty mask, the texture
        ratio also images where it is undefined; NaN if none is left) and ``ms_per_image``, the median wall time of one fill in
        milliseconds.

    Raises:
        InpaintError: an unknown model or option, unreadable files, masks that
            cannot be paired with the images, a failing fill.
    """
    registry = registry or default_registry()
    names = [models] if isinstance(models, str) else list(models)
    run = _EvalRun(registry, device, dict(weights or {}),
                   {name: dict(values) for name, values in (options or {}).items()}, progress)
    _check_models(names, run)
    loaded, stems = load_eval_images(images, size)
    hole_masks = _resolve_masks(masks, loaded, stems, size is not None, seed, preset)
    run.total = len(names) * len(loaded)
    return [_evaluate_model(name, loaded, hole_masks, run) for name in names]


@dataclass
class _EvalRun:
    """What every fill of one :func:`evaluate` call shares, and its progress count."""

    registry: ModelRegistry
    device: str
    weights: dict[str, PathType]
    options: dict[str, dict[str, Any]]
    progress: Optional[Reporter]
    total: int = 0
    step: int = 0


def _check_models(names: list[str], run: _EvalRun) -> None:
    """Unknown models, and weights or options of models not evaluated, fail before any work."""
    if not names:
        raise InpaintError("no model to evaluate")
    for name in names:
        run.registry.info(name)
    for name in set(run.weights) | set(run.options):
        if name not in names:
            raise InpaintError(f"weights or options given for {name!r}, which is not among the evaluated models")


def _evaluate_model(name: str, images: list[np.ndarray], masks: list[np.ndarray], run: _EvalRun) -> dict[str, Any]:
    """One row of :func:`evaluate`: fill every image with ``name``; mean metrics and median milliseconds."""
    from inpaint_models.training.metrics import (  # scipy: imported on use, not with the package
        METRIC_NAMES,
        compute_metrics,
    )

    per_image: list[dict[str, float]] = []
    times: list[float] = []
    for index, (image, mask) in enumerate(zip(images, masks)):
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", EmptyMaskWarning)  # reported as NaN hole metrics
            filled = api.fill(image, mask, model=name, weights=run.weights.get(name), device=run.device,
                              registry=run.registry, **run.options.get(name, {}))
        times.append((time.perf_counter() - start) * 1000.0)
        per_image.append(compute_metrics(filled, image, mask))
        run.step += 1
        if run.progress is not None:
            run.progress(ProgressEvent("evaluate", run.step, run.total,
                                       message=f"{name}: image {index + 1} of {len(images)}"))
    row: dict[str, Any] = {"model": name, "images": len(images)}
    for key in METRIC_NAMES:
        values = [m[key] for m in per_image if not math.isnan(m[key])]
        row[key] = float(np.mean(values)) if values else float("nan")
    row["ms_per_image"] = float(statistics.median(times))
    return row


def _format_value(value: Any, fmt: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if isinstance(value, float) and math.isinf(value):
        return "inf"
    return fmt.format(value)


def format_markdown(rows: Sequence[Mapping[str, Any]]) -> str:
    """A markdown table of :func:`evaluate` rows.

    Columns: Model, PSNR, PSNR hole, SSIM, SSIM hole, Texture (the hole's
    texture ratio, see :func:`~inpaint_models.training.metrics.texture_ratio`), L1, MSE,
    TV, ms/image (NaN shown as ``n/a``). Cells are padded so the table also reads well as
    plain text.
    """
    header = ["Model"] + [title for title, _, _ in TABLE_COLUMNS]
    body = [
        [str(row.get("model", ""))] + [_format_value(row.get(key), fmt) for _, key, fmt in TABLE_COLUMNS]
        for row in rows
    ]
    widths = [max(len(line[i]) for line in [header] + body) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        padded = [cells[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(cells[1:], widths[1:])]
        return "| " + " | ".join(padded) + " |"

    rule = "|" + "|".join(
        ["-" * (widths[0] + 2)] + ["-" * (w + 1) + ":" for w in widths[1:]]
    ) + "|"
    return "\n".join([line(header), rule] + [line(cells) for cells in body])
