"""Encoder-decoder CNN (Pathak et al. 2016 without the GAN term; student reports 000 CNN-RG / CNN-ARG, 004).

Encoder: ``depth`` levels, each two 3x3 conv + BatchNorm + ReLU blocks, the
second with stride 2 (004: 8 conv blocks and 4 poolings for depth 4), halving
the resolution and doubling the channels (capped at ``8 * width``). Optional
SAGAN self-attention at the bottleneck (000's CNN-ARG). Decoder: ``depth``
4x4 stride-2 transposed convolutions + BatchNorm + ReLU (004's 4 transposed-
conv blocks), then a 3x3 conv to the image channels and a sigmoid (or tanh
rescaled to [0, 1]; or nothing, ``output="raw"``, for a residual over a pre-fill).
"""

from __future__ import annotations

import torch
from torch import nn

from inpaint_models.models.layers import SelfAttention2d


def _conv(cin: int, cout: int, stride: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class Autoencoder(nn.Module):
    """(B, C [+1 mask], H, W) -> (B, C, H, W) in [0, 1]; H and W multiples of 2**depth."""

    def __init__(self, channels: int = 3, depth: int = 4, width: int = 32, attention: bool = False,
                 mask_input: bool = True, output: str = "sigmoid") -> None:
        super().__init__()
        self.mask_input = mask_input
        self.output = output
        widths = [min(width * 2**level, width * 8) for level in range(depth + 1)]
        layers: list[nn.Module] = []
        cin = channels + (1 if mask_input else 0)
        for level in range(depth):
            layers += [_conv(cin, widths[level], 1), _conv(widths[level], widths[level + 1], 2)]
            cin = widths[level + 1]
        self.encoder = nn.Sequential(*layers)  # (B, widths[depth], H / 2**depth, W / 2**depth)
        self.attention = SelfAttention2d(cin) if attention else nn.Identity()
        decoder: list[nn.Module] = []
        for level in reversed(range(depth)):
            decoder += [nn.ConvTranspose2d(cin, widths[level], 4, 2, 1, bias=False), nn.BatchNorm2d(widths[level]),
                        nn.ReLU(inplace=True)]
            cin = widths[level]
        self.decoder = nn.Sequential(*decoder)  # (B, width, H, W)
        self.head = nn.Conv2d(cin, channels, 3, 1, 1)

    def forward(self, masked: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """masked: (B, C, H, W) in [0, 1] with the hole at 0; mask: (B, 1, H, W), 1 = hole."""
        x = torch.cat([masked, mask], dim=1) if self.mask_input else masked
        x = self.decoder(self.attention(self.encoder(x)))
        x = self.head(x)
        if self.output == "tanh":
            return (torch.tanh(x) + 1.0) * 0.5
        if self.output == "raw":  # a correction added to a pre-fill (residual = true)
            return x
        return torch.sigmoid(x)
