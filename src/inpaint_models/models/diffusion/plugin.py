"""``diffusion`` plugin: options, model info and hooks of the mask-conditioned DDPM (torch-free; the
training task and the sampler call are in ``task.py``).

Training (shared trainer, :func:`inpaint_models.training.fit`): epsilon-prediction MSE
(:func:`.objective.diffusion_loss`) on the cosine T = 1000 schedule, AdamW, an EMA of the
weights (``[train] ema_decay``; left at 0, the trainer's "off", it becomes
:data:`.task.DEFAULT_EMA_DECAY` for this model). The checkpoint's EMA weights are what ``fill``
samples with.

Filling: DDIM (:func:`.sampling.ddim_sample`) with ``steps`` / ``eta`` / ``seed``, or RePaint
resampling (``repaint``, ``jump_length``, ``resample_count``); one ``ProgressEvent`` with phase
``"sample"`` per network call reaches ``context.report``, which raises ``Cancelled`` between
steps when the caller cancels. The sampler options are fill options: they are not fixed by the
checkpoint.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from inpaint_models.contract.datatypes import ModelInfo
from inpaint_models.contract.hookspecs import hookimpl
from inpaint_models.contract.options import architecture_option, fill_option, training_option
from inpaint_models.io.sidecar import shipped_weights
from inpaint_models.models.neural_hooks import neural_hooks

#: the network presets (``network.PRESETS``; a test checks the two agree)
PRESET_NAMES: tuple[str, ...] = ("tiny", "base")

#: Crops of a checkpoint without a recorded geometry are padded to this: the least common multiple
#: of the presets' size multiples (``task.SIZE_MULTIPLE``; a test checks the two agree).
SIZE_MULTIPLE = 8

MAX_STEPS = 1000  # T of the cosine schedule


@dataclass(frozen=True)
class DiffusionOptions:
    """Options of the diffusion model: the sampler's (fill options), ``preset`` (fixed by the weights), training.

    Attributes:
        preset: network size, ``tiny`` (CPU, 32-64 px, ~1.2M parameters) or ``base`` (MODELS.md:
            64-128 px, base width 64, multipliers 1,2,2,4, ~19M parameters). Fixed by the checkpoint.
        hole_weight: weight of hole pixels in the epsilon MSE relative to known ones (1 = plain
            MSE). Fixed by the checkpoint.
        uncond_prob: share of training samples given an all-hole mask, so that the network is
            also an unconditional prior (for conditional = false). Fixed by the checkpoint.
        steps: DDIM steps (network calls without RePaint), 1..1000.
        eta: 0 = deterministic DDIM given the seed; 1 = DDPM-like ancestral noise.
        seed: seeds every random draw: the same seed gives the same fill, another seed another
            plausible fill.
        repaint: RePaint resampling (Lugmayr et al. 2022): every jump_length steps the sample is
            re-noised jump_length steps back, resample_count - 1 times; costs steps + jump_length
            * (resample_count - 1) * ceil((steps - jump_length) / jump_length) network calls
            (50, 10, 10: 410).
        jump_length: RePaint's j (steps re-noised per jump).
        resample_count: RePaint's r (1 = no resampling).
        conditional: give the network the mask and known pixels (true), or an all-hole mask
            (false: the unconditional prior of a checkpoint trained with uncond_prob > 0; the
            known pixels then reach the hole only through their re-imposition, as in RePaint).
        strength: where sampling starts (SDEdit, Meng et al. 2022): 1 = from pure noise; below 1
            from the hole's smooth pre-fill (``models/prefill.py``) noised to level
            ``strength``, running only ``ceil(strength * steps)`` DDIM steps: the fill keeps the
            pre-fill's large-scale colours and the network redraws the detail. Default 0.5: with the
            CPU-trained default weights, sampling from pure noise lost ~3 dB hole PSNR to 0.5 on
            held-out photographs; a well-trained model may prefer 1.
    """

    preset: Literal["tiny", "base"] = architecture_option("tiny")
    hole_weight: float = training_option(1.0)
    uncond_prob: float = training_option(0.0)
    steps: int = fill_option(50)
    eta: float = fill_option(0.0)
    seed: int = fill_option(0)
    repaint: bool = fill_option(False)
    jump_length: int = fill_option(10)
    resample_count: int = fill_option(10)
    conditional: bool = fill_option(True)
    strength: float = fill_option(0.5)

    def __post_init__(self) -> None:
        if self.preset not in PRESET_NAMES:
            raise ValueError(f"preset must be one of {sorted(PRESET_NAMES)}, got {self.preset!r}")
        if self.hole_weight < 0:
            raise ValueError(f"hole_weight must be >= 0, got {self.hole_weight}")
        if not 0.0 <= self.uncond_prob < 1.0:
            raise ValueError(f"uncond_prob must be in [0, 1), got {self.uncond_prob}")
        if not 1 <= self.steps <= MAX_STEPS:
            raise ValueError(f"steps must be between 1 and {MAX_STEPS}, got {self.steps}")
        if not (self.eta >= 0 and math.isfinite(self.eta)):
            raise ValueError(f"eta must be >= 0, got {self.eta}")
        if self.seed < 0:
            raise ValueError(f"seed must be >= 0, got {self.seed}")
        if self.jump_length < 1:
            raise ValueError(f"jump_length must be >= 1, got {self.jump_length}")
        if self.resample_count < 1:
            raise ValueError(f"resample_count must be >= 1, got {self.resample_count}")
        if not 0.0 < self.strength <= 1.0:
            raise ValueError(f"strength must be in (0, 1], got {self.strength}")


@hookimpl
def model_info() -> ModelInfo:
    """Describe the diffusion model."""
    return ModelInfo(
        name="diffusion",
        title="Diffusion, DDIM / RePaint sampling (Lugmayr et al. 2022)",
        description="Mask-conditioned denoising diffusion U-Net; DDIM sampling with seeds, optional RePaint resampling",
        source="Ho, Jain & Abbeel 2020, 'Denoising Diffusion Probabilistic Models' (NeurIPS); Nichol & Dhariwal "
               "2021, 'Improved Denoising Diffusion Probabilistic Models' (ICML; cosine schedule); Song, Meng & "
               "Ermon 2021, 'Denoising Diffusion Implicit Models' (ICLR; DDIM); Lugmayr, Danelljan, Romero, Yu, "
               "Timofte & Van Gool 2022, 'RePaint: Inpainting using Denoising Diffusion Probabilistic Models' "
               "(CVPR); Meng et al. 2022, 'SDEdit: Guided Image Synthesis and Editing with Stochastic "
               "Differential Equations' (ICLR; strength)",
        trainable=True,
        requires=("torch",),
        default_weights=shipped_weights(__file__),
        options=DiffusionOptions,
        channels=(1, 3),
        min_size=16,
        size_multiple=SIZE_MULTIPLE,
        crop_margin=32,
    )


fill, train, build_task = neural_hooks(model_info, "inpaint_models.models.diffusion.task")
