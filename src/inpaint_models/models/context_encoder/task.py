"""``context-encoder`` training task: generator + discriminator (reconstruction + adversarial), prediction."""

from __future__ import annotations

from typing import Any, Callable, Mapping, Optional

import numpy as np
import torch
import torch.nn.functional as F

from inpaint_models.contract.errors import ConfigError
from inpaint_models.models.context_encoder.network import ContextEncoder, Discriminator, check_size
from inpaint_models.models.context_encoder.plugin import ContextEncoderOptions
from inpaint_models.models.prefill import smooth_fill
from inpaint_models.training.config import TrainSettings
from inpaint_models.training.data import Batch
from inpaint_models.training.task import StepContext, TaskSpec, TrainTask


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
