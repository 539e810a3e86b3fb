"""``pconv-unet`` training task: one U-Net, the train and fine-tune stages, prediction."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import torch

from inpaint_models.contract.errors import ConfigError, InpaintError
from inpaint_models.models.pconv_unet.losses import PConvLoss
from inpaint_models.models.pconv_unet.network import PConvUNet, layers_for_size
from inpaint_models.models.pconv_unet.plugin import PConvUNetOptions
from inpaint_models.training.config import TrainSettings
from inpaint_models.training.data import Batch
from inpaint_models.training.task import StepContext, TaskSpec, TrainTask

logger = logging.getLogger("inpaint_models.models.pconv_unet")


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
        self.check_image_size(unet.size_multiple, f"2**layers = {unet.size_multiple} for a {layers}-level pconv-unet")
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
