"""One crop through one model: value conversion, channel adaptation, resize and pad, the plugin call.

The pipeline (:func:`inpaint_models.api.fill`) finds the hole regions and their
crop boxes; this module owns what happens to one crop between the caller's
values and the plugin's float32 [0, 1] contract, and back. It is the one owner
of crop geometry: the channel count, native size and size multiple come from
:func:`weights_geometry` — the sidecar of the weights in use for a trained
model (a context encoder trained at 64 px gets 64 x 64 crops), ModelInfo for
the others — and a plugin receives crops that already fit.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Optional, Union

import numpy as np

from inpaint_models.contract.datatypes import FillContext, ModelInfo
from inpaint_models.contract.errors import ShapeMismatchError
from inpaint_models.contract.registry import ModelRegistry
from inpaint_models.contract.values import ValueRange
from inpaint_models.io.sidecar import WeightsGeometry, checkpoint_stamp, geometry_of, info_geometry, read_sidecar
from inpaint_models.pipeline.layout import resize_mask, resize_plane

_geometries: dict[tuple, WeightsGeometry] = {}


def weights_geometry(info: ModelInfo, weights: Optional[Union[str, Path]]) -> WeightsGeometry:
    """How crops must look for ``info``'s model with ``weights`` (None: a model without weights).

    Read from the checkpoint's sidecar (``geometry``, written since checkpoints
    record it); an older sidecar's geometry is computed by rebuilding the task
    (built-in models; this imports torch, which the fill needs anyway), else
    inferred from the sidecar and ModelInfo. Cached per checkpoint (see
    :func:`~inpaint_models.io.sidecar.checkpoint_stamp`).

    Raises:
        WeightsError: the checkpoint is unreadable or belongs to another model.
    """
    if weights is None or not info.trainable:
        return info_geometry(info)
    path, stamp = checkpoint_stamp(weights)
    key = (info.name, path, stamp)
    geometry = _geometries.get(key)
    if geometry is None:
        geometry = _read_geometry(info, path)
        if len(_geometries) >= 64:
            _geometries.clear()
        _geometries[key] = geometry
    return geometry


def _read_geometry(info: ModelInfo, path: str) -> WeightsGeometry:
    geometry, recorded = geometry_of(path, info)
    if recorded:
        return geometry
    from inpaint_models.models.neural_hooks import task_factory_for

    factory = task_factory_for(info.name)
    if factory is None:
        return geometry
    from inpaint_models.training.inference import merge_options
    from inpaint_models.training.task import TaskSpec

    sidecar = read_sidecar(path, info.name)
    options = merge_options(info, sidecar.get("options", {}))
    task = factory(TaskSpec(options=options, channels=int(sidecar.get("channels", 3)),
                            image_size=int(sidecar.get("image_size", 64)), train=None))
    return task.geometry()


def fill_crop(
    registry: ModelRegistry,
    info: ModelInfo,
    options: Any,
    context: FillContext,
    crop: np.ndarray,
    crop_mask: np.ndarray,
    value_range: ValueRange,
    model_call: Optional[Callable[..., np.ndarray]] = None,
) -> tuple[np.ndarray, Optional[int]]:
    """Fill one crop; returns values in the caller's dtype and how many leading channels to write (None = all).

    Args:
        crop: (h, w, C) in the caller's dtype and range; ``crop_mask`` bool (h, w), True = fill.
        value_range: the caller's values <-> float32 [0, 1] (:func:`inpaint_models.contract.values.value_range`).
        model_call: calls the plugin on one converted crop (default :func:`call_model`, for (h, w, c)
            crops); the volume pipeline passes its own for (d, h, w, c) crops, so both share this
            conversion and channel adaptation.

    The crop's channels are adapted to those the weights accept
    (:func:`weights_geometry`): RGBA through a colour model keeps its alpha,
    other counts go channel by channel (grey through a colour model as R = G = B).
    """
    call = model_call or call_model
    unit = value_range.to_unit(crop)
    unit[crop_mask] = 0.0  # hole pixels carry no information (and may be NaN)
    count = unit.shape[-1]
    accepted = weights_geometry(info, context.weights).channels
    written: Optional[int] = None
    if accepted is None or count in accepted:
        predicted = call(registry, info, options, context, unit, crop_mask)
    elif count == 4 and 3 in accepted:
        predicted = call(registry, info, options, context, np.ascontiguousarray(unit[..., :3]), crop_mask)
        written = 3  # RGBA: alpha is never inpainted by a colour model
    elif 1 in accepted:
        predicted = np.concatenate(
            [call(registry, info, options, context, unit[..., c : c + 1].copy(), crop_mask) for c in range(count)],
            axis=-1,
        )
    elif 3 in accepted:
        predicted = np.concatenate(
            [
                call(registry, info, options, context, np.repeat(unit[..., c : c + 1], 3, axis=-1), crop_mask).mean(
                    axis=-1, keepdims=True
                )
                for c in range(count)
            ],
            axis=-1,
        )
    else:
        raise ShapeMismatchError(
            f"model {info.name!r} accepts images with {', '.join(map(str, accepted))} channel(s); "
            f"this image has {count}"
        )
    return value_range.from_unit(predicted), written


def model_input_shape(geometry: WeightsGeometry, height: int, width: int) -> tuple[int, int]:
    """The (height, width) a (height, width) crop has when :func:`call_model` hands it to the plugin.

    Resized to the weights' native size (fixed-size networks), then padded to their size multiple.
    """
    if geometry.native_size is not None:
        height = width = int(geometry.native_size)
    multiple = max(1, int(geometry.size_multiple))
    return height + (-height) % multiple, width + (-width) % multiple


def pad_to_multiple(
    image: np.ndarray, mask: np.ndarray, multiple: int
) -> tuple[np.ndarray, np.ndarray, tuple[int, int]]:
    """Pad (h, w, c) ``image`` and (h, w) ``mask`` at the bottom and right (mirrored) to multiples of ``multiple``.

    Returns the padded image and mask and ``(pad_h, pad_w)``; crop a result with
    ``[: h, : w]`` to undo it.
    """
    multiple = max(1, int(multiple))
    pad_h, pad_w = (-image.shape[0]) % multiple, (-image.shape[1]) % multiple
    if pad_h or pad_w:
        image = np.pad(image, ((0, pad_h), (0, pad_w), (0, 0)), mode="symmetric")
        mask = np.pad(mask, ((0, pad_h), (0, pad_w)), mode="symmetric")
    return image, mask, (pad_h, pad_w)


def call_model(
    registry: ModelRegistry,
    info: ModelInfo,
    options: Any,
    context: FillContext,
    unit: np.ndarray,
    mask: np.ndarray,
    geometry: Optional[WeightsGeometry] = None,
) -> np.ndarray:
    """Resize / pad a float32 (h, w, c) crop in [0, 1] to ``geometry``, call the plugin, undo the resize / pad.

    ``mask`` is bool (h, w), True = fill; ``geometry`` defaults to :func:`weights_geometry`.
    Returns float32 (h, w, c) in [0, 1].
    """
    geometry = geometry or weights_geometry(info, context.weights)
    height, width, channels = unit.shape
    model_image, model_mask = unit, mask
    native = geometry.native_size
    if native is not None and (height, width) != (native, native):
        model_image = resize_plane(unit, native, native)
        model_mask = resize_mask(mask, native, native)
        model_image[model_mask] = 0.0
    model_image, model_mask, (pad_h, pad_w) = pad_to_multiple(model_image, model_mask, geometry.size_multiple)
    predicted = registry.call_fill(
        info.name, np.ascontiguousarray(model_image, dtype=np.float32), np.ascontiguousarray(model_mask), options,
        context,
    )
    predicted = np.asarray(predicted, dtype=np.float32)
    expected = model_image.shape
    if predicted.shape != expected:
        raise RuntimeError(
            f"plugin {info.name!r} returned shape {predicted.shape} for an input of shape {expected}"
        )
    predicted = predicted[: predicted.shape[0] - pad_h, : predicted.shape[1] - pad_w]
    if predicted.shape[:2] != (height, width):
        predicted = resize_plane(np.ascontiguousarray(predicted), height, width)
    if not np.isfinite(predicted).all():
        raise RuntimeError(f"plugin {info.name!r} returned NaN or infinite values")
    return predicted
