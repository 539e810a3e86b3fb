"""Network building blocks shared by several model plugins."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from inpaint_models.contract.errors import OptionError, ShapeMismatchError
from inpaint_models.models.widths import WIDTH_PRESETS  # noqa: F401 (re-exported)


class SelfAttention2d(nn.Module):
    """SAGAN self-attention (Zhang et al. 2019), report 000's attention layer.

    1x1 convolutions give queries and keys (C/8 channels) and values (C);
    attention is a softmax over all positions; the output is
    ``x + gamma * attention(x)`` with ``gamma`` initialised to 0, so a fresh
    block is the identity and the network learns how much to use it.

    Shapes: (B, C, H, W) -> (B, C, H, W).
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        inner = max(1, channels // 8)
        self.query = nn.Conv2d(channels, inner, 1)
        self.key = nn.Conv2d(channels, inner, 1)
        self.value = nn.Conv2d(channels, channels, 1)
        self.gamma = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, channels, height, width = x.shape
        query = self.query(x).flatten(2).transpose(1, 2)  # (B, N, C/8)
        key = self.key(x).flatten(2)  # (B, C/8, N)
        attention = torch.softmax(torch.bmm(query, key), dim=-1)  # (B, N, N), rows sum to 1
        value = self.value(x).flatten(2)  # (B, C, N)
        out = torch.bmm(value, attention.transpose(1, 2)).view(batch, channels, height, width)
        return x + self.gamma * out


def dcgan_init(module: nn.Module) -> None:
    """DCGAN initialisation (Pathak et al.): conv weights N(0, 0.02), BatchNorm N(1, 0.02), biases 0.

    Apply with ``network.apply(dcgan_init)``; attention ``gamma`` stays 0.
    """
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
        nn.init.normal_(module.weight, 0.0, 0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, (nn.BatchNorm2d, nn.BatchNorm1d)):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)




def resolve_width(width: float | str) -> float:
    """A width multiplier from a number or a :data:`WIDTH_PRESETS` name.

    Raises:
        OptionError: an unknown preset name or a non-positive number.
    """
    if isinstance(width, str):
        if width not in WIDTH_PRESETS:
            raise OptionError(f"unknown width preset {width!r}; choose one of {sorted(WIDTH_PRESETS)} or a number")
        return WIDTH_PRESETS[width]
    width = float(width)
    if not width > 0:
        raise OptionError(f"width must be positive, got {width}")
    return width


# --------------------------------------------------------------------------- local discriminator patches
def local_patch_size(image_size: int, local_size: int | None = None) -> int:
    """Side of the local discriminator's / critic's patch: ``local_size``, or half the image (128 at 256).

    Raises:
        OptionError: a patch outside ``[1, image_size]``.
    """
    size = int(image_size) // 2 if local_size is None else int(local_size)
    if not 1 <= size <= int(image_size):
        raise OptionError(f"local_size must be in [1, {int(image_size)}], got {size}")
    return size


def hole_centred_boxes(mask: torch.Tensor, size: int) -> list[tuple[int, int]]:
    """Top-left corners of ``size`` x ``size`` windows centred on each sample's hole.

    The window is centred on the bounding box of the hole pixels of ``mask``
    (B, 1, H, W) and shifted to lie inside the image; a sample without hole
    gets the centre window.
    """
    h, w = mask.shape[-2:]
    if size > min(h, w):
        raise ShapeMismatchError(f"local patch size {size} does not fit in a {h}x{w} image")
    boxes = []
    for m in mask[:, 0] > 0:
        rows = torch.nonzero(m.any(dim=1)).flatten()
        cols = torch.nonzero(m.any(dim=0)).flatten()
        if rows.numel():
            cy = (int(rows[0]) + int(rows[-1]) + 1) // 2
            cx = (int(cols[0]) + int(cols[-1]) + 1) // 2
        else:
            cy, cx = h // 2, w // 2
        top = min(max(cy - size // 2, 0), h - size)
        left = min(max(cx - size // 2, 0), w - size)
        boxes.append((top, left))
    return boxes


def crop_boxes(x: torch.Tensor, boxes: Sequence[tuple[int, int]], size: int) -> torch.Tensor:
    """Stack the ``size`` x ``size`` crops of x (B, C, H, W) at ``boxes`` -> (B, C, size, size)."""
    return torch.stack([x[i, :, t : t + size, l : l + size] for i, (t, l) in enumerate(boxes)])
