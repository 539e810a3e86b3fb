"""``stack-unet`` plugin: options, model info and hooks (torch-free; the network lives in ``task.py``).

A model built to be *fitted* to the data it fills (``inpaint_models.fit``):
it reads the neighbouring planes of a stack, so it fills volumes
(``spatial_dims = (2, 3)``), and it ships no weights. Fit it to a stack with
``inpaint_models.fit(stack, mask)`` (or ``inpaint fit``), then
``fill(stack, mask, model="stack-unet", weights=<the fit's checkpoint>)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from inpaint_models.contract.datatypes import ModelInfo
from inpaint_models.contract.hookspecs import hookimpl
from inpaint_models.contract.options import architecture_option, fill_option, training_option
from inpaint_models.models.neural_hooks import neural_hooks

TASK_MODULE = "inpaint_models.models.stack_unet.task"


@dataclass(frozen=True)
class StackUNetOptions:
    """Options of the stack U-Net: fill (noise), architecture (fixed by the weights), training.

    Attributes:
        noise: false (default): the fill is the network's best estimate of the noise-free signal,
            smoother than the noisy data around it (the highest PSNR against both the signal and
            the recorded data). true: noise measured on the known pixels (its level at each
            brightness) is added to that estimate, so the patch looks like the data around it;
            this costs about 3 dB of PSNR, since the added noise is independent of the real one.
        seed: seed of the added noise (``noise = true``).
        predict_lost_planes: true (default): a volume's isolated wholly lost planes (a dropped
            frame) are predicted from planes k-2..k+2 by the linear predictor fitted on the
            stack's own planes that the default volume fill uses
            (:mod:`inpaint_models.models.lost_planes`), with the network's fill of the other
            holes as their context. A fit's held-back holes cannot measure a wholly lost plane
            (each held-back window keeps in-plane context around its hole), and on three real
            volumes the predictor beat the fitted network there by 0.6-1.5 dB. false: the network's own.
        context_planes: planes read on each side of the plane being filled (1 = planes z - 1 and z + 1).
        width: channels of the U-Net's first level; its levels have width x 1, 2, 3, 4.
        levels: levels of the U-Net (crops are padded to a multiple of 2**(levels - 1)).
        loss: ``mse`` (the estimate of the mean: denoises) or ``l1`` (of the median).
    """

    noise: bool = fill_option(False)
    seed: int = fill_option(0)
    predict_lost_planes: bool = fill_option(True)
    context_planes: int = architecture_option(1)
    width: int = architecture_option(16)
    levels: int = architecture_option(4)
    loss: Literal["mse", "l1"] = training_option("mse")

    def __post_init__(self) -> None:
        if not 0 <= self.context_planes <= 4:
            raise ValueError(f"context_planes must be between 0 and 4, got {self.context_planes}")
        if self.width < 1:
            raise ValueError(f"width must be at least 1, got {self.width}")
        if not 1 <= self.levels <= 6:
            raise ValueError(f"levels must be between 1 and 6, got {self.levels}")


@hookimpl
def model_info() -> ModelInfo:
    """Describe the stack U-Net."""
    return ModelInfo(
        name="stack-unet",
        title="Stack U-Net fitted to your stack (cf. Krull et al. 2019)",
        description="Small 2.5D U-Net fitted to the stack being filled; reads the neighbouring planes and "
                    "corrects their mean (fit it first: inpaint fit)",
        source="Self-supervised fitting to the data being filled, as Krull, Buchholz & Jug 2019, 'Noise2Void - "
               "Learning Denoising from Single Noisy Images' (CVPR) does for denoising; U-Net: Ronneberger, "
               "Fischer & Brox 2015, 'U-Net: Convolutional Networks for Biomedical Image Segmentation' (MICCAI)",
        trainable=True,
        requires=("torch",),
        default_weights=None,
        options=StackUNetOptions,
        channels=(1, 3),
        min_size=8,
        size_multiple=8,  # 2**(levels - 1) of the default options; a checkpoint's sidecar gives its own
        crop_margin=24,
        spatial_dims=(2, 3),
        # planes of context for the lost-plane predictor (predict_lost_planes) to fit on, as biharmonic's:
        # with the general default (3) a lost plane's crop has too few known planes for it (60 s fits on the
        # tomogram and brain volumes ended 0.3-0.6 dB under the default fill on the lost plane)
        volume_margin=8,
    )


# the shared hooks: fill takes planes and volumes (a volume's planes read their neighbours); the task
# module's finish_fill adds the noise of the ``noise`` option
fill, train, build_task = neural_hooks(model_info, TASK_MODULE)
