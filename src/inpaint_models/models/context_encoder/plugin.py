"""``context-encoder`` plugin: options, training task (reconstruction + adversarial) and hooks."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Optional

import numpy as np
import torch
import torch.nn.functional as F

from ...datatypes import FillContext, ModelInfo, Reporter
from ...errors import ConfigError
from ...hookspecs import hookimpl
from ...training import Batch, StepContext, TaskSpec, TrainConfig, TrainSettings, TrainTask, fit
from ..neural import neural_fill, shipped_weights
from ..prefill import smooth_fill
from .network import ContextEncoder, Discriminator, check_size


@dataclass(frozen=True)
class ContextEncoderOptions:
    """Options of the context encoder (fixed by a checkpoint once trained).

    Attributes:
        bottleneck: channels of the 1x1 code (paper: 4000).
        width: channels of the first layer (paper: 64), doubled per level up to 8x.
        reconstruction_weight: weight of the hole L2 loss (paper 0.999; 0 = report
            000's GAN-DDG, adversarial only; > 0 with an adversarial term = GAN-DOG).
        adversarial_weight: weight of the generator's adversarial BCE loss (paper
            0.001; 0 = no discriminator, a plain L2 context encoder).
        attention: SAGAN self-attention in the decoder (report 000's GAN-AEDOG).
        residual: pre-fill the hole with :func:`..prefill.smooth_fill` instead of the dataset
            mean and predict a correction added to it (zero-initialised, no tanh), so training
            starts from a classical fill (``models/prefill.py``).
    """

    bottleneck: int = 4000
    width: int = 64
    reconstruction_weight: float = 0.999
    adversarial_weight: float = 0.001
    attention: bool = False
    residual: bool = False

    def __post_init__(self) -> None:
        if self.bottleneck < 1 or self.width < 1:
            raise ValueError("bottleneck and width must be at least 1")
        if self.reconstruction_weight < 0 or self.adversarial_weight < 0:
            raise ValueError("loss weights must be >= 0")
        if self.reconstruction_weight == 0 and self.adversarial_weight == 0:
            raise ValueError("reconstruction_weight and adversarial_weight cannot both be 0")


class ContextEncoderTask(TrainTask):
    """Generator + discriminator, one D step and one G step per training step."""

    inference_networks = ("generator",)

    def __init__(self, spec: TaskSpec) -> None:
        super().__init__(spec)
        o: ContextEncoderOptions = spec.options
        try:
            check_size(spec.image_size)
        except ValueError as error:
            raise ConfigError(f"[train] image_size: {error}") from None
        self.native_size = spec.image_size
        if spec.train is not None and spec.train.batch_size < 2:  # BatchNorm on a 1x1 code / flat vectors
            raise ConfigError(f"[train] batch_size of at least 2 is needed by the context encoder (BatchNorm), "
                              f"got {spec.train.batch_size}")
        generator = ContextEncoder(spec.channels, spec.image_size, o.width, o.bottleneck, o.attention,
                                   o.residual)
        # the hole is pre-filled with the dataset mean (set by prepare, saved with the weights)
        generator.register_buffer("fill_value", torch.full((spec.channels,), 0.5))
        self.networks = {"generator": generator}
        if spec.train is not None and o.adversarial_weight > 0:
            self.networks["discriminator"] = Discriminator(spec.channels, spec.image_size, o.width)

    def prepare(self, statistics: Mapping[str, Any]) -> None:
        mean = torch.as_tensor(np.asarray(statistics["mean"]), dtype=torch.float32)
        self.networks["generator"].fill_value.copy_(mean.to(self.networks["generator"].fill_value.device))

    def configure_optimizers(self, settings: TrainSettings) -> dict[str, torch.optim.Optimizer]:
        optimizers = {"generator": torch.optim.Adam(self.networks["generator"].parameters(),
                                                    lr=settings.learning_rate, betas=(0.5, 0.999))}
        if "discriminator" in self.networks:
            optimizers["discriminator"] = torch.optim.Adam(self.networks["discriminator"].parameters(),
                                                           lr=settings.d_learning_rate, betas=(0.5, 0.999))
        return optimizers

    def _input(self, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        if self.spec.options.residual:
            return smooth_fill(image, mask) * 2.0 - 1.0
        fill = self.networks["generator"].fill_value.view(1, -1, 1, 1).to(image.dtype)
        return (image * (1 - mask) + fill * mask) * 2.0 - 1.0  # [-1, 1]

    def train_step(self, batch: Batch, ctx: StepContext) -> Mapping[str, torch.Tensor]:
        o: ContextEncoderOptions = self.spec.options
        real = batch.image * 2.0 - 1.0
        mask = batch.mask
        with ctx.autocast():
            predicted = ctx.nets["generator"](self._input(batch.image, mask))
        predicted = predicted.float()
        composite = mask * predicted + (1 - mask) * real
        losses: dict[str, torch.Tensor] = {}
        adversarial = o.adversarial_weight > 0
        if adversarial:
            discriminator = ctx.nets["discriminator"]
            with ctx.autocast():
                real_logits = discriminator(real)
                fake_logits = discriminator(composite.detach())
            loss_d = 0.5 * (
                F.binary_cross_entropy_with_logits(real_logits.float(), torch.ones_like(real_logits.float()))
                + F.binary_cross_entropy_with_logits(fake_logits.float(), torch.zeros_like(fake_logits.float()))
            )
            ctx.optimize(loss_d, "discriminator")
            losses["loss_d"] = loss_d
        # generator: hole L2 (mean over hole pixels) + adversarial BCE through the plain discriminator
        hole = mask.expand_as(real)
        reconstruction = ((predicted - real) ** 2 * hole).sum() / hole.sum().clamp_min(1.0) / 4.0  # [0,1] units
        loss_g = o.reconstruction_weight * reconstruction
        if adversarial:
            with ctx.autocast():
                logits = self.networks["discriminator"](composite)
            loss_adv = F.binary_cross_entropy_with_logits(logits.float(), torch.ones_like(logits.float()))
            loss_g = loss_g + o.adversarial_weight * loss_adv
            losses["loss_adv"] = loss_adv
        ctx.optimize(loss_g, "generator")
        losses["loss_g"] = loss_g
        losses["reconstruction"] = reconstruction
        return losses

    def predict(self, image: torch.Tensor, mask: torch.Tensor, *, seed: int = 0,
                progress: Optional[Callable[[int, int], None]] = None) -> torch.Tensor:
        """(B, C, H, W) in [0, 1] with the hole at 0 and (B, 1, H, W) mask -> (B, C, H, W) in [0, 1]."""
        return (self.networks["generator"](self._input(image, mask)) + 1.0) * 0.5


def build_task(spec: TaskSpec) -> ContextEncoderTask:
    """The context encoder's task factory."""
    return ContextEncoderTask(spec)


@hookimpl
def model_info() -> ModelInfo:
    """Describe the context encoder."""
    return ModelInfo(
        name="context-encoder",
        title="Context encoder (GAN)",
        description="Encoder-decoder with a bottleneck, trained with hole L2 + adversarial loss; 128x128 input",
        source="Pathak et al. 2016, 'Context Encoders'; report 000 (GAN-DDG, GAN-DOG, GAN-AEDOG)",
        trainable=True,
        default_weights=shipped_weights(__file__),
        options=ContextEncoderOptions,
        channels=(1, 3),
        min_size=8,
        native_size=128,
        crop_margin=64,
    )


@hookimpl
def fill(image: np.ndarray, mask: np.ndarray, options: ContextEncoderOptions, context: FillContext) -> np.ndarray:
    """float32 (128, 128, C) in [0, 1] and bool hole mask -> float32 (128, 128, C), with trained weights."""
    return neural_fill(model_info(), build_task, image, mask, options, context)


@hookimpl
def train(config: TrainConfig, report: Reporter) -> Path:
    """Train the context encoder with the shared trainer; returns the final checkpoint."""
    return fit(config, build_task, report)
