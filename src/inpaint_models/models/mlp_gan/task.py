"""``mlp-gan`` training task: discriminator, generator and repair generator, one update each per step."""

from __future__ import annotations

from typing import Callable, Mapping, Optional

import torch
import torch.nn.functional as F

from inpaint_models.contract.errors import ConfigError
from inpaint_models.models.mlp_gan.network import MLPDiscriminator, MLPGenerator, RepairGenerator
from inpaint_models.models.mlp_gan.plugin import MLPGANOptions
from inpaint_models.training.config import TrainSettings
from inpaint_models.training.data import Batch
from inpaint_models.training.task import StepContext, TaskSpec, TrainTask


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
