"""Exponential moving average of network weights (for diffusion, GAN generators...)."""

from __future__ import annotations

import contextlib
from typing import Iterator, Mapping

import torch
from torch import nn


class EMA:
    """Shadow copies of some networks' state, averaged after every step.

    The effective decay warms up as ``min(decay, (1 + n) / (10 + n))`` after
    ``n`` updates, so early averages are not dominated by the random init.
    Integer buffers (BatchNorm's counters) are copied, not averaged.
    """

    def __init__(self, networks: Mapping[str, nn.Module], decay: float) -> None:
        self.networks = dict(networks)
        self.decay = float(decay)
        self.updates = 0
        self.shadow: dict[str, dict[str, torch.Tensor]] = {
            name: {key: value.detach().clone() for key, value in network.state_dict().items()}
            for name, network in self.networks.items()
        }

    @torch.no_grad()
    def update(self) -> None:
        """Blend the current weights into the average."""
        self.updates += 1
        decay = min(self.decay, (1.0 + self.updates) / (10.0 + self.updates))
        for name, network in self.networks.items():
            shadow = self.shadow[name]
            for key, value in network.state_dict().items():
                if value.dtype.is_floating_point:
                    shadow[key].lerp_(value.detach(), 1.0 - decay)
                else:
                    shadow[key].copy_(value)

    def tensors(self) -> dict[str, torch.Tensor]:
        """The averages as ``"<network>.<key>"`` (the checkpoint adds the ``ema.`` prefix)."""
        return {f"{name}.{key}": value for name, state in self.shadow.items() for key, value in state.items()}

    @torch.no_grad()
    def load(self, tensors: Mapping[str, torch.Tensor], updates: int) -> None:
        """Restore averages saved by :meth:`tensors` (keys without the ``ema.`` prefix)."""
        for name, state in self.shadow.items():
            for key, value in state.items():
                saved = tensors.get(f"{name}.{key}")
                if saved is not None and saved.shape == value.shape:
                    value.copy_(saved)
        self.updates = int(updates)

    @contextlib.contextmanager
    def applied(self) -> Iterator[None]:
        """Temporarily load the averages into the networks (for validation and previews)."""
        backup = {name: {key: value.detach().clone() for key, value in network.state_dict().items()}
                  for name, network in self.networks.items()}
        try:
            for name, network in self.networks.items():
                network.load_state_dict(self.shadow[name])
            yield
        finally:
            for name, network in self.networks.items():
                network.load_state_dict(backup[name])
