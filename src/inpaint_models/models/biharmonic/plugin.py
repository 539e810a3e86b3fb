"""``biharmonic``: scikit-image's biharmonic-equation fill, solved in time and memory that grow with the hole.

The equation and its discretisation are scikit-image's
(``skimage.restoration.inpaint_biharmonic``), n-dimensional, so the model also
fills volumes: a stack filled with ``volume_axis`` gets (D, H, W, C) crops and
solves the biharmonic equation in 3D, taking the neighbouring planes as
boundary too. The system is assembled over the hole only and solved by sparse
LU (small), conjugate gradients with a multigrid preconditioner (pyamg), or in
overlapping tiles (a lost plane, rows, columns of any length): see
:mod:`inpaint_models.models.biharmonic.blocks`. A stack's wholly lost planes
are then predicted from their neighbouring planes by a linear predictor fitted
on the stack itself (:mod:`inpaint_models.models.lost_planes`; option
``predict_lost_planes``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from inpaint_models.contract.datatypes import FillContext, ModelInfo
from inpaint_models.contract.hookspecs import hookimpl


@dataclass(frozen=True)
class BiharmonicOptions:
    """Options of the biharmonic fill.

    Attributes:
        split_into_regions: solve holes that do not couple separately, and big
            holes in bounded pieces (:mod:`inpaint_models.models.biharmonic.blocks`:
            time and memory grow with the hole). False: scikit-image's single
            sparse LU over the whole crop (the same system; only for small crops:
            a lost 1024 x 1024 plane takes 4 GB).
        predict_lost_planes: a stack's isolated wholly lost planes (a dropped
            frame between known planes) are predicted from their neighbouring
            planes by a linear predictor fitted on the stack's own known planes
            (:mod:`inpaint_models.models.lost_planes`: +0.5 to +1.5 dB
            over the biharmonic solution on real volumes); False: the
            biharmonic solution there too. Other holes are unchanged either way.
    """

    split_into_regions: bool = True
    predict_lost_planes: bool = True


@hookimpl
def model_info() -> ModelInfo:
    """Describe the biharmonic fill."""
    return ModelInfo(
        name="biharmonic",
        title="Biharmonic (Damelin & Hoang 2018)",
        description="Smooth classical fill solving the biharmonic equation with the known pixels as boundary",
        source="Damelin & Hoang 2018, 'On surface completion and image inpainting by biharmonic functions' (scikit-image)",
        trainable=False,
        options=BiharmonicOptions,
        channels=None,
        min_size=3,
        crop_margin=8,
        spatial_dims=(2, 3),
        # the lost-plane predictor (planes.py) fits on known planes around the hole: 8 on each side reach
        # its measured gain (+1.5 dB over linear-Z on the brain volume; 3 planes gave +0.3)
        volume_margin=8,
    )


@hookimpl
def fill(image: np.ndarray, mask: np.ndarray, options: BiharmonicOptions, context: FillContext) -> np.ndarray:
    """float32 (H, W, C) or (D, H, W, C) in [0, 1] and bool (H, W) or (D, H, W) hole mask (True = fill)
    -> float32 of the image's shape. A big hole reports ``"solve"`` progress to ``context.report``."""
    if not options.split_into_regions:
        from skimage.restoration import inpaint_biharmonic  # imported on the first fill, not when models are listed

        filled = inpaint_biharmonic(np.array(image), np.array(mask), channel_axis=-1)  # copies: inputs are read-only
        return np.asarray(filled, dtype=np.float32)
    from inpaint_models.models.biharmonic.blocks import biharmonic_fill

    return biharmonic_fill(image, mask, context.report, predict_lost_planes=options.predict_lost_planes)
