"""``stack-unet`` training task: the 2.5D network, its masked loss, plane and volume prediction, the added noise."""

from __future__ import annotations

import contextlib
from typing import Any, Callable, Mapping, Optional

import numpy as np
import torch
import torch.nn.functional as F

from inpaint_models.contract.errors import ConfigError
from inpaint_models.models import lost_planes
from inpaint_models.models.stack_unet.network import StackInpainter
from inpaint_models.models.stack_unet.noise import add_noise, noise_model
from inpaint_models.models.stack_unet.plugin import StackUNetOptions
from inpaint_models.training.config import TrainSettings
from inpaint_models.training.data import Batch
from inpaint_models.training.task import StepContext, TaskSpec, TrainTask

#: planes predicted per forward pass at fill time (bounds memory on large volumes)
_PLANES_PER_PASS = 16
#: target-plane pixels per forward pass on a CPU, training and prediction alike: a training batch larger
#: than this is split into passes whose gradients add up to the batch's, and prediction takes fewer planes
#: per pass (8 crops of 112 x 112 become two passes of 4: about 70 MB less at the peak of a step, which
#: keeps a 30 s fit of a (32, 1024, 1024) stack under 1 GB); on CUDA a batch is one pass
PIXELS_PER_PASS = 1 << 16
#: Adam's moment decays: a second moment that forgets faster (0.99) kept fits at the high learning rate of
#: short budgets (2e-3) from diverging midway, which 0.999 did in one of two 1200-step fits of the stack sample
ADAM_BETAS = (0.9, 0.99)


def passes(count: int, plane: tuple[int, int], device: torch.device, most: Optional[int] = None) -> list[slice]:
    """Slices of ``count`` planes of ``plane`` (H, W) pixels, taken in forward passes of bounded memory.

    On a CPU each pass holds at most :data:`PIXELS_PER_PASS` pixels (at least
    one plane); elsewhere all of them, up to ``most`` planes per pass when given.
    """
    per_pass = count if most is None else min(count, most)
    if device.type == "cpu":
        per_pass = min(per_pass, PIXELS_PER_PASS // max(1, int(plane[0]) * int(plane[1])))
    per_pass = max(1, per_pass)
    return [slice(start, min(start + per_pass, count)) for start in range(0, count, per_pass)]


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
        """One AdamW step on the batch's masked loss, in passes of at most :data:`PIXELS_PER_PASS` on a CPU.

        The loss is the batch's mean error over its weighted pixels; each pass
        back-propagates its share of that sum, so the accumulated gradient is
        the whole batch's (up to the order of float additions) at a fraction
        of the activations' memory.
        """
        target = batch.target_plane()  # a volume batch is scored on its target plane
        weight = target.mask if target.weight is None else target.weight
        denominator = (weight.sum() * target.image.shape[1]).clamp_min(1.0)
        chunks = passes(batch.image.shape[0], target.image.shape[-2:], batch.image.device)
        ctx.zero_grad("stack_unet")
        total = torch.zeros((), device=batch.image.device)
        for index, rows in enumerate(chunks):
            sync = ctx.no_sync("stack_unet") if index < len(chunks) - 1 else contextlib.nullcontext()
            with sync:
                part = self._loss_sum(batch.image[rows], batch.mask[rows], target.image[rows], weight[rows], ctx)
                share = part / denominator
                ctx.backward(share, "stack_unet")
            total = total + share.detach()
        ctx.update("stack_unet")
        return {"loss": total}

    def _loss_sum(self, image: torch.Tensor, mask: torch.Tensor, truth: torch.Tensor, weight: torch.Tensor,
                  ctx: StepContext) -> torch.Tensor:
        """The summed masked error (``mse`` or ``l1``) of one pass over ``weight``'s pixels.

        ``image`` (b, C, K, H, W) or (b, C, H, W), ``mask`` 1 = unknown, ``truth``
        (b, C, H, W) and ``weight`` (b, 1, H, W) of the target plane.
        """
        planes, masks = self._planes(image, mask)
        with ctx.autocast():
            predicted = ctx.nets["stack_unet"](planes, masks)
        # the loss reads only the weighted pixels: where() (not a product, whose gradient would carry a
        # NaN through) keeps whatever an unknown pixel holds out of the loss and its gradient
        truth = torch.where(weight > 0, truth, torch.zeros_like(truth))
        error = predicted.float() - truth
        error = error**2 if self.spec.options.loss == "mse" else error.abs()
        return (error * weight).sum()

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
        for part in passes(len(jobs), image.shape[-2:], image.device, most=_PLANES_PER_PASS):
            chunk = jobs[part]
            planes = torch.stack([padded[i, :, z : z + 2 * r + 1] for i, z in chunk])
            masks = torch.stack([padded_mask[i, :, z : z + 2 * r + 1] for i, z in chunk])
            predicted = net(planes, masks).to(out.dtype)
            for (i, z), plane in zip(chunk, predicted):
                out[i, :, z] = plane
            if progress is not None:
                progress(part.stop, len(jobs))
        return out.clamp(0.0, 1.0)


def build_task(spec: TaskSpec) -> StackUNetTask:
    """The stack U-Net's task factory."""
    return StackUNetTask(spec)


def finish_fill(predicted: np.ndarray, image: np.ndarray, mask: np.ndarray,
                options: StackUNetOptions) -> np.ndarray:
    """The network's fill finished: lost planes by the stack's predictor, then, with ``options.noise``, noise.

    Args:
        predicted: float32 (H, W, C) or (D, H, W, C) in [0, 1], the network's fill.
        image: the crop as the model got it (hole pixels at 0), same shape.
        mask: bool (H, W) or (D, H, W), True = filled.
        options: the fill's options (``predict_lost_planes``, ``noise``, ``seed``).

    Returns:
        float32 of the prediction's shape: with ``predict_lost_planes`` a
        volume's isolated wholly lost planes come from
        :func:`inpaint_models.models.lost_planes.fill_lost_planes` (fitted on
        the crop's known voxels, reading the network's fill of the other holes);
        with ``noise``, noise measured on the crop's known pixels is added.
    """
    if options.predict_lost_planes and predicted.ndim == 4:
        predicted = with_lost_planes_predicted(predicted, image, mask)
    if not options.noise:
        return predicted
    volume = image if image.ndim == 4 else image[np.newaxis]
    holes = mask if mask.ndim == 3 else mask[np.newaxis]
    out = predicted if predicted.ndim == 4 else predicted[np.newaxis]
    noisy = add_noise(out, holes, noise_model(volume, holes), seed=options.seed)
    return noisy if image.ndim == 4 else noisy[0]


def with_lost_planes_predicted(predicted: np.ndarray, image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """float32 (D, H, W, C) ``predicted`` with its isolated wholly lost planes from the stack's linear predictor.

    The predictor is fitted on the crop's own known voxels (``image`` where
    ``mask`` is False) and reads the neighbouring planes with their holes
    filled by the network; its planes are clipped to [0, 1]. Planes the
    predictor does not take keep the network's fill. ``predicted`` is not
    modified (a new array when a plane is replaced).
    """
    if not lost_planes.lost_planes(mask):
        return predicted
    work = np.array(predicted, dtype=np.float32, copy=True)
    known = ~mask
    work[known] = image[known]
    replaced = lost_planes.fill_lost_planes(work, mask)
    if not replaced:
        return predicted
    out = np.array(predicted, dtype=np.float32, copy=True)
    # a linear predictor may overshoot; [0, 1] is the crop's known range (fill maps it so), where biharmonic
    # clips its own fill too
    out[replaced] = np.clip(work[replaced], 0.0, 1.0)
    return out
