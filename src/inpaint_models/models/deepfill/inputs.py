"""Report 004's network-input variants for DeepFill.

* ``hole``: the hole is blank (0 in [-1, 1], i.e. mid-grey) — plain inpainting.
* ``mosaic``: the hole shows a down/up-sampled (bilinear, unit ``mosaic_unit``
  px, report 004: 12) copy of the *original*. The network sees a blurred
  version of the truth, so this is a **deblurring task, not inpainting**;
  report 004 says so itself, and its scores are not comparable with the others.
* ``hole_ns``: the hole is pre-filled by OpenCV's Navier–Stokes inpainting,
  and the network refines that fill.
* ``hole_smooth``: the same idea with :func:`..prefill.smooth_fill` (a push-pull
  pyramid fill computed on the tensors, on any device, at no cost in training).

The mask channel given to the generator is the hole in every variant.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from inpaint_models.contract.errors import OptionError, ShapeMismatchError
from inpaint_models.models.opencv_inpaint import opencv_inpaint
from inpaint_models.models.prefill import smooth_fill

Variant = Literal["hole", "mosaic", "hole_ns", "hole_smooth"]
VARIANTS: tuple[str, ...] = ("hole", "mosaic", "hole_ns", "hole_smooth")
#: what each variant asks of the network (for labels in results tables)
TASKS: dict[str, str] = {
    "hole": "inpainting",
    "mosaic": "deblurring (the hole holds a low-resolution copy of the original)",
    "hole_ns": "inpainting (refining a Navier-Stokes pre-fill)",
    "hole_smooth": "inpainting (refining a smooth pyramid pre-fill)",
}


def mosaic(image: Tensor, unit: int = 12) -> Tensor:
    """Down/up-sampled copy of image (B, C, H, W): bilinear (antialiased) down by
    ``unit``, bilinear back up to (H, W)."""
    if unit < 1:
        raise OptionError(f"mosaic unit must be >= 1, got {unit}")
    h, w = image.shape[-2:]
    small = F.interpolate(
        image,
        size=(max(1, round(h / unit)), max(1, round(w / unit))),
        mode="bilinear",
        antialias=True,
        align_corners=False,
    )
    return F.interpolate(small, size=(h, w), mode="bilinear", align_corners=False)


def navier_stokes_fill(image: Tensor, mask: Tensor, radius: int = 3) -> Tensor:
    """Fill the hole of image (B, C, H, W) in [0, 1] with OpenCV's Navier-Stokes inpainting, on float
    planes (no 8-bit quantisation: :func:`..opencv_inpaint.opencv_inpaint`); runs on the CPU."""
    planes = image.detach().to("cpu", torch.float32).numpy().transpose(0, 2, 3, 1)  # (B, H, W, C)
    holes = (mask.detach().to("cpu")[:, 0] > 0).numpy()
    out = np.stack([opencv_inpaint(planes[b], holes[b], int(radius), "ns") for b in range(planes.shape[0])])
    out = torch.from_numpy(np.ascontiguousarray(out.transpose(0, 3, 1, 2)))
    return out.to(image.device, image.dtype).clamp(0.0, 1.0)


def network_input(
    image: Tensor, mask: Tensor, variant: Variant = "hole", mosaic_unit: int = 12, ns_radius: int = 3
) -> Tensor:
    """The generator's image input for one of report 004's variants.

    Args:
        image: (B, C, H, W) in [0, 1], the full image (hole values are only
            used by ``mosaic``).
        mask: (B, 1, H, W), 1 = hole.
        variant: ``"hole"``, ``"mosaic"`` or ``"hole_ns"`` (see the module docs).
        mosaic_unit: mosaic cell size in pixels.
        ns_radius: Navier–Stokes neighbourhood radius.

    Returns:
        (B, C, H, W) in [-1, 1]; known pixels are ``2 * image - 1``.
    """
    if variant not in VARIANTS:
        raise OptionError(f"unknown input variant {variant!r}; choose one of {VARIANTS}")
    if image.ndim != 4 or mask.shape != (image.shape[0], 1, *image.shape[-2:]):
        raise ShapeMismatchError(
            f"expected image (B, C, H, W) and mask (B, 1, H, W), got {tuple(image.shape)} and {tuple(mask.shape)}"
        )
    hole = mask.to(image.dtype)
    if variant == "hole":
        filled = image * (1 - hole)
        return (filled * 2 - 1) * (1 - hole)  # hole = 0 in [-1, 1]
    if variant == "mosaic":
        filled = image * (1 - hole) + mosaic(image, mosaic_unit) * hole
    elif variant == "hole_smooth":
        filled = smooth_fill(image, hole)
    else:
        filled = navier_stokes_fill(image, mask, ns_radius)
    return filled * 2 - 1
