"""``mlp-gan`` plugin: report 002's GAN (generator, discriminator, repair generator)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping, Optional

import numpy as np
import torch
import torch.nn.functional as F

from ...datatypes import FillContext, ModelInfo, Reporter
from ...errors import ConfigError
from ...hookspecs import hookimpl
from ...training import Batch, StepContext, TaskSpec, TrainConfig, TrainSettings, TrainTask, fit
from ..neural import neural_fill, shipped_weights
from .network import MLPDiscriminator, MLPGenerator, RepairGenerator


@dataclass(frozen=True)
class MLPGANOptions:
    """Options of report 002's GAN (fixed by a checkpoint once trained).

    Attributes:
        width: width of the first hidden layer; the three hidden layers are
            ``width``, ``2 * width``, ``4 * width``.
        latent_size: length of the generator's noise vector.
    """

    width: int = 256
    latent_size: int = 100

    def __post_init__(self) -> None:
        if self.width < 1 or self.latent_size < 1:
            raise ValueError("width and latent_size must be at least 1")


class MLPGANTask(TrainTask):
    """Per step: discriminator (BCE, real and fake averaged), generator (BCE), repair generator (MSE)."""

    inference_networks = ("repair",)

    def __init__(self, spec: TaskSpec) -> None:
        super().__init__(spec)
        o: MLPGANOptions = spec.options
        self.native_size = spec.image_size
        if spec.train is not None and spec.train.batch_size < 2:  # BatchNorm on a 1x1 code / flat vectors
            raise ConfigError(f"[train] batch_size of at least 2 is needed by the MLP GAN (BatchNorm), "
                              f"got {spec.train.batch_size}")
        self.networks = {"repair": RepairGenerator(spec.channels, spec.image_size, o.width)}
        if spec.train is not None:
            self.networks["generator"] = MLPGenerator(o.latent_size, spec.channels, spec.image_size, o.width)
            self.networks["discriminator"] = MLPDiscriminator(spec.channels, spec.image_size, o.width)

    def configure_optimizers(self, settings: TrainSettings) -> dict[str, torch.optim.Optimizer]:
        return {
            "discriminator": torch.optim.Adam(self.networks["discriminator"].parameters(), lr=settings.d_learning_rate),
            "generator": torch.optim.Adam(self.networks["generator"].parameters(), lr=settings.learning_rate),
            "repair": torch.optim.Adam(self.networks["repair"].parameters(), lr=settings.learning_rate),
        }

    def train_step(self, batch: Batch, ctx: StepContext) -> Mapping[str, torch.Tensor]:
        o: MLPGANOptions = self.spec.options
        real = batch.image * 2.0 - 1.0
        count = real.shape[0]
        z = torch.randn(count, o.latent_size, device=real.device)
        with ctx.autocast():
            fake = ctx.nets["generator"](z)
            real_logits = ctx.nets["discriminator"](real)
            fake_logits = ctx.nets["discriminator"](fake.detach())
        ones = torch.ones(count, device=real.device)
        zeros = torch.zeros(count, device=real.device)
        loss_d = 0.5 * (F.binary_cross_entropy_with_logits(real_logits.float(), ones)
                        + F.binary_cross_entropy_with_logits(fake_logits.float(), zeros))
        ctx.optimize(loss_d, "discriminator")
        with ctx.autocast():
            logits = self.networks["discriminator"](fake)
        loss_g = F.binary_cross_entropy_with_logits(logits.float(), ones)
        ctx.optimize(loss_g, "generator")
        # the repair generator: damaged image (black hole) + mask -> undamaged image, MSE
        damaged = batch.masked * 2.0 - 1.0
        with ctx.autocast():
            repaired = ctx.nets["repair"](damaged, batch.mask)
        loss_repair = F.mse_loss(repaired.float(), real)
        ctx.optimize(loss_repair, "repair")
        return {"loss_d": loss_d, "loss_g": loss_g, "loss_repair": loss_repair}

    def predict(self, image: torch.Tensor, mask: torch.Tensor, *, seed: int = 0,
                progress: Optional[Callable[[int, int], None]] = None) -> torch.Tensor:
        """(B, C, H, W) in [0, 1] with the hole at 0 and (B, 1, H, W) mask -> (B, C, H, W) in [0, 1]."""
        return (self.networks["repair"](image * 2.0 - 1.0, mask) + 1.0) * 0.5


def build_task(spec: TaskSpec) -> MLPGANTask:
    """The mlp-gan's task factory."""
    return MLPGANTask(spec)


@hookimpl
def model_info() -> ModelInfo:
    """Describe the MLP GAN."""
    return ModelInfo(
        name="mlp-gan",
        title="MLP GAN (report 002)",
        description="Fully connected GAN with a repair generator trained with MSE; small images (32 px)",
        source="Report 002 (Jaramillo & Ghaffari 2024), GAN part",
        trainable=True,
        default_weights=shipped_weights(__file__),
        options=MLPGANOptions,
        channels=(1, 3),
        min_size=4,
        native_size=32,
        crop_margin=8,
    )


@hookimpl
def fill(image: np.ndarray, mask: np.ndarray, options: MLPGANOptions, context: FillContext) -> np.ndarray:
    """float32 (32, 32, C) in [0, 1] and bool hole mask -> float32 (32, 32, C), with trained weights."""
    return neural_fill(model_info(), build_task, image, mask, options, context)


@hookimpl
def train(config: TrainConfig, report: Reporter) -> Path:
    """Train the MLP GAN with the shared trainer; returns the final checkpoint."""
    return fit(config, build_task, report)
