"""``biharmonic``: scikit-image's biharmonic-equation fill, solved per hole region.

scikit-image's solver is n-dimensional, so the model also fills volumes: a stack
filled with ``volume_axis`` gets (D, H, W, C) crops and solves the biharmonic
equation in 3D, taking the neighbouring planes as boundary too.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from inpaint_models.contract.datatypes import ModelInfo
from inpaint_models.contract.hookspecs import hookimpl


@dataclass(frozen=True)
class BiharmonicOptions:
    """Options of the biharmonic fill.

    Attributes:
        split_into_regions: solve each connected hole separately (much faster
            when one crop holds several holes).
    """

    split_into_regions: bool = True


@hookimpl
def model_info() -> ModelInfo:
    """Describe the biharmonic fill."""
    return ModelInfo(
        name="biharmonic",
        title="Biharmonic",
        description="Smooth classical fill solving the biharmonic equation with the known pixels as boundary",
        source="Damelin & Hoang 2018, 'On surface completion and image inpainting by biharmonic functions' (scikit-image)",
        trainable=False,
        options=BiharmonicOptions,
        channels=None,
        min_size=3,
        crop_margin=8,
        spatial_dims=(2, 3),
    )


@hookimpl
def fill(image: np.ndarray, mask: np.ndarray, options: BiharmonicOptions) -> np.ndarray:
    """float32 (H, W, C) or (D, H, W, C) in [0, 1] and bool (H, W) or (D, H, W) hole mask (True = fill)
    -> float32 of the image's shape."""
    from skimage.restoration import inpaint_biharmonic  # imported on the first fill, not when models are listed

    filled = inpaint_biharmonic(image, mask, split_into_regions=options.split_into_regions, channel_axis=-1)
    return np.asarray(filled, dtype=np.float32)
