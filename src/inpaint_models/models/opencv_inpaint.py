"""The one OpenCV inpainting call: the ``telea`` and ``navier-stokes`` plugins and DeepFill's ``hole_ns`` input.

OpenCV is imported on the first fill, not when the plugins are listed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Literal, Union

import numpy as np

from inpaint_models.contract.datatypes import FillContext, ModelInfo
from inpaint_models.contract.hookspecs import hookimpl

_FLOAT_SCALE = 65535.0
Method = Literal["telea", "ns"]


@dataclass(frozen=True)
class RadiusOptions:
    """Options of the OpenCV fills.

    Attributes:
        radius: neighbourhood radius in pixels considered around each filled pixel.
    """

    radius: int = 3

    def __post_init__(self) -> None:
        if self.radius < 1:
            raise ValueError(f"radius must be at least 1, got {self.radius}")


def opencv_inpaint(image: np.ndarray, mask: np.ndarray, radius: int, method: Union[Method, int],
                   source_dtype: str = "float32") -> np.ndarray:
    """Fill ``image`` with ``cv2.inpaint``, never quantising high-bit-depth data.

    Args:
        image: float32 (H, W, C) in [0, 1].
        mask: bool (H, W), True = fill.
        radius: ``inpaintRadius``.
        method: ``"telea"`` or ``"ns"`` (or ``cv2.INPAINT_TELEA`` / ``cv2.INPAINT_NS``).
        source_dtype: the caller's dtype; for ``uint8`` with 1 or 3 channels the
            exact 8-bit path of OpenCV is used (values are k/255, so lossless),
            otherwise each channel is filled as a float32 plane scaled to 0..65535.

    Returns:
        float32 (H, W, C) in [0, 1].
    """
    import cv2

    if isinstance(method, str):
        method = {"telea": cv2.INPAINT_TELEA, "ns": cv2.INPAINT_NS}[method]
    image = np.asarray(image, dtype=np.float32)
    mask_u8 = mask.view(np.uint8) if mask.dtype == np.bool_ else mask.astype(np.uint8)
    channels = image.shape[-1]
    if source_dtype == "uint8" and channels in (1, 3):
        eight_bit = np.rint(image * 255.0).astype(np.uint8)
        filled = cv2.inpaint(eight_bit, mask_u8, radius, method)
        return filled.reshape(image.shape).astype(np.float32) * np.float32(1.0 / 255.0)
    # OpenCV's Telea misbehaves on small float values (on [0, 1] data it returns
    # values far outside the range; variations of a few units are not followed),
    # so work on float32 planes scaled to 0..65535: no quantisation at all.
    scale = np.float32(_FLOAT_SCALE)
    planes = [
        cv2.inpaint(np.ascontiguousarray(image[..., c]) * scale, mask_u8, radius, method) for c in range(channels)
    ]
    return np.stack(planes, axis=-1) * np.float32(1.0 / _FLOAT_SCALE)


def opencv_hooks(name: str, title: str, description: str, source: str,
                 method: Method) -> tuple[Callable[[], ModelInfo], Callable[..., np.ndarray]]:
    """The hookimpl-marked ``model_info`` and ``fill`` of an OpenCV fill plugin (``telea``, ``navier-stokes``).

    Assign them as the plugin module's attributes: ``model_info, fill = opencv_hooks(...)``.
    """

    @hookimpl
    def model_info() -> ModelInfo:
        return ModelInfo(name=name, title=title, description=description, source=source, trainable=False,
                         options=RadiusOptions, channels=None, min_size=3, crop_margin=16)

    @hookimpl
    def fill(image: np.ndarray, mask: np.ndarray, options: RadiusOptions, context: FillContext) -> np.ndarray:
        return opencv_inpaint(image, mask, options.radius, method, context.source_dtype)

    model_info.__doc__ = f"Describe the {title} fill."
    fill.__doc__ = (f"{title}: float32 (H, W, C) in [0, 1] and bool (H, W) hole mask (True = fill) "
                    f"-> float32 (H, W, C) in [0, 1].")
    return model_info, fill
