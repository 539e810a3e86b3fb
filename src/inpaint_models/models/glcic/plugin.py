"""``glcic`` plugin: options, the three-phase training task and the hooks.

Iizuka et al. 2017 on the shared trainer (reports 001 and 004). One trainer
step is one iteration of the paper's Algorithm 1:

* ``completion`` (steps 1 .. T_C): the completion network C on the masked MSE;
* ``discriminator`` (the next T_D steps): C frozen, the context discriminator D
  (global + local, joint head) on binary cross-entropy;
* ``joint`` (the rest): one D update, then one C update on MSE + alpha * GAN.

The phase is reported as ``event.extra["stage"]`` in every progress event and
saved in the checkpoint sidecar (``"phase"``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

from ...datatypes import FillContext, ModelInfo, Reporter
from ...errors import ConfigError
from ...hookspecs import hookimpl
from ...training import Batch, StepContext, TaskSpec, TrainConfig, TrainSettings, TrainTask, fill_option, fit
from ..layers import WIDTH_PRESETS
from ..neural import neural_fill, shipped_weights
from .losses import ALPHA, PhaseSchedule, completion_loss, discriminator_loss
from .network import CompletionNetwork, GLCICDiscriminator
from .postprocess import telea_poisson_blend

MODEL = "glcic"


@dataclass(frozen=True)
class GLCICOptions:
    """Options of GLCIC (all but ``postprocess`` / ``blend_radius`` are fixed by a checkpoint).

    Attributes:
        width: channel-width preset of the completion network and the
            discriminators: ``paper`` (the published 6.07M-parameter network),
            ``half``, ``quarter`` or ``tiny`` (for a CPU).
        completion_steps: T_C, steps training the completion network on the
            masked MSE alone (paper: 90000).
        discriminator_steps: T_D, steps training the discriminator alone with
            the completion network frozen (paper: 10000); then joint training.
        alpha: weight of the GAN term in the completion network's loss (paper 4e-4).
        local_size: side of the local discriminator's patch around the hole;
            0 = half the training image size (128 at 256, as in the paper).
        optimizer: ``adam`` (betas 0.5, 0.999) or ``adadelta`` (the paper's; use
            train.learning_rate = 1.0 with it).
        postprocess: at fill time, Poisson-blend the completion into a Telea
            (fast marching) fill of the hole, as in the paper's Sec. 3.5.
        blend_radius: Telea radius (pixels) of the post-processing.
        residual: pre-fill the hole with :func:`..prefill.smooth_fill` instead of the mean
            pixel and learn a correction added to it (zero-initialised last layer, no sigmoid);
            training starts from a classical fill (``models/prefill.py``).
    """

    width: Literal["paper", "half", "quarter", "tiny"] = "paper"
    completion_steps: int = 90000
    discriminator_steps: int = 10000
    alpha: float = ALPHA
    local_size: int = 0
    optimizer: Literal["adam", "adadelta"] = "adam"
    residual: bool = False
    postprocess: bool = fill_option(False)
    blend_radius: int = fill_option(3)

    def __post_init__(self) -> None:
        if self.width not in WIDTH_PRESETS:
            raise ValueError(f"width must be one of {sorted(WIDTH_PRESETS)}, got {self.width!r}")
        if self.completion_steps < 0 or self.discriminator_steps < 0:
            raise ValueError("completion_steps and discriminator_steps must be >= 0")
        if self.alpha < 0:
            raise ValueError(f"alpha must be >= 0, got {self.alpha}")
        if self.local_size < 0:
            raise ValueError(f"local_size must be >= 0 (0 = half the image size), got {self.local_size}")
        if self.blend_radius < 1:
            raise ValueError(f"blend_radius must be at least 1, got {self.blend_radius}")


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
        if size % self.size_multiple:
            raise ConfigError(f"[train] image_size {size} must be a multiple of {self.size_multiple} for glcic "
                              f"(two stride-2 layers)")
        local = o.local_size or size // 2
        if local > size:
            raise ConfigError(f"[model] local_size {local} is larger than train.image_size {size}")
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


@hookimpl
def model_info() -> ModelInfo:
    """Describe GLCIC."""
    return ModelInfo(
        name=MODEL,
        title="GLCIC (global + local discriminators)",
        description="Dilated completion network with global and local context discriminators, trained in "
                    "three phases; optional Telea + Poisson blending",
        source="Iizuka, Simo-Serra & Ishikawa 2017, 'Globally and Locally Consistent Image Completion'; "
               "reports 001 and 004",
        trainable=True,
        default_weights=shipped_weights(__file__),
        options=GLCICOptions,
        channels=(1, 3),
        min_size=8,
        size_multiple=CompletionNetwork.size_multiple,
        crop_margin=128,
    )


@hookimpl
def fill(image: np.ndarray, mask: np.ndarray, options: GLCICOptions, context: FillContext) -> np.ndarray:
    """float32 (H, W, C) in [0, 1] (H, W multiples of 4) and bool hole mask -> float32 (H, W, C)."""
    predicted = neural_fill(model_info(), build_task, image, mask, options, context)
    if not options.postprocess:
        return predicted
    return telea_poisson_blend(predicted, image, mask, radius=options.blend_radius)


@hookimpl
def train(config: TrainConfig, report: Reporter) -> Path:
    """Train GLCIC with the shared trainer (three phases); returns the final checkpoint."""
    return fit(config, build_task, report)
