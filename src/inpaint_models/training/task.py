"""What a trainable model gives the shared trainer: a small *task* object.

A task owns the model's networks and optimisers, the loss of one training
step and the prediction used for previews, validation and ``fill``. The
trainer owns everything else (data, device, precision, DDP, EMA, clipping,
learning-rate schedule, validation, previews, logs, checkpoints, resume,
cancellation). See the ``inpaint_models.training`` module docstring for the
whole contract and an example.
"""

from __future__ import annotations

import contextlib
import dataclasses
from dataclasses import dataclass
from typing import Any, Callable, ContextManager, Mapping, Optional, Union

import torch
from torch import nn

from inpaint_models.contract.errors import ConfigError
from inpaint_models.io.sidecar import WeightsGeometry
from inpaint_models.training.config import TrainSettings
from inpaint_models.training.data import Batch

LossValue = Union[float, torch.Tensor]


@dataclass(frozen=True)
class TaskSpec:
    """Everything a task factory needs to build the networks.

    Attributes:
        options: the model's options dataclass instance (``[model]``).
        channels: image channels (1 or 3).
        image_size: side of the training crops; fixed-size networks are built for it.
        train: the ``[train]`` settings when training; None when loading for ``fill``.
    """

    options: Any
    channels: int
    image_size: int
    train: Optional[TrainSettings] = None


class TrainTask:
    """Base class of a model's training task (override what the model needs).

    Attributes:
        networks: name -> module; every one is saved in the weights file (keys
            ``"<name>.<parameter>"``) and moved to the device by the trainer.
        inference_networks: names of the networks ``predict`` uses (default: all);
            these get the EMA and are the ones ``fill`` needs.
        native_size: if set, ``predict`` only takes square inputs of this side
            (the fill pipeline, :mod:`inpaint_models.pipeline.crops`, resizes crops to it);
            None = any size that is a multiple of ``size_multiple``.
        size_multiple: ``predict`` inputs have sides that are multiples of this
            (the fill pipeline pads crops). Both are saved in every checkpoint's
            sidecar (``geometry``, see :meth:`geometry`).
        context_planes: r, the neighbouring planes the model reads on each side
            of the plane it fills (0 = a 2D model). A data source with planes
            around its samples (a fit's stack, :mod:`inpaint_models.training.array_data`)
            sends a task with r > 0 the 2r + 1 planes around each target plane:
            batches of (B, C, 2r + 1, H, W) (see :class:`~inpaint_models.training.data.Batch`);
            image folders send single planes (B, C, H, W) to every task.
        progress_unit: what ``predict``'s ``progress(i, n)`` counts, when it is
            worth saying (``"planes"``): the fill's progress events then read
            ``"i of n planes"``; None = no message.
    """

    networks: dict[str, nn.Module]
    inference_networks: tuple[str, ...] = ()
    native_size: Optional[int] = None
    size_multiple: int = 1
    context_planes: int = 0
    progress_unit: Optional[str] = None

    def __init__(self, spec: TaskSpec) -> None:
        self.spec = spec
        self.networks = {}

    # -- set-up ------------------------------------------------------------------
    def configure_optimizers(self, settings: TrainSettings) -> dict[str, torch.optim.Optimizer]:
        """Create the optimisers (called once, after the networks are on the device).

        The trainer multiplies each parameter group's ``initial_lr`` (set from
        ``lr`` when missing) by the schedule factor at every step; a task that
        changes a learning rate between phases sets ``group["initial_lr"]``.
        """
        raise NotImplementedError

    def prepare(self, statistics: Mapping[str, Any]) -> None:
        """Called once at the start of a fresh run (not on resume) with data statistics.

        ``statistics["mean"]`` is the per-channel mean (numpy (C,)) of training
        crops; store what ``predict`` needs in a network buffer so it is saved
        with the weights (e.g. the context encoder's hole fill value).
        """

    # -- training ----------------------------------------------------------------
    def phase(self, step: int) -> str:
        """Name of the training phase at ``step`` (GLCIC: ``completion``, ``discriminator``, ``joint``)."""
        return "train"

    def train_step(self, batch: Batch, ctx: "StepContext") -> Mapping[str, LossValue]:
        """Run one optimisation step and return its losses by name.

        Use ``ctx.nets[name]`` (DDP-wrapped when distributed) for a forward pass
        whose loss updates that network, ``ctx.autocast()`` around forward passes,
        and ``ctx.optimize(loss, "generator")`` (or ``ctx.backward`` + ``ctx.update``)
        to update; ``ctx.next_batch()`` draws further batches (critic steps).
        """
        raise NotImplementedError

    def train_mode(self) -> None:
        """Put the networks in training mode (override to keep some BatchNorm frozen)."""
        for network in self.networks.values():
            network.train()

    def eval_mode(self) -> None:
        """Put the networks in evaluation mode."""
        for network in self.networks.values():
            network.eval()

    # -- inference ---------------------------------------------------------------
    def predict(self, image: torch.Tensor, mask: torch.Tensor, *, seed: int = 0,
                progress: Optional[Callable[[int, int], None]] = None) -> torch.Tensor:
        """Predict the image from its known pixels.

        Args:
            image: float (B, C, H, W) in [0, 1], hole pixels set to 0; for a
                model that fills volumes (``ModelInfo.spatial_dims`` holding 3)
                also (B, C, D, H, W).
            mask: float (B, 1, H, W) (or (B, 1, D, H, W) with a volume), 1 = hole.
            seed: seed of a stochastic sampler (diffusion); deterministic models ignore it.
            progress: ``progress(i, n)`` between long sampling steps (may raise ``Cancelled``).

        Returns:
            float, the image's shape, in [0, 1]; only the hole pixels are used (the
            caller composites). Called under ``torch.inference_mode`` in eval mode.
        """
        raise NotImplementedError

    def check_image_size(self, multiple: int, what: str) -> None:
        """When training, raise ConfigError unless ``[train] image_size`` is a multiple of ``multiple``.

        ``what`` ends the message: ``"4 for glcic (two stride-2 layers)"``.
        """
        if self.spec.train is not None and self.spec.image_size % max(1, int(multiple)):
            raise ConfigError(f"[train] image_size {self.spec.image_size} must be a multiple of {what}")

    def use_options(self, options: Any) -> None:
        """Take the options of one fill before ``predict`` (a task loaded for ``fill`` is cached and reused).

        ``options`` is the model's options instance: the checkpoint's architecture
        and training values with the fill options of the call. The default keeps
        it as ``self.spec.options``, which ``predict`` reads (a diffusion sampler's
        steps and seed). Override to check a fill option against the weights
        (raise :class:`~inpaint_models.contract.errors.WeightsError`).
        """
        self.spec = dataclasses.replace(self.spec, options=options)

    # -- extra state ---------------------------------------------------------------
    def extra_state(self) -> dict[str, Any]:
        """JSON-able state saved in the checkpoint sidecar (tensors belong in buffers)."""
        return {}

    def load_extra_state(self, state: Mapping[str, Any]) -> None:
        """Restore :meth:`extra_state` (called on resume and when loading for ``fill``)."""

    def geometry(self) -> WeightsGeometry:
        """What ``predict`` accepts: the channel count, the native size, the size multiple (saved in sidecars)."""
        return WeightsGeometry(channels=(int(self.spec.channels),), native_size=self.native_size,
                               size_multiple=max(1, int(self.size_multiple)))

    def inference_names(self) -> tuple[str, ...]:
        """Names of the networks ``predict`` uses."""
        return self.inference_networks or tuple(self.networks)


TaskFactory = Callable[[TaskSpec], TrainTask]


class StepContext:
    """What ``TrainTask.train_step`` receives from the trainer.

    Attributes:
        step: the step being run, from 1 to ``total``.
        total: total steps of the run.
        phase: ``task.phase(step)``.
        device: the training device.
        nets: the task's networks for training forward passes (DDP-wrapped when distributed).
        settings: the ``[train]`` settings.
    """

    def __init__(self, trainer: Any) -> None:
        self._trainer = trainer
        self.step = 0
        self.total = trainer.settings.steps
        self.phase = "train"
        self.device: torch.device = trainer.device
        self.nets: dict[str, nn.Module] = trainer.train_nets
        self.settings: TrainSettings = trainer.settings
        self.grad_norms: dict[str, float] = {}

    def autocast(self) -> ContextManager:
        """Mixed-precision region for forward passes (a no-op in fp32)."""
        return self._trainer.precision.autocast()

    def backward(self, loss: torch.Tensor, optimizer: str) -> None:
        """Back-propagate ``loss`` (scaled for fp16 with ``optimizer``'s gradient scaler)."""
        self._trainer.precision.scaler(optimizer).scale(loss).backward()

    def update(self, optimizer: str) -> Optional[float]:
        """Unscale, clip (``grad_clip``), step and zero ``optimizer``; returns the gradient norm when clipping."""
        return self._trainer.optimizer_step(optimizer, self)

    def zero_grad(self, optimizer: str) -> None:
        """Clear the gradients of ``optimizer``'s parameters."""
        self._trainer.optimizers[optimizer].zero_grad(set_to_none=True)

    def optimize(self, loss: torch.Tensor, optimizer: str) -> Optional[float]:
        """``zero_grad`` + ``backward`` + ``update`` for one optimiser."""
        self.zero_grad(optimizer)
        self.backward(loss, optimizer)
        return self.update(optimizer)

    def next_batch(self) -> Batch:
        """Another batch from the training stream (for extra critic steps)."""
        return self._trainer.next_batch()

    def no_sync(self, name: str) -> ContextManager:
        """DDP's ``no_sync`` for network ``name`` (gradient accumulation); a no-op otherwise."""
        net = self.nets[name]
        return net.no_sync() if hasattr(net, "no_sync") else contextlib.nullcontext()
