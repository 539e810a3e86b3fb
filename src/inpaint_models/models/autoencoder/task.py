"""``autoencoder`` training task: the network for the options, the reconstruction loss, prediction."""

from __future__ import annotations

from typing import Callable, Mapping, Optional

import torch

from inpaint_models.models.autoencoder.network import Autoencoder
from inpaint_models.models.autoencoder.plugin import AutoencoderOptions
from inpaint_models.models.prefill import ResidualOverFill, zero_init
from inpaint_models.training.config import TrainSettings
from inpaint_models.training.data import Batch
from inpaint_models.training.task import StepContext, TaskSpec, TrainTask


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
        self.check_image_size(multiple, f"2**depth = {multiple} for the autoencoder")
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
