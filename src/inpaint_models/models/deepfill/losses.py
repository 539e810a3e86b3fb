"""DeepFill v1 objective (Yu et al. 2018, Sec. 3 and the released config; report 004).

Generator::

    L_G = coarse * DL1(x1) + refine * DL1(x2)                       (hole, spatially discounted)
        + known * (coarse * L1_known(x1) + refine * L1_known(x2))     (known region)
        + adversarial * -(global_critic * D_g(x2c) + D_l(x2c))          (WGAN)

with coarse 1.2, refine 1.0, known 1.2, adversarial 0.001, global_critic 1.0;
``x2c`` is the refined output composited into the real image. Critics
(WGAN-GP)::

    L_D = D(x2c) - D(x) + 10 * GP      for the local and the global critic

where the gradient penalty interpolates real and completed images on hole
pixels only and measures the gradient norm over hole pixels only. Five critic
steps per generator step (:class:`CriticSchedule`).

Images are ``(B, C, H, W)`` in [-1, 1]; masks ``(B, 1, H, W)`` with 1 = hole.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor

from inpaint_models.contract.errors import OptionError
from inpaint_models.models.deepfill.network import DeepFillCritics, GeneratorOutput, crop_boxes


@dataclass(frozen=True)
class DeepFillLossWeights:
    """Loss weights (released config / report 004's Table I)."""

    coarse: float = 1.2  # coarse_l1_alpha
    refine: float = 1.0
    known: float = 1.2  # ae_loss_alpha
    adversarial: float = 0.001  # gan_loss_alpha
    global_critic: float = 1.0  # global_wgan_loss_alpha
    gradient_penalty: float = 10.0  # wgan_gp_lambda
    gamma: float = 0.9  # spatial discounting factor

    def __post_init__(self) -> None:
        if not 0 < self.gamma <= 1:
            raise OptionError(f"gamma must be in (0, 1], got {self.gamma}")


def spatial_discount(mask: Tensor, gamma: float = 0.9) -> Tensor:
    """Spatial discounting weights: ``gamma ** d`` on hole pixels, 0 elsewhere.

    ``d`` is the chessboard distance to the nearest known pixel minus one, so
    hole pixels touching the known region weigh 1 and weights fall by
    ``gamma`` per pixel inward (the released code's ``gamma ** min(i, H - i, ...)``
    for a box, generalised to any hole shape). A sample without known pixels
    gets ``gamma ** (H + W)``.

    Args:
        mask: (B, 1, H, W), 1 = hole.
        gamma: discount per pixel.

    Returns:
        (B, 1, H, W) weights, same dtype as ``mask`` (float).
    """
    hole = mask.float() > 0
    known = ~hole
    distance = torch.zeros_like(mask, dtype=torch.float32)
    reached = known
    # grow the known region one ring at a time (3x3 max-pool = chessboard distance)
    for d in range(sum(mask.shape[-2:])):
        grown = F.max_pool2d(reached.float(), 3, stride=1, padding=1) > 0
        ring = grown & ~reached
        if not ring.any():
            break
        distance = torch.where(ring, float(d), distance)
        reached = grown
    distance = torch.where(hole & ~reached, float(sum(mask.shape[-2:])), distance)
    weights = torch.pow(torch.full_like(distance, float(gamma)), distance) * hole
    return weights.to(mask.dtype if mask.is_floating_point() else torch.float32)


def discounted_l1(pred: Tensor, target: Tensor, mask: Tensor, gamma: float = 0.9) -> Tensor:
    """Spatially discounted L1 over the hole: ``sum(w * |pred - target|) / (C * #hole pixels)``."""
    weights = spatial_discount(mask, gamma).to(pred.dtype)
    count = (mask > 0).sum() * pred.shape[1]
    return ((pred - target).abs() * weights).sum() / count.clamp_min(1)


def known_l1(pred: Tensor, target: Tensor, mask: Tensor) -> Tensor:
    """Mean L1 over known (non-hole) values (the released ``ae_loss``)."""
    known = 1 - mask.to(pred.dtype)
    count = known.sum() * pred.shape[1]
    return ((pred - target).abs() * known).sum() / count.clamp_min(1)


def composite(pred: Tensor, target: Tensor, mask: Tensor) -> Tensor:
    """``mask * pred + (1 - mask) * target``: the completed image the critics see."""
    mask = mask.to(pred.dtype)
    return pred * mask + target * (1 - mask)


def reconstruction_losses(
    output: GeneratorOutput, target: Tensor, mask: Tensor, weights: DeepFillLossWeights = DeepFillLossWeights()
) -> dict[str, Tensor]:
    """The generator's L1 terms: ``coarse_l1``, ``refine_l1`` (discounted, hole),
    ``known_l1`` (known region, coarse and refine weighted) and their weighted ``total``."""
    w = weights
    terms = {
        "coarse_l1": discounted_l1(output.coarse, target, mask, w.gamma),
        "refine_l1": discounted_l1(output.refined, target, mask, w.gamma),
        "known_l1": w.coarse * known_l1(output.coarse, target, mask)
        + w.refine * known_l1(output.refined, target, mask),
    }
    terms["total"] = w.coarse * terms["coarse_l1"] + w.refine * terms["refine_l1"] + w.known * terms["known_l1"]
    return terms


def generator_loss(
    output: GeneratorOutput,
    target: Tensor,
    mask: Tensor,
    critics: DeepFillCritics | None = None,
    weights: DeepFillLossWeights = DeepFillLossWeights(),
) -> dict[str, Tensor]:
    """Full generator loss.

    Args:
        output: the generator's :class:`GeneratorOutput`.
        target: ground truth (B, C, H, W) in [-1, 1].
        mask: (B, 1, H, W), 1 = hole.
        critics: the critics; None for the reconstruction terms only (e.g. a
            coarse pre-training or a sanity check).
        weights: loss weights.

    Returns:
        ``coarse_l1``, ``refine_l1``, ``known_l1``, ``adversarial`` (if critics)
        and ``total``.
    """
    terms = reconstruction_losses(output, target, mask, weights)
    if critics is not None:
        local, global_ = critics(composite(output.refined, target, mask), mask)
        terms["adversarial"] = -(weights.global_critic * global_.mean() + local.mean())
        terms["total"] = terms["total"] + weights.adversarial * terms["adversarial"]
    return terms


def gradient_penalty(
    critic: Callable[[Tensor], Tensor], real: Tensor, fake: Tensor, mask: Tensor, alpha: Tensor | None = None
) -> Tensor:
    """WGAN-GP penalty restricted to the hole.

    The sample is ``real + alpha * mask * (fake - real)`` (known pixels are the
    real ones, whatever ``fake`` holds there) and the critic's gradient norm is
    taken over hole pixels only: ``mean_b (||mask * grad||_2 - 1)^2``.

    Args:
        critic: maps (B, C, H, W) to (B, 1) scores.
        real, fake: (B, C, H, W).
        mask: (B, 1, H, W), 1 = hole.
        alpha: (B, 1, 1, 1) interpolation factors; uniform random if None.

    Returns:
        Scalar penalty (differentiable w.r.t. the critic's parameters).
    """
    mask = mask.to(real.dtype)
    if alpha is None:
        alpha = torch.rand(real.shape[0], 1, 1, 1, device=real.device, dtype=real.dtype)
    sample = (real + alpha * mask * (fake - real)).detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(sample).sum(), sample, create_graph=True)
    slopes = ((grad * mask).pow(2).sum(dim=(1, 2, 3)) + 1e-12).sqrt()
    return (slopes - 1).pow(2).mean()


def critic_loss(
    critics: DeepFillCritics,
    real: Tensor,
    fake: Tensor,
    mask: Tensor,
    weights: DeepFillLossWeights = DeepFillLossWeights(),
) -> dict[str, Tensor]:
    """Loss of the local + global critics.

    Args:
        critics: the critics.
        real: ground truth (B, C, S, S) in [-1, 1].
        fake: the refined output (B, C, S, S) (raw or composited; it is
            composited here, and detached).
        mask: (B, 1, S, S), 1 = hole.
        weights: loss weights (``gradient_penalty``).

    Returns:
        ``wgan`` (D(fake) - D(real), local + global), ``gradient_penalty``
        (local + global, unweighted) and ``total``.
    """
    fake = composite(fake.detach(), real, mask)
    boxes = critics.boxes(mask)
    size = critics.local_size
    real_patch, fake_patch, mask_patch = (crop_boxes(t, boxes, size) for t in (real, fake, mask))
    wgan = (critics.local(fake_patch).mean() - critics.local(real_patch).mean()) + (
        critics.global_(fake).mean() - critics.global_(real).mean()
    )
    penalty = gradient_penalty(critics.local, real_patch, fake_patch, mask_patch) + gradient_penalty(
        critics.global_, real, fake, mask
    )
    return {"wgan": wgan, "gradient_penalty": penalty, "total": wgan + weights.gradient_penalty * penalty}


@dataclass(frozen=True)
class CriticSchedule:
    """Which network an optimisation iteration updates: ``critic_steps`` critic
    updates, then one generator update, repeated (paper / report 004: 5).

    Iterations count every optimiser step of either network from 0.
    """

    critic_steps: int = 5

    def __post_init__(self) -> None:
        if self.critic_steps < 0:
            raise OptionError(f"critic_steps must be >= 0, got {self.critic_steps}")

    def role(self, iteration: int) -> Literal["critic", "generator"]:
        """``"critic"`` or ``"generator"`` for 0-based ``iteration``."""
        if iteration < 0:
            raise OptionError(f"iteration must be >= 0, got {iteration}")
        return "generator" if iteration % (self.critic_steps + 1) == self.critic_steps else "critic"

    def generator_steps(self, iteration: int) -> int:
        """Generator updates completed before ``iteration``."""
        return iteration // (self.critic_steps + 1)

    def iterations(self, generator_steps: int) -> int:
        """Iterations needed for ``generator_steps`` generator updates."""
        return generator_steps * (self.critic_steps + 1)
