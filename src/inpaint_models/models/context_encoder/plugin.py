"""``context-encoder`` plugin: options, model info and hooks (torch-free; the networks live in ``task.py``)."""

from __future__ import annotations

from dataclasses import dataclass

from inpaint_models.contract.datatypes import ModelInfo
from inpaint_models.contract.hookspecs import hookimpl
from inpaint_models.contract.options import architecture_option, training_option
from inpaint_models.io.sidecar import shipped_weights
from inpaint_models.models.neural_hooks import neural_hooks


@dataclass(frozen=True)
class ContextEncoderOptions:
    """Options of the context encoder: architecture (fixed by the weights) and training; no fill option.

    Attributes:
        bottleneck: channels of the 1x1 code (paper: 4000).
        width: channels of the first layer (paper: 64), doubled per level up to 8x.
        reconstruction_weight: weight of the hole L2 loss (paper 0.999; 0 = adversarial
            loss only).
        adversarial_weight: weight of the generator's adversarial BCE loss (paper
            0.001; 0 = no discriminator, a plain L2 context encoder).
        attention: self-attention in the decoder (SAGAN, Zhang et al. 2019).
        residual: pre-fill the hole with :func:`..prefill.smooth_fill` instead of the dataset
            mean and predict a correction added to it (zero-initialised, no tanh), so training
            starts from a classical fill (``models/prefill.py``).
    """

    bottleneck: int = architecture_option(4000)
    width: int = architecture_option(64)
    reconstruction_weight: float = training_option(0.999)
    adversarial_weight: float = training_option(0.001)
    attention: bool = architecture_option(False)
    residual: bool = architecture_option(False)

    def __post_init__(self) -> None:
        if self.bottleneck < 1 or self.width < 1:
            raise ValueError("bottleneck and width must be at least 1")
        if self.reconstruction_weight < 0 or self.adversarial_weight < 0:
            raise ValueError("loss weights must be >= 0")
        if self.reconstruction_weight == 0 and self.adversarial_weight == 0:
            raise ValueError("reconstruction_weight and adversarial_weight cannot both be 0")


@hookimpl
def model_info() -> ModelInfo:
    """Describe the context encoder."""
    return ModelInfo(
        name="context-encoder",
        title="Context encoder (Pathak et al. 2016)",
        description="Encoder-decoder with a bottleneck, trained with hole L2 + adversarial loss; fixed-size "
                    "input (the checkpoint's training size, 128 px by default)",
        source="Pathak, Krahenbuhl, Donahue, Darrell & Efros 2016, 'Context Encoders: Feature Learning by "
               "Inpainting' (CVPR); self-attention: Zhang, Goodfellow, Metaxas & Odena 2019, "
               "'Self-Attention Generative Adversarial Networks' (ICML)",
        trainable=True,
        requires=("torch",),
        default_weights=shipped_weights(__file__),
        options=ContextEncoderOptions,
        channels=(1, 3),
        min_size=8,
        native_size=128,  # fixed-size network: each checkpoint's sidecar gives its training size
        crop_margin=64,
    )


fill, train, build_task = neural_hooks(model_info, "inpaint_models.models.context_encoder.task")
