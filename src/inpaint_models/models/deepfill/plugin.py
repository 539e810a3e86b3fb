"""``deepfill`` plugin: options, model info and hooks (torch-free; the WGAN-GP task and the attention
display are in ``task.py``).

Yu et al. 2018 (DeepFill v1, contextual attention) on the shared trainer.
One trainer step is one generator update preceded by
``critic_steps`` (paper: 5) updates of the local + global WGAN-GP critics,
each critic update on a fresh batch (``ctx.next_batch()``), the generator on
another fresh batch — as the released code's secondary trainer does.

Input variants: ``hole`` (plain inpainting), ``hole_ns`` (the hole
pre-filled by Navier-Stokes, refined by the network) and ``mosaic`` (the hole
shows a low-resolution copy of the *original*: a deblurring task, not
inpainting). ``mosaic`` needs the original pixels under the hole, which a fill
never has (the backend zeroes them), so a fill refuses mosaic checkpoints
and the trainer's validation / previews must be off for it; evaluate it with
:meth:`.task.DeepFillTask.complete`, which takes the original image.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from inpaint_models.contract.datatypes import ModelInfo
from inpaint_models.contract.hookspecs import hookimpl
from inpaint_models.contract.options import architecture_option, training_option
from inpaint_models.io.sidecar import shipped_weights
from inpaint_models.models.neural_hooks import neural_hooks
from inpaint_models.models.widths import Width, check_width

MODEL = "deepfill"


@dataclass(frozen=True)
class DeepFillOptions:
    """Options of DeepFill: architecture and network input (fixed by the weights) and training; no fill option.

    Attributes:
        width: channel-width preset: ``paper`` (base width 32, the released
            model), ``half``, ``quarter`` or ``tiny`` (for a CPU).
        variant: the network's input: ``hole`` (blank hole, inpainting),
            ``hole_ns`` (hole pre-filled by Navier-Stokes), ``hole_smooth`` (pre-filled by
            the cheap pyramid fill of ``models/prefill.py``) or ``mosaic`` (hole
            shows a down/up-sampled copy of the original: a deblurring task,
            training / evaluation only — fill refuses it).
        mosaic_unit: mosaic cell size in pixels (``mosaic`` variant).
        ns_radius: Navier-Stokes radius in pixels (``hole_ns`` variant).
        gamma: spatial discounting factor of the hole L1 (released config: 0.9).
        critic_steps: critic updates per generator update (paper: 5).
        adversarial_weight: weight of the WGAN term in the generator loss (0.001);
            0 trains the generator on the L1 terms alone, without critics.
        gradient_penalty: WGAN-GP weight (10), penalty on hole pixels only.
        local_size: side of the local critic's patch around the hole; 0 = half
            the training image size (128 at 256, as in the paper).
        residual: each stage outputs its input plus a zero-initialised correction, so an
            untrained generator returns the pre-fill (use with ``hole_ns`` / ``hole_smooth``).
    """

    width: Width = architecture_option("paper")
    variant: Literal["hole", "mosaic", "hole_ns", "hole_smooth"] = architecture_option("hole")
    mosaic_unit: int = architecture_option(12)
    ns_radius: int = architecture_option(3)
    gamma: float = training_option(0.9)
    critic_steps: int = training_option(5)
    adversarial_weight: float = training_option(0.001)
    gradient_penalty: float = training_option(10.0)
    local_size: int = training_option(0)
    residual: bool = architecture_option(False)

    def __post_init__(self) -> None:
        check_width(self.width)
        if self.mosaic_unit < 1 or self.ns_radius < 1:
            raise ValueError("mosaic_unit and ns_radius must be at least 1")
        if not 0 < self.gamma <= 1:
            raise ValueError(f"gamma must be in (0, 1], got {self.gamma}")
        if self.critic_steps < 1:
            raise ValueError(f"critic_steps must be at least 1, got {self.critic_steps}")
        if self.adversarial_weight < 0 or self.gradient_penalty < 0:
            raise ValueError("adversarial_weight and gradient_penalty must be >= 0")
        if self.local_size < 0:
            raise ValueError(f"local_size must be >= 0 (0 = half the image size), got {self.local_size}")


@hookimpl
def model_info() -> ModelInfo:
    """Describe DeepFill."""
    return ModelInfo(
        name=MODEL,
        title="DeepFill, contextual attention (Yu et al. 2018)",
        description="Coarse-to-fine generator with contextual attention, WGAN-GP local and global critics, "
                    "spatially discounted L1; input variants hole / hole_ns (and mosaic for training)",
        source="Yu, Lin, Yang, Shen, Lu & Huang 2018, 'Generative Image Inpainting with Contextual Attention' "
               "(CVPR)",
        trainable=True,
        requires=("torch",),
        default_weights=shipped_weights(__file__),
        options=DeepFillOptions,
        channels=(1, 3),
        min_size=8,
        size_multiple=8,  # DeepFillGenerator.size_multiple: two stride-2 layers, then attention at rate 2
        crop_margin=128,
    )


fill, train, build_task = neural_hooks(model_info, "inpaint_models.models.deepfill.task")
