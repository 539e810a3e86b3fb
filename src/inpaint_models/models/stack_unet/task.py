"""``stack-unet`` training task: the 2.5D network, its masked loss, plane and volume prediction, the added noise."""

from __future__ import annotations

from typing import Any, Callable, Mapping, Optional

import numpy as np
import torch
import torch.nn.functional as F

from inpaint_models.contract.errors import ConfigError
from inpaint_models.models.stack_unet.network import StackInpainter
from inpaint_models.models.stack_unet.noise import add_noise, noise_model
from inpaint_models.models.stack_unet.plugin import StackUNetOptions
from inpaint_models.training.config import TrainSettings
from inpaint_models.training.data import Batch
from inpaint_models.training.task import StepContext, TaskSpec, TrainTask

#: planes predicted per forward pass at fill time (bounds memory on large volumes)
_PLANES_PER_PASS = 16
#: Adam's moment decays: a second moment that forgets faster (0.99) kept fits at the high learning rate of
#: short budgets (2e-3) from diverging midway, which 0.999 did in one of two 1200-step fits of the stack sample
ADAM_BETAS = (0.9, 0.99)


def widths_of(o: StackUNetOptions) -> tuple[int, ...]:
    """Channels per level: width x 1, 2, 3, 4... (16, 32, 48, 64 by default)."""
    return tuple(o.width * (level + 1) for level in range(o.levels))


class StackUNetTask(TrainTask):
    """One 2.5D network, one AdamW optimiser, a loss on the artificial holes' known pixels.

    ``context_planes`` tells the trainer's array data source
    (:mod:`inpaint_models.training.array_data`) to send the 2r + 1 planes
    around each target plane with the pixels the loss may read (``Batch.weight``).
    From image folders (2D batches) the network gets one plane and unknown
    neighbours, and the loss covers the generated hole. ``predict`` reports
    its progress in planes.
    """

    progress_unit = "planes"

    def __init__(self, spec: TaskSpec) -> None:
        super().__init__(spec)
        o: StackUNetOptions = spec.options
        self.size_multiple = 2 ** (o.levels - 1)
        if spec.train is not None and spec.image_size % self.size_multiple:
            raise ConfigError(f"[train] image_size {spec.image_size} must be a multiple of 2**(levels - 1) = "
                              f"{self.size_multiple} for stack-unet")
        self.context_planes = int(o.context_planes)
        self.networks = {"stack_unet": StackInpainter(spec.channels, self.context_planes, widths_of(o))}

    def configure_optimizers(self, settings: TrainSettings) -> dict[str, torch.optim.Optimizer]:
        return {"stack_unet": torch.optim.AdamW(self.networks["stack_unet"].parameters(), lr=settings.learning_rate,
                                                betas=ADAM_BETAS, weight_decay=settings.weight_decay)}

    def prepare(self, statistics: Mapping[str, Any]) -> None:
        """Normalise by the known pixels' mean and standard deviation (saved as buffers with the weights)."""
        net = self.networks["stack_unet"]
        mean = torch.as_tensor(np.asarray(statistics.get("mean", 0.5), np.float32)).reshape(-1)
        std = torch.as_tensor(np.asarray(statistics.get("std", 0.25), np.float32)).reshape(-1)
        with torch.no_grad():
            net.offset.copy_(mean.expand_as(net.offset))
            net.scale.copy_(std.clamp_min(1e-3).expand_as(net.scale))

    # -- training -------------------------------------------------------------------
    def _planes(self, image: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, C, K, H, W) planes (0 where unknown) and masks; a 2D batch gets unknown neighbours."""
        if image.ndim == 4:
            image, mask = image[:, :, None], mask[:, :, None]
        r = self.context_planes
        have = image.shape[2] // 2
        if have < r:  # fewer planes than the network reads: the missing ones are unknown
            pad = (0, 0, 0, 0, r - have, r - have)
            image, mask = F.pad(image, pad), F.pad(mask, pad, value=1.0)
        elif have > r:
            image, mask = image[:, :, have - r : have + r + 1], mask[:, :, have - r : have + r + 1]
        # where(), not a product: a hole pixel holding NaN must not reach the network
        return torch.where(mask > 0.5, torch.zeros_like(image), image), mask

    def train_step(self, batch: Batch, ctx: StepContext) -> Mapping[str, torch.Tensor]:
        o: StackUNetOptions = self.spec.options
        target = batch.target_plane()  # a volume batch is scored on its target plane
        truth = target.image
        weight = target.mask if target.weight is None else target.weight
        planes, masks = self._planes(batch.image, batch.mask)
        with ctx.autocast():
            predicted = ctx.nets["stack_unet"](planes, masks)
        # the loss reads only the weighted pixels: where() (not a product, whose gradient would carry a
        # NaN through) keeps whatever an unknown pixel holds out of the loss and its gradient
        truth = torch.where(weight > 0, truth, torch.zeros_like(truth))
        error = predicted.float() - truth
        error = error**2 if o.loss == "mse" else error.abs()
        loss = (error * weight).sum() / (weight.sum() * truth.shape[1]).clamp_min(1.0)
        ctx.optimize(loss, "stack_unet")
        return {"loss": loss}

    # -- inference ---------------------------------------------------------------------
    def predict(self, image: torch.Tensor, mask: torch.Tensor, *, seed: int = 0,
                progress: Optional[Callable[[int, int], None]] = None) -> torch.Tensor:
        """Fill planes (B, C, H, W) or volumes (B, C, D, H, W) in [0, 1] (hole at 0); mask 1 = hole.

        A volume's planes read their neighbours inside the volume (beyond its
        ends they are unknown); a plane reads none. Returns the input's shape;
        only planes with a hole are predicted (the others are returned as given).
        """
        if image.ndim == 4:
            return self.predict(image[:, :, None], mask[:, :, None], seed=seed, progress=progress)[:, :, 0]
        net = self.networks["stack_unet"]
        r = self.context_planes
        b, d = image.shape[0], image.shape[2]
        padded = F.pad(torch.where(mask > 0.5, torch.zeros_like(image), image), (0, 0, 0, 0, r, r))
        padded_mask = F.pad(mask, (0, 0, 0, 0, r, r), value=1.0)
        out = image.clone()
        jobs = [(i, z) for i in range(b) for z in range(d) if bool(mask[i, 0, z].any())]
        for start in range(0, len(jobs), _PLANES_PER_PASS):
            chunk = jobs[start : start + _PLANES_PER_PASS]
            planes = torch.stack([padded[i, :, z : z + 2 * r + 1] for i, z in chunk])
            masks = torch.stack([padded_mask[i, :, z : z + 2 * r + 1] for i, z in chunk])
            predicted = net(planes, masks).to(out.dtype)
            for (i, z), plane in zip(chunk, predicted):
                out[i, :, z] = plane
            if progress is not None:
                progress(min(start + _PLANES_PER_PASS, len(jobs)), len(jobs))
        return out.clamp(0.0, 1.0)


def build_task(spec: TaskSpec) -> StackUNetTask:
    """The stack U-Net's task factory."""
    return StackUNetTask(spec)


def finish_fill(predicted: np.ndarray, image: np.ndarray, mask: np.ndarray,
                options: StackUNetOptions) -> np.ndarray:
    """With ``options.noise``, add noise measured on the crop's known pixels to the prediction.

    Args:
        predicted: float32 (H, W, C) or (D, H, W, C) in [0, 1], the network's fill.
        image: the crop as the model got it (hole pixels at 0), same shape.
        mask: bool (H, W) or (D, H, W), True = filled.
        options: the fill's options (``noise``, ``seed``).

    Returns:
        float32 of the prediction's shape (the prediction itself without ``noise``).
    """
    if not options.noise:
        return predicted
    volume = image if image.ndim == 4 else image[np.newaxis]
    holes = mask if mask.ndim == 3 else mask[np.newaxis]
    out = predicted if predicted.ndim == 4 else predicted[np.newaxis]
    noisy = add_noise(out, holes, noise_model(volume, holes), seed=options.seed)
    return noisy if image.ndim == 4 else noisy[0]
