"""``autoencoder`` plugin: options, model info and hooks (torch-free; the networks live in ``task.py``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from inpaint_models.contract.datatypes import ModelInfo
from inpaint_models.contract.hookspecs import hookimpl
from inpaint_models.contract.options import architecture_option, training_option
from inpaint_models.io.sidecar import shipped_weights
from inpaint_models.models.neural_hooks import neural_hooks


@dataclass(frozen=True)
class AutoencoderOptions:
    """Options of the autoencoder: architecture (fixed by the weights) and training; no fill option.

    Attributes:
        depth: number of down-sampling levels (default 4); crops are padded to a multiple of 2**depth.
        width: channels of the first level; doubled per level up to 8x.
        attention: self-attention at the bottleneck (SAGAN, Zhang et al. 2019).
        loss: ``mse`` (squared error, the L2 loss) or ``l1``.
        hole_weight: weight of hole pixels in the loss relative to known pixels
            (1 = plain whole-image loss).
        mask_input: give the network the mask as an extra input channel.
        output: final activation, ``sigmoid`` or ``tanh`` (rescaled to [0, 1]); ignored when ``residual``.
        residual: the hole enters the network pre-filled by :func:`..prefill.smooth_fill` and the
            network's (raw, zero-initialised) output is added to that fill, so training starts from a
            classical fill and learns the correction (see ``models/prefill.py``).
    """

    depth: int = architecture_option(4)
    width: int = architecture_option(32)
    attention: bool = architecture_option(False)
    loss: Literal["mse", "l1"] = training_option("mse")
    hole_weight: float = training_option(1.0)
    mask_input: bool = architecture_option(True)
    output: Literal["sigmoid", "tanh"] = architecture_option("sigmoid")
    residual: bool = architecture_option(False)

    def __post_init__(self) -> None:
        if not 1 <= self.depth <= 8:
            raise ValueError(f"depth must be between 1 and 8, got {self.depth}")
        if self.width < 1:
            raise ValueError(f"width must be at least 1, got {self.width}")
        if self.hole_weight < 0:
            raise ValueError(f"hole_weight must be >= 0, got {self.hole_weight}")


@hookimpl
def model_info() -> ModelInfo:
    """Describe the autoencoder."""
    return ModelInfo(
        name="autoencoder",
        title="Autoencoder CNN (Pathak et al. 2016 without GAN)",
        description="Encoder-decoder CNN trained with a reconstruction loss alone (a context encoder without its "
                    "adversarial term); optional self-attention at the bottleneck",
        source="Pathak, Krahenbuhl, Donahue, Darrell & Efros 2016, 'Context Encoders: Feature Learning by "
               "Inpainting' (CVPR), its L2-only encoder-decoder; self-attention: Zhang, Goodfellow, Metaxas & "
               "Odena 2019, 'Self-Attention Generative Adversarial Networks' (ICML)",
        trainable=True,
        requires=("torch",),
        default_weights=shipped_weights(__file__),
        options=AutoencoderOptions,
        channels=(1, 3),
        min_size=16,
        size_multiple=16,  # 2**depth of the default options; a checkpoint's sidecar gives its own
        crop_margin=128,
    )


fill, train, build_task = neural_hooks(model_info, "inpaint_models.models.autoencoder.task")
