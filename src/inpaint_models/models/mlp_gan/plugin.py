"""``mlp-gan`` plugin: a fully connected GAN (Goodfellow et al. 2014) with a repair generator; options,
model info and hooks (torch-free; networks in ``task.py``)."""

from __future__ import annotations

from dataclasses import dataclass

from inpaint_models.contract.datatypes import ModelInfo
from inpaint_models.contract.hookspecs import hookimpl
from inpaint_models.contract.options import architecture_option
from inpaint_models.io.sidecar import shipped_weights
from inpaint_models.models.neural_hooks import neural_hooks


@dataclass(frozen=True)
class MLPGANOptions:
    """Options of the fully connected GAN: architecture, fixed by the weights; no fill option.

    Attributes:
        width: width of the first hidden layer; the three hidden layers are
            ``width``, ``2 * width``, ``4 * width``.
        latent_size: length of the generator's noise vector (the generator is
            trained alongside the repair network, which alone fills).
    """

    width: int = architecture_option(256)
    latent_size: int = architecture_option(100)

    def __post_init__(self) -> None:
        if self.width < 1 or self.latent_size < 1:
            raise ValueError("width and latent_size must be at least 1")


@hookimpl
def model_info() -> ModelInfo:
    """Describe the MLP GAN."""
    return ModelInfo(
        name="mlp-gan",
        title="MLP GAN, repair generator (Goodfellow et al. 2014)",
        description="Fully connected GAN with a repair generator trained with MSE; small images (32 px)",
        source="Goodfellow, Pouget-Abadie, Mirza, Xu, Warde-Farley, Ozair, Courville & Bengio 2014, "
               "'Generative Adversarial Nets' (NeurIPS), with fully connected networks; the repair generator "
               "trained with MSE after Jaramillo & Ghaffari 2024, 'Image inpainting: generative adversarial "
               "networks vs diffusion models' (student report)",
        trainable=True,
        requires=("torch",),
        default_weights=shipped_weights(__file__),
        options=MLPGANOptions,
        channels=(1, 3),
        min_size=4,
        native_size=32,  # fixed-size network: each checkpoint's sidecar gives its training size
        crop_margin=8,
    )


fill, train, build_task = neural_hooks(model_info, "inpaint_models.models.mlp_gan.task")
