"""A fast, batched classical fill that trained models can start from (``residual = true``).

``smooth_fill`` is a push-pull (pyramid) interpolation: the known pixels are
averaged down a 2x pyramid until every cell holds some known pixel, then the
pyramid is walked back up, each level keeping its own (partly) known values
and taking the rest from the bilinearly upsampled coarser level. The result
is a smooth membrane-like fill of the hole, close to the classical fills in
error, computed in a few tensor operations on any device (no per-image
OpenCV call, so it costs nothing in training). Each sample of a batch is
filled as it would be alone.

Models with ``residual = true`` feed the network the image with its hole
pre-filled this way and add the network's output to the pre-fill, with the
last layer initialised to zero: an untrained network returns the smooth fill,
and training only has to learn the correction (texture, edges) on top of it.
This is the idea of report 004's ``hole_ns`` variant (a Navier-Stokes
pre-fill refined by the network) made cheap enough to use in every step.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def smooth_fill(image: Tensor, mask: Tensor) -> Tensor:
    """Fill the hole of ``image`` by push-pull pyramid interpolation of the known pixels.

    Args:
        image: (B, C, H, W) float tensor, or (B, C, D, H, W) for volumes; the
            values under the hole are ignored.
        mask: (B, 1, H, W) or (B, 1, D, H, W) float or bool, 1 (True) = hole.

    Returns:
        The image's shape, dtype and device: known pixels unchanged, hole
        pixels interpolated (within the range of the known values). An image
        with no known pixel at all is returned as zeros.
    """
    if image.ndim not in (4, 5) or mask.ndim != image.ndim or mask.shape[1] != 1:
        raise ValueError(f"expected image (B, C, H, W) and mask (B, 1, H, W), or (B, C, D, H, W) and "
                         f"(B, 1, D, H, W), got {tuple(image.shape)}, {tuple(mask.shape)}")
    pool, mode = (F.avg_pool3d, "trilinear") if image.ndim == 5 else (F.avg_pool2d, "bilinear")
    dtype = image.dtype
    work = image.float()
    weight = 1.0 - mask.to(work.dtype)
    per_sample = (-1,) + (1,) * (image.ndim - 1)
    # push: each sample's pyramid ends at the first level where every cell holds a known pixel (or at one
    # cell); a batch goes on until its last sample ends, and each sample is pulled from its own end level,
    # so a sample's fill never depends on the others in its batch (or on how a batch is split into passes)
    levels: list[tuple[Tensor, Tensor, Tensor]] = []
    value = work * weight
    ended = torch.zeros(image.shape[0], dtype=torch.bool, device=image.device)
    while True:
        sizes = value.shape[2:]
        ends_here = ~ended & ((weight > 0).flatten(1).all(dim=1) | (max(sizes) <= 1))
        levels.append((value, weight, ends_here))
        ended = ended | ends_here
        if bool(ended.all()):
            break
        # weighted average over 2x2(x2) cells (ceil mode keeps odd edges); an axis already
        # 1 long (the few planes of a volume crop) stays so while the others shrink
        kernel = tuple(2 if n > 1 else 1 for n in sizes)
        value = pool(value, kernel, ceil_mode=True)
        weight = pool(weight, kernel, ceil_mode=True)
    # pull: a sample's end level is its cells' normalised averages; above it, each level keeps its own
    # (partly) known values and takes the rest from the upsampled coarser level
    filled = None
    for value, weight, ends_here in reversed(levels):
        known = value / weight.clamp_min(1e-8)
        normalised = known * (weight > 0)
        if filled is None:
            filled = normalised
            continue
        up = F.interpolate(filled, size=value.shape[2:], mode=mode, align_corners=False)
        alpha = weight.clamp(0.0, 1.0)
        filled = torch.where(ends_here.view(per_sample), normalised, alpha * known + (1.0 - alpha) * up)
    hole = mask.to(work.dtype)
    return (work * (1.0 - hole) + filled * hole).to(dtype)


class ResidualOverFill(nn.Module):
    """Wraps ``net(filled, mask)`` as ``smooth_fill + net(filled, mask)`` (see module docs).

    ``net`` must return a raw (unbounded) (B, C, H, W) correction; its last
    layer should be zero-initialised (:func:`zero_init`) so that an untrained
    model already returns the smooth fill.
    """

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, image: Tensor, mask: Tensor) -> Tensor:
        """image (B, C, H, W) in [0, 1] (hole values ignored), mask (B, 1, H, W) 1 = hole -> (B, C, H, W)."""
        base = smooth_fill(image, mask)
        return base + self.net(base, mask)


def zero_init(layer: nn.Module) -> nn.Module:
    """Set a conv/linear layer's weight and bias to zero (the residual branch starts silent); returns it."""
    with torch.no_grad():
        for name in ("weight", "bias"):
            p = getattr(layer, name, None)
            if p is not None:
                p.zero_()
    return layer
