"""One crop through one model: value conversion, channel adaptation, resize and pad, the plugin call.

The pipeline (:func:`inpaint_models.api.fill`) finds the hole regions and their
crop boxes; this module owns what happens to one crop between the caller's
values and the plugin's float32 [0, 1] contract, and back.
"""

from __future__ import annotations

from typing import Any, Optional

import numpy as np

from . import arrays
from .arrays import ValueRange
from .datatypes import FillContext, ModelInfo
from .errors import ShapeMismatchError
from .plugins import ModelRegistry


def fill_crop(
    registry: ModelRegistry,
    info: ModelInfo,
    options: Any,
    context: FillContext,
    crop: np.ndarray,
    crop_mask: np.ndarray,
    value_range: ValueRange,
) -> tuple[np.ndarray, Optional[int]]:
    """Fill one crop; returns values in the caller's dtype and how many leading channels to write (None = all)."""
    unit = value_range.to_unit(crop)
    unit[crop_mask] = 0.0  # hole pixels carry no information (and may be NaN)
    count = unit.shape[-1]
    accepted = info.channels
    written: Optional[int] = None
    if accepted is None or count in accepted:
        predicted = call_model(registry, info, options, context, unit, crop_mask)
    elif count == 4 and 3 in accepted:
        predicted = call_model(registry, info, options, context, np.ascontiguousarray(unit[..., :3]), crop_mask)
        written = 3  # RGBA: alpha is never inpainted by a colour model
    elif 1 in accepted:
        predicted = np.concatenate(
            [call_model(registry, info, options, context, unit[..., c : c + 1].copy(), crop_mask) for c in range(count)],
            axis=-1,
        )
    elif 3 in accepted:
        predicted = np.concatenate(
            [
                call_model(registry, info, options, context, np.repeat(unit[..., c : c + 1], 3, axis=-1), crop_mask).mean(
                    axis=-1, keepdims=True
                )
                for c in range(count)
            ],
            axis=-1,
        )
    else:
        raise ShapeMismatchError(
            f"model {info.name!r} accepts images with {', '.join(map(str, accepted))} channel(s); this image has {count}"
        )
    return value_range.from_unit(predicted), written


def call_model(
    registry: ModelRegistry, info: ModelInfo, options: Any, context: FillContext, unit: np.ndarray, mask: np.ndarray
) -> np.ndarray:
    """Resize / pad a float32 (h, w, c) crop as the model needs, call it, undo the resize / pad."""
    height, width, channels = unit.shape
    model_image, model_mask = unit, mask
    if info.native_size is not None and (height, width) != (info.native_size, info.native_size):
        model_image = arrays.resize_plane(unit, info.native_size, info.native_size)
        model_mask = arrays.resize_mask(mask, info.native_size, info.native_size)
        model_image[model_mask] = 0.0
    padded_h, padded_w = model_image.shape[:2]
    multiple = max(1, info.size_multiple)
    pad_h, pad_w = (-padded_h) % multiple, (-padded_w) % multiple
    if pad_h or pad_w:
        model_image = np.pad(model_image, ((0, pad_h), (0, pad_w), (0, 0)), mode="symmetric")
        model_mask = np.pad(model_mask, ((0, pad_h), (0, pad_w)), mode="symmetric")
    predicted = registry.call_fill(
        info.name, np.ascontiguousarray(model_image, dtype=np.float32), np.ascontiguousarray(model_mask), options, context
    )
    predicted = np.asarray(predicted, dtype=np.float32)
    expected = model_image.shape
    if predicted.shape != expected:
        raise RuntimeError(
            f"plugin {info.name!r} returned shape {predicted.shape} for an input of shape {expected}"
        )
    predicted = predicted[: predicted.shape[0] - pad_h, : predicted.shape[1] - pad_w]
    if predicted.shape[:2] != (height, width):
        predicted = arrays.resize_plane(np.ascontiguousarray(predicted), height, width)
    if not np.isfinite(predicted).all():
        raise RuntimeError(f"plugin {info.name!r} returned NaN or infinite values")
    return predicted
