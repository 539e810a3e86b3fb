"""A fill planned once: :func:`plan_fill` checks the inputs and decides everything a fill needs.

The :class:`FillPlan` (image and mask, layout, model and options, volume axis,
margins, the weights and device asked for, then the resolved context and the
weights' geometry) is built by the front (:func:`inpaint_models.fill`,
:func:`inpaint_models.api.estimate_fill_seconds`) and passed down whole: to the
in-memory fill (:mod:`inpaint_models.pipeline.run`), the lazy one
(:mod:`inpaint_models.pipeline.chunked`), the estimate and each crop
(:mod:`inpaint_models.pipeline.crops`).
"""

from __future__ import annotations

import dataclasses
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Optional, Union

import numpy as np

from inpaint_models.contract.datatypes import DEFAULT_VOLUME_MARGIN, FillContext, ModelInfo, Reporter
from inpaint_models.contract.devices import resolve_device
from inpaint_models.contract.errors import (
    MissingWeightsError,
    OptionError,
    PlaneByPlaneWarning,
    ShapeMismatchError,
    WeightsError,
)
from inpaint_models.contract.options import build_fill_options
from inpaint_models.contract.registry import ModelRegistry, default_registry
from inpaint_models.contract.requirements import require_installed
from inpaint_models.contract.values import check_dtype, mask_to_bool
from inpaint_models.io.regular_files import check_regular_file
from inpaint_models.io.sidecar import WeightsGeometry
from inpaint_models.pipeline.defaults import default_model
from inpaint_models.pipeline.fit_verdict import apply_verdict
from inpaint_models.pipeline.geometry import weights_geometry
from inpaint_models.pipeline.layout import (
    ChannelAxis,
    Layout,
    VolumeAxis,
    as_volumes,
    channel_last,
    resolve_layout,
    resolve_volume_axis,
)
from inpaint_models.pipeline.lazy_inputs import as_dask, is_lazy
from inpaint_models.pipeline.regions import Holes, checked_holes, plane_regions, volume_regions

#: one hole region of an in-memory fill: ``(crop, crop_mask, target)``, a view of the image ((h, w, C) or
#: (d, h, w, C)), its bool mask (True = fill) and the region's view of the output (None when listing crops)
Job = tuple[np.ndarray, np.ndarray, Optional[np.ndarray]]


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
        check_regular_file(path, "weights file", WeightsError)  # missing, a FIFO, a device, a link loop...
        return path
    if info.default_weights is not None:
        return Path(info.default_weights)
    if info.trainable:
        raise MissingWeightsError(
            f"model {info.name!r} has no default weights; train it (inpaint train) and pass weights=PATH"
        )
    return None


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


def merge_mask_channels(image: np.ndarray, mask: np.ndarray, channel_axis: ChannelAxis) -> np.ndarray:
    """An (H, W, 3|4) mask of an (H, W, 3|4) image (read from an RGB file) merged to (H, W): True = any non-zero.

    Any other mask is returned as given.
    """
    if (
        channel_axis == "auto"
        and image.ndim == 3
        and image.shape[-1] in (3, 4)
        and mask.shape == image.shape
    ):
        return mask_to_bool(mask).any(axis=-1)
    return mask


def checked_layout(image: Any, mask: Any, channel_axis: ChannelAxis) -> tuple[Any, Layout]:
    """The checks every entry point runs on (image, mask): dtypes, emptiness, an RGB mask merged, the layout.

    Returns the (possibly merged) mask and the resolved :class:`~inpaint_models.pipeline.layout.Layout`.
    """
    check_dtype(image, "image")
    check_dtype(mask, "mask")
    if image.size == 0:
        raise ShapeMismatchError(f"image is empty (shape {image.shape})")
    mask = merge_mask_channels(image, mask, channel_axis)
    return mask, resolve_layout(image.shape, mask.shape, channel_axis)


@dataclass(frozen=True)
class FillRequest:
    """What the caller of a fill asked for, besides the image and the mask (:func:`inpaint_models.fill`'s arguments).

    ``model`` may be ``"auto"``; ``registry`` None means the installed plugins;
    ``options`` are the model's options by name. ``use_verdict``: a fitted
    checkpoint that lost to the classical fill on its held-back holes fills
    with that classical fill (:func:`~inpaint_models.pipeline.fit_verdict.apply_verdict`);
    False only for the comparison itself.
    """

    model: str = "auto"
    weights: Optional[Union[str, Path]] = None
    device: str = "auto"
    channel_axis: ChannelAxis = "auto"
    volume_axis: VolumeAxis = "auto"
    margin: Optional[int] = None
    volume_margin: Optional[int] = None
    registry: Optional[ModelRegistry] = None
    options: Mapping[str, Any] = field(default_factory=dict)
    use_verdict: bool = True


@dataclass(frozen=True)
class FillPlan:
    """What a fill decides before any model runs (see :func:`plan_fill`); passed down whole.

    Attributes:
        image, mask: the inputs as arrays (numpy, or dask for a lazy fill); ``mask``
            True / non-zero = fill, an RGB mask already merged. None in the copy a
            lazy fill's crop tasks receive (:meth:`for_tasks`).
        lazy: whether the fill goes chunk by chunk (:mod:`inpaint_models.pipeline.chunked`).
        layout: where the channel and stack axes are.
        info: the model (``"auto"`` resolved).
        options: the model's options instance (fill options applied).
        volume_index: the image axis filled as a volume, or None for plane by plane.
        margin, depth_margin: context pixels along H, W and planes along the volume axis.
        registry: the registry the model comes from (the worker's own in a crop task).
        weights, device: as asked (``weights`` None: the model's default; ``device`` may be "auto").
        context: the plugin's :class:`FillContext` (weights resolved, device concrete,
            the reporter), once the fill starts (:meth:`with_context`); None before.
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
    registry: Optional[ModelRegistry]
    weights: Optional[Union[str, Path]] = None
    device: str = "auto"
    context: Optional[FillContext] = None

    def with_context(self, report: Reporter) -> "FillPlan":
        """This plan with its :class:`FillContext`: the weights resolved, the device made concrete.

        Raises:
            WeightsError, MissingWeightsError: see :func:`resolve_weights`.
            DeviceError: the device is not available.
        """
        context = make_context(self.info, self.weights, self.device, str(self.image.dtype), report)
        return dataclasses.replace(self, context=context)

    def for_tasks(self) -> "FillPlan":
        """This plan as the crop tasks of a lazy fill receive it: without the arrays and the registry.

        Each task gets its own crop, and each process has its registry
        (:class:`~inpaint_models.pipeline.chunked.ModelHandle`): neither travels.
        """
        return dataclasses.replace(self, image=None, mask=None, registry=None)

    @property
    def geometry(self) -> WeightsGeometry:
        """How crops must look for the model's weights (:func:`~inpaint_models.pipeline.geometry.weights_geometry`).

        Needs the context (:meth:`with_context`).
        """
        if self.context is None:
            raise ValueError("the plan has no context yet: call with_context first")
        return weights_geometry(self.info, self.context.weights)

    def holes(self) -> Optional[Holes]:
        """The in-memory fill's checked mask (:func:`~inpaint_models.pipeline.regions.checked_holes`); None if empty."""
        return checked_holes(self.image, self.mask, self.layout, self.info, self.volume_index)

    def crops(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """``(crop, crop_mask)`` of every hole region, in the order :func:`inpaint_models.fill` sends them.

        ``crop`` is a view of the image, (h, w, C) or (d, h, w, C) in its dtype;
        ``crop_mask`` is bool (h, w) / (d, h, w), True = fill. Empty for an empty
        mask. Runs the checks the fill runs (a mask covering a plane, NaN among
        the known pixels...). In-memory images only.

        Raises:
            InpaintError: as the fill raises it; a ``ValueError`` for a lazy plan.
        """
        if self.lazy:
            raise ValueError("FillPlan.crops is for in-memory images; a lazy fill finds its regions chunk by chunk")
        holes = self.holes()
        if holes is None:
            return []
        return [(crop, crop_mask) for crop, crop_mask, _ in self.jobs(holes)[0]]

    def jobs(self, holes: Holes, work: Optional[np.ndarray] = None) -> tuple[list[Job], Callable[[int], str]]:
        """One ``(crop, crop_mask, target)`` per hole region in fill order, and the progress message of each step.

        Plane by plane each 2D hole region is a job; as a volume each 3D region
        (the volume axis moved next to H by views: nothing is copied but the
        masks). ``target`` is the region's view of ``work`` (the output, the
        image's shape with the channel axis last), None without one.
        """
        layout = self.layout
        pixel = (layout.height, layout.width, layout.channels)
        if self.volume_index is None:
            regions: list = plane_regions(self.info, holes.mask_planes, holes.plane_indices, self.margin)
            sources, masks = holes.planes, holes.mask_planes
            targets = None if work is None else work.reshape((layout.planes,) + pixel)
        else:
            sources, masks = as_volumes(channel_last(self.image, layout), holes.mask, layout, self.volume_index)
            regions = volume_regions(self.info, masks, self.margin, self.depth_margin)
            targets = None if work is None else as_volumes(
                work.reshape(layout.stack_shape + pixel), holes.mask, layout, self.volume_index
            )[0]
        jobs = [
            (sources[where][box.slices], np.ascontiguousarray(masks[where][box.slices]),
             None if targets is None else targets[where][box.slices])
            for where, box in regions
        ]
        return jobs, self._messages(regions, masks)

    def _messages(self, regions: list, masks: np.ndarray) -> Callable[[int], str]:
        """The progress message after step ``n`` (1-based) of the fill's regions."""
        if self.volume_index is None:
            return lambda step: f"plane {regions[step - 1][0] + 1} of {self.layout.planes}"
        count = int(np.prod(masks.shape[:-3], dtype=np.int64))

        def message(step: int) -> str:
            where = f" of volume {regions[step - 1][0]} ({count} volumes)" if count > 1 else ""
            return f"region {step} of {len(regions)}" + where

        return message


def _check_margins(request: FillRequest) -> None:
    for name, value in (("margin", request.margin), ("volume_margin", request.volume_margin)):
        if value is not None and (not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 0):
            raise OptionError(f"{name} must be a non-negative integer, got {value!r}")


def _as_arrays(image: Any, mask: Any) -> tuple[Any, Any, bool]:
    """``(image, mask, lazy)``: numpy arrays, or dask arrays for a dask or zarr image."""
    if is_lazy(image):
        return (*as_dask(image, mask), True)
    return np.asarray(image), np.asarray(mask), False


def _volume_index(
    image_shape: tuple[int, ...], layout: Layout, info: ModelInfo, request: FillRequest, stacklevel: int
) -> Optional[int]:
    """The volume axis of the fill; None (plane by plane, with a warning if one was named) for a 2D-only model.

    ``request.registry`` is set; ``stacklevel`` is the warning's, counted from here.
    """
    volume_index = resolve_volume_axis(image_shape, layout, request.volume_axis)
    if volume_index is None or info.fills_volumes:
        return volume_index
    if request.volume_axis != "auto":
        registry = request.registry
        volume_models = [name for name in registry.names() if registry.info(name).fills_volumes]
        warnings.warn(
            f"model {info.name!r} fills 2D images only: the stack is filled plane by plane, without its "
            f"neighbouring planes along axis {request.volume_axis}; a volume model uses them "
            f"({', '.join(volume_models) or 'none installed'})",
            PlaneByPlaneWarning,
            stacklevel=stacklevel,
        )
    return None


def default_volume_margin(info: ModelInfo) -> int:
    """The context planes a volume fill gives each hole region: the model's own, else :data:`DEFAULT_VOLUME_MARGIN`."""
    return DEFAULT_VOLUME_MARGIN if info.volume_margin is None else int(info.volume_margin)


def plan_fill(image: Any, mask: Any, request: FillRequest, stacklevel: int = 2) -> FillPlan:
    """Validate a fill's inputs and decide its model, options, layout and margins; nothing is filled.

    Takes :func:`inpaint_models.fill`'s arguments (mask True / non-zero = fill)
    and raises what it raises for them, weights and device aside (checked when
    the fill starts: :meth:`FillPlan.with_context`); ``stacklevel`` points a
    :class:`PlaneByPlaneWarning` at the caller's caller (2) or further up.
    """
    registry = request.registry or default_registry()
    request = dataclasses.replace(request, registry=registry)
    _check_margins(request)
    image, mask, lazy = _as_arrays(image, mask)
    mask, layout = checked_layout(image, mask, request.channel_axis)
    model = request.model
    if model == "auto":
        model = default_model(image.shape, registry, mask=None if lazy else mask, mask_shape=mask.shape,
                              channel_axis=request.channel_axis,
                              volume_axis=request.volume_axis)
    info, request = apply_verdict(registry.info(model), request, registry, stacklevel + 1)
    require_installed(info)  # a neural model on a base install: say which extra, before any work
    model_options = build_fill_options(info, dict(request.options))
    return FillPlan(
        image=image, mask=mask, lazy=lazy, layout=layout, info=info, options=model_options,
        volume_index=_volume_index(image.shape, layout, info, request, stacklevel + 1),
        margin=info.crop_margin if request.margin is None else int(request.margin),
        depth_margin=default_volume_margin(info) if request.volume_margin is None else int(request.volume_margin),
        registry=registry, weights=request.weights, device=request.device,
    )
