"""``glcic`` plugin: options, model info and hooks (torch-free; the three-phase task is in ``task.py``).

Iizuka et al. 2017 on the shared trainer. One trainer
step is one iteration of the paper's Algorithm 1:

* ``completion`` (steps 1 .. T_C): the completion network C on the masked MSE;
* ``discriminator`` (the next T_D steps): C frozen, the context discriminator D
  (global + local, joint head) on binary cross-entropy;
* ``joint`` (the rest): one D update, then one C update on MSE + alpha * GAN.

The phase is reported as ``event.extra["stage"]`` in every progress event and
saved in the checkpoint sidecar (``"phase"``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from inpaint_models.contract.datatypes import ModelInfo
from inpaint_models.contract.hookspecs import hookimpl
from inpaint_models.contract.options import architecture_option, fill_option, training_option
from inpaint_models.io.sidecar import shipped_weights
from inpaint_models.models.neural_hooks import neural_hooks
from inpaint_models.models.widths import Width, check_width

MODEL = "glcic"


@dataclass(frozen=True)
class GLCICOptions:
    """Options of GLCIC: fill (``postprocess``, ``blend_radius``), architecture (fixed by the weights), training.

    Attributes:
        width: channel-width preset of the completion network and the
            discriminators: ``paper`` (the published 6.07M-parameter network),
            ``half``, ``quarter`` or ``tiny`` (for a CPU).
        completion_steps: T_C, steps training the completion network on the
            masked MSE alone (paper: 90000).
        discriminator_steps: T_D, steps training the discriminator alone with
            the completion network frozen (paper: 10000); then joint training.
        alpha: weight of the GAN term in the completion network's loss (paper 4e-4).
        local_size: side of the local discriminator's patch around the hole;
            0 = half the training image size (128 at 256, as in the paper).
        optimizer: ``adam`` (betas 0.5, 0.999) or ``adadelta`` (the paper's; use
            train.learning_rate = 1.0 with it).
        postprocess: Poisson-blend the completion into a Telea (fast marching)
            fill of the hole, as in the paper's Sec. 3.5.
        blend_radius: Telea radius (pixels) of the post-processing.
        residual: pre-fill the hole with :func:`..prefill.smooth_fill` instead of the mean
            pixel and learn a correction added to it (zero-initialised last layer, no sigmoid);
            training starts from a classical fill (``models/prefill.py``).
    """

    width: Width = architecture_option("paper")
    completion_steps: int = training_option(90000)
    discriminator_steps: int = training_option(10000)
    alpha: float = training_option(4e-4)  # losses.ALPHA, the paper's
    local_size: int = training_option(0)
    optimizer: Literal["adam", "adadelta"] = training_option("adam")
    residual: bool = architecture_option(False)
    postprocess: bool = fill_option(False)
    blend_radius: int = fill_option(3)

    def __post_init__(self) -> None:
        check_width(self.width)
        if self.completion_steps < 0 or self.discriminator_steps < 0:
            raise ValueError("completion_steps and discriminator_steps must be >= 0")
        if self.alpha < 0:
            raise ValueError(f"alpha must be >= 0, got {self.alpha}")
        if self.local_size < 0:
            raise ValueError(f"local_size must be >= 0 (0 = half the image size), got {self.local_size}")
        if self.blend_radius < 1:
            raise ValueError(f"blend_radius must be at least 1, got {self.blend_radius}")


@hookimpl
def model_info() -> ModelInfo:
    """Describe GLCIC."""
    return ModelInfo(
        name=MODEL,
        title="GLCIC, global + local GAN (Iizuka et al. 2017)",
        description="Dilated completion network with global and local context discriminators, trained in "
                    "three phases; optional Telea + Poisson blending",
        source="Iizuka, Simo-Serra & Ishikawa 2017, 'Globally and Locally Consistent Image Completion' (ACM "
               "Transactions on Graphics 36(4), SIGGRAPH)",
        trainable=True,
        requires=("torch",),
        default_weights=shipped_weights(__file__),
        options=GLCICOptions,
        channels=(1, 3),
        min_size=8,
        size_multiple=4,  # CompletionNetwork.size_multiple: two stride-2 layers
        crop_margin=128,
    )


fill, train, build_task = neural_hooks(model_info, "inpaint_models.models.glcic.task")
