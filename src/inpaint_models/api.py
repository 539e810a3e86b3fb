"""The public Python API: ``fill``, ``default_model``, ``available_models``, ``model_info``, ``train``, ``evaluate``.

``fill`` runs the whole model-independent pipeline (validate, normalise, crop
around the holes, call exactly one plugin, composite) so that every model gets
the same guarantees: outside the mask the output equals the input bit for bit,
in the input's dtype and range, and the caller's arrays are never modified.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional, Union

import numpy as np

from inpaint_models.contract.datatypes import DEFAULT_VOLUME_MARGIN, FillContext, ModelInfo, ProgressEvent, Reporter
from inpaint_models.contract.devices import resolve_device
from inpaint_models.contract.errors import (
    Cancelled,
    EmptyMaskWarning,
    ImageTooSmallError,
    MaskCoversImageError,
    MissingWeightsError,
    OptionError,
    PlaneByPlaneWarning,
    ShapeMismatchError,
    UnknownModelError,
    WeightsError,
)
from inpaint_models.contract.options import build_fill_options
from inpaint_models.contract.registry import ModelRegistry, default_registry
from inpaint_models.contract.values import ValueRange, check_dtype, check_finite, mask_to_bool
from inpaint_models.contract.values import value_range as measure_value_range
from inpaint_models.pipeline.crops import fill_crop
from inpaint_models.pipeline.estimate import (  # noqa: F401 (the front of the estimate, for the CLI and napari)
    LONG_FILL_SECONDS,
    FillClock,
    FillEstimate,
    estimate_fill_seconds,
    format_duration,
    measures,
    with_steps,
)
from inpaint_models.pipeline.layout import (
    Box,
    ChannelAxis,
    Layout,
    VolumeAxis,
    VolumeBox,
    as_planes,
    as_volumes,
    channel_last,
    hole_boxes,
    iter_plane_indices,
    resolve_layout,
    resolve_volume_axis,
    volume_boxes,
)

#: a numpy array (or anything ``np.asarray`` takes), a dask array, or a zarr array
ArrayLike = Any
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


def checked_layout(image, mask, channel_axis: ChannelAxis) -> tuple[Any, Layout]:
    """The checks every entry point runs on (image, mask): dtypes, emptiness, an RGB mask merged, the layout.

    Returns the (possibly merged) mask and the resolved :class:`~inpaint_models.pipeline.layout.Layout`.
    """
    check_dtype(image, "image")
    check_dtype(mask, "mask")
    if image.size == 0:
        raise ShapeMismatchError(f"image is empty (shape {image.shape})")
    mask = _prepare_mask(image, mask, channel_axis)
    return mask, resolve_layout(image.shape, mask.shape, channel_axis)


def _prepare_mask(image: np.ndarray, mask: np.ndarray, channel_axis: ChannelAxis) -> np.ndarray:
    """Accept an (H, W, 3|4) mask for an (H, W, 3|4) image: a mask read from an RGB file."""
    if (
        channel_axis == "auto"
        and image.ndim == 3
        and image.shape[-1] in (3, 4)
        and mask.shape == image.shape
    ):
        mask_bool = mask_to_bool(mask)
        return mask_bool.any(axis=-1)
    return mask


def is_lazy(array: Any) -> bool:
    """Whether ``array`` is a dask or zarr array (filled chunk by chunk by :mod:`inpaint_models.pipeline.chunked`).

    Decided without importing dask: neither can be passed in unless its module is loaded.
    """
    import sys

    dask_array = sys.modules.get("dask.array")
    if dask_array is not None and isinstance(array, dask_array.Array):
        return True
    return type(array).__module__.split(".")[0] == "zarr"


#: default models, best first, as measured (benchmarks/bench_volume.py, docs/results.md); the first
#: one registered wins. Photographs: PatchMatch keeps texture. Stacks: biharmonic's volume fill uses
#: the neighbouring planes (+3.5 dB on the stack sample) and is the best plane by plane too; push-pull's
#: volume fill is as good on that noisy sample but far worse on smooth data and needs torch.
IMAGE_DEFAULTS = ("patchmatch", "biharmonic")
STACK_DEFAULTS = ("biharmonic", "push-pull")


def default_model(
    image_shape: tuple[int, ...],
    registry: Optional[ModelRegistry] = None,
    *,
    mask_shape: Optional[tuple[int, ...]] = None,
    channel_axis: ChannelAxis = "auto",
    volume_axis: VolumeAxis = "auto",
) -> str:
    """The model ``fill(model="auto")`` uses for an image of this shape.

    A single 2D image gets ``patchmatch`` (content-aware, keeps texture), or
    ``biharmonic`` when that is not installed; a stack gets the best measured
    volume fill (``biharmonic``, which fills it as a volume unless
    ``volume_axis=None``). Only registered models are chosen: failing the
    preferred ones, a stack gets any model that fills volumes, then any
    non-trainable model, then any model.

    Args:
        image_shape: the image's shape, e.g. (H, W, 3) or (Z, H, W).
        registry: the plugin registry (default: installed plugins).
        mask_shape: the mask's shape when known (resolves ambiguous layouts as
            ``fill`` does); default: the image's spatial shape, reading a
            trailing axis of size <= 4 as channels when ``channel_axis="auto"``.
        channel_axis: as in :func:`fill`.
        volume_axis: as in :func:`fill`; None picks the best plane-by-plane model.

    Raises:
        ShapeMismatchError: the shapes do not fit (as in :func:`fill`).
        UnknownModelError: no model is installed.
    """
    registry = registry or default_registry()
    image_shape = tuple(int(n) for n in image_shape)
    if mask_shape is None:
        trailing_channels = channel_axis == "auto" and len(image_shape) >= 3 and image_shape[-1] <= 4
        if channel_axis == "auto":
            mask_shape = image_shape[:-1] if trailing_channels else image_shape
        elif channel_axis is None:
            mask_shape = image_shape
        else:
            mask_shape = tuple(n for i, n in enumerate(image_shape) if i != int(channel_axis) % len(image_shape))
    layout = resolve_layout(image_shape, tuple(mask_shape), channel_axis)
    stack = bool(layout.stack_shape)
    volume = resolve_volume_axis(image_shape, layout, volume_axis) is not None
    names = registry.names()
    if not names:
        raise UnknownModelError("no model is installed: there is no default model to choose")
    infos = {name: registry.info(name) for name in names}
    preferred = STACK_DEFAULTS if stack else IMAGE_DEFAULTS
    for name in preferred:
        if name in infos and (not volume or infos[name].fills_volumes):
            return name
    fallbacks = [
        [name for name in names if volume and infos[name].fills_volumes],
        [name for name in names if not infos[name].trainable],
        names,
    ]
    return next(group[0] for group in fallbacks if group)


def fill(
    image: ArrayLike,
    mask: ArrayLike,
    model: str = "auto",
    weights: Optional[Union[str, Path]] = None,
    device: str = "auto",
    *,
    channel_axis: ChannelAxis = "auto",
    volume_axis: VolumeAxis = "auto",
    margin: Optional[int] = None,
    volume_margin: Optional[int] = None,
    progress: Optional[Reporter] = None,
    cancel: Optional[CancelCheck] = None,
    registry: Optional[ModelRegistry] = None,
    **options: Any,
) -> ArrayLike:
    """Inpaint the masked pixels of an image, or of a stack plane by plane or as a volume.

    Only the pixels around the holes are read: each hole region is filled in a
    crop box (the region plus ``margin`` pixels, ``volume_margin`` planes),
    whose known pixels also set the value conversion (uint8 / 255, bool and
    float in [0, 1] as they are, any other range stretched from the box's own
    minimum to its maximum), so the cost follows the holes, not the image.

    Lazy arrays in, lazy array out: a dask array (or a zarr array, read through
    :func:`dask.array.from_zarr`) as ``image`` gives a dask array with its
    chunks (:mod:`inpaint_models.pipeline.chunked`). The hole regions are found from the
    mask chunk by chunk (a region crossing a chunk border is one region, as in
    memory) and the crops are filled during this call (on the workers of an
    active ``dask.distributed`` client, if any); the chunks they touch are
    patched, every other chunk is the image's own, read only when the result's
    chunk is. The result equals the in-memory fill's bit for bit. NaN/inf are
    checked in the crops read (in memory: in the whole image).

    Args:
        image: (H, W), (H, W, C) or a stack such as (Z, H, W) or (T, Z, H, W, C);
            dtype bool, any integer type or float of any range (NaN allowed only
            under the mask). C = 4 is RGBA: a colour model never fills alpha
            (alpha under the hole keeps the caller's values; NaN there becomes
            the nearest known pixel's alpha).
        mask: True / non-zero = pixel to fill. Bool or integer (0/1, 0/255); the
            image's spatial shape, or its trailing (H, W) axes broadcast over the
            stack. An (H, W, 3) mask for an (H, W, 3) image is merged over channels.
        model: a name from :func:`available_models`, or ``"auto"``: the best
            measured fill for the data (:func:`default_model`: ``patchmatch``
            for a single image, the ``biharmonic`` volume fill for a stack).
        weights: weights file for a trainable model (default: the shipped ones).
        device: ``"auto"``, ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
        channel_axis: the channel axis, None for none, or "auto" (inferred from
            the mask's shape; pass it when the shape is ambiguous).
        volume_axis: the image axis that forms the third spatial dimension (an
            index into ``image.shape``: 0 for Z of (Z, H, W), 1 for Z of
            (T, Z, H, W, C), 0 for T of a (T, H, W) time-lapse); the other stack
            axes are iterated. Hole regions are then found in 3D (connected
            components of the mask in each volume) and cropped with
            ``volume_margin`` planes of context along that axis, for models that
            fill volumes (``ModelInfo.spatial_dims`` contains 3); a plane the
            mask covers entirely is filled from its neighbours. None fills plane
            by plane. ``"auto"`` (default): the innermost stack axis (just before
            H) for a stack, none for a single image. A model that fills 2D images
            only gets planes: with an explicit ``volume_axis`` it warns
            :class:`~inpaint_models.contract.errors.PlaneByPlaneWarning`, with "auto" silently.
        margin: context pixels along H and W around each hole region sent to
            the model (default: the model's ``crop_margin``).
        volume_margin: context planes along the volume axis on each side of a
            hole region (default :data:`DEFAULT_VOLUME_MARGIN` = 3: on the stack
            sample more planes change neither biharmonic's nor push-pull's fill,
            and 2 cost push-pull 0.5 dB).
        progress: called with a :class:`ProgressEvent` after each region and by
            models with long steps (diffusion sampling).
        cancel: a ``threading.Event`` or a callable returning True to stop; the
            fill then raises :class:`~inpaint_models.contract.errors.Cancelled`.
        registry: the plugin registry (default: installed plugins).
        **options: the model's options (see ``model_info(model).options``).

    Returns:
        A new array of the image's shape and dtype: equal to ``image`` bit for
        bit outside the mask, filled inside it, in the image's value range
        (a dask array for a dask or zarr image). An empty mask returns an
        unchanged copy (the dask image itself) with an :class:`EmptyMaskWarning`.

    Raises:
        InpaintError (a ValueError) subclasses naming the problem: shape
        mismatch, NaN/inf, known values spanning more than float32 holds,
        unsupported dtype, unknown model or option, bad volume axis, mask
        covering a whole plane (a whole volume in volume mode), image too
        small for the model, missing weights.
    """
    registry = registry or default_registry()
    plan = plan_fill(
        image, mask, model, channel_axis=channel_axis, volume_axis=volume_axis, margin=margin,
        volume_margin=volume_margin, registry=registry, stacklevel=3, **options,
    )
    image, mask, layout, info, model_options = plan.image, plan.mask, plan.layout, plan.info, plan.options
    volume_index, margin, depth_margin = plan.volume_index, plan.margin, plan.depth_margin
    if plan.lazy:
        from inpaint_models.pipeline import chunked

        return chunked.fill_dask(
            registry, info, model_options, layout, volume_index, image, mask, margin, depth_margin,
            weights=weights, device=device, progress=progress, cancel=cancel,
        )
    prepared = _checked_planes(plan)
    if prepared is None:
        warnings.warn("the mask is empty: returning an unchanged copy of the image", EmptyMaskWarning, stacklevel=2)
        return image.copy()
    mask_bool, planes, mask_planes, plane_indices = prepared
    context = make_context(info, weights, device, str(image.dtype), make_reporter(progress, cancel))

    work = _output_buffer(image, layout)
    if volume_index is None:
        _fill_planes(registry, info, model_options, context, layout, planes, mask_planes, work, plane_indices, margin)
    else:
        _fill_volumes(
            registry, info, model_options, context, layout, volume_index,
            channel_last(image, layout), mask_bool, work, margin, depth_margin,
        )

    if layout.channel_axis is None or layout.channel_axis == image.ndim - 1:
        return work
    return np.ascontiguousarray(np.moveaxis(work, -1, layout.channel_axis))


@dataclass
class FillPlan:
    """What :func:`fill` decides before any model runs (see :func:`plan_fill`).

    Attributes:
        image, mask: the inputs as arrays (numpy, or dask for a lazy fill); ``mask``
            True / non-zero = fill, an RGB mask already merged.
        lazy: whether the fill goes chunk by chunk (:mod:`inpaint_models.pipeline.chunked`).
        layout: where the channel and stack axes are.
        info: the model (``"auto"`` resolved).
        options: the model's options instance (fill options applied).
        volume_index: the image axis filled as a volume, or None for plane by plane.
        margin, depth_margin: context pixels along H, W and planes along the volume axis.
        registry: the registry the model comes from.
    """

    image: Any
    mask: Any
    lazy: bool
    layout: Layout
    info: ModelInfo
    options: Any
    volume_index: Optional[int]
    margin: int
    depth_margin: int
    registry: ModelRegistry

    def crops(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """``(crop, crop_mask)`` of every hole region, in the order :func:`fill` sends them to the model.

        ``crop`` is a view of the image, (h, w, C) or (d, h, w, C) in its dtype;
        ``crop_mask`` is bool (h, w) / (d, h, w), True = fill. Empty for an empty
        mask. Runs the checks :func:`fill` runs (a mask covering a plane, NaN among
        the known pixels...). In-memory images only.

        Raises:
            InpaintError: as :func:`fill` raises it; a ``ValueError`` for a lazy plan.
        """
        if self.lazy:
            raise ValueError("FillPlan.crops is for in-memory images; a lazy fill finds its regions chunk by chunk")
        prepared = _checked_planes(self)
        if prepared is None:
            return []
        mask_bool, planes, mask_planes, plane_indices = prepared
        if self.volume_index is None:
            return [
                (planes[index][box.slices], np.ascontiguousarray(mask_planes[index][box.slices]))
                for index, box in plane_regions(self.info, mask_planes, plane_indices, self.margin)
            ]
        volumes, mask_volumes = as_volumes(
            channel_last(self.image, self.layout), mask_bool, self.layout, self.volume_index
        )
        return [
            (volumes[outer][box.slices], np.ascontiguousarray(mask_volumes[outer][box.slices]))
            for outer, box in volume_regions(self.info, mask_volumes, self.margin, self.depth_margin)
        ]


def plan_fill(
    image: ArrayLike,
    mask: ArrayLike,
    model: str = "auto",
    *,
    channel_axis: ChannelAxis = "auto",
    volume_axis: VolumeAxis = "auto",
    margin: Optional[int] = None,
    volume_margin: Optional[int] = None,
    registry: Optional[ModelRegistry] = None,
    stacklevel: int = 2,
    **options: Any,
) -> FillPlan:
    """Validate a fill's inputs and decide its model, options, layout and margins; nothing is filled.

    Takes :func:`fill`'s arguments (mask True / non-zero = fill) and raises what
    it raises for them; :meth:`FillPlan.crops` lists the hole regions. ``fill``
    itself starts here, and so does :func:`inpaint_models.estimate_fill_seconds`.
    """
    registry = registry or default_registry()
    for name, value in (("margin", margin), ("volume_margin", volume_margin)):
        if value is not None and (not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 0):
            raise OptionError(f"{name} must be a non-negative integer, got {value!r}")
    lazy = is_lazy(image)
    if lazy:
        from inpaint_models.pipeline import chunked

        image, mask = chunked.as_dask(image, mask)
    else:
        image = np.asarray(image)
        mask = np.asarray(mask)
    mask, layout = checked_layout(image, mask, channel_axis)
    if model == "auto":
        model = default_model(
            image.shape, registry, mask_shape=mask.shape, channel_axis=channel_axis, volume_axis=volume_axis
        )
    info = registry.info(model)
    model_options = build_fill_options(info, options)
    volume_index = resolve_volume_axis(image.shape, layout, volume_axis)
    if volume_index is not None and not info.fills_volumes:
        if volume_axis != "auto":
            volume_models = [name for name in registry.names() if registry.info(name).fills_volumes]
            warnings.warn(
                f"model {info.name!r} fills 2D images only: the stack is filled plane by plane, without its "
                f"neighbouring planes along axis {volume_axis}; a volume model uses them "
                f"({', '.join(volume_models) or 'none installed'})",
                PlaneByPlaneWarning,
                stacklevel=stacklevel,
            )
        volume_index = None
    return FillPlan(
        image=image, mask=mask, lazy=lazy, layout=layout, info=info, options=model_options,
        volume_index=volume_index, margin=info.crop_margin if margin is None else int(margin),
        depth_margin=DEFAULT_VOLUME_MARGIN if volume_margin is None else int(volume_margin), registry=registry,
    )


def _checked_planes(plan: FillPlan) -> Optional[tuple[np.ndarray, np.ndarray, np.ndarray, list[int]]]:
    """The in-memory checks of a fill; ``(mask_bool, planes, mask_planes, plane_indices)``, None for an empty mask."""
    image, layout, info, volume_index = plan.image, plan.layout, plan.info, plan.volume_index
    mask_bool = mask_to_bool(plan.mask)
    planes, mask_planes = as_planes(image, mask_bool, layout)
    plane_indices = list(iter_plane_indices(mask_planes))
    if not plane_indices:
        return None
    _check_sizes(info, layout, mask_planes, plane_indices if volume_index is None else [])
    if volume_index is not None:
        _check_volumes(as_volumes(channel_last(image, layout), mask_bool, layout, volume_index)[1])
    check_finite(planes, mask_planes)  # the whole image is at hand: name any NaN before filling
    return mask_bool, planes, mask_planes, plane_indices


def plane_regions(
    info: ModelInfo, mask_planes: np.ndarray, plane_indices: list[int], margin: int
) -> list[tuple[int, Box]]:
    """The 2D hole regions a fill sends to the model: ``(plane index, crop box)``, in fill order.

    ``mask_planes`` is bool (N, H, W), True = hole; each box is a connected hole
    region grown by ``margin`` (and to the model's ``min_size``, square for
    ``native_size`` models), overlapping boxes merged (:func:`hole_boxes`).
    """
    return [
        (index, box)
        for index in plane_indices
        for box in hole_boxes(
            np.ascontiguousarray(mask_planes[index]), margin, info.min_size, square=info.native_size is not None
        )
    ]


def volume_regions(
    info: ModelInfo, mask_volumes: np.ndarray, margin: int, depth_margin: int
) -> list[tuple[tuple[int, ...], VolumeBox]]:
    """The 3D hole regions a volume fill sends to the model: ``(outer index, crop box)``, in fill order.

    ``mask_volumes`` is bool (..., D, H, W), True = hole (:func:`volume_boxes` per volume).
    """
    return [
        (outer, box)
        for outer in np.ndindex(mask_volumes.shape[:-3])
        for box in volume_boxes(mask_volumes[outer], margin, depth_margin, info.min_size)
    ]


def _fill_planes(
    registry: ModelRegistry,
    info: ModelInfo,
    model_options: Any,
    context: FillContext,
    layout: Layout,
    planes: np.ndarray,
    mask_planes: np.ndarray,
    work: np.ndarray,
    plane_indices: list[int],
    margin: int,
) -> None:
    """Fill every hole region of every plane, one 2D crop each, into ``work`` (one event per region)."""
    work_planes = work.reshape((layout.planes, layout.height, layout.width, layout.channels))
    regions = plane_regions(info, mask_planes, plane_indices, margin)
    jobs = [
        (planes[index][box.slices], np.ascontiguousarray(mask_planes[index][box.slices]), work_planes[index][box.slices])
        for index, box in regions
    ]
    _run_jobs(
        registry, info, model_options, context, jobs,
        lambda step: f"plane {regions[step - 1][0] + 1} of {layout.planes}",
    )


def _fill_volumes(
    registry: ModelRegistry,
    info: ModelInfo,
    model_options: Any,
    context: FillContext,
    layout: Layout,
    volume_index: int,
    image: np.ndarray,
    mask: np.ndarray,
    work: np.ndarray,
    margin: int,
    depth_margin: int,
) -> None:
    """Fill every 3D hole region of every volume into ``work`` (one event per region).

    ``image`` is channel-last (stack..., H, W, C); the volume axis is moved
    next to H by views, so nothing is copied but the crops. A region whose box
    spans a single plane goes to the model as a 2D crop.
    """
    volumes, mask_volumes = as_volumes(image, mask, layout, volume_index)
    work_volumes, _ = as_volumes(
        work.reshape(layout.stack_shape + (layout.height, layout.width, layout.channels)), mask, layout, volume_index
    )
    outer_shape = mask_volumes.shape[:-3]
    regions = volume_regions(info, mask_volumes, margin, depth_margin)
    jobs = [
        (volumes[outer][box.slices], np.ascontiguousarray(mask_volumes[outer][box.slices]), work_volumes[outer][box.slices])
        for outer, box in regions
    ]
    count = int(np.prod(outer_shape, dtype=np.int64))
    _run_jobs(
        registry, info, model_options, context, jobs,
        lambda step: f"region {step} of {len(jobs)}" + (f" of volume {regions[step - 1][0]} ({count} volumes)" if count > 1 else ""),
    )


def _run_jobs(
    registry: ModelRegistry,
    info: ModelInfo,
    model_options: Any,
    context: FillContext,
    jobs: list[tuple[np.ndarray, np.ndarray, np.ndarray]],
    message: Callable[[int], str],
) -> None:
    """Fill ``(crop, crop_mask, target)`` jobs in order, one event each.

    Every crop's values are checked (and its value range chosen) before any
    model runs, so bad values are named before minutes of work.
    """
    ranges = [measure_value_range(crop, crop_mask) for crop, crop_mask, _ in jobs]
    for step, ((crop, crop_mask, target), value_range) in enumerate(zip(jobs, ranges), start=1):
        fill_region(registry, info, model_options, context, crop, crop_mask, target, value_range)
        context.report(ProgressEvent("fill", step, len(jobs), message=message(step)))


def fill_region(
    registry: ModelRegistry,
    info: ModelInfo,
    options: Any,
    context: FillContext,
    crop: np.ndarray,
    crop_mask: np.ndarray,
    target: np.ndarray,
    value_range: Optional[ValueRange] = None,
) -> None:
    """Fill one hole region and composite it into ``target``: the one step shared by in-memory and dask fills.

    Args:
        crop: (h, w, C) or (d, h, w, C) in the caller's dtype: the region's box
            with its context; a (1, h, w, C) box goes to the model as a 2D crop.
        crop_mask: bool (h, w) / (d, h, w), True = fill.
        target: where the result goes, shape and dtype of ``crop`` and equal to it
            (a view of the output buffer, or a copy of the crop); only pixels
            under ``crop_mask`` change.
        value_range: the value conversion; default (and what ``fill`` uses): the
            crop's own, from its known pixels (:func:`inpaint_models.contract.values.value_range`).

    Raises:
        InvalidValuesError: NaN/inf among the crop's known pixels, or a range float32 cannot hold.
    """
    if value_range is None:
        value_range = measure_value_range(crop, crop_mask)
    if crop.ndim == 3:
        filled, channels = fill_crop(registry, info, options, context, crop, crop_mask, value_range)
    elif crop.shape[0] == 1:
        filled, channels = fill_crop(registry, info, options, context, crop[0], crop_mask[0], value_range)
        filled = filled[np.newaxis]
    else:
        filled, channels = fill_volume_crop(registry, info, options, context, crop, crop_mask, value_range)
    _write(target, crop_mask, filled, channels)


def make_context(
    info: ModelInfo, weights: Optional[Union[str, Path]], device: str, source_dtype: str, report: Reporter
) -> FillContext:
    """The :class:`FillContext` of a fill: weights resolved, device made concrete."""
    return FillContext(
        weights=resolve_weights(info, weights),
        device=resolve_device(device, needs_torch=info.trainable),
        source_dtype=source_dtype,
        report=report,
    )


def fill_volume_crop(
    registry: ModelRegistry,
    info: ModelInfo,
    options: Any,
    context: FillContext,
    crop: np.ndarray,
    crop_mask: np.ndarray,
    value_range: ValueRange,
) -> tuple[np.ndarray, Optional[int]]:
    """Fill one (d, h, w, C) volume crop with a model that fills volumes.

    The same value conversion (``value_range``) and channel adaptation as a 2D
    crop (:func:`inpaint_models.pipeline.crops.fill_crop`); the plugin receives float32
    (d, h, w, c) in [0, 1] and a bool (d, h, w) mask (True = fill), padded
    (symmetric) to ``ModelInfo.size_multiple`` along all three axes.

    Returns:
        Values in the caller's dtype, shape of ``crop``, and how many leading
        channels to write (None = all; 3 for RGBA through a colour model).
    """
    return fill_crop(registry, info, options, context, crop, crop_mask, value_range, model_call=_call_volume_model)


def _call_volume_model(
    registry: ModelRegistry, info: ModelInfo, options: Any, context: FillContext, unit: np.ndarray, mask: np.ndarray
) -> np.ndarray:
    """Pad a float32 (d, h, w, c) crop to the model's size multiple, call it, undo the padding."""
    multiple = max(1, info.size_multiple)
    pads = [(-n) % multiple for n in unit.shape[:-1]]
    if any(pads):
        unit = np.pad(unit, [(0, p) for p in pads] + [(0, 0)], mode="symmetric")
        mask = np.pad(mask, [(0, p) for p in pads], mode="symmetric")
    predicted = np.asarray(
        registry.call_fill(info.name, np.ascontiguousarray(unit, dtype=np.float32), np.ascontiguousarray(mask), options, context),
        dtype=np.float32,
    )
    if predicted.shape != unit.shape:
        raise RuntimeError(f"plugin {info.name!r} returned shape {predicted.shape} for a volume of shape {unit.shape}")
    predicted = predicted[tuple(slice(0, n - p) for n, p in zip(predicted.shape, pads))]
    if not np.isfinite(predicted).all():
        raise RuntimeError(f"plugin {info.name!r} returned NaN or infinite values")
    return predicted


def _write(target: np.ndarray, crop_mask: np.ndarray, filled: np.ndarray, channels: Optional[int]) -> None:
    """Composite a filled crop into ``target`` (a view of the output) under ``crop_mask``.

    Channels the model did not fill (alpha through a colour model) keep the
    caller's values, except non-finite ones under the hole (NaN alpha in a
    float RGBA image), which take the nearest known pixel's value: a filled
    image never holds NaN.
    """
    if channels is None:
        target[crop_mask] = filled[crop_mask]
        return
    target[crop_mask, :channels] = filled[crop_mask][:, :channels]
    rest = target[..., channels:]
    if rest.dtype.kind != "f":
        return
    bad = ~np.isfinite(rest) & crop_mask[..., np.newaxis]
    if bad.any():
        from scipy import ndimage

        nearest = ndimage.distance_transform_edt(crop_mask, return_distances=False, return_indices=True)
        rest[bad] = rest[tuple(nearest)][bad]


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


def _check_volumes(mask_volumes: np.ndarray) -> None:
    """Raise MaskCoversImageError when the mask covers a whole volume ((..., D, H, W) views)."""
    for outer in np.ndindex(mask_volumes.shape[:-3]):
        if mask_volumes[outer].all():
            where = "the whole stack" if not outer else f"the whole of volume {outer}"
            raise MaskCoversImageError(f"the mask covers {where}: there is nothing to inpaint from")


def _output_buffer(image: np.ndarray, layout: Layout) -> np.ndarray:
    """A C-contiguous copy of ``image`` with the channel axis (if any) last."""
    if layout.channel_axis is None:
        return np.array(image, order="C", copy=True)
    return np.array(np.moveaxis(image, layout.channel_axis, -1), order="C", copy=True)
