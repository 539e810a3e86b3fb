"""``telea``: OpenCV's fast-marching fill (Telea 2004), report 004's baseline."""

from __future__ import annotations

import numpy as np

from ...datatypes import FillContext, ModelInfo
from ...hookspecs import hookimpl
from ..opencv_inpaint import RadiusOptions, opencv_inpaint


@hookimpl
def model_info() -> ModelInfo:
    """Describe the Telea fill."""
    return ModelInfo(
        name="telea",
        title="Telea (fast marching)",
        description="Classical fill marching inward from the hole border, weighting nearby known pixels",
        source="Telea 2004, 'An image inpainting technique based on the fast marching method' (report 004)",
        trainable=False,
        options=RadiusOptions,
        channels=None,
        min_size=3,
        crop_margin=16,
    )


@hookimpl
def fill(image: np.ndarray, mask: np.ndarray, options: RadiusOptions, context: FillContext) -> np.ndarray:
    """float32 (H, W, C) in [0, 1] and bool (H, W) hole mask -> float32 (H, W, C)."""
    return opencv_inpaint(image, mask, options.radius, "telea", context.source_dtype)
