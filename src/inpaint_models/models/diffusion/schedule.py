"""Cosine noise schedule (Nichol & Dhariwal 2021, "Improved DDPM", eq. 17).

    alpha_bar(t) = f(t) / f(0),  f(t) = cos(((t / T) + s) / (1 + s) * pi / 2) ** 2,  s = 0.008
    beta_t = min(1 - alpha_bar(t + 1) / alpha_bar(t), 0.999)

The forward process is ``x_t = sqrt(abar_t) * x0 + sqrt(1 - abar_t) * eps``; timesteps are
0-based integers in ``[0, T)`` (``t = 0`` is the first, least noisy step). Tensors are
non-persistent buffers, so ``schedule.to(device)`` moves them and they never enter a
checkpoint (the schedule is recomputed from ``timesteps``).
"""

from __future__ import annotations

import math
from typing import Optional, Union

import torch
from torch import nn

TimeLike = Union[int, torch.Tensor]


def cosine_betas(timesteps: int = 1000, s: float = 0.008, max_beta: float = 0.999) -> torch.Tensor:
    """float64 (T,) betas of the cosine schedule, clipped at ``max_beta``.

    The clip only bites at the very end (t near T), where f(t) -> 0 would give beta = 1 and
    a singular reverse step.
    """
    if timesteps < 1:
        raise ValueError(f"timesteps must be >= 1; got {timesteps}")
    steps = torch.arange(timesteps + 1, dtype=torch.float64) / timesteps
    f = torch.cos((steps + s) / (1 + s) * math.pi / 2) ** 2
    betas = 1.0 - f[1:] / f[:-1]
    return betas.clamp(0.0, max_beta)


class CosineSchedule(nn.Module):
    """The diffusion schedule as tensors, plus the closed-form forward process.

    Attributes (float32 buffers of shape (T,), indexed by the 0-based timestep):
        betas, alphas (= 1 - betas), alphas_cumprod (abar_t), alphas_cumprod_prev
        (abar_{t-1}, 1 at t = 0), sqrt_alphas_cumprod, sqrt_one_minus_alphas_cumprod.
    """

    def __init__(self, timesteps: int = 1000, s: float = 0.008, max_beta: float = 0.999) -> None:
        super().__init__()
        self.timesteps = int(timesteps)
        betas = cosine_betas(timesteps, s, max_beta)
        # The products are taken in float64: in float32 the tail of abar loses its strict
        # monotonicity long before it reaches the clip.
        alphas_cumprod = torch.cumprod(1.0 - betas, dim=0)
        alphas_cumprod_prev = torch.cat([alphas_cumprod.new_ones(1), alphas_cumprod[:-1]])
        buffers = {
            "betas": betas,
            "alphas": 1.0 - betas,
            "alphas_cumprod": alphas_cumprod,
            "alphas_cumprod_prev": alphas_cumprod_prev,
            "sqrt_alphas_cumprod": alphas_cumprod.sqrt(),
            "sqrt_one_minus_alphas_cumprod": (1.0 - alphas_cumprod).sqrt(),
        }
        for name, value in buffers.items():
            self.register_buffer(name, value.float(), persistent=False)
        # abar in float64 for the sampler's coefficient arithmetic (ratios of tiny numbers).
        self.register_buffer("alphas_cumprod_f64", alphas_cumprod, persistent=False)

    def extra_repr(self) -> str:
        return f"timesteps={self.timesteps}"

    def _gather(self, values: torch.Tensor, t: TimeLike, x: torch.Tensor) -> torch.Tensor:
        """values[t] reshaped to broadcast over x (B, C, H, W); t is an int or a (B,) tensor."""
        t = torch.as_tensor(t, device=values.device, dtype=torch.long)
        if t.ndim == 0:
            t = t.expand(x.shape[0])
        if t.shape != (x.shape[0],):
            raise ValueError(f"t must be an int or a ({x.shape[0]},) tensor; got shape {tuple(t.shape)}")
        if bool((t < 0).any()) or bool((t >= self.timesteps).any()):
            raise ValueError(f"timesteps must lie in [0, {self.timesteps}); got {t.tolist()}")
        return values[t].to(device=x.device, dtype=x.dtype).view(-1, *([1] * (x.ndim - 1)))

    def q_sample(self, x0: torch.Tensor, t: TimeLike, noise: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Draw x_t ~ q(x_t | x0) = N(sqrt(abar_t) x0, (1 - abar_t) I).

        Args:
            x0: (B, C, H, W) clean images in [-1, 1].
            t: int, or long (B,) tensor of 0-based timesteps.
            noise: (B, C, H, W) standard normal noise; drawn with ``torch.randn_like`` when None.
        """
        if noise is None:
            noise = torch.randn_like(x0)
        return self._gather(self.sqrt_alphas_cumprod, t, x0) * x0 + self._gather(
            self.sqrt_one_minus_alphas_cumprod, t, x0
        ) * noise

    def predict_x0(self, x_t: torch.Tensor, t: TimeLike, eps: torch.Tensor) -> torch.Tensor:
        """Invert q_sample for x0 given the predicted noise: (x_t - sqrt(1 - abar) eps) / sqrt(abar)."""
        return (x_t - self._gather(self.sqrt_one_minus_alphas_cumprod, t, x_t) * eps) / self._gather(
            self.sqrt_alphas_cumprod, t, x_t
        )

    def predict_eps(self, x_t: torch.Tensor, t: TimeLike, x0: torch.Tensor) -> torch.Tensor:
        """The noise consistent with x_t and an estimate of x0 (used after clipping x0)."""
        return (x_t - self._gather(self.sqrt_alphas_cumprod, t, x_t) * x0) / self._gather(
            self.sqrt_one_minus_alphas_cumprod, t, x_t
        )
