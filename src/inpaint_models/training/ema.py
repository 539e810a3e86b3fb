"""Exponential moving average of network weights (for diffusion, GAN generators...).

The averaging is ``torch.optim.swa_utils.AveragedModel`` (one per network, its
buffers averaged too, e.g. BatchNorm statistics); this module adds the decay
warm-up, the checkpoint's tensor names and a context that lends the averages
to the networks for validation and previews.
"""

from __future__ import annotations

import contextlib
from typing import Iterator, Mapping, Sequence

import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel


def warmed_up_ema(decay: float):
    """An ``AveragedModel`` ``multi_avg_fn``: EMA whose decay warms up as ``min(decay, (1 + n) / (10 + n))``.

    ``n`` counts the updates, so early averages are not dominated by the first
    steps (``get_ema_multi_avg_fn`` keeps a fixed decay). Integer buffers
    (BatchNorm's counters) are copied, not averaged.
    """

    def average(averaged: Sequence[torch.Tensor], current: Sequence[torch.Tensor], num_averaged: torch.Tensor) -> None:
        if not averaged[0].is_floating_point():
            for target, value in zip(averaged, current):
                target.copy_(value)
            return
        updates = float(num_averaged) + 1.0  # AveragedModel copies on its first update: this is update n + 1
        weight = 1.0 - min(decay, (1.0 + updates) / (10.0 + updates))
        torch._foreach_lerp_(list(averaged), list(current), weight)

    return average


class EMA:
    """Averages of some networks' weights and buffers, updated after every step.

    Saved in checkpoints as ``ema.<network>.<key>`` (the network's own state-dict
    keys), so a checkpoint loads into the plain network.
    """

    def __init__(self, networks: Mapping[str, nn.Module], decay: float) -> None:
        self.networks = dict(networks)
        self.decay = float(decay)
        self.averages = {name: AveragedModel(network, multi_avg_fn=warmed_up_ema(self.decay), use_buffers=True)
                         for name, network in self.networks.items()}
        for average in self.averages.values():
            average.requires_grad_(False)

    @property
    def updates(self) -> int:
        """How many times :meth:`update` ran (saved with the resume state)."""
        return int(next(iter(self.averages.values())).n_averaged) if self.averages else 0

    @torch.no_grad()
    def update(self) -> None:
        """Blend the current weights into the averages."""
        for name, network in self.networks.items():
            self.averages[name].update_parameters(network)

    def tensors(self) -> dict[str, torch.Tensor]:
        """The averages as ``"<network>.<key>"`` (the checkpoint adds the ``ema.`` prefix)."""
        return {f"{name}.{key}": value for name, average in self.averages.items()
                for key, value in average.module.state_dict().items()}

    @torch.no_grad()
    def load(self, tensors: Mapping[str, torch.Tensor], updates: int) -> None:
        """Restore averages saved by :meth:`tensors` (keys without the ``ema.`` prefix)."""
        for name, average in self.averages.items():
            for key, value in average.module.state_dict().items():
                saved = tensors.get(f"{name}.{key}")
                if saved is not None and saved.shape == value.shape:
                    value.copy_(saved)
            average.n_averaged.fill_(int(updates))

    @contextlib.contextmanager
    def applied(self) -> Iterator[None]:
        """Temporarily load the averages into the networks (for validation and previews)."""
        backup = {name: {key: value.detach().clone() for key, value in network.state_dict().items()}
                  for name, network in self.networks.items()}
        try:
            for name, network in self.networks.items():
                network.load_state_dict(self.averages[name].module.state_dict())
            yield
        finally:
            for name, network in self.networks.items():
                network.load_state_dict(backup[name])
