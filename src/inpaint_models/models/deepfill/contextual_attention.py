"""Contextual attention (Yu et al. 2018, Sec. 4.1).

Each foreground location matches 3x3 patches of the background features
(cosine-like score: background patches are L2-normalised), scores are
propagated along diagonals with a fuse kernel (left-right, then top-down),
softmax-ed with scale 10 over *valid* background patches only, and the
foreground is rebuilt from the raw (full-resolution 4x4, stride 2) background
patches by a transposed convolution, divided by 4 (each output pixel is covered
by 2 x 2 patches).

Matching runs on features downsampled by ``rate`` (2), so H and W of the
features must be multiples of ``rate``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from inpaint_models.contract.errors import OptionError, ShapeMismatchError


class AttentionResult(NamedTuple):
    """Output of :func:`contextual_attention`.

    features: (B, C, H, W) reconstructed features.
    flow: (B, 2, H, W) float, (dy, dx) in feature pixels from each location to
        the centre of its most attended background patch (0 where nothing is
        attended).
    weights: (B, L, H / rate, W / rate) attention over the L = (H / rate) *
        (W / rate) background patches (row-major patch index), or None unless
        requested. Exactly 0 on patches that touch the hole.
    """

    features: Tensor
    flow: Tensor
    weights: Tensor | None


def _propagate(scores: Tensor, k: int, bg_dim: int, fg_dim: int) -> Tensor:
    """Attention propagation: s'(fg, bg) = sum_{i in [-k//2, k//2]} s(fg + i, bg + i) along one axis
    (zeros beyond the border). ``scores`` is (bh, bw, fh, fw)."""
    p = k // 2
    pad = [0] * 8  # F.pad lists the last dimension first
    for dim in (bg_dim, fg_dim):
        pad[2 * (3 - dim)] = pad[2 * (3 - dim) + 1] = p
    padded = F.pad(scores, pad)
    out = torch.zeros_like(scores)
    for i in range(-p, p + 1):
        index = [slice(None)] * 4
        for dim in (bg_dim, fg_dim):
            index[dim] = slice(p + i, p + i + scores.shape[dim])
        out = out + padded[tuple(index)]
    return out


@dataclass(frozen=True)
class AttentionSettings:
    """The settings of :func:`contextual_attention` (the paper's: 3, 2, 3, 10, fused).

    Attributes:
        ksize: matching patch size.
        rate: downsampling for matching (even, >= 2); raw patches are ``2 * rate``
            wide with stride ``rate``.
        fuse_k: attention propagation kernel.
        softmax_scale: softmax temperature.
        fuse: whether to propagate attention.
    """

    ksize: int = 3
    rate: int = 2
    fuse_k: int = 3
    softmax_scale: float = 10.0
    fuse: bool = True


class _Patches(NamedTuple):
    """The background's patches, found once for every sample of a batch."""

    raw: Tensor  # (B, L, C, 2r, 2r) full-resolution patches, stride r: what the foreground is rebuilt from
    normalised: Tensor  # (B, L, C, k, k) L2-normalised patches of the downsampled background: what is matched
    valid: Tensor  # bool (B, L): patches whose k x k window holds no hole pixel
    foreground: Tensor  # (B, C, H / r, W / r) float32 downsampled foreground


def _check(foreground: Tensor, background: Tensor, mask: Tensor, rate: int) -> None:
    """Raise on shapes or a rate :func:`contextual_attention` cannot take."""
    if foreground.shape != background.shape or foreground.ndim != 4:
        raise ShapeMismatchError(
            f"foreground and background must be (B, C, H, W) of one shape, "
            f"got {tuple(foreground.shape)} and {tuple(background.shape)}"
        )
    b, _c, h, w = foreground.shape
    if mask.shape != (b, 1, h, w):
        raise ShapeMismatchError(f"mask must be {(b, 1, h, w)}, got {tuple(mask.shape)}")
    if rate < 2 or rate % 2:
        raise OptionError(f"rate must be an even number >= 2, got {rate}")
    if h % rate or w % rate:
        raise ShapeMismatchError(f"feature size {(h, w)} must be a multiple of rate {rate}")


def _patches(foreground: Tensor, background: Tensor, mask: Tensor, settings: AttentionSettings) -> _Patches:
    """Raw and matching patches of ``background``, which of them are valid, and the matching foreground."""
    b, c = foreground.shape[:2]
    rate, ksize = settings.rate, settings.ksize
    kernel = 2 * rate
    # raw patches from the full-resolution background: (B, L, C, 2r, 2r), stride r
    raw = F.unfold(F.pad(background, (rate // 2,) * 4), kernel, stride=rate)
    raw = raw.transpose(1, 2).reshape(b, -1, c, kernel, kernel)

    # matching in float32: under fp16 autocast, patch norms and scale x unnormalised
    # foreground scores overflow
    fg = foreground[:, :, ::rate, ::rate].float()  # nearest downsampling
    bg = background[:, :, ::rate, ::rate].float()
    hole = F.max_pool2d(mask.float(), rate, stride=rate)
    fh, fw = fg.shape[-2:]
    n_patches = fh * fw
    # patches touching the hole in their ksize window are never attended
    valid = F.max_pool2d(hole, ksize, stride=1, padding=ksize // 2).reshape(b, n_patches) == 0

    patches = F.unfold(bg, ksize, padding=ksize // 2).transpose(1, 2).reshape(b, n_patches, c, ksize, ksize)
    norms = patches.pow(2).sum(dim=(2, 3, 4), keepdim=True).sqrt().clamp_min(1e-4)
    return _Patches(raw, patches / norms, valid, fg)


def _attention(patches: _Patches, i: int, settings: AttentionSettings) -> Tensor:
    """(L, H / r, W / r) attention of sample ``i`` over its background patches; exactly 0 on invalid ones."""
    fh, fw = patches.foreground.shape[-2:]
    n_patches = fh * fw
    ksize = settings.ksize
    scores = F.conv2d(patches.foreground[i : i + 1], patches.normalised[i], padding=ksize // 2)[0]  # (L, fh, fw)
    if settings.fuse:
        s = scores.reshape(fh, fw, fh, fw)  # (bg y, bg x, fg y, fg x)
        s = _propagate(s, settings.fuse_k, bg_dim=1, fg_dim=3)  # left-right
        s = _propagate(s, settings.fuse_k, bg_dim=0, fg_dim=2)  # top-down
        scores = s.reshape(n_patches, fh, fw)
    ok = patches.valid[i].view(n_patches, 1, 1)
    logits = torch.where(ok, scores * settings.softmax_scale, torch.finfo(scores.dtype).min)
    return torch.softmax(logits, dim=0) * ok  # exactly 0 on hole patches (all 0 if none valid)


def contextual_attention(
    foreground: Tensor,
    background: Tensor,
    mask: Tensor,
    settings: AttentionSettings = AttentionSettings(),
    return_weights: bool = False,
) -> AttentionResult:
    """Rebuild ``foreground`` from patches of ``background``.

    Args:
        foreground: (B, C, H, W) features to complete (the generator passes the
            same tensor for both).
        background: (B, C, H, W) features to copy from.
        mask: (B, 1, H, W), 1 = hole, at the features' resolution. A
            background patch is used only if its 3x3 window (at 1/rate
            resolution, mask max-pooled) holds no hole pixel, so its raw 4x4
            patch is hole-free as well.
        settings: patch size, rate, propagation and temperature (the paper's by default).
        return_weights: keep the attention tensor in the result (memory:
            B x L x H/rate x W/rate floats).

    Returns:
        :class:`AttentionResult`.
    """
    rate = settings.rate
    _check(foreground, background, mask, rate)
    patches = _patches(foreground, background, mask, settings)
    fh, fw = patches.foreground.shape[-2:]
    outputs, flows, all_weights = [], [], []
    ys = torch.arange(fh, device=patches.foreground.device).view(fh, 1).expand(fh, fw)
    xs = torch.arange(fw, device=patches.foreground.device).view(1, fw).expand(fh, fw)
    for i in range(foreground.shape[0]):
        attention = _attention(patches, i, settings)
        raw = patches.raw[i]
        outputs.append(F.conv_transpose2d(attention.unsqueeze(0).to(raw.dtype), raw, stride=rate,
                                          padding=rate // 2) / 4.0)
        best = attention.argmax(dim=0)
        attended = patches.valid[i].any().to(foreground.dtype)  # 0: nothing attended, no offset
        flows.append(torch.stack([best // fw - ys, best % fw - xs]).to(foreground.dtype) * attended)
        if return_weights:
            all_weights.append(attention)
    flow = F.interpolate(torch.stack(flows), scale_factor=rate, mode="nearest") * rate
    return AttentionResult(torch.cat(outputs), flow, torch.stack(all_weights) if return_weights else None)


class ContextualAttention(nn.Module):
    """:func:`contextual_attention` as a module (no parameters); see it for the settings."""

    def __init__(self, settings: AttentionSettings = AttentionSettings()):
        super().__init__()
        self.settings = settings

    def forward(self, foreground: Tensor, background: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        """features (B, C, H, W) x2, mask (B, 1, H, W) -> (features (B, C, H, W), flow (B, 2, H, W))."""
        result = contextual_attention(foreground, background, mask, self.settings)
        return result.features, result.flow
