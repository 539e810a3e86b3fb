"""``pconv-unet`` plugin: options, model info and hooks (torch-free; the two-stage task is in ``task.py``).

Liu et al. 2018 on the shared trainer. The U-Net's level count
follows the training image size (7 levels at 256 px, 8 at 512) unless set.
Loss: ``L_valid + 6 L_hole + 0.1 L_tv``, plus the perceptual (0.05) and style
(120) terms only when the user gives an ImageNet VGG16 weights file; without
one they are *unavailable* — logged, and listed in every checkpoint sidecar
under ``extra.unavailable_loss_terms`` — and never replaced by something else.
``loss = "mse"`` is a plain whole-image MSE instead.

Stages: ``train`` (Adam at train.learning_rate, paper 2e-4), then from step
``finetune_after + 1`` the ``finetune`` stage: learning rate
``finetune_learning_rate`` (paper 5e-5) and the encoder's BatchNorm frozen
(running statistics fixed, affine parameters no longer updated).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from inpaint_models.contract.datatypes import ModelInfo
from inpaint_models.contract.hookspecs import hookimpl
from inpaint_models.contract.options import architecture_option, training_option
from inpaint_models.io.sidecar import shipped_weights
from inpaint_models.models.neural_hooks import neural_hooks
from inpaint_models.models.widths import Width, check_width

MODEL = "pconv-unet"


@dataclass(frozen=True)
class PConvUNetOptions:
    """Options of the partial-convolution U-Net: architecture (fixed by the weights) and training; no fill option.

    Attributes:
        width: channel-width preset: ``paper`` (64..512 channels), ``half``,
            ``quarter`` or ``tiny`` (for a CPU).
        layers: U-Net levels; 0 = from the training image size as in the paper
            (log2(size) - 1: 7 at 256 px, 8 at 512, 5 at 64). Fill crops are
            padded to a multiple of 2**layers.
        loss: ``paper`` (L1: valid + 6 hole + 0.1 TV, + perceptual and style with
            ``vgg_weights``) or ``mse`` (whole-image mean squared error, no paper terms).
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

    width: Width = architecture_option("paper")
    layers: int = architecture_option(0)
    loss: Literal["paper", "mse"] = training_option("paper")
    vgg_weights: Path | None = training_option(None)
    finetune_after: int = training_option(0)
    finetune_learning_rate: float = training_option(5e-5)
    residual: bool = architecture_option(False)

    def __post_init__(self) -> None:
        check_width(self.width)
        if self.layers != 0 and not 2 <= self.layers <= 10:
            raise ValueError(f"layers must be 0 (from the image size) or between 2 and 10, got {self.layers}")
        if self.loss == "mse" and self.vgg_weights is not None:
            raise ValueError("loss = 'mse' has no perceptual or style term: drop vgg_weights or use loss = 'paper'")
        if self.finetune_after < 0:
            raise ValueError(f"finetune_after must be >= 0, got {self.finetune_after}")
        if not self.finetune_learning_rate > 0:
            raise ValueError(f"finetune_learning_rate must be positive, got {self.finetune_learning_rate}")


@hookimpl
def model_info() -> ModelInfo:
    """Describe the partial-convolution U-Net."""
    return ModelInfo(
        name=MODEL,
        title="Partial-convolution U-Net (Liu et al. 2018)",
        description="U-Net of partial convolutions (mask update, border renormalisation) for free-form holes; "
                    "L1 valid + 6 hole + 0.1 TV (+ VGG16 perceptual/style when supplied) or MSE",
        source="Liu, Reda, Shih, Wang, Tao & Catanzaro 2018, 'Image Inpainting for Irregular Holes Using Partial "
               "Convolutions' (ECCV)",
        trainable=True,
        requires=("torch",),
        default_weights=shipped_weights(__file__),
        options=PConvUNetOptions,
        channels=(1, 3),
        min_size=8,
        size_multiple=1,  # 2**layers depends on the checkpoint: its sidecar's geometry gives it
        crop_margin=128,
    )


fill, train, build_task = neural_hooks(model_info, "inpaint_models.models.pconv_unet.task")
