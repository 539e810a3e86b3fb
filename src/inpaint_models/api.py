"""The public Python API: ``fill``, ``available_models``, ``model_info``, ``train``, ``evaluate``.

``fill`` runs the whole model-independent pipeline (validate, normalise, crop
around the holes, call exactly one plugin, composite) so that every model gets
the same guarantees: outside the mask the output equals the input bit for bit,
in the input's dtype and range, and the caller's arrays are never modified.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any, Callable, Optional, Union

import numpy as np

from . import arrays
from .arrays import ChannelAxis, Layout
from .datatypes import FillContext, ModelInfo, ProgressEvent, Reporter
from .devices import resolve_device
from .errors import (
    Cancelled,
    EmptyMaskWarning,
    ImageTooSmallError,
    MaskCoversImageError,
    MissingWeightsError,
    OptionError,
    ShapeMismatchError,
    WeightsError,
)
from .crops import fill_crop
from .options import build_fill_options
from .plugins import ModelRegistry, default_registry

CancelCheck = Union[Callable[[], bool], Any]  # a callable, or an object with is_set() (threading.Event)


def available_models(registry: Optional[ModelRegistry] = None) -> list[str]:
    """Names of every registered model (built-in and third-party), sorted."""
    return (registry or default_registry()).names()


def model_info(name: str, registry: Optional[ModelRegistry] = None) -> ModelInfo:
    """The :class:`ModelInfo` of model ``name``; raises UnknownModelError listing the alternatives."""
    return (registry or default_registry()).info(name)


def _cancel_requested(cancel: Optional[CancelCheck]) -> bool:
    if cancel is None:
        return False
    if hasattr(cancel, "is_set"):
        return bool(cancel.is_set())
    return bool(cancel())


def make_reporter(progress: Optional[Reporter], cancel: Optional[CancelCheck]) -> Reporter:
    """A reporter forwarding to ``progress`` that raises :class:`Cancelled` once ``cancel`` is set."""

    def report(event: ProgressEvent) -> None:
        if progress is not None:
            progress(event)
        if _cancel_requested(cancel):
            raise Cancelled(f"{event.phase} cancelled at step {event.step} of {event.total}")

    return report


def resolve_weights(info: ModelInfo, weights: Optional[Union[str, Path]]) -> Optional[Path]:
    """The weights file to use: the given path, else the model's default.

    Raises:
        WeightsError: the given file does not exist, or weights were given to a
            model that uses none.
        MissingWeightsError: a trainable model with no weights given and none shipped.
    """
    if weights is not None:
        path = Path(weights).expanduser()
        if not info.trainable:
            raise WeightsError(f"model {info.name!r} uses no weights, but weights={str(weights)!r} was given")
        if not path.is_file():
            raise WeightsError(f"weights file not found: {path}")
        return path
    if info.default_weights is not None:
        return Path(info.default_weights)
    if info.trainable:
        raise MissingWeightsError(
            f"model {info.name!r} has no default weights; train it (inpaint train) and pass weights=PATH"
        )
    return None


def _prepare_mask(image: np.ndarray, mask: np.ndarray, channel_axis: ChannelAxis) -> np.ndarray:
    """Accept an (H, W, 3|4) mask for an (H, W, 3|4) image: a mask read from an RGB file."""
    if (
        channel_axis == "auto"
        and image.ndim == 3
        and image.shape[-1] in (3, 4)
        and mask.shape == image.shape
    ):
        mask_bool = arrays.mask_to_bool(mask)
        return mask_bool.any(axis=-1)
    return mask


def fill(
    image: np.ndarray,
    mask: np.ndarray,
    model: str = "telea",
    weights: Optional[Union[str, Path]] = None,
    device: str = "auto",
    *,
    channel_axis: ChannelAxis = "auto",
    margin: Optional[int] = None,
    progress: Optional[Reporter] = None,
    cancel: Optional[CancelCheck] = None,
    registry: Optional[ModelRegistry] = None,
    **options: Any,
) -> np.ndarray:
    """Inpaint the masked pixels of an image or a stack of images.

    Args:
        image: (H, W), (H, W, C) or a stack such as (Z, H, W) or (T, Z, H, W, C);
            dtype bool, any integer type or float of any range (NaN allowed only
            under the mask). C = 4 is RGBA: a colour model never fills alpha.
        mask: True / non-zero = pixel to fill. Bool or integer (0/1, 0/255); the
            image's spatial shape, or its trailing (H, W) axes broadcast over the
            stack. An (H, W, 3) mask for an (H, W, 3) image is merged over channels.
        model: a name from :func:`available_models`.
        weights: weights file for a trainable model (default: the shipped ones).
        device: ``"auto"``, ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
        channel_axis: the channel axis, None for none, or "auto" (inferred from
            the mask's shape; pass it when the shape is ambiguous).
        margin: context pixels around each hole region sent to the model
            (default: the model's ``crop_margin``).
        progress: called with a :class:`ProgressEvent` after each region and by
            models with long steps (diffusion sampling).
        cancel: a ``threading.Event`` or a callable returning True to stop; the
            fill then raises :class:`~inpaint_models.errors.Cancelled`.
        registry: the plugin registry (default: installed plugins).
        **options: the model's options (see ``model_info(model).options``).

    Returns:
        A new array of the image's shape and dtype: equal to ``image`` bit for
        bit outside the mask, filled inside it, in the image's value range.
        An empty mask returns an unchanged copy with an :class:`EmptyMaskWarning`.

    Raises:
        InpaintError (a ValueError) subclasses naming the problem: shape
        mismatch, NaN/inf, unsupported dtype, unknown model or option, mask
        covering a whole plane, image too small for the model, missing weights.
    """
    registry = registry or default_registry()
    info = registry.info(model)
    model_options = build_fill_options(info, options)
    if margin is not None and (not isinstance(margin, (int, np.integer)) or isinstance(margin, bool) or margin < 0):
        raise OptionError(f"margin must be a non-negative integer, got {margin!r}")

    image = np.asarray(image)
    mask = np.asarray(mask)
    arrays.check_dtype(image, "image")
    arrays.check_dtype(mask, "mask")
    if image.size == 0:
        raise ShapeMismatchError(f"image is empty (shape {image.shape})")
    mask = _prepare_mask(image, mask, channel_axis)
    layout = arrays.resolve_layout(image.shape, mask.shape, channel_axis)
    mask_bool = arrays.mask_to_bool(mask)
    planes, mask_planes = arrays.as_planes(image, mask_bool, layout)

    plane_indices = list(arrays.iter_plane_indices(mask_planes))
    if not plane_indices:
        warnings.warn("the mask is empty: returning an unchanged copy of the image", EmptyMaskWarning, stacklevel=2)
        return image.copy()
    _check_sizes(info, layout, mask_planes, plane_indices)
    value_range = arrays.value_range(planes, mask_planes)
    context = FillContext(
        weights=resolve_weights(info, weights),
        device=resolve_device(device, needs_torch=info.trainable),
        source_dtype=str(image.dtype),
        report=make_reporter(progress, cancel),
    )

    work = _output_buffer(image, layout)
    work_planes = work.reshape((layout.planes, layout.height, layout.width, layout.channels))
    margin = info.crop_margin if margin is None else int(margin)
    jobs = [
        (index, box)
        for index in plane_indices
        for box in arrays.hole_boxes(
            np.ascontiguousarray(mask_planes[index]), margin, info.min_size, square=info.native_size is not None
        )
    ]
    for step, (index, box) in enumerate(jobs, start=1):
        crop_mask = np.ascontiguousarray(mask_planes[index][box.slices])
        crop = planes[index][box.slices]
        filled, channels = fill_crop(registry, info, model_options, context, crop, crop_mask, value_range)
        target = work_planes[index][box.slices]
        if channels is None:
            target[crop_mask] = filled[crop_mask]
        else:
            target[crop_mask, :channels] = filled[crop_mask][:, :channels]
        context.report(ProgressEvent("fill", step, len(jobs), message=f"plane {index + 1} of {layout.planes}"))

    if layout.channel_axis is None or layout.channel_axis == image.ndim - 1:
        return work
    return np.ascontiguousarray(np.moveaxis(work, -1, layout.channel_axis))


def _check_sizes(info: ModelInfo, layout: Layout, mask_planes: np.ndarray, plane_indices: list[int]) -> None:
    if layout.height < info.min_size or layout.width < info.min_size:
        raise ImageTooSmallError(
            f"image planes are {layout.height}x{layout.width} pixels; model {info.name!r} needs at least "
            f"{info.min_size}x{info.min_size}"
        )
    for index in plane_indices:
        if mask_planes[index].all():
            where = "the whole image" if layout.planes == 1 else f"the whole of plane {index}"
            raise MaskCoversImageError(f"the mask covers {where}: there is nothing to inpaint from")


def _output_buffer(image: np.ndarray, layout: Layout) -> np.ndarray:
    """A C-contiguous copy of ``image`` with the channel axis (if any) last."""
    if layout.channel_axis is None:
        return np.array(image, order="C", copy=True)
    return np.array(np.moveaxis(image, layout.channel_axis, -1), order="C", copy=True)
