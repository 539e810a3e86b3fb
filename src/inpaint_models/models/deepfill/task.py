"""``deepfill`` training task (WGAN-GP critics, coarse-to-fine generator)."""

from __future__ import annotations

from collections.abc import Mapping

import torch

from inpaint_models.contract.errors import ConfigError, OptionError
from inpaint_models.models.deepfill.inputs import TASKS, network_input
from inpaint_models.models.deepfill.losses import DeepFillLossWeights, critic_loss, generator_loss
from inpaint_models.models.deepfill.network import DeepFillCritics, DeepFillGenerator, GeneratorOutput
from inpaint_models.models.deepfill.plugin import DeepFillOptions
from inpaint_models.models.layers import local_patch_size
from inpaint_models.training.config import TrainSettings
from inpaint_models.training.data import Batch
from inpaint_models.training.task import StepContext, TaskSpec, TrainTask


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
        self.check_image_size(self.size_multiple,
                              f"{self.size_multiple} for deepfill (two stride-2 layers, then attention at rate 2)")
        try:
            local = local_patch_size(size, o.local_size or None)
        except OptionError:
            raise ConfigError(f"[model] local_size {o.local_size} is larger than train.image_size {size}") from None
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
