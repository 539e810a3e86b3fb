"""``diffusion`` training task: the U-Net, the epsilon loss, EMA by default, DDIM / RePaint sampling."""

from __future__ import annotations

import dataclasses
import math
from functools import reduce
from typing import Any, Callable, Mapping, Optional

import torch

from inpaint_models.contract.errors import ConfigError, WeightsError
from inpaint_models.io.sidecar import WeightsGeometry
from inpaint_models.models.diffusion.network import PRESETS, DiffusionUNet, UNetConfig, preset_config
from inpaint_models.models.diffusion.objective import LossSettings, diffusion_loss
from inpaint_models.models.diffusion.plugin import DiffusionOptions
from inpaint_models.models.diffusion.sampling import SamplerSettings, ddim_sample
from inpaint_models.models.prefill import smooth_fill
from inpaint_models.training.config import TrainConfig, TrainSettings
from inpaint_models.training.data import Batch
from inpaint_models.training.task import StepContext, TaskSpec, TrainTask

#: EMA decay used when the ``[train]`` section leaves ``ema_decay`` at 0 (the trainer's "off"):
#: sampling with raw weights is markedly worse, so this model always keeps an average. The
#: trainer warms the decay up as ``min(decay, (1 + n) / (10 + n))``, so short runs are fine too.
#: To sample with (practically) raw weights, set a tiny positive ``ema_decay`` such as ``1e-9``.
DEFAULT_EMA_DECAY = 0.9999

#: Crops are padded to this (the least common multiple of the presets' size multiples).
SIZE_MULTIPLE = reduce(math.lcm, (config.size_multiple for config in PRESETS.values()), 1)

_NO_PRIOR = ("conditional = false samples from the unconditional prior, but the model is trained with "
             "uncond_prob = 0 (no unconditional prior): use conditional = true, or train with "
             "uncond_prob > 0 (e.g. 0.1)")


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
        self.check_image_size(config.size_multiple, f"{config.size_multiple} for the diffusion preset {o.preset!r}")
        if spec.train is not None and not o.conditional and o.uncond_prob == 0.0:
            # validation and previews would sample a prior that is never trained
            raise ConfigError(_NO_PRIOR)
        self.size_multiple = config.size_multiple
        self.networks = {"unet": DiffusionUNet(config)}

    def use_options(self, options: DiffusionOptions) -> None:
        """Take a fill's sampler options; an unconditional fill needs weights trained with an unconditional prior."""
        if not options.conditional and options.uncond_prob == 0.0:
            raise WeightsError(_NO_PRIOR.replace("the model is trained", "these weights were trained"))
        super().use_options(options)

    def geometry(self) -> WeightsGeometry:
        """Fill crops are padded to :data:`SIZE_MULTIPLE` whatever the preset: the sampler's noise has the
        padded crop's shape, so this keeps a seed's fill the same as it has always been (the shipped weights'
        fills are reproducible across versions); the network itself needs only its preset's multiple."""
        return dataclasses.replace(super().geometry(), size_multiple=SIZE_MULTIPLE)

    def configure_optimizers(self, settings: TrainSettings) -> dict[str, torch.optim.Optimizer]:
        return {"unet": torch.optim.AdamW(self.networks["unet"].parameters(), lr=settings.learning_rate,
                                          weight_decay=settings.weight_decay)}

    def train_step(self, batch: Batch, ctx: StepContext) -> Mapping[str, torch.Tensor]:
        o: DiffusionOptions = self.spec.options
        x0 = batch.image * 2.0 - 1.0  # the trainer's [0, 1] -> the network's [-1, 1]
        with ctx.autocast():
            loss = diffusion_loss(ctx.nets["unet"], x0, batch.mask,
                                  settings=LossSettings(hole_weight=o.hole_weight, uncond_prob=o.uncond_prob))
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
        sampler = SamplerSettings(steps=o.steps, eta=o.eta, seed=int(o.seed) + int(seed), repaint=o.repaint,
                                  jump_length=o.jump_length, resample_count=o.resample_count,
                                  conditional=o.conditional, strength=o.strength)
        out = ddim_sample(self.networks["unet"], image.float() * 2.0 - 1.0, mask, sampler, start=start,
                          report=progress)
        return (out + 1.0) / 2.0

    def extra_state(self) -> dict[str, Any]:
        # the network actually built, so a checkpoint documents its architecture
        return {"unet": self.networks["unet"].config.to_dict()}


def build_task(spec: TaskSpec) -> DiffusionTask:
    """The diffusion model's task factory."""
    return DiffusionTask(spec)


def configure_training(config: TrainConfig) -> TrainConfig:
    """The run's config with this model's default EMA (see :func:`with_default_ema`)."""
    return with_default_ema(config)


def with_default_ema(config: TrainConfig) -> TrainConfig:
    """``config`` with ``[train] ema_decay`` = :data:`DEFAULT_EMA_DECAY` when it is 0 (off); else unchanged."""
    if config.train.ema_decay > 0:
        return config
    return dataclasses.replace(config, train=dataclasses.replace(config.train, ema_decay=DEFAULT_EMA_DECAY))
