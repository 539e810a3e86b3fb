"""``navier-stokes``: OpenCV's fluid-dynamics fill (Bertalmio et al. 2001), report 004's baseline."""

from __future__ import annotations

import numpy as np

from ...datatypes import FillContext, ModelInfo
from ...hookspecs import hookimpl
from ..opencv_inpaint import RadiusOptions, opencv_inpaint


@hookimpl
def model_info() -> ModelInfo:
    """Describe the Navier-Stokes fill."""
    return ModelInfo(
        name="navier-stokes",
        title="Navier-Stokes",
        description="Classical fill propagating isophotes into the hole as an incompressible flow",
        source="Bertalmio, Bertozzi, Sapiro 2001, 'Navier-Stokes, fluid dynamics, and image and video inpainting' (report 004)",
        trainable=False,
        options=RadiusOptions,
        channels=None,
        min_size=3,
        crop_margin=16,
    )


@hookimpl
def fill(image: np.ndarray, mask: np.ndarray, options: RadiusOptions, context: FillContext) -> np.ndarray:
    """float32 (H, W, C) in [0, 1] and bool (H, W) hole mask -> float32 (H, W, C)."""
    return opencv_inpaint(image, mask, options.radius, "ns", context.source_dtype)
