"""``glcic`` training task: completion network + context discriminator in three phases; fill post-processing.

One trainer step is one iteration of the paper's Algorithm 1 (see ``plugin.py``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np
import torch
from torch import nn

from inpaint_models.contract.errors import ConfigError, OptionError
from inpaint_models.models.glcic.losses import PhaseSchedule, completion_loss, discriminator_loss
from inpaint_models.models.glcic.network import CompletionNetwork, GLCICDiscriminator
from inpaint_models.models.glcic.plugin import GLCICOptions
from inpaint_models.models.layers import local_patch_size
from inpaint_models.training.config import TrainSettings
from inpaint_models.training.data import Batch
from inpaint_models.training.task import StepContext, TaskSpec, TrainTask


@contextlib.contextmanager
def _running_stats_kept(module: nn.Module) -> Iterator[None]:
    """Forward in train mode (batch statistics) without moving BatchNorm's running statistics."""
    saved = [(buffer, buffer.clone()) for name, buffer in module.named_buffers()
             if name.rsplit(".", 1)[-1] in ("running_mean", "running_var", "num_batches_tracked")]
    try:
        yield
    finally:
        with torch.no_grad():
            for buffer, value in saved:
                buffer.copy_(value)


class GLCICTask(TrainTask):
    """Completion network + context discriminator, trained in three phases."""

    inference_networks = ("completion",)
    size_multiple = CompletionNetwork.size_multiple

    def __init__(self, spec: TaskSpec) -> None:
        super().__init__(spec)
        o: GLCICOptions = spec.options
        self.schedule = PhaseSchedule(o.completion_steps, o.discriminator_steps)
        self.networks = {"completion": CompletionNetwork(o.width, spec.channels, residual=o.residual)}
        if spec.train is None:
            return
        size = spec.image_size
        self.check_image_size(self.size_multiple, f"{self.size_multiple} for glcic (two stride-2 layers)")
        try:
            local = local_patch_size(size, o.local_size or None)
        except OptionError:
            raise ConfigError(f"[model] local_size {o.local_size} is larger than train.image_size {size}") from None
        if spec.train.steps <= o.completion_steps:
            return  # the run never leaves the completion phase: no discriminator to build, train or save
        if spec.train.batch_size < 2:
            raise ConfigError("[train] batch_size of at least 2 is needed by glcic's discriminator (BatchNorm "
                              f"on 1x1 features), got {spec.train.batch_size}")
        self.networks["discriminator"] = GLCICDiscriminator(size, local, o.width, spec.channels)

    # -- set-up ------------------------------------------------------------------------
    def prepare(self, statistics: Mapping[str, Any]) -> None:
        """The hole is filled with the training set's mean pixel (saved with the weights)."""
        self.networks["completion"].set_mean_pixel(torch.as_tensor(np.asarray(statistics["mean"]),
                                                                   dtype=torch.float32))

    def configure_optimizers(self, settings: TrainSettings) -> dict[str, torch.optim.Optimizer]:
        o: GLCICOptions = self.spec.options

        def make(network: nn.Module, lr: float) -> torch.optim.Optimizer:
            if o.optimizer == "adadelta":
                return torch.optim.Adadelta(network.parameters(), lr=lr, weight_decay=settings.weight_decay)
            return torch.optim.Adam(network.parameters(), lr=lr, betas=(0.5, 0.999),
                                    weight_decay=settings.weight_decay)

        optimizers = {"completion": make(self.networks["completion"], settings.learning_rate)}
        if "discriminator" in self.networks:
            optimizers["discriminator"] = make(self.networks["discriminator"], settings.d_learning_rate)
        return optimizers

    # -- training ----------------------------------------------------------------------
    def phase(self, step: int) -> str:
        """``completion``, ``discriminator`` or ``joint`` at 1-based ``step``."""
        return self.schedule.phase(max(step, 1) - 1).value

    def _discriminator_step(self, ctx: StepContext, real: torch.Tensor, completed: torch.Tensor,
                            mask: torch.Tensor) -> torch.Tensor:
        discriminator = ctx.nets["discriminator"]
        with ctx.autocast():
            real_logits = discriminator(real, mask)
            fake_logits = discriminator(completed, mask)
        loss = discriminator_loss(real_logits.float(), fake_logits.float())
        ctx.optimize(loss, "discriminator")
        return loss

    def train_step(self, batch: Batch, ctx: StepContext) -> Mapping[str, torch.Tensor]:
        o: GLCICOptions = self.spec.options
        image, mask = batch.image, batch.mask
        if ctx.phase == "discriminator":  # C frozen: no gradient, running statistics untouched
            completion = self.networks["completion"]
            with torch.no_grad(), _running_stats_kept(completion), ctx.autocast():
                predicted = completion(image, mask)
            completed = mask * predicted.float() + (1 - mask) * image
            return {"loss_d": self._discriminator_step(ctx, image, completed, mask)}

        with ctx.autocast():
            predicted = ctx.nets["completion"](image, mask)
        predicted = predicted.float()
        losses: dict[str, torch.Tensor] = {}
        if ctx.phase == "joint":
            completed = mask * predicted + (1 - mask) * image
            losses["loss_d"] = self._discriminator_step(ctx, image, completed.detach(), mask)
            with ctx.autocast():  # D scores C's completion; only C is updated by this loss
                fake_logits = self.networks["discriminator"](completed, mask)
            terms = completion_loss(predicted, image, mask, fake_logits.float(), o.alpha)
            losses["gan"] = terms["gan"]
        else:
            terms = completion_loss(predicted, image, mask)
        ctx.optimize(terms["total"], "completion")
        losses["mse"] = terms["mse"]
        losses["loss_c"] = terms["total"]
        return losses

    # -- inference ---------------------------------------------------------------------
    def predict(self, image, mask, *, seed=0, progress=None):
        return self.networks["completion"](image, mask)


def build_task(spec: TaskSpec) -> GLCICTask:
    """GLCIC's task factory."""
    return GLCICTask(spec)


def finish_fill(predicted: np.ndarray, image: np.ndarray, mask: np.ndarray, options: GLCICOptions) -> np.ndarray:
    """With ``options.postprocess``: Poisson-blend the float32 (H, W, C) [0, 1] completion into a Telea fill."""
    if not options.postprocess:
        return predicted
    from inpaint_models.models.glcic.postprocess import telea_poisson_blend  # OpenCV, only when asked for

    return telea_poisson_blend(predicted, image, mask, radius=options.blend_radius)
