"""Partial-convolution U-Net losses (Liu et al. 2018, Sec. 3.3).

Paper: ``L = L_valid + 6 L_hole + 0.05 L_perceptual + 120 (L_style_out + L_style_comp) + 0.1 L_tv``.
The perceptual and style terms need an ImageNet VGG16, which cannot be
downloaded here: they are used only when the user supplies a VGG16 weights
file, and are otherwise reported as unavailable (:attr:`PConvLoss.unavailable`),
never replaced by something else. ``mode="mse"`` is a plain whole-image MSE
(the loss of one of the student reports this project started from; see docs/models.md).

Images are ``(B, C, H, W)`` in [0, 1]; masks ``(B, 1, H, W)`` with 1 = hole
(the paper's M is the complement: ``M = 1 - mask``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from inpaint_models.contract.errors import OptionError, WeightsError

# VGG16 ``features`` indices: pool1 ends block 0..4, pool2 5..9, pool3 10..16.
_VGG_BLOCKS = ((0, 5), (5, 10), (10, 17))
_VGG_CONVS = (0, 2, 5, 7, 10, 12, 14)
_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)


def _load_state_dict(path: Path) -> dict[str, Tensor]:
    if not path.is_file():
        raise WeightsError(f"VGG16 weights file not found: {path}")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path))
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # any unreadable / non-tensor file
        raise WeightsError(f"cannot read VGG16 weights from {path}: {exc}") from exc
    if not isinstance(state, dict) or not all(isinstance(v, Tensor) for v in state.values()):
        raise WeightsError(f"{path} does not hold a state_dict of tensors")
    return state


class VGG16Features(nn.Module):
    """Frozen pool1 / pool2 / pool3 features of a user-supplied ImageNet VGG16.

    Built from ``torchvision.models.vgg16(weights=None)`` (nothing is
    downloaded); the file is loaded with ``weights_only=True`` (or as
    safetensors). It may hold a whole VGG16 state_dict (``features.0.weight``,
    ..., e.g. torchvision's ``vgg16-397923af.pth``) or only its ``features``
    part (``0.weight``, ...); the convolutions up to pool3 must be present.

    Args:
        weights: path of the weights file.
    """

    def __init__(self, weights: str | Path) -> None:
        super().__init__()
        path = Path(weights)
        state = _load_state_dict(path)
        if any(k.startswith("features.") for k in state):
            state = {k[len("features.") :]: v for k, v in state.items() if k.startswith("features.")}
        with torch.device("meta"):  # the 120M-parameter classifier is never allocated
            import torchvision  # only when the user supplies VGG16 weights: it takes ~2 s to import

            vgg = torchvision.models.vgg16(weights=None, init_weights=False)
        features = vgg.features[: _VGG_BLOCKS[-1][1]].to_empty(device="cpu")
        needed = {f"{i}.{p}" for i in _VGG_CONVS for p in ("weight", "bias")}
        missing = sorted(needed - state.keys(), key=lambda k: int(k.split(".")[0]))
        if missing:
            raise WeightsError(f"{path} is not a VGG16 state_dict: missing {', '.join(missing)}")
        try:
            features.load_state_dict({k: state[k] for k in needed})
        except RuntimeError as exc:
            raise WeightsError(f"{path} does not match VGG16's layer shapes: {exc}") from exc
        self.blocks = nn.ModuleList(features[a:b] for a, b in _VGG_BLOCKS)
        self.requires_grad_(False)
        self.eval()
        self.register_buffer("mean", torch.tensor(_IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(_IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def train(self, mode: bool = True) -> VGG16Features:
        return super().train(False)  # always a fixed feature extractor

    def forward(self, image: Tensor) -> list[Tensor]:
        """(B, 3, H, W) in [0, 1] -> [pool1 (B, 64, H/2, W/2), pool2 (128, H/4), pool3 (256, H/8)]."""
        if image.shape[1] != 3:
            raise OptionError(f"the VGG16 perceptual / style terms need RGB images, got {image.shape[1]} channels")
        x = (image - self.mean) / self.std
        features = []
        for block in self.blocks:
            x = block(x)
            features.append(x)
        return features


def _gram(features: Tensor) -> Tensor:
    # K_p (psi^T psi) with K_p = 1 / (C H W), per sample: (B, C, C)
    b, c, h, w = features.shape
    flat = features.reshape(b, c, h * w)
    return flat @ flat.transpose(1, 2) / (c * h * w)


def total_variation(composite: Tensor, mask: Tensor) -> Tensor:
    """The paper's L_tv: absolute differences of horizontally / vertically adjacent
    pixels of the composite that both lie in the 1-px dilation of the hole,
    summed and divided by the composite's element count."""
    region = F.max_pool2d(mask.to(composite.dtype), 3, stride=1, padding=1)
    horizontal = (composite[..., :, 1:] - composite[..., :, :-1]).abs() * (region[..., :, 1:] * region[..., :, :-1])
    vertical = (composite[..., 1:, :] - composite[..., :-1, :]).abs() * (region[..., 1:, :] * region[..., :-1, :])
    return (horizontal.sum() + vertical.sum()) / composite.numel()


@dataclass(frozen=True)
class PConvLossWeights:
    """Weights of the loss terms (paper values)."""

    valid: float = 1.0
    hole: float = 6.0
    tv: float = 0.1
    perceptual: float = 0.05
    style: float = 120.0


#: the whole-image MSE (``mode="mse"``): squared errors, valid and hole
#: weighted alike (both are normalised by the element count, so
#: valid + hole = whole-image MSE), no TV.
MSE_WEIGHTS = PConvLossWeights(valid=1.0, hole=1.0, tv=0.0, perceptual=0.0, style=0.0)


class PConvLoss(nn.Module):
    """The partial-convolution U-Net loss.

    Args:
        vgg_weights: path of an ImageNet VGG16 weights file; with it the
            perceptual (0.05) and style (120) terms are added. Without it they
            are listed in :attr:`unavailable` and left out of the total.
        mode: ``"paper"`` (L1 distances, paper weights) or ``"mse"``
            (whole-image mean squared error, no other term).
        weights: override the term weights (defaults depend on ``mode``).

    Calling it returns a dict of scalar tensors: ``total``, ``valid``,
    ``hole``, ``tv`` and, when VGG16 weights were supplied, ``perceptual`` and
    ``style``.
    """

    def __init__(
        self,
        vgg_weights: str | Path | None = None,
        mode: Literal["paper", "mse"] = "paper",
        weights: PConvLossWeights | None = None,
    ) -> None:
        super().__init__()
        if mode not in ("paper", "mse"):
            raise OptionError(f"mode must be 'paper' or 'mse', got {mode!r}")
        if mode == "mse" and vgg_weights is not None:
            raise OptionError(
                "the MSE loss has no perceptual or style term: drop vgg_weights or use mode='paper'"
            )
        self.mode = mode
        self.weights = weights if weights is not None else (MSE_WEIGHTS if mode == "mse" else PConvLossWeights())
        self.vgg = VGG16Features(vgg_weights) if vgg_weights is not None else None
        #: term name -> why it is not computed (empty when every term is available)
        self.unavailable: dict[str, str] = {}
        if self.vgg is None:
            reason = (
                "not part of the whole-image MSE loss (loss = 'mse')"
                if mode == "mse"
                else "needs ImageNet VGG16 weights: pass vgg_weights=<file> to enable it"
            )
            self.unavailable = {"perceptual": reason, "style": reason}

    def _distance(self, a: Tensor, b: Tensor) -> Tensor:
        return (a - b).pow(2) if self.mode == "mse" else (a - b).abs()

    def forward(self, output: Tensor, target: Tensor, mask: Tensor) -> dict[str, Tensor]:
        """output, target (B, C, H, W) in [0, 1]; mask (B, 1, H, W), 1 = hole -> dict of scalar losses."""
        hole = mask.to(output.dtype)
        valid = 1 - hole
        composite = hole * output + valid * target
        distance = self._distance(output, target)
        n = output.numel()  # the paper normalises both terms by N_{I_gt}
        terms = {
            "valid": (distance * valid).sum() / n,
            "hole": (distance * hole).sum() / n,
            "tv": total_variation(composite, hole),
        }
        w = self.weights
        total = w.valid * terms["valid"] + w.hole * terms["hole"] + w.tv * terms["tv"]
        if self.vgg is not None:
            with torch.no_grad():
                feats_gt = self.vgg(target)
            feats_out = self.vgg(output)
            feats_comp = self.vgg(composite)
            perceptual = output.new_zeros(())
            style = output.new_zeros(())
            for gt, out, comp in zip(feats_gt, feats_out, feats_comp):
                perceptual = perceptual + F.l1_loss(out, gt) + F.l1_loss(comp, gt)
                gram_gt = _gram(gt)
                style = style + F.l1_loss(_gram(out), gram_gt) + F.l1_loss(_gram(comp), gram_gt)
            terms["perceptual"] = perceptual
            terms["style"] = style
            total = total + w.perceptual * perceptual + w.style * style
        terms["total"] = total
        return terms
