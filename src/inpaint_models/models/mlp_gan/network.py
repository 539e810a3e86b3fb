"""The fully connected networks (Goodfellow et al. 2014) of student report 002, as written.

Generator: noise (``latent_size``) -> three fully connected layers of
increasing width (``width``, 2x, 4x), each followed by LeakyReLU(0.2) and
BatchNorm, -> a fully connected layer the size of the image with tanh.
Discriminator: the image flattened -> the same layers in decreasing width
(4x, 2x, 1x ``width``) -> one output; the report's sigmoid is folded into the
loss (``BCEWithLogits`` = sigmoid + BCE, numerically safer), so ``forward``
returns the logit and :meth:`MLPDiscriminator.probability` the sigmoid.
Repair generator: the damaged image and its mask, flattened and concatenated,
-> the generator's layers -> the repaired image (tanh).
All images are in [-1, 1].
"""

from __future__ import annotations

import torch
from torch import nn


def _block(cin: int, cout: int, batch_norm: bool = True) -> list[nn.Module]:
    layers: list[nn.Module] = [nn.Linear(cin, cout), nn.LeakyReLU(0.2, inplace=True)]
    if batch_norm:
        layers.append(nn.BatchNorm1d(cout))
    return layers


class MLPGenerator(nn.Module):
    """(B, latent_size) -> (B, C, S, S) in [-1, 1]."""

    def __init__(self, latent_size: int, channels: int, size: int, width: int) -> None:
        super().__init__()
        self.shape = (channels, size, size)
        self.layers = nn.Sequential(
            *_block(latent_size, width), *_block(width, 2 * width), *_block(2 * width, 4 * width),
            nn.Linear(4 * width, channels * size * size), nn.Tanh(),
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.layers(z).view(z.shape[0], *self.shape)


class MLPDiscriminator(nn.Module):
    """(B, C, S, S) in [-1, 1] -> (B,) logits (real > 0)."""

    def __init__(self, channels: int, size: int, width: int) -> None:
        super().__init__()
        self.layers = nn.Sequential(
            *_block(channels * size * size, 4 * width, batch_norm=False), *_block(4 * width, 2 * width),
            *_block(2 * width, width), nn.Linear(width, 1),
        )

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.layers(image.flatten(1)).flatten()

    def probability(self, image: torch.Tensor) -> torch.Tensor:
        """The report's sigmoid output: probability that ``image`` is real."""
        return torch.sigmoid(self.forward(image))


class RepairGenerator(nn.Module):
    """damaged (B, C, S, S) in [-1, 1] and mask (B, 1, S, S) -> repaired (B, C, S, S) in [-1, 1]."""

    def __init__(self, channels: int, size: int, width: int) -> None:
        super().__init__()
        self.shape = (channels, size, size)
        self.layers = nn.Sequential(
            *_block((channels + 1) * size * size, width), *_block(width, 2 * width), *_block(2 * width, 4 * width),
            nn.Linear(4 * width, channels * size * size), nn.Tanh(),
        )

    def forward(self, damaged: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        x = torch.cat([damaged.flatten(1), mask.flatten(1)], dim=1)
        return self.layers(x).view(damaged.shape[0], *self.shape)
