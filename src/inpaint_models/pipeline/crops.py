"""One crop through one model: value conversion, channel adaptation, resize and pad, the plugin call, the composite.

The pipeline finds the hole regions and their crop boxes
(:mod:`inpaint_models.pipeline.regions`, :mod:`inpaint_models.pipeline.chunked`);
this module owns what happens to one crop, a plane (h, w, C) or a volume
(d, h, w, C), between the caller's values and the plugin's float32 [0, 1]
contract, and back. Crops are fitted to the geometry of the weights in use
(:mod:`inpaint_models.pipeline.geometry`: channel count, native size, size
multiple), so a plugin receives crops that already fit.
"""

from __future__ import annotations

from typing import Callable, Optional

import numpy as np

from inpaint_models.contract.errors import ShapeMismatchError
from inpaint_models.contract.values import ValueRange
from inpaint_models.contract.values import value_range as measure_value_range
from inpaint_models.pipeline.geometry import model_input_shape
from inpaint_models.pipeline.layout import resize_mask, resize_plane
from inpaint_models.pipeline.plan import FillPlan

#: calls the plugin on one converted crop: (plan, float32 unit crop (..., c), bool mask) -> float32 of its shape
ModelCall = Callable[[FillPlan, np.ndarray, np.ndarray], np.ndarray]


def sent_shape(plan: FillPlan, crop_shape: tuple[int, ...]) -> tuple[int, ...]:
    """The spatial shape a crop of ``crop_shape`` ((h, w, C) or (d, h, w, C)) reaches the plugin at.

    What :func:`fill_region` sends: a one-plane volume box goes as a plane;
    planes are resized and padded, volumes padded, to the weights' geometry
    (:func:`~inpaint_models.pipeline.geometry.model_input_shape`). Needs the plan's context.
    """
    spatial = tuple(crop_shape[:-1])
    if len(spatial) == 3 and spatial[0] == 1:
        spatial = spatial[1:]
    return model_input_shape(plan.geometry, spatial)


def fill_region(
    plan: FillPlan, crop: np.ndarray, crop_mask: np.ndarray, target: np.ndarray,
    value_range: Optional[ValueRange] = None,
) -> None:
    """Fill one hole region and composite it into ``target``: the one step shared by in-memory and dask fills.

    Args:
        plan: the fill's plan, with its context (:meth:`~inpaint_models.pipeline.plan.FillPlan.with_context`).
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
        filled, channels = fill_crop(plan, crop, crop_mask, value_range)
    elif crop.shape[0] == 1:
        filled, channels = fill_crop(plan, crop[0], crop_mask[0], value_range)
        filled = filled[np.newaxis]
    else:
        filled, channels = fill_crop(plan, crop, crop_mask, value_range, call_volume_model)
    composite(target, crop_mask, filled, channels, value_range)


def fill_crop(
    plan: FillPlan, crop: np.ndarray, crop_mask: np.ndarray, value_range: ValueRange,
    model_call: Optional[ModelCall] = None,
) -> tuple[np.ndarray, Optional[int]]:
    """Fill one crop; returns the model's float32 [0, 1] fill and how many leading channels to write (None = all).

    Args:
        plan: the fill's plan, with its context.
        crop: (h, w, C), or (d, h, w, C) with ``model_call`` :func:`call_volume_model`, in the
            caller's dtype and range; ``crop_mask`` bool (h, w) / (d, h, w), True = fill.
        value_range: the caller's values <-> float32 [0, 1] (:func:`inpaint_models.contract.values.value_range`).
        model_call: calls the plugin on one converted crop (default :func:`call_model`, for (h, w, c)
            crops; :func:`call_volume_model` for (d, h, w, c) ones), so planes and volumes share this
            conversion and channel adaptation.

    The crop's channels are adapted to those the weights accept (the plan's
    geometry): 4 channels are RGBA, whose alpha no model fills (the model gets
    RGB -- all four only when it accepts 4 channels and not 3 -- and alpha keeps
    the caller's values); counts the weights do not accept go channel by channel
    (grey through a colour model as R = G = B).
    """
    call = model_call or call_model
    unit = value_range.to_unit(crop)
    unit[crop_mask] = 0.0  # hole pixels carry no information (and may be NaN)
    accepted = plan.geometry.channels
    written: Optional[int] = None
    if unit.shape[-1] == 4:
        written = 3  # RGBA: alpha is never inpainted, by any model or channel split; it keeps the caller's values
        if accepted is None or 4 not in accepted or 3 in accepted:
            unit = np.ascontiguousarray(unit[..., :3])
    predicted = _adapt_channels(plan, unit, crop_mask, call)
    return predicted, written


def _adapt_channels(plan: FillPlan, unit: np.ndarray, crop_mask: np.ndarray, call: ModelCall) -> np.ndarray:
    """Call the model on a float32 unit crop (..., c) with the channel counts its weights accept.

    Counts it accepts go whole; otherwise channel by channel, through a 1-channel
    model as is, through a 3-channel one as R = G = B (averaged back). Returns float32 (..., c).
    """
    count = unit.shape[-1]
    accepted = plan.geometry.channels
    if accepted is None or count in accepted:
        return call(plan, unit, crop_mask)
    if 1 in accepted:
        return np.concatenate([call(plan, unit[..., c : c + 1].copy(), crop_mask) for c in range(count)], axis=-1)
    if 3 in accepted:
        return np.concatenate(
            [
                call(plan, np.repeat(unit[..., c : c + 1], 3, axis=-1), crop_mask).mean(axis=-1, keepdims=True)
                for c in range(count)
            ],
            axis=-1,
        )
    raise ShapeMismatchError(
        f"model {plan.info.name!r} accepts images with {', '.join(map(str, accepted))} channel(s); "
        f"this image has {count}"
    )


def pad_to(image: np.ndarray, mask: np.ndarray, shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Pad ``image`` (..., c) and ``mask`` (...) at the end of each spatial axis (mirrored) to spatial ``shape``.

    Works for planes ((h, w, c), (h, w)) and volumes ((d, h, w, c), (d, h, w));
    crop a result with ``[: d, : h, : w]`` to undo it.
    """
    pads = [(0, int(size) - n) for size, n in zip(shape, mask.shape)]
    if any(after for _, after in pads):
        image = np.pad(image, pads + [(0, 0)], mode="symmetric")
        mask = np.pad(mask, pads, mode="symmetric")
    return image, mask


def pad_to_multiple(
    image: np.ndarray, mask: np.ndarray, multiple: int
) -> tuple[np.ndarray, np.ndarray, tuple[int, int]]:
    """Pad (h, w, c) ``image`` and (h, w) ``mask`` at the bottom and right (mirrored) to multiples of ``multiple``.

    Returns the padded image and mask and ``(pad_h, pad_w)``; crop a result with
    ``[: h, : w]`` to undo it.
    """
    multiple = max(1, int(multiple))
    height, width = mask.shape
    image, mask = pad_to(image, mask, (height + (-height) % multiple, width + (-width) % multiple))
    return image, mask, (mask.shape[0] - height, mask.shape[1] - width)


def _call_padded(plan: FillPlan, unit: np.ndarray, mask: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Pad a float32 unit crop (..., c) to spatial ``shape``, call the plugin, undo the padding.

    The registry holds the plugin's answer to the contract (float32 of the padded
    shape, finite, in [0, 1]; else a :class:`~inpaint_models.contract.errors.PluginError`)
    and gives the plugin a copy of the mask. ``unit`` must be a buffer made for this
    call (every caller here passes a fresh conversion, slice copy or resize): the plugin
    may change it, and nothing reads it afterwards. Pixels outside the hole never come
    from the plugin at all (:func:`composite` writes under the pipeline's own mask only).
    """
    padded, padded_mask = pad_to(unit, mask, shape)
    predicted = plan.registry.call_fill(
        plan.info.name, np.ascontiguousarray(padded, dtype=np.float32), np.ascontiguousarray(padded_mask),
        plan.options, plan.context,
    )
    return predicted[tuple(slice(0, n) for n in mask.shape)]


def call_model(plan: FillPlan, unit: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Resize / pad a float32 (h, w, c) crop in [0, 1] to the weights' geometry, call the plugin, undo both.

    ``mask`` is bool (h, w), True = fill; the shape sent is
    :func:`~inpaint_models.pipeline.geometry.model_input_shape`'s. Returns float32 (h, w, c) in [0, 1].
    """
    geometry = plan.geometry
    height, width = mask.shape
    model_image, model_mask = unit, mask
    native = geometry.native_size
    if native is not None and (height, width) != (native, native):
        model_image = resize_plane(unit, native, native)
        model_mask = resize_mask(mask, native, native)
        model_image[model_mask] = 0.0
    predicted = _call_padded(plan, model_image, model_mask, model_input_shape(geometry, (height, width)))
    if predicted.shape[:2] != (height, width):
        predicted = resize_plane(np.ascontiguousarray(predicted), height, width)
    return predicted


def call_volume_model(plan: FillPlan, unit: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Pad a float32 (d, h, w, c) crop in [0, 1] to the weights' geometry, call the plugin, undo the padding.

    ``mask`` is bool (d, h, w), True = fill; the three axes are padded (mirrored) to
    the size multiple of the weights in use (a stack-unet's ``2 ** (levels - 1)``),
    :func:`~inpaint_models.pipeline.geometry.model_input_shape`. Returns float32 (d, h, w, c) in [0, 1].
    """
    return _call_padded(plan, unit, mask, model_input_shape(plan.geometry, mask.shape))


def composite(target: np.ndarray, crop_mask: np.ndarray, filled: np.ndarray, channels: Optional[int],
              value_range: ValueRange) -> None:
    """Write a filled crop into ``target`` (a view of the output) under ``crop_mask`` (bool, True = filled).

    ``filled`` is the model's float32 [0, 1] fill of the crop; only its pixels
    under the mask are converted to the caller's dtype and range (a whole
    (16, 2048, 2048) crop converted back would cost two more crop-sized
    arrays). Channels the model did not fill (alpha through a colour model) keep the
    caller's values, except non-finite ones under the hole (NaN alpha in a
    float RGBA image), which take the nearest known pixel's value: a filled
    image never holds NaN.
    """
    values = value_range.from_unit(filled[crop_mask])  # (holes, c) in the caller's dtype
    if channels is None:
        target[crop_mask] = values
        return
    target[crop_mask, :channels] = values[:, :channels]
    rest = target[..., channels:]
    if rest.dtype.kind != "f":
        return
    bad = ~np.isfinite(rest) & crop_mask[..., np.newaxis]
    if bad.any():
        from scipy import ndimage

        nearest = ndimage.distance_transform_edt(crop_mask, return_distances=False, return_indices=True)
        rest[bad] = rest[tuple(nearest)][bad]
