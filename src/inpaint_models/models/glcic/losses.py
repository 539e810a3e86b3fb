"""GLCIC objective and training phases (Iizuka et al. 2017, Sec. 3.3 and 3.4).

The completion network C minimises ``L_MSE + alpha * L_GAN`` (alpha = 4e-4);
the discriminator D is a binary real/fake classifier on (whole image, patch
around the hole). Training runs in three phases: T_C iterations of C on the
MSE alone, T_D iterations of D alone, then both jointly.

Tensors are ``(B, C, H, W)`` images in [0, 1] and ``(B, 1, H, W)`` masks with
1 = hole.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

import torch
import torch.nn.functional as F
from torch import Tensor

from inpaint_models.contract.errors import OptionError

#: weight of the GAN term in the completion network's loss (paper: 0.0004)
ALPHA = 4e-4


def masked_mse(pred: Tensor, target: Tensor, mask: Tensor) -> Tensor:
    """Mean squared error over hole pixels: ``sum(M * (pred - target)^2) / (C * sum(M))``.

    The paper writes ``||M * (C(x, M) - x)||^2``; dividing by the number of
    hole values makes the scale independent of image and hole size (it only
    rescales the loss). Returns 0 (with a gradient path) when no pixel is a hole.
    """
    mask = mask.to(pred.dtype)
    squared = (pred - target).pow(2) * mask
    count = mask.sum() * pred.shape[1]
    return squared.sum() / count.clamp_min(1.0)


def discriminator_loss(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    """Binary cross-entropy of D: real -> 1, completed -> 0 (logits in, mean over the batch).

    The paper multiplies the whole discriminator objective by alpha as well;
    that constant does not move D's optimum (and Adam / ADADELTA are
    insensitive to it), so alpha only weighs the GAN term against the MSE in
    :func:`completion_loss`.
    """
    real = F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits))
    fake = F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))
    return real + fake


def generator_gan_loss(fake_logits: Tensor) -> Tensor:
    """GAN term of C: ``-log D(C(x, M))`` (non-saturating form), mean over the batch."""
    return F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))


def completion_loss(
    pred: Tensor, target: Tensor, mask: Tensor, fake_logits: Tensor | None = None, alpha: float = ALPHA
) -> dict[str, Tensor]:
    """Loss of the completion network.

    Args:
        pred: raw network output (B, C, H, W) in [0, 1].
        target: ground truth (B, C, H, W) in [0, 1].
        mask: (B, 1, H, W), 1 = hole.
        fake_logits: D's logits (B, 1) on the *composited* completion; None in
            the completion-only phase (then the loss is the MSE alone).
        alpha: weight of the GAN term.

    Returns:
        ``{"mse", "total"}`` plus ``"gan"`` when ``fake_logits`` is given.
    """
    terms = {"mse": masked_mse(pred, target, mask)}
    total = terms["mse"]
    if fake_logits is not None:
        terms["gan"] = generator_gan_loss(fake_logits)
        total = total + alpha * terms["gan"]
    terms["total"] = total
    return terms


class Phase(str, Enum):
    """The three GLCIC training phases (values are plain strings for progress events)."""

    COMPLETION = "completion"  # C trained with the MSE only
    DISCRIMINATOR = "discriminator"  # C frozen, D trained
    JOINT = "joint"  # C (MSE + alpha * GAN) and D alternate


@dataclass(frozen=True)
class PhaseSchedule:
    """Maps a 0-based training step to its :class:`Phase`.

    Steps ``[0, t_c)`` are the completion phase, ``[t_c, t_c + t_d)`` the
    discriminator phase and everything after that the joint phase (paper:
    t_c = 90,000, t_d = 10,000, joint for 400,000).
    """

    t_c: int
    t_d: int

    def __post_init__(self) -> None:
        if self.t_c < 0 or self.t_d < 0:
            raise OptionError(f"phase lengths must be >= 0, got t_c={self.t_c}, t_d={self.t_d}")

    def phase(self, step: int) -> Phase:
        """The phase of 0-based ``step``."""
        if step < 0:
            raise OptionError(f"step must be >= 0, got {step}")
        if step < self.t_c:
            return Phase.COMPLETION
        if step < self.t_c + self.t_d:
            return Phase.DISCRIMINATOR
        return Phase.JOINT

    def trains_completion(self, step: int) -> bool:
        """Whether the completion network is updated at ``step``."""
        return self.phase(step) is not Phase.DISCRIMINATOR

    def trains_discriminator(self, step: int) -> bool:
        """Whether the discriminator is updated at ``step``."""
        return self.phase(step) is not Phase.COMPLETION
