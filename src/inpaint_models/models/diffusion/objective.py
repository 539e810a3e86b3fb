"""Training objective: epsilon-prediction MSE (Ho et al. 2020, "L_simple") with mask conditioning."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from inpaint_models.models.diffusion.schedule import CosineSchedule

_DEFAULT_SCHEDULES: dict[tuple[int, str], CosineSchedule] = {}


def default_schedule(device: torch.device | str = "cpu", timesteps: int = 1000) -> CosineSchedule:
    """A cached cosine schedule (T = ``timesteps``) on ``device``."""
    device = torch.device(device)
    key = (timesteps, str(device))
    if key not in _DEFAULT_SCHEDULES:
        _DEFAULT_SCHEDULES[key] = CosineSchedule(timesteps).to(device)
    return _DEFAULT_SCHEDULES[key]


def as_mask(mask: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """A bool/float hole mask (B, H, W) or (B, 1, H, W), 1 = hole, as float {0, 1} (B, 1, H, W)
    on ``like``'s device and dtype."""
    if mask.ndim == 3:
        mask = mask[:, None]
    if mask.ndim != 4 or mask.shape[1] != 1 or mask.shape[0] != like.shape[0] or mask.shape[-2:] != like.shape[-2:]:
        raise ValueError(
            f"mask must be (B, 1, H, W) or (B, H, W) matching the image {tuple(like.shape)}; got {tuple(mask.shape)}"
        )
    if mask.dtype == torch.bool:
        return mask.to(device=like.device, dtype=like.dtype)
    return (mask > 0.5).to(device=like.device, dtype=like.dtype)


@dataclass(frozen=True)
class LossSettings:
    """How :func:`diffusion_loss` weighs and conditions a batch.

    Attributes:
        hole_weight: weight of hole pixels relative to known ones (1 = plain MSE); the loss is
            a weighted *mean*, so its scale does not change with the weight.
        uncond_prob: probability, per sample, of replacing the mask by an all-hole mask (the
            network then sees no known pixel): trains an unconditional prior alongside, for
            RePaint sampling with ``conditional=False``.
        schedule: the noise schedule; the cosine T = 1000 schedule on the batch's device when None.
    """

    hole_weight: float = 1.0
    uncond_prob: float = 0.0
    schedule: Optional[CosineSchedule] = None


def diffusion_loss(
    model: nn.Module,
    x0: torch.Tensor,
    mask: torch.Tensor,
    t: Optional[torch.Tensor] = None,
    noise: Optional[torch.Tensor] = None,
    settings: LossSettings = LossSettings(),
    generator: Optional[torch.Generator] = None,
) -> torch.Tensor:
    """Scalar epsilon-prediction MSE of ``model`` on one batch.

    The network sees x_t = q_sample(x0, t, noise) together with the masked image
    x0 * (1 - mask) and the mask, and is trained to recover ``noise`` on *all* pixels
    (the known region too: it is what lets the same network denoise a full image).

    Args:
        model: ``model(x_t, t, image, mask) -> eps`` (a :class:`DiffusionUNet`).
        x0: (B, 3, H, W) clean images in [-1, 1] (the backend's [0, 1] times 2 minus 1).
        mask: (B, 1, H, W) or (B, H, W), bool or float, 1 = hole.
        t: long (B,) timesteps in [0, T); uniform at random when None.
        noise: (B, 3, H, W) target noise; standard normal when None.
        settings: hole weight, unconditional share and schedule (:class:`LossSettings`).
        generator: draws t, noise and the unconditional choice (reproducible steps).
    """
    if x0.ndim != 4:
        raise ValueError(f"x0 must be (B, C, H, W); got {tuple(x0.shape)}")
    hole_weight, uncond_prob = settings.hole_weight, settings.uncond_prob
    if hole_weight < 0:
        raise ValueError(f"hole_weight must be >= 0; got {hole_weight}")
    schedule = settings.schedule if settings.schedule is not None else default_schedule(x0.device)
    mask = as_mask(mask, x0)
    b = x0.shape[0]

    def rand(fn, *args, **kwargs):
        # draw on the generator's device, then move: a CPU generator works for CUDA batches
        device = generator.device if generator is not None else x0.device
        return fn(*args, generator=generator, device=device, **kwargs).to(x0.device)

    if t is None:
        t = rand(torch.randint, 0, schedule.timesteps, (b,))
    if noise is None:
        noise = rand(torch.randn, x0.shape, dtype=x0.dtype)
    if uncond_prob > 0:
        drop = rand(torch.rand, (b,)) < uncond_prob
        mask = torch.where(drop[:, None, None, None], torch.ones_like(mask), mask)

    x_t = schedule.q_sample(x0, t, noise)
    pred = model(x_t, t, x0, mask)
    if hole_weight == 1.0:
        return F.mse_loss(pred.float(), noise.float())
    weight = 1.0 + (hole_weight - 1.0) * mask
    se = (pred.float() - noise.float()) ** 2
    return (se * weight).sum() / (weight.sum() * x0.shape[1]).clamp_min(1e-12)
