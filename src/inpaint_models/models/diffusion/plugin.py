"""``diffusion`` plugin: options, training task and hooks of the mask-conditioned DDPM.

Training (shared trainer, :func:`inpaint_models.training.fit`): epsilon-prediction MSE
(:func:`.objective.diffusion_loss`) on the cosine T = 1000 schedule, AdamW, an EMA of the
weights (``[train] ema_decay``; left at 0, the trainer's "off", it becomes
:data:`DEFAULT_EMA_DECAY` for this model). The checkpoint's EMA weights are what ``fill``
samples with.

Filling: DDIM (:func:`.sampling.ddim_sample`) with ``steps`` / ``eta`` / ``seed``, or RePaint
resampling (``repaint``, ``jump_length``, ``resample_count``); one ``ProgressEvent`` with phase
``"sample"`` per network call reaches ``context.report``, which raises ``Cancelled`` between
steps when the caller cancels. The sampler options are fill options: they are not fixed by the
checkpoint.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from functools import reduce
from pathlib import Path
from typing import Any, Callable, Literal, Mapping, Optional

import numpy as np
import torch

from ...datatypes import FillContext, ModelInfo, Reporter
from ...errors import ConfigError
from ...hookspecs import hookimpl
from ...training import Batch, StepContext, TaskSpec, TrainConfig, TrainSettings, TrainTask, fill_option, fit
from ..neural import neural_fill, shipped_weights
from ..prefill import smooth_fill
from .network import PRESETS, DiffusionUNet, UNetConfig, preset_config
from .objective import diffusion_loss
from .sampling import ddim_sample

#: EMA decay used when the ``[train]`` section leaves ``ema_decay`` at 0 (the trainer's "off"):
#: sampling with raw weights is markedly worse, so this model always keeps an average. The
#: trainer warms the decay up as ``min(decay, (1 + n) / (10 + n))``, so short runs are fine too.
#: To sample with (practically) raw weights, set a tiny positive ``ema_decay`` such as ``1e-9``.
DEFAULT_EMA_DECAY = 0.9999

#: Crops are padded to this (the least common multiple of the presets' size multiples).
SIZE_MULTIPLE = reduce(math.lcm, (config.size_multiple for config in PRESETS.values()), 1)

MAX_STEPS = 1000  # T of the cosine schedule


@dataclass(frozen=True)
class DiffusionOptions:
    """Options of the diffusion model.

    ``preset``, ``hole_weight`` and ``uncond_prob`` are fixed by a checkpoint once trained; the
    sampler options (``steps`` to ``conditional``) are chosen at fill time.

    Attributes:
        preset: network size, ``tiny`` (CPU, 32-64 px, ~1.2M parameters) or ``base`` (MODELS.md:
            64-128 px, base width 64, multipliers 1,2,2,4, ~19M parameters). Fixed by the checkpoint.
        hole_weight: weight of hole pixels in the epsilon MSE relative to known ones (1 = plain
            MSE). Fixed by the checkpoint.
        uncond_prob: share of training samples given an all-hole mask, so that the network is
            also an unconditional prior (for conditional = false). Fixed by the checkpoint.
        steps: DDIM steps (network calls without RePaint), 1..1000.
        eta: 0 = deterministic DDIM given the seed; 1 = DDPM-like ancestral noise.
        seed: seeds every random draw: the same seed gives the same fill, another seed another
            plausible fill.
        repaint: RePaint resampling (Lugmayr et al. 2022): every jump_length steps the sample is
            re-noised jump_length steps back, resample_count - 1 times; costs steps + jump_length
            * (resample_count - 1) * ceil((steps - jump_length) / jump_length) network calls
            (50, 10, 10: 410).
        jump_length: RePaint's j (steps re-noised per jump).
        resample_count: RePaint's r (1 = no resampling).
        conditional: give the network the mask and known pixels (true), or an all-hole mask
            (false: the unconditional prior of a checkpoint trained with uncond_prob > 0; the
            known pixels then reach the hole only through their re-imposition, as in RePaint).
        strength: where sampling starts (SDEdit, Meng et al. 2022): 1 = from pure noise; below 1
            from the hole's smooth pre-fill (``models/prefill.py``) noised to level
            ``strength``, running only ``ceil(strength * steps)`` DDIM steps: the fill keeps the
            pre-fill's large-scale colours and the network redraws the detail. Default 0.5: with the
            CPU-trained default weights, sampling from pure noise lost ~3 dB hole PSNR to 0.5 on
            held-out photographs; a well-trained model may prefer 1.
    """

    preset: Literal["tiny", "base"] = "tiny"
    hole_weight: float = 1.0
    uncond_prob: float = 0.0
    steps: int = fill_option(50)
    eta: float = fill_option(0.0)
    seed: int = fill_option(0)
    repaint: bool = fill_option(False)
    jump_length: int = fill_option(10)
    resample_count: int = fill_option(10)
    conditional: bool = fill_option(True)
    strength: float = fill_option(0.5)

    def __post_init__(self) -> None:
        if self.preset not in PRESETS:
            raise ValueError(f"preset must be one of {sorted(PRESETS)}, got {self.preset!r}")
        if self.hole_weight < 0:
            raise ValueError(f"hole_weight must be >= 0, got {self.hole_weight}")
        if not 0.0 <= self.uncond_prob < 1.0:
            raise ValueError(f"uncond_prob must be in [0, 1), got {self.uncond_prob}")
        if not 1 <= self.steps <= MAX_STEPS:
            raise ValueError(f"steps must be between 1 and {MAX_STEPS}, got {self.steps}")
        if not (self.eta >= 0 and math.isfinite(self.eta)):
            raise ValueError(f"eta must be >= 0, got {self.eta}")
        if self.seed < 0:
            raise ValueError(f"seed must be >= 0, got {self.seed}")
        if self.jump_length < 1:
            raise ValueError(f"jump_length must be >= 1, got {self.jump_length}")
        if self.resample_count < 1:
            raise ValueError(f"resample_count must be >= 1, got {self.resample_count}")
        if not 0.0 < self.strength <= 1.0:
            raise ValueError(f"strength must be in (0, 1], got {self.strength}")


def network_config(options: DiffusionOptions, channels: int, image_size: int) -> UNetConfig:
    """The U-Net of ``options.preset`` for ``channels``-channel images, attention placed for ``image_size``."""
    return preset_config(options.preset, image_size=int(image_size), image_channels=int(channels))


class DiffusionTask(TrainTask):
    """One U-Net (``unet``), one AdamW optimiser, the epsilon loss; ``predict`` samples."""

    inference_networks = ("unet",)

    def __init__(self, spec: TaskSpec) -> None:
        super().__init__(spec)
        o: DiffusionOptions = spec.options
        config = network_config(o, spec.channels, spec.image_size)
        if spec.train is not None and spec.image_size % config.size_multiple:
            raise ConfigError(
                f"[train] image_size {spec.image_size} must be a multiple of {config.size_multiple} "
                f"for the diffusion preset {o.preset!r}"
            )
        if not o.conditional and o.uncond_prob == 0.0:
            # training: validation and previews would sample a prior that is never trained
            error = ConfigError if spec.train is not None else ValueError
            raise error(
                "conditional = false samples from the unconditional prior, but the model is trained with "
                "uncond_prob = 0 (no unconditional prior): use conditional = true, or train with "
                "uncond_prob > 0 (e.g. 0.1)"
            )
        self.size_multiple = config.size_multiple
        self.networks = {"unet": DiffusionUNet(config)}

    def configure_optimizers(self, settings: TrainSettings) -> dict[str, torch.optim.Optimizer]:
        return {"unet": torch.optim.AdamW(self.networks["unet"].parameters(), lr=settings.learning_rate,
                                          weight_decay=settings.weight_decay)}

    def train_step(self, batch: Batch, ctx: StepContext) -> Mapping[str, torch.Tensor]:
        o: DiffusionOptions = self.spec.options
        x0 = batch.image * 2.0 - 1.0  # the trainer's [0, 1] -> the network's [-1, 1]
        with ctx.autocast():
            loss = diffusion_loss(ctx.nets["unet"], x0, batch.mask, hole_weight=o.hole_weight,
                                  uncond_prob=o.uncond_prob)
        ctx.optimize(loss, "unet")
        return {"loss": loss.detach()}

    def predict(self, image: torch.Tensor, mask: torch.Tensor, *, seed: int = 0,
                progress: Optional[Callable[[int, int], None]] = None) -> torch.Tensor:
        """Sample the hole with the options' sampler; (B, C, H, W) in [0, 1] (known pixels returned as given).

        The sampler's seed is ``options.seed + seed``: the shared fill helper always passes
        ``seed = 0``, so the ``seed`` option decides the fill (validation and previews use it too).
        """
        o: DiffusionOptions = self.spec.options
        start = None
        if o.strength < 1.0:
            hole = (mask if mask.ndim == 4 else mask[:, None]).float()
            start = smooth_fill(image.float(), hole) * 2.0 - 1.0
        out = ddim_sample(
            self.networks["unet"],
            image.float() * 2.0 - 1.0,
            mask,
            strength=o.strength,
            start=start,
            steps=o.steps,
            eta=o.eta,
            seed=int(o.seed) + int(seed),
            repaint=o.repaint,
            jump_length=o.jump_length,
            resample_count=o.resample_count,
            conditional=o.conditional,
            report=progress,
        )
        return (out + 1.0) / 2.0

    def extra_state(self) -> dict[str, Any]:
        # the network actually built, so a checkpoint documents its architecture
        return {"unet": self.networks["unet"].config.to_dict()}


def build_task(spec: TaskSpec) -> DiffusionTask:
    """The diffusion model's task factory."""
    return DiffusionTask(spec)


def with_default_ema(config: TrainConfig) -> TrainConfig:
    """``config`` with ``[train] ema_decay`` = :data:`DEFAULT_EMA_DECAY` when it is 0 (off); else unchanged."""
    if config.train.ema_decay > 0:
        return config
    return dataclasses.replace(config, train=dataclasses.replace(config.train, ema_decay=DEFAULT_EMA_DECAY))


@hookimpl
def model_info() -> ModelInfo:
    """Describe the diffusion model."""
    return ModelInfo(
        name="diffusion",
        title="Diffusion (DDPM, DDIM / RePaint sampling)",
        description="Mask-conditioned denoising diffusion U-Net; DDIM sampling with seeds, optional RePaint resampling",
        source="Report 002, done properly: Ho et al. 2020 (DDPM), Nichol & Dhariwal 2021 (cosine schedule), "
               "Song et al. 2021 (DDIM), Lugmayr et al. 2022 (RePaint)",
        trainable=True,
        default_weights=shipped_weights(__file__),
        options=DiffusionOptions,
        channels=(1, 3),
        min_size=16,
        size_multiple=SIZE_MULTIPLE,
        crop_margin=32,
    )


@hookimpl
def fill(image: np.ndarray, mask: np.ndarray, options: DiffusionOptions, context: FillContext) -> np.ndarray:
    """float32 (H, W, C) in [0, 1] and bool (H, W) hole mask -> float32 (H, W, C), sampled with EMA weights.

    The shared fill helper turns each sampler step into ``ProgressEvent("sample", i, n)`` through
    ``context.report`` (which raises ``Cancelled`` when the caller cancels: sampling stops there).
    """
    return neural_fill(model_info(), build_task, image, mask, options, context)


@hookimpl
def train(config: TrainConfig, report: Reporter) -> Path:
    """Train the diffusion model with the shared trainer (EMA always on); returns the final checkpoint."""
    return fit(with_default_ema(config), build_task, report)
