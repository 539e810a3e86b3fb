"""``pconv-unet`` plugin: options, the training task (train + fine-tune stages) and the hooks.

Liu et al. 2018 on the shared trainer (report 003). The U-Net's level count
follows the training image size (7 levels at 256 px, 8 at 512) unless set.
Loss: ``L_valid + 6 L_hole + 0.1 L_tv``, plus the perceptual (0.05) and style
(120) terms only when the user gives an ImageNet VGG16 weights file; without
one they are *unavailable* — logged, and listed in every checkpoint sidecar
under ``extra.unavailable_loss_terms`` — and never replaced by something else.
``loss = "mse"`` is report 003's whole-image MSE.

Stages: ``train`` (Adam at train.learning_rate, paper 2e-4), then from step
``finetune_after + 1`` the ``finetune`` stage: learning rate
``finetune_learning_rate`` (paper 5e-5) and the encoder's BatchNorm frozen
(running statistics fixed, affine parameters no longer updated).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from ...datatypes import FillContext, ModelInfo, Reporter
from ...errors import ConfigError, InpaintError
from ...hookspecs import hookimpl
from ...training import Batch, StepContext, TaskSpec, TrainConfig, TrainSettings, TrainTask, fit
from ..layers import WIDTH_PRESETS
from ..neural import neural_fill, shipped_weights
from .losses import PConvLoss
from .network import PConvUNet, layers_for_size

MODEL = "pconv-unet"
logger = logging.getLogger("inpaint_models.models.pconv_unet")


@dataclass(frozen=True)
class PConvUNetOptions:
    """Options of the partial-convolution U-Net (fixed by a checkpoint once trained).

    Attributes:
        width: channel-width preset: ``paper`` (64..512 channels), ``half``,
            ``quarter`` or ``tiny`` (for a CPU).
        layers: U-Net levels; 0 = from the training image size as in the paper
            (log2(size) - 1: 7 at 256 px, 8 at 512, 5 at 64). Fill crops are
            padded to a multiple of 2**layers.
        loss: ``paper`` (L1: valid + 6 hole + 0.1 TV, + perceptual and style with
            ``vgg_weights``) or ``mse`` (report 003: whole-image mean squared error).
        vgg_weights: ImageNet VGG16 weights file (.pth state_dict or .safetensors)
            enabling the perceptual (0.05) and style (120) terms; without it they
            are reported unavailable. Only read when training.
        finetune_after: steps of the first stage; later steps are the fine-tune
            stage (0 = no fine-tune stage).
        finetune_learning_rate: learning rate of the fine-tune stage (paper 5e-5).
        residual: the output is a correction added to a smooth pre-fill of the hole
            (:func:`..prefill.smooth_fill`; the last layer starts at zero), so training starts
            from a classical fill (``models/prefill.py``).
    """

    width: Literal["paper", "half", "quarter", "tiny"] = "paper"
    layers: int = 0
    loss: Literal["paper", "mse"] = "paper"
    vgg_weights: Path | None = None
    finetune_after: int = 0
    finetune_learning_rate: float = 5e-5
    residual: bool = False

    def __post_init__(self) -> None:
        if self.width not in WIDTH_PRESETS:
            raise ValueError(f"width must be one of {sorted(WIDTH_PRESETS)}, got {self.width!r}")
        if self.layers != 0 and not 2 <= self.layers <= 10:
            raise ValueError(f"layers must be 0 (from the image size) or between 2 and 10, got {self.layers}")
        if self.loss == "mse" and self.vgg_weights is not None:
            raise ValueError("loss = 'mse' (report 003) has no perceptual or style term: drop vgg_weights")
        if self.finetune_after < 0:
            raise ValueError(f"finetune_after must be >= 0, got {self.finetune_after}")
        if not self.finetune_learning_rate > 0:
            raise ValueError(f"finetune_learning_rate must be positive, got {self.finetune_learning_rate}")


def resolve_layers(options: PConvUNetOptions, image_size: int) -> int:
    """The level count: ``options.layers`` or the paper's rule for ``image_size``."""
    if options.layers:
        return options.layers
    try:
        return layers_for_size(image_size)
    except InpaintError:
        raise ConfigError(
            f"[train] image_size {image_size} is not a power of two, so pconv-unet cannot derive its level "
            f"count from it; use a power-of-two image_size (256 -> 7 levels) or set [model] layers"
        ) from None


class PConvUNetTask(TrainTask):
    """One U-Net, one Adam optimiser (encoder BatchNorm in its own parameter group)."""

    inference_networks = ("unet",)

    def __init__(self, spec: TaskSpec) -> None:
        super().__init__(spec)
        o: PConvUNetOptions = spec.options
        layers = resolve_layers(o, spec.image_size)
        unet = PConvUNet(layers=layers, width=o.width, channels=spec.channels, residual=o.residual)
        self.size_multiple = unet.size_multiple
        self.networks = {"unet": unet}
        self.loss: PConvLoss | None = None
        self.unavailable: dict[str, str] = {}
        self._optimizer: torch.optim.Optimizer | None = None
        if spec.train is None:
            return
        if spec.image_size % unet.size_multiple:
            raise ConfigError(f"[train] image_size {spec.image_size} must be a multiple of 2**layers = "
                              f"{unet.size_multiple} for a {layers}-level pconv-unet")
        if spec.train.batch_size < 2 and spec.image_size == unet.size_multiple:
            raise ConfigError("[train] batch_size of at least 2 is needed: the U-Net's bottleneck is 1x1 "
                              "and BatchNorm needs more than one value per channel")
        if o.vgg_weights is not None and spec.channels != 3:
            raise ConfigError("[model] vgg_weights: the perceptual and style terms need RGB images (channels = 3)")
        try:
            self.loss = PConvLoss(vgg_weights=o.vgg_weights, mode=o.loss)
        except InpaintError as error:
            raise ConfigError(f"[model] vgg_weights: {error}") from None
        self.unavailable = dict(self.loss.unavailable)
        if o.loss == "paper":
            for term, reason in self.unavailable.items():
                logger.warning("pconv-unet: the %s loss term is unavailable (%s); training without it",
                               term, reason)

    # -- set-up ------------------------------------------------------------------------
    def configure_optimizers(self, settings: TrainSettings) -> dict[str, torch.optim.Optimizer]:
        unet: PConvUNet = self.networks["unet"]
        frozen_ids = {id(p) for p in self._encoder_bn_parameters()}
        rest = [p for p in unet.parameters() if id(p) not in frozen_ids]
        groups = [{"params": rest, "name": "main"}]
        if frozen_ids:
            groups.append({"params": list(self._encoder_bn_parameters()), "name": "encoder_bn"})
        self._optimizer = torch.optim.Adam(groups, lr=settings.learning_rate, weight_decay=settings.weight_decay)
        return {"unet": self._optimizer}

    def _encoder_bn_parameters(self):
        for block in self.networks["unet"].encoder:
            if block.bn is not None:
                yield from block.bn.parameters()

    # -- training ----------------------------------------------------------------------
    def phase(self, step: int) -> str:
        """``train``, then ``finetune`` after ``finetune_after`` steps (when set)."""
        after = self.spec.options.finetune_after
        return "finetune" if after and step > after else "train"

    def _enter_finetune(self, ctx: StepContext) -> None:
        """Switch to the fine-tune stage (idempotent: also right after a resume)."""
        o: PConvUNetOptions = self.spec.options
        unet: PConvUNet = self.networks["unet"]
        if not unet.encoder_bn_frozen:
            if hasattr(ctx.nets["unet"], "module"):
                # under DDP the parameter set must not change: keep requires_grad, freeze the running
                # statistics (eval mode) and stop updates through a zero learning rate below
                unet.encoder_bn_frozen = True
                unet.train(unet.training)
            else:
                unet.freeze_encoder_bn(True)
        optimizer = self._optimizer
        if optimizer is None:
            return
        for group in optimizer.param_groups:
            target = 0.0 if group.get("name") == "encoder_bn" else o.finetune_learning_rate
            if group["initial_lr"] != target:
                # the trainer already set this step's lr from the old value: rescale it too
                factor = group["lr"] / group["initial_lr"] if group["initial_lr"] else 1.0
                group["initial_lr"] = target
                group["lr"] = target * factor

    def train_step(self, batch: Batch, ctx: StepContext) -> Mapping[str, torch.Tensor]:
        if ctx.phase == "finetune":
            self._enter_finetune(ctx)
        loss_fn = self.loss
        if loss_fn.vgg is not None and next(loss_fn.vgg.parameters()).device != batch.image.device:
            loss_fn.to(batch.image.device)
        with ctx.autocast():
            output = ctx.nets["unet"](batch.masked, batch.mask)
        terms = loss_fn(output.float(), batch.image, batch.mask)
        ctx.optimize(terms["total"], "unet")
        return {"loss": terms["total"], **{k: v for k, v in terms.items() if k != "total"}}

    def extra_state(self) -> dict[str, Any]:
        """Saved in the sidecar: which loss terms were not computed, and why."""
        return {"unavailable_loss_terms": dict(self.unavailable),
                "encoder_bn_frozen": bool(self.networks["unet"].encoder_bn_frozen)}

    # -- inference ---------------------------------------------------------------------
    def predict(self, image, mask, *, seed=0, progress=None):
        return self.networks["unet"](image, mask)


def build_task(spec: TaskSpec) -> PConvUNetTask:
    """The pconv-unet's task factory."""
    return PConvUNetTask(spec)


@hookimpl
def model_info() -> ModelInfo:
    """Describe the partial-convolution U-Net."""
    return ModelInfo(
        name=MODEL,
        title="Partial-convolution U-Net",
        description="U-Net of partial convolutions (mask update, border renormalisation) for free-form holes; "
                    "L1 valid + 6 hole + 0.1 TV (+ VGG16 perceptual/style when supplied) or MSE",
        source="Liu et al. 2018, 'Image Inpainting for Irregular Holes Using Partial Convolutions'; report 003",
        trainable=True,
        default_weights=shipped_weights(__file__),
        options=PConvUNetOptions,
        channels=(1, 3),
        min_size=8,
        size_multiple=1,  # the checkpoint's 2**layers: the neural fill helper pads each crop to it
        crop_margin=128,
    )


@hookimpl
def fill(image: np.ndarray, mask: np.ndarray, options: PConvUNetOptions, context: FillContext) -> np.ndarray:
    """float32 (H, W, C) in [0, 1] and bool hole mask -> float32 (H, W, C), with trained weights."""
    return neural_fill(model_info(), build_task, image, mask, options, context)


@hookimpl
def train(config: TrainConfig, report: Reporter) -> Path:
    """Train the partial-convolution U-Net with the shared trainer; returns the final checkpoint."""
    return fit(config, build_task, report)
