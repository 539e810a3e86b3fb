"""Context encoder (Pathak et al. 2016), full-image variant, and its discriminator.

For the paper's 128x128 input (``width`` 64): encoder conv 4x4 s2 C->64 +
LeakyReLU(0.2) (no BatchNorm), then 4x4 s2 convs 64->64->128->256->512 with
BatchNorm + LeakyReLU down to 4x4, then a 4x4 convolution without padding to
the ``bottleneck`` (4000) x 1 x 1 code (+ BatchNorm + LeakyReLU, as the
official code). Decoder: 4x4 transposed convs 4000->512 (4x4), 256 (8), 128
(16), 64 (32), 64 (64) with BatchNorm + ReLU, and a last one to C channels at
128x128 with tanh: the whole image is predicted and the caller composites
(the official random-region model's full-image output). With ``residual``
the hole is pre-filled smoothly, the tanh is dropped and the output is the
input plus a zero-initialised correction (``models/prefill.py``). Other power-of-two
sizes >= 16 drop or keep levels accordingly.

Discriminator: 4x4 s2 convs 64-128-256-512(-512) with BatchNorm (not on the
first) + LeakyReLU(0.2) down to 4x4, then a 4x4 conv to one logit.

``attention`` adds a SAGAN block to the decoder at 1/8 of the image size
(16x16 at 128): report 000's GAN-AEDOG.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from inpaint_models.models.layers import SelfAttention2d, dcgan_init
from inpaint_models.models.prefill import zero_init


def levels(size: int) -> int:
    """Number of BatchNorm down-sampling levels between size/2 and 4 (4 at 128)."""
    return int(math.log2(size)) - 3


def check_size(size: int) -> None:
    """Raise ValueError unless ``size`` is a power of two >= 16."""
    if size < 16 or size & (size - 1):
        raise ValueError(f"the context encoder needs a power-of-two image size >= 16 (e.g. 128), got {size}")


class ContextEncoder(nn.Module):
    """(B, C, S, S) image with the hole pre-filled (in [-1, 1]) -> (B, C, S, S) in [-1, 1]."""

    def __init__(self, channels: int = 3, size: int = 128, width: int = 64, bottleneck: int = 4000,
                 attention: bool = False, residual: bool = False) -> None:
        super().__init__()
        self.residual = bool(residual)
        check_size(size)
        n = levels(size)
        widths = [min(width * 2**i, width * 8) for i in range(n)]  # 64, 128, 256, 512 at 128
        encoder: list[nn.Module] = [nn.Conv2d(channels, width, 4, 2, 1), nn.LeakyReLU(0.2, inplace=True)]
        cin = width
        for cout in widths:  # S/2 -> 4
            encoder += [nn.Conv2d(cin, cout, 4, 2, 1, bias=False), nn.BatchNorm2d(cout), nn.LeakyReLU(0.2, True)]
            cin = cout
        encoder += [nn.Conv2d(cin, bottleneck, 4, 1, 0, bias=False), nn.BatchNorm2d(bottleneck),
                    nn.LeakyReLU(0.2, True)]  # (B, bottleneck, 1, 1)
        self.encoder = nn.Sequential(*encoder)

        attention_size = max(4, size // 8)
        decoder: list[nn.Module] = [nn.ConvTranspose2d(bottleneck, cin, 4, 1, 0, bias=False), nn.BatchNorm2d(cin),
                                    nn.ReLU(True)]  # (B, 512, 4, 4)
        resolution = 4
        if attention and resolution == attention_size:
            decoder.append(SelfAttention2d(cin))
        for cout in list(reversed(widths[:-1])) + [width]:  # 4 -> S/2
            decoder += [nn.ConvTranspose2d(cin, cout, 4, 2, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(True)]
            cin = cout
            resolution *= 2
            if attention and resolution == attention_size:
                decoder.append(SelfAttention2d(cin))
        decoder += [nn.ConvTranspose2d(cin, channels, 4, 2, 1)]  # (B, C, S, S)
        if not self.residual:
            decoder.append(nn.Tanh())
        self.decoder = nn.Sequential(*decoder)
        self.apply(dcgan_init)
        if self.residual:
            zero_init(decoder[-1])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, C, S, S) in [-1, 1], hole pre-filled -> (B, C, S, S); with ``residual``, x + a correction."""
        if self.residual:
            return x + self.decoder(self.encoder(x))
        return self.decoder(self.encoder(x))


class Discriminator(nn.Module):
    """(B, C, S, S) in [-1, 1] -> (B,) logits (real > 0)."""

    def __init__(self, channels: int = 3, size: int = 128, width: int = 64) -> None:
        super().__init__()
        check_size(size)
        layers: list[nn.Module] = [nn.Conv2d(channels, width, 4, 2, 1), nn.LeakyReLU(0.2, True)]
        cin = width
        for i in range(levels(size)):  # S/2 -> 4
            cout = min(width * 2 ** (i + 1), width * 8)
            layers += [nn.Conv2d(cin, cout, 4, 2, 1, bias=False), nn.BatchNorm2d(cout), nn.LeakyReLU(0.2, True)]
            cin = cout
        layers.append(nn.Conv2d(cin, 1, 4, 1, 0))
        self.layers = nn.Sequential(*layers)
        self.apply(dcgan_init)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x).flatten()
