"""DDIM sampling (Song et al. 2021) for inpainting, with RePaint resampling (Lugmayr et al. 2022).

The sampler walks a grid of ``steps + 1`` states: index 0 is the clean image, index k >= 1 is
timestep ``tau[k]`` of ``steps`` timesteps spread evenly over [0, T - 1] (index ``steps`` is
t = T - 1, pure noise). Moving k -> k - 1 is one DDIM denoising step (one network call);
RePaint also moves k -> k + 1 by re-noising with q(x_{k+1} | x_k), so the known region it just
imposed can diffuse into the hole before the next denoising step.

After every denoising step the known region of x is replaced by the known image noised to the
new level (q_sample), and the result is composited with the exact input at the end, so known
pixels are returned unchanged. Masks here are 1 = hole; RePaint's paper writes m = 1 for the
known region, i.e. our ``1 - mask``.

Randomness: every draw comes from one ``torch.Generator`` seeded by ``seed`` on the CPU and
is moved to the model's device, so a seed gives the same fill on CPU and CUDA (up to float
rounding). With ``eta = 0`` and no RePaint the only draw is the starting noise x_T, and the
known region is noised with that same noise, so the fill is a deterministic function of x_T
(pass ``noise=`` to fix it; the seed then has no effect). Otherwise fresh noise is drawn at
each step.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from inpaint_models.contract.errors import OptionError
from inpaint_models.models.diffusion.objective import as_mask, default_schedule
from inpaint_models.models.diffusion.schedule import CosineSchedule

#: ``report(step, total)``: called after each denoising step (step counts from 1 to total);
#: may raise (e.g. :class:`inpaint_models.contract.errors.Cancelled`) to stop sampling.
StepReporter = Callable[[int, int], None]


def ddim_timesteps(steps: int, timesteps: int = 1000) -> list[int]:
    """The ``steps`` timesteps of the DDIM grid, ascending, from 0 to T - 1 (``[T - 1]`` for 1 step)."""
    if not 1 <= steps <= timesteps:
        raise OptionError(f"steps must be in [1, {timesteps}]; got {steps}")
    # spacing >= 1, so rounding keeps them distinct
    return sorted(int(np.rint(v)) for v in np.linspace(timesteps - 1, 0, steps))


def repaint_schedule(steps: int, jump_length: int = 10, resample_count: int = 10) -> list[int]:
    """Grid indices visited by RePaint, from ``steps`` (noise) down to 0 (clean); neighbours differ by 1.

    Every ``jump_length`` steps (at indices 1, 1 + j, 1 + 2j, ... below ``steps - j + 1``) the walk
    goes back up ``jump_length`` indices, ``resample_count - 1`` times, as in the paper's Alg. 1
    and its released schedule. ``resample_count = 1`` gives the plain descent ``steps, ..., 0``.
    Length: ``steps + 1 + 2 * jump_length * (resample_count - 1) * len(range(0, steps - jump_length, jump_length))``.
    """
    if steps < 1:
        raise OptionError(f"steps must be >= 1; got {steps}")
    if jump_length < 1:
        raise OptionError(f"jump_length must be >= 1; got {jump_length}")
    if resample_count < 1:
        raise OptionError(f"resample_count must be >= 1; got {resample_count}")
    jumps = {j + 1: resample_count - 1 for j in range(0, steps - jump_length, jump_length)}
    index = steps
    schedule = [index]
    while index > 0:
        index -= 1
        schedule.append(index)
        if jumps.get(index, 0) > 0:
            jumps[index] -= 1
            for _ in range(jump_length):
                index += 1
                schedule.append(index)
    return schedule


def _model_device_dtype(model: nn.Module) -> tuple[torch.device, torch.dtype]:
    param = next(model.parameters(), None)
    if param is None:
        return torch.device("cpu"), torch.float32
    return param.device, param.dtype


@dataclass(frozen=True)
class SamplerSettings:
    """How :func:`ddim_sample` walks from noise to the fill.

    Attributes:
        steps: DDIM steps (network calls without RePaint), 1..T.
        eta: 0 = deterministic DDIM, 1 = DDPM-like ancestral noise.
        seed: seeds every random draw (a CPU ``torch.Generator``); None = torch's global RNG.
        repaint: RePaint resampling with ``jump_length`` (j) and ``resample_count`` (r);
            costs ``steps + j * (r - 1) * ceil((steps - j) / j)`` network calls.
        jump_length, resample_count: RePaint's j and r.
        conditional: False feeds the network an all-hole mask (no known pixel), for a model
            trained with ``uncond_prob > 0`` used as an unconditional prior under RePaint.
        strength: SDEdit (Meng et al. 2022) start, in (0, 1]. 1 starts from pure noise at
            t = T - 1. Below 1 the walk starts at grid index ``ceil(strength * steps)`` from
            the first guess noised to that level, so only that many DDIM steps run and the sample
            stays close to the guess at large scales (the noise level decides how much is redrawn).
        clip_denoised: clip each x0 estimate to [-1, 1] (and re-derive eps from it).
        schedule: the training schedule; the cosine T = 1000 one when None.
    """

    steps: int = 50
    eta: float = 0.0
    seed: Optional[int] = None
    repaint: bool = False
    jump_length: int = 10
    resample_count: int = 10
    conditional: bool = True
    strength: float = 1.0
    clip_denoised: bool = True
    schedule: Optional[CosineSchedule] = None


@dataclass(frozen=True)
class _Grid:
    """The walk of one sampling: grid timesteps and noise levels, and the indices visited."""

    t: list[int]  # grid index -> timestep (-1 = clean)
    abar: list[float]  # grid index -> alpha-bar (1 = clean)
    path: list[int]  # grid indices visited, from ``first`` down to 0
    first: int  # where the walk starts (``steps``: pure noise)

    @classmethod
    def of(cls, settings: SamplerSettings, schedule: CosineSchedule) -> "_Grid":
        steps = settings.steps
        tau = ddim_timesteps(steps, schedule.timesteps)
        abar_all = schedule.alphas_cumprod_f64.tolist()
        first = steps if settings.strength >= 1.0 else max(1, math.ceil(settings.strength * steps))
        path = (repaint_schedule(first, settings.jump_length, settings.resample_count) if settings.repaint
                else list(range(first, -1, -1)))
        return cls([-1] + tau, [1.0] + [abar_all[t] for t in tau], path, first)

    @property
    def denoising_steps(self) -> int:
        """How many moves of the path go down (network calls)."""
        return sum(1 for a, b in zip(self.path[:-1], self.path[1:]) if b < a)


class _Sampler:
    """One :func:`ddim_sample` call: its image, masks, grid, and every random draw (one generator)."""

    def __init__(self, model: nn.Module, image: torch.Tensor, mask: torch.Tensor, settings: SamplerSettings) -> None:
        self.model, self.settings = model, settings
        self.device, self.dtype = _model_device_dtype(model)
        schedule = settings.schedule if settings.schedule is not None else default_schedule(self.device)
        self.image = image.to(device=self.device, dtype=torch.float32)
        self.hole = as_mask(mask, self.image)
        self.known = 1.0 - self.hole
        self.model_mask = self.hole if settings.conditional else torch.ones_like(self.hole)
        self.grid = _Grid.of(settings, schedule)
        self.stochastic = settings.eta > 0 or settings.repaint
        self.generator = torch.Generator("cpu")
        if settings.seed is not None:
            self.generator.manual_seed(int(settings.seed))
        else:
            self.generator.seed()
        self.noise: Optional[torch.Tensor] = None  # x_T, set by :meth:`start`

    def randn(self) -> torch.Tensor:
        return torch.randn(self.image.shape, generator=self.generator, dtype=torch.float32).to(self.device)

    def impose_known(self, x: torch.Tensor, index: int) -> torch.Tensor:
        """``x`` with the known region replaced by the known image noised to grid level ``index``."""
        a = self.grid.abar[index]
        if index == 0:
            return self.hole * x + self.known * self.image
        eps = self.randn() if self.stochastic else self.noise
        return self.hole * x + self.known * (math.sqrt(a) * self.image + math.sqrt(1.0 - a) * eps)

    def start(self, noise: Optional[torch.Tensor], start: Optional[torch.Tensor]) -> torch.Tensor:
        """The first state: ``noise`` (x_T), or the first guess noised to the SDEdit level."""
        image = self.image
        if noise is None:
            noise = self.randn()
        elif noise.shape != image.shape:
            raise ValueError(f"noise must have the image's shape {tuple(image.shape)}; got {tuple(noise.shape)}")
        self.noise = noise.to(device=self.device, dtype=torch.float32)
        first = self.grid.first
        if first == self.settings.steps:
            return self.impose_known(self.noise, first)
        guess = image if start is None else start.to(device=self.device, dtype=torch.float32)
        if guess.shape != image.shape:
            raise ValueError(f"start must have the image's shape {tuple(image.shape)}; got {tuple(guess.shape)}")
        a = self.grid.abar[first]
        return self.impose_known(math.sqrt(a) * guess + math.sqrt(1.0 - a) * self.noise, first)

    def move(self, x: torch.Tensor, i: int, j: int) -> torch.Tensor:
        """From grid index ``i`` to ``j``: a RePaint jump back up (``j = i + 1``) or one DDIM step down."""
        a_t, a_next = self.grid.abar[i], self.grid.abar[j]
        if j == i + 1:
            # RePaint jump back: x_j ~ q(x_j | x_i) = N(sqrt(a_j / a_i) x_i, (1 - a_j / a_i) I)
            ratio = a_next / a_t
            return math.sqrt(ratio) * x + math.sqrt(max(1.0 - ratio, 0.0)) * self.randn()
        dtype = self.dtype
        t = torch.full((x.shape[0],), self.grid.t[i], device=self.device, dtype=torch.long)
        eps = self.model(x.to(dtype), t, self.image.to(dtype), self.model_mask.to(dtype)).float()
        x0 = (x - math.sqrt(1.0 - a_t) * eps) / math.sqrt(a_t)
        if self.settings.clip_denoised:
            x0 = x0.clamp(-1.0, 1.0)
            eps = (x - math.sqrt(a_t) * x0) / math.sqrt(1.0 - a_t)
        # DDIM update (Song et al. eq. 12); sigma interpolates to DDPM's posterior std at eta = 1
        sigma = self.settings.eta * math.sqrt(max((1.0 - a_next) / (1.0 - a_t) * (1.0 - a_t / a_next), 0.0))
        direction = math.sqrt(max(1.0 - a_next - sigma**2, 0.0))
        x = math.sqrt(a_next) * x0 + direction * eps
        if sigma > 0:
            x = x + sigma * self.randn()
        return self.impose_known(x, j)

    def walk(self, x: torch.Tensor, report: Optional[StepReporter]) -> torch.Tensor:
        """Every move of the path from ``x``; the sample in the hole, the exact image elsewhere."""
        path, total = self.grid.path, self.grid.denoising_steps
        done = 0
        for i, j in zip(path[:-1], path[1:]):
            x = self.move(x, i, j)
            if j < i:
                done += 1
                if report is not None:
                    report(done, total)
        return self.hole * x.clamp(-1.0, 1.0) + self.known * self.image


@torch.no_grad()
def ddim_sample(
    model: nn.Module,
    image: torch.Tensor,
    mask: torch.Tensor,
    settings: SamplerSettings = SamplerSettings(),
    *,
    noise: Optional[torch.Tensor] = None,
    start: Optional[torch.Tensor] = None,
    report: Optional[StepReporter] = None,
) -> torch.Tensor:
    """Fill the holes of a batch with DDIM (optionally RePaint) sampling.

    Args:
        model: ``model(x_t, t, image, mask) -> eps`` (a :class:`DiffusionUNet` holding the EMA
            weights); it runs on its own device, in eval mode for the call (the caller's mode
            is restored afterwards, also on error). Works under ``torch.inference_mode``.
        image: (B, C, H, W) in [-1, 1], C = the model's image channels; hole pixels are ignored.
            H, W must be multiples of ``model.size_multiple`` (:func:`inpaint_array` pads).
        mask: (B, 1, H, W) or (B, H, W), bool or float, 1 = hole.
        settings: steps, eta, seed, RePaint, conditioning, strength... (:class:`SamplerSettings`).
        noise: (B, C, H, W) starting noise x_T; drawn from the generator when None.
        start: (B, C, H, W) in [-1, 1], the first guess of the hole for ``strength < 1``
            (e.g. a classical fill); the image itself when None.
        report: ``report(step, total)`` after each denoising step; an exception it raises
            stops sampling and propagates.

    Returns:
        (B, C, H, W) float32 in [-1, 1] on the model's device: the sample in the hole, the
        input ``image`` exactly elsewhere.
    """
    if image.ndim != 4:
        raise ValueError(f"image must be (B, C, H, W); got {tuple(image.shape)}")
    if settings.eta < 0:
        raise OptionError(f"eta must be >= 0; got {settings.eta}")
    if not 0.0 < settings.strength <= 1.0:
        raise OptionError(f"strength must be in (0, 1]; got {settings.strength}")
    sampler = _Sampler(model, image, mask, settings)
    x = sampler.start(noise, start)
    was_training = model.training
    model.eval()
    try:
        return sampler.walk(x, report)
    finally:
        model.train(was_training)


def inpaint_array(
    model: nn.Module,
    image: np.ndarray,
    mask: np.ndarray,
    settings: SamplerSettings = SamplerSettings(),
    report: Optional[StepReporter] = None,
) -> np.ndarray:
    """Fill one image given as numpy, the backend's layout; a thin wrapper of :func:`ddim_sample`.

    Args:
        model: a :class:`DiffusionUNet` (3 image channels).
        image: float (H, W, C) in [0, 1], C = the model's ``image_channels`` (3), or 1 for a
            colour model (repeated to RGB, the result averaged back).
        mask: bool/float (H, W), True / 1 = hole.
        settings: the sampler's settings (:class:`SamplerSettings`).
        report: ``report(step, total)`` after each denoising step (see :func:`ddim_sample`).

    Returns:
        float32 (H, W, C) in [0, 1]; pixels outside the hole are the input's, bit for bit.
        The image is reflect-padded to a multiple of ``model.size_multiple`` (padding counts as
        known) and cropped back.
    """
    model_channels = int(getattr(getattr(model, "config", None), "image_channels", 3))
    if image.ndim != 3 or image.shape[2] not in {1, model_channels}:
        raise ValueError(f"image must be (H, W, {model_channels}) or (H, W, 1) for this model; got {image.shape}")
    h, w, channels = image.shape
    if mask.shape != (h, w):
        raise ValueError(f"mask must be (H, W) = {(h, w)}; got {mask.shape}")
    hole = np.asarray(mask).astype(bool)
    image = np.asarray(image, dtype=np.float32)
    x = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)[None] * 2.0 - 1.0
    if channels != model_channels:  # grey image, colour model
        x = x.expand(-1, model_channels, -1, -1)
    m = torch.from_numpy(hole)[None, None].float()
    multiple = int(getattr(model, "size_multiple", 1))
    pad_h, pad_w = -h % multiple, -w % multiple
    if pad_h or pad_w:
        pads = (0, pad_w, 0, pad_h)
        mode = "reflect" if pad_h < h and pad_w < w else "replicate"
        x = F.pad(x, pads, mode=mode)
        m = F.pad(m, pads, value=0.0)
    out = ddim_sample(model, x, m, settings, report=report)[0, :, :h, :w].float().cpu()
    out = ((out + 1.0) / 2.0).clamp(0.0, 1.0).permute(1, 2, 0).numpy()
    if channels != model_channels:
        out = out.mean(axis=2, keepdims=True)
    return np.where(hole[..., None], out, image).astype(np.float32)
