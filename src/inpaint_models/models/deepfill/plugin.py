"""``deepfill`` plugin: options, the WGAN-GP training task, the hooks and the attention display.

Yu et al. 2018 (DeepFill v1, contextual attention) on the shared trainer
(report 004). One trainer step is one generator update preceded by
``critic_steps`` (paper: 5) updates of the local + global WGAN-GP critics,
each critic update on a fresh batch (``ctx.next_batch()``), the generator on
another fresh batch — as the released code's secondary trainer does.

Input variants (report 004): ``hole`` (plain inpainting), ``hole_ns`` (the hole
pre-filled by Navier-Stokes, refined by the network) and ``mosaic`` (the hole
shows a low-resolution copy of the *original*: a deblurring task, not
inpainting). ``mosaic`` needs the original pixels under the hole, which a fill
never has (the backend zeroes them), so ``fill`` refuses mosaic checkpoints
and the trainer's validation / previews must be off for it; evaluate it with
:meth:`DeepFillTask.complete`, which takes the original image.

:func:`attention_map` colour-codes where the attention branch copied from
(hue = direction, saturation = distance) for display next to a fill.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch

from ...datatypes import FillContext, ModelInfo, Reporter
from ...errors import ConfigError, OptionError, ShapeMismatchError
from ...hookspecs import hookimpl
from ...training import Batch, StepContext, TaskSpec, TrainConfig, TrainSettings, TrainTask, fit
from ..layers import WIDTH_PRESETS
from ..neural import loaded_model, neural_fill, shipped_weights
from .contextual_attention import flow_to_rgb
from .inputs import TASKS, network_input
from .losses import DeepFillLossWeights, critic_loss, generator_loss
from .network import DeepFillCritics, DeepFillGenerator, GeneratorOutput

MODEL = "deepfill"


@dataclass(frozen=True)
class DeepFillOptions:
    """Options of DeepFill (fixed by a checkpoint once trained).

    Attributes:
        width: channel-width preset: ``paper`` (base width 32, the released
            model), ``half``, ``quarter`` or ``tiny`` (for a CPU).
        variant: report 004's network input: ``hole`` (blank hole, inpainting),
            ``hole_ns`` (hole pre-filled by Navier-Stokes), ``hole_smooth`` (pre-filled by
            the cheap pyramid fill of ``models/prefill.py``) or ``mosaic`` (hole
            shows a down/up-sampled copy of the original: a deblurring task,
            training / evaluation only — fill refuses it).
        mosaic_unit: mosaic cell size in pixels (``mosaic`` variant; report 004: 12).
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

    width: Literal["paper", "half", "quarter", "tiny"] = "paper"
    variant: Literal["hole", "mosaic", "hole_ns", "hole_smooth"] = "hole"
    mosaic_unit: int = 12
    ns_radius: int = 3
    gamma: float = 0.9
    critic_steps: int = 5
    adversarial_weight: float = 0.001
    gradient_penalty: float = 10.0
    local_size: int = 0
    residual: bool = False

    def __post_init__(self) -> None:
        if self.width not in WIDTH_PRESETS:
            raise ValueError(f"width must be one of {sorted(WIDTH_PRESETS)}, got {self.width!r}")
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


class _Critics(DeepFillCritics):
    """The local + global critics; ``forward(real, mask, fake)`` returns the WGAN-GP critic loss,
    so the whole critic update is one forward of the (possibly DDP-wrapped) module."""

    def __init__(self, *args, weights: DeepFillLossWeights, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.loss_weights = weights

    def forward(self, image, mask, fake=None):  # type: ignore[override]
        if fake is None:
            return super().forward(image, mask)
        return critic_loss(self, image, fake, mask, self.loss_weights)


def _mosaic_refused() -> OptionError:
    return OptionError(
        "this deepfill checkpoint was trained with variant = 'mosaic', a deblurring task: its input is a "
        "low-resolution copy of the original pixels under the hole, which a fill never has (they are zeroed). "
        "It is a training / evaluation variant (DeepFillTask.complete takes the original image); "
        "fill with a 'hole' or 'hole_ns' checkpoint instead"
    )


class DeepFillTask(TrainTask):
    """Coarse-to-fine generator with contextual attention + WGAN-GP local/global critics."""

    inference_networks = ("generator",)

    def __init__(self, spec: TaskSpec) -> None:
        super().__init__(spec)
        o: DeepFillOptions = spec.options
        self.weights = DeepFillLossWeights(adversarial=o.adversarial_weight, gradient_penalty=o.gradient_penalty,
                                           gamma=o.gamma)
        generator = DeepFillGenerator(o.width, spec.channels, residual=o.residual)
        self.size_multiple = generator.size_multiple
        self.networks = {"generator": generator}
        if spec.train is None:
            return
        size = spec.image_size
        if size % self.size_multiple:
            raise ConfigError(f"[train] image_size {size} must be a multiple of {self.size_multiple} for deepfill "
                              f"(two stride-2 layers, then attention at rate 2)")
        local = o.local_size or size // 2
        if local > size:
            raise ConfigError(f"[model] local_size {local} is larger than train.image_size {size}")
        if o.variant == "mosaic" and (spec.train.validate_every or spec.train.preview_every):
            raise ConfigError(
                "[model] variant = 'mosaic' needs the original pixels under the hole, which the trainer's "
                "validation and previews do not pass to the model: set train.validate_every = 0 and "
                "train.preview_every = 0 (evaluate with DeepFillTask.complete on the original images)")
        if o.adversarial_weight > 0:
            self.networks["critics"] = _Critics(size, local, o.width, spec.channels, weights=self.weights)

    # -- set-up ------------------------------------------------------------------------
    def configure_optimizers(self, settings: TrainSettings) -> dict[str, torch.optim.Optimizer]:
        optimizers = {"generator": torch.optim.Adam(self.networks["generator"].parameters(),
                                                    lr=settings.learning_rate, betas=(0.5, 0.9))}
        if "critics" in self.networks:
            optimizers["critics"] = torch.optim.Adam(self.networks["critics"].parameters(),
                                                     lr=settings.d_learning_rate, betas=(0.5, 0.9))
        return optimizers

    # -- training ----------------------------------------------------------------------
    def _input(self, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        o: DeepFillOptions = self.spec.options
        return network_input(image, mask, o.variant, o.mosaic_unit, o.ns_radius)

    def train_step(self, batch: Batch, ctx: StepContext) -> Mapping[str, torch.Tensor]:
        o: DeepFillOptions = self.spec.options
        losses: dict[str, torch.Tensor] = {}
        critics = self.networks.get("critics")
        if critics is not None:
            wgan, penalty = 0.0, 0.0
            for index in range(o.critic_steps):
                critic_batch = batch if index == 0 else ctx.next_batch()
                with torch.no_grad(), ctx.autocast():
                    fake = self.networks["generator"](self._input(critic_batch.image, critic_batch.mask),
                                                      critic_batch.mask).refined
                # the critic loss (with its double-backward gradient penalty) runs in fp32
                terms = ctx.nets["critics"](critic_batch.image * 2 - 1, critic_batch.mask, fake.float())
                ctx.optimize(terms["total"], "critics")
                wgan = wgan + terms["wgan"].detach()
                penalty = penalty + terms["gradient_penalty"].detach()
            losses["critic_wgan"] = wgan / o.critic_steps
            losses["gradient_penalty"] = penalty / o.critic_steps
            batch = ctx.next_batch()
        real = batch.image * 2 - 1
        with ctx.autocast():
            output = ctx.nets["generator"](self._input(batch.image, batch.mask), batch.mask)
        output = GeneratorOutput(output.coarse.float(), output.refined.float(), output.flow)
        terms = generator_loss(output, real, batch.mask, critics, self.weights)
        ctx.optimize(terms["total"], "generator")
        losses.update(loss_g=terms["total"], coarse_l1=terms["coarse_l1"], refine_l1=terms["refine_l1"],
                      known_l1=terms["known_l1"])
        if "adversarial" in terms:
            losses["adversarial"] = terms["adversarial"]
        return losses

    def extra_state(self) -> dict:
        o: DeepFillOptions = self.spec.options
        return {"task": TASKS[o.variant], "critic_steps_per_generator_step": o.critic_steps}

    # -- inference ---------------------------------------------------------------------
    def generate(self, image: torch.Tensor, mask: torch.Tensor) -> GeneratorOutput:
        """The generator's raw output for image (B, C, H, W) in [0, 1] and mask (B, 1, H, W)
        (H, W multiples of ``size_multiple``); the hole content of ``image`` is used by ``mosaic`` only."""
        return self.networks["generator"](self._input(image, mask), mask)

    def complete(self, original: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Prediction (B, C, H, W) in [0, 1] from the *original* image — every variant, mosaic included."""
        return (self.generate(original, mask).refined + 1.0) * 0.5

    def predict(self, image, mask, *, seed=0, progress=None):
        if self.spec.options.variant == "mosaic":
            raise _mosaic_refused()
        return (self.generate(image, mask).refined + 1.0) * 0.5


def build_task(spec: TaskSpec) -> DeepFillTask:
    """DeepFill's task factory."""
    return DeepFillTask(spec)


@hookimpl
def model_info() -> ModelInfo:
    """Describe DeepFill."""
    return ModelInfo(
        name=MODEL,
        title="DeepFill (contextual attention)",
        description="Coarse-to-fine generator with contextual attention, WGAN-GP local and global critics, "
                    "spatially discounted L1; input variants hole / hole_ns (and mosaic for training)",
        source="Yu et al. 2018, 'Generative Image Inpainting with Contextual Attention'; report 004",
        trainable=True,
        default_weights=shipped_weights(__file__),
        options=DeepFillOptions,
        channels=(1, 3),
        min_size=8,
        size_multiple=8,
        crop_margin=128,
    )


@hookimpl
def fill(image: np.ndarray, mask: np.ndarray, options: DeepFillOptions, context: FillContext) -> np.ndarray:
    """float32 (H, W, C) in [0, 1] (H, W multiples of 8) and bool hole mask -> float32 (H, W, C)."""
    if context.weights is not None:
        model = loaded_model(model_info(), build_task, context.weights, context.device, options)
        if model.options.variant == "mosaic":
            raise _mosaic_refused()
    return neural_fill(model_info(), build_task, image, mask, options, context)


@hookimpl
def train(config: TrainConfig, report: Reporter) -> Path:
    """Train DeepFill with the shared trainer; returns the final checkpoint."""
    return fit(config, build_task, report)


# ------------------------------------------------------------------------------ attention display
@dataclass(frozen=True)
class AttentionView:
    """What :func:`attention_map` returns.

    Attributes:
        rgb: float32 (H, W, 3) in [0, 1]: the attention flow colour-coded (hue =
            direction, saturation = distance, white = no offset).
        flow: float32 (H, W, 2): (dy, dx) in image pixels from each location to
            the centre of the background patch it attends to most.
        filled: float32 (H, W, C) in [0, 1]: the refined output composited into
            the image (hole pixels predicted, the rest unchanged).
    """

    rgb: np.ndarray
    flow: np.ndarray
    filled: np.ndarray


def attention_map(image: np.ndarray, mask: np.ndarray, weights: str | Path, device: str = "cpu",
                  max_norm: float | None = None) -> AttentionView:
    """Where a trained DeepFill's attention branch copies from, for display next to a fill.

    Args:
        image: (H, W) or (H, W, C) image; float in [0, 1] or an integer dtype
            (scaled by its maximum). Hole pixels are ignored, except by a
            ``mosaic`` checkpoint, which needs the original there.
        mask: bool (H, W), True = hole.
        weights: a deepfill checkpoint.
        device: a concrete torch device string.
        max_norm: offset length shown at full saturation (default: the largest).

    Returns:
        :class:`AttentionView` (``rgb`` is what napari shows as an RGB layer).
    """
    array = np.asarray(image)
    if np.issubdtype(array.dtype, np.integer):
        array = array.astype(np.float32) / np.float32(np.iinfo(array.dtype).max)
    array = np.asarray(array, dtype=np.float32)
    if array.ndim == 2:
        array = array[..., None]
    hole = np.asarray(mask).astype(bool)
    if array.ndim != 3 or hole.shape != array.shape[:2]:
        raise ShapeMismatchError(f"expected image (H, W[, C]) and mask (H, W), got {np.shape(image)} and "
                                 f"{np.shape(mask)}")
    model = loaded_model(model_info(), build_task, weights, device)
    task: DeepFillTask = model.task
    channels = task.spec.channels
    if array.shape[-1] == 4:  # RGBA: the colour planes
        array = array[..., :3]
    count = array.shape[-1]
    if count == channels:
        work = array
    elif count == 1:
        work = np.repeat(array, channels, axis=-1)
    elif channels == 1 and count == 3:
        work = array.mean(axis=-1, keepdims=True)
    else:
        raise ShapeMismatchError(f"attention_map takes grey, RGB or RGBA images, got {count} channels")
    height, width = hole.shape
    multiple = task.size_multiple
    pad_h, pad_w = (-height) % multiple, (-width) % multiple
    work = np.pad(work, ((0, pad_h), (0, pad_w), (0, 0)), mode="symmetric")
    work_mask = np.pad(hole, ((0, pad_h), (0, pad_w)), mode="symmetric")
    image_t = torch.from_numpy(np.ascontiguousarray(work.transpose(2, 0, 1)))[None].to(model.device)
    mask_t = torch.from_numpy(work_mask.astype(np.float32))[None, None].to(model.device)
    if task.spec.options.variant != "mosaic":
        image_t = image_t * (1 - mask_t)
    with torch.inference_mode():
        output = task.generate(image_t, mask_t)
    scale = work.shape[0] // output.flow.shape[-2]
    flow = torch.nn.functional.interpolate(output.flow.float(), scale_factor=scale, mode="nearest") * scale
    flow = flow[0, :, :height, :width].cpu().numpy()
    refined = ((output.refined[0].float() + 1) * 0.5).clamp(0, 1).permute(1, 2, 0).cpu().numpy()[:height, :width]
    if refined.shape[-1] != count:
        refined = np.repeat(refined.mean(axis=-1, keepdims=True), count, axis=-1)
    filled = np.where(hole[..., None], refined, array).astype(np.float32)
    return AttentionView(rgb=flow_to_rgb(flow, max_norm), flow=np.ascontiguousarray(flow.transpose(1, 2, 0)),
                         filled=filled)
