"""``autoencoder`` plugin: options, training task and hooks."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Literal, Mapping, Optional

import numpy as np
import torch

from ...datatypes import FillContext, ModelInfo, Reporter
from ...errors import ConfigError
from ...hookspecs import hookimpl
from ...training import Batch, StepContext, TaskSpec, TrainConfig, TrainSettings, TrainTask, fit
from ..neural import neural_fill, shipped_weights
from ..prefill import ResidualOverFill, zero_init
from .network import Autoencoder


@dataclass(frozen=True)
class AutoencoderOptions:
    """Options of the autoencoder (fixed by a checkpoint once trained).

    Attributes:
        depth: number of down-sampling levels (004: 4); crops are padded to a multiple of 2**depth.
        width: channels of the first level; doubled per level up to 8x.
        attention: SAGAN self-attention at the bottleneck (report 000's CNN-ARG).
        loss: ``mse`` (report 000) or ``l1``.
        hole_weight: weight of hole pixels in the loss relative to known pixels
            (1 = plain whole-image loss as in report 000).
        mask_input: give the network the mask as an extra input channel.
        output: final activation, ``sigmoid`` or ``tanh`` (rescaled to [0, 1]); ignored when ``residual``.
        residual: the hole enters the network pre-filled by :func:`..prefill.smooth_fill` and the
            network's (raw, zero-initialised) output is added to that fill, so training starts from a
            classical fill and learns the correction (see ``models/prefill.py``).
    """

    depth: int = 4
    width: int = 32
    attention: bool = False
    loss: Literal["mse", "l1"] = "mse"
    hole_weight: float = 1.0
    mask_input: bool = True
    output: Literal["sigmoid", "tanh"] = "sigmoid"
    residual: bool = False

    def __post_init__(self) -> None:
        if not 1 <= self.depth <= 8:
            raise ValueError(f"depth must be between 1 and 8, got {self.depth}")
        if self.width < 1:
            raise ValueError(f"width must be at least 1, got {self.width}")
        if self.hole_weight < 0:
            raise ValueError(f"hole_weight must be >= 0, got {self.hole_weight}")


def build_network(channels: int, o: AutoencoderOptions) -> torch.nn.Module:
    """The autoencoder for ``o``; with ``o.residual`` wrapped as smooth pre-fill + zero-initialised correction."""
    if not o.residual:
        return Autoencoder(channels, o.depth, o.width, o.attention, o.mask_input, o.output)
    net = Autoencoder(channels, o.depth, o.width, o.attention, o.mask_input, "raw")
    zero_init(net.head)
    return ResidualOverFill(net)


def weighted_loss(prediction: torch.Tensor, target: torch.Tensor, mask: torch.Tensor, kind: str,
                  hole_weight: float) -> torch.Tensor:
    """Per-pixel MSE or L1, hole pixels weighted ``hole_weight``, known pixels 1 (normalised mean)."""
    error = (prediction - target) ** 2 if kind == "mse" else (prediction - target).abs()
    weight = 1.0 + (hole_weight - 1.0) * mask
    return (error * weight).sum() / (weight.sum() * prediction.shape[1]).clamp_min(1e-8)


class AutoencoderTask(TrainTask):
    """One network, one optimiser, a reconstruction loss."""

    def __init__(self, spec: TaskSpec) -> None:
        super().__init__(spec)
        o: AutoencoderOptions = spec.options
        multiple = 2**o.depth
        if spec.train is not None and spec.image_size % multiple:
            raise ConfigError(
                f"[train] image_size {spec.image_size} must be a multiple of 2**depth = {multiple} for the autoencoder"
            )
        self.size_multiple = multiple
        self.networks = {"autoencoder": build_network(spec.channels, o)}

    def configure_optimizers(self, settings: TrainSettings) -> dict[str, torch.optim.Optimizer]:
        return {"autoencoder": torch.optim.Adam(self.networks["autoencoder"].parameters(), lr=settings.learning_rate,
                                                weight_decay=settings.weight_decay)}

    def train_step(self, batch: Batch, ctx: StepContext) -> Mapping[str, torch.Tensor]:
        o: AutoencoderOptions = self.spec.options
        with ctx.autocast():
            prediction = ctx.nets["autoencoder"](batch.masked, batch.mask)
        loss = weighted_loss(prediction.float(), batch.image, batch.mask, o.loss, o.hole_weight)
        ctx.optimize(loss, "autoencoder")
        return {"loss": loss}

    def predict(self, image: torch.Tensor, mask: torch.Tensor, *, seed: int = 0,
                progress: Optional[Callable[[int, int], None]] = None) -> torch.Tensor:
        """(B, C, H, W) in [0, 1] with the hole at 0 and (B, 1, H, W) mask -> (B, C, H, W) in [0, 1]."""
        return self.networks["autoencoder"](image, mask)


def build_task(spec: TaskSpec) -> AutoencoderTask:
    """The autoencoder's task factory."""
    return AutoencoderTask(spec)


@hookimpl
def model_info() -> ModelInfo:
    """Describe the autoencoder."""
    return ModelInfo(
        name="autoencoder",
        title="Autoencoder (CNN)",
        description="Encoder-decoder CNN trained with a reconstruction loss; optional self-attention (CNN-ARG)",
        source="Report 000 (CNN-RG, CNN-ARG) and report 004's autoencoder baseline",
        trainable=True,
        default_weights=shipped_weights(__file__),
        options=AutoencoderOptions,
        channels=(1, 3),
        min_size=16,
        size_multiple=16,
        crop_margin=128,
    )


@hookimpl
def fill(image: np.ndarray, mask: np.ndarray, options: AutoencoderOptions, context: FillContext) -> np.ndarray:
    """float32 (H, W, C) in [0, 1] and bool (H, W) hole mask -> float32 (H, W, C), with trained weights."""
    return neural_fill(model_info(), build_task, image, mask, options, context)


@hookimpl
def train(config: TrainConfig, report: Reporter) -> Path:
    """Train the autoencoder with the shared trainer; returns the final checkpoint."""
    return fit(config, build_task, report)
