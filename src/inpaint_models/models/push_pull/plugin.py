"""``push-pull``: a fast smooth classical fill by pyramid interpolation (``models/prefill.py``).

The known pixels are averaged down a 2x pyramid until every cell holds some
known pixel, then the pyramid is walked back up, filling the hole from the
coarser levels (bilinear). It is the pre-fill that the trainable models with
``residual = true`` correct, offered on its own: on the held-out photographs
(docs/results.md) it is as good as Telea and the biharmonic fill in PSNR and
runs in a few milliseconds. It also fills volumes: on (D, H, W, C) crops the
pyramid is 3D (2x2x2 cells; an axis that reaches one cell stops shrinking).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from inpaint_models.contract.datatypes import ModelInfo
from inpaint_models.contract.hookspecs import hookimpl


@dataclass(frozen=True)
class PushPullOptions:
    """The push-pull fill has no options."""


@hookimpl
def model_info() -> ModelInfo:
    """Describe the push-pull fill."""
    return ModelInfo(
        name="push-pull",
        title="Push-pull pyramid fill (Gortler et al. 1996)",
        description="Fast smooth classical fill: the known pixels are pushed down an image pyramid and pulled back "
                    "up into the hole",
        source="Gortler, Grzeszczuk, Szeliski & Cohen 1996, 'The Lumigraph' (SIGGRAPH), its push-pull "
               "interpolation; the pre-fill of the residual models",
        trainable=False,
        requires=("torch",),
        options=PushPullOptions,
        channels=None,
        min_size=2,
        crop_margin=128,
        spatial_dims=(2, 3),
    )


@hookimpl
def fill(image: np.ndarray, mask: np.ndarray, options: PushPullOptions) -> np.ndarray:
    """float32 (H, W, C) or (D, H, W, C) in [0, 1] and bool (H, W) or (D, H, W) hole mask (True = fill)
    -> float32 of the image's shape, in [0, 1]."""
    import torch

    from inpaint_models.models.prefill import smooth_fill

    channels_first = np.moveaxis(image, -1, 0)  # (C, [D,] H, W)
    planes = torch.from_numpy(np.ascontiguousarray(channels_first, dtype=np.float32))[None]
    hole = torch.from_numpy(np.ascontiguousarray(mask, dtype=np.float32))[None, None]
    with torch.inference_mode():
        filled = smooth_fill(planes, hole)[0]  # values under the hole are ignored
    return np.ascontiguousarray(np.moveaxis(filled.numpy(), 0, -1), dtype=np.float32)
