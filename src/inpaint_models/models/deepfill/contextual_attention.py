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

from typing import NamedTuple

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from inpaint_models.contract.errors import OptionError, ShapeMismatchError


class AttentionResult(NamedTuple):
    """Output of :func:`contextual_attention`.

    features: (B, C, H, W) reconstructed features.
    flow: (B, 2, H, W) float, (dy, dx) in feature pixels from each location to
        the centre of its most attended background patch (0 where nothing is
        attended); show it with :func:`flow_to_rgb`.
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


def contextual_attention(
    foreground: Tensor,
    background: Tensor,
    mask: Tensor,
    ksize: int = 3,
    rate: int = 2,
    fuse_k: int = 3,
    softmax_scale: float = 10.0,
    fuse: bool = True,
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
        ksize: matching patch size (3).
        rate: downsampling for matching; raw patches are 2 * rate wide with
            stride rate.
        fuse_k: attention propagation kernel (3).
        softmax_scale: softmax temperature (10).
        fuse: whether to propagate attention.
        return_weights: keep the attention tensor in the result (memory:
            B x L x H/rate x W/rate floats).

    Returns:
        :class:`AttentionResult`.
    """
    if foreground.shape != background.shape or foreground.ndim != 4:
        raise ShapeMismatchError(
            f"foreground and background must be (B, C, H, W) of one shape, "
            f"got {tuple(foreground.shape)} and {tuple(background.shape)}"
        )
    b, c, h, w = foreground.shape
    if mask.shape != (b, 1, h, w):
        raise ShapeMismatchError(f"mask must be {(b, 1, h, w)}, got {tuple(mask.shape)}")
    if rate < 2 or rate % 2:
        raise OptionError(f"rate must be an even number >= 2, got {rate}")
    if h % rate or w % rate:
        raise ShapeMismatchError(f"feature size {(h, w)} must be a multiple of rate {rate}")
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
    patches = patches / norms

    outputs, flows, all_weights = [], [], []
    ys = torch.arange(fh, device=fg.device).view(fh, 1).expand(fh, fw)
    xs = torch.arange(fw, device=fg.device).view(1, fw).expand(fh, fw)
    for i in range(b):
        scores = F.conv2d(fg[i : i + 1], patches[i], padding=ksize // 2)[0]  # (L, fh, fw)
        if fuse:
            s = scores.reshape(fh, fw, fh, fw)  # (bg y, bg x, fg y, fg x)
            s = _propagate(s, fuse_k, bg_dim=1, fg_dim=3)  # left-right
            s = _propagate(s, fuse_k, bg_dim=0, fg_dim=2)  # top-down
            scores = s.reshape(n_patches, fh, fw)
        ok = valid[i].view(n_patches, 1, 1)
        logits = torch.where(ok, scores * softmax_scale, torch.finfo(scores.dtype).min)
        attention = torch.softmax(logits, dim=0) * ok  # exactly 0 on hole patches (all 0 if none valid)
        out = F.conv_transpose2d(attention.unsqueeze(0).to(raw.dtype), raw[i], stride=rate, padding=rate // 2) / 4.0
        outputs.append(out)
        best = attention.argmax(dim=0)
        attended = ok.any().to(foreground.dtype)  # 0: nothing attended, no offset
        flow = torch.stack([best // fw - ys, best % fw - xs]).to(foreground.dtype) * attended
        flows.append(flow)
        if return_weights:
            all_weights.append(attention)
    flow = F.interpolate(torch.stack(flows), scale_factor=rate, mode="nearest") * rate
    return AttentionResult(torch.cat(outputs), flow, torch.stack(all_weights) if return_weights else None)


class ContextualAttention(nn.Module):
    """:func:`contextual_attention` as a module (no parameters); see it for the arguments."""

    def __init__(self, ksize: int = 3, rate: int = 2, fuse_k: int = 3, softmax_scale: float = 10.0, fuse: bool = True):
        super().__init__()
        self.ksize, self.rate, self.fuse_k, self.softmax_scale, self.fuse = ksize, rate, fuse_k, softmax_scale, fuse

    def forward(self, foreground: Tensor, background: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        """features (B, C, H, W) x2, mask (B, 1, H, W) -> (features (B, C, H, W), flow (B, 2, H, W))."""
        result = contextual_attention(
            foreground, background, mask, self.ksize, self.rate, self.fuse_k, self.softmax_scale, self.fuse
        )
        return result.features, result.flow


def flow_to_rgb(flow: Tensor | np.ndarray, max_norm: float | None = None) -> np.ndarray:
    """Colour-code one attention flow for display.

    Args:
        flow: (2, H, W) (dy, dx) offsets, e.g. one sample of :attr:`AttentionResult.flow`.
        max_norm: offset length shown at full saturation (default: the largest).

    Returns:
        float32 (H, W, 3) RGB in [0, 1]: hue = direction, saturation = distance,
        white = no offset.
    """
    flow = flow.detach().cpu().numpy() if isinstance(flow, Tensor) else np.asarray(flow)
    if flow.ndim != 3 or flow.shape[0] != 2:
        raise ShapeMismatchError(f"flow must be (2, H, W), got {flow.shape}")
    dy, dx = flow.astype(np.float32)
    magnitude = np.hypot(dy, dx)
    scale = float(max_norm) if max_norm else float(magnitude.max())
    hue = (np.degrees(np.arctan2(dy, dx)) + 360.0) % 360.0
    saturation = np.clip(magnitude / scale, 0.0, 1.0) if scale > 0 else np.zeros_like(magnitude)
    hsv = np.stack([hue, saturation, np.ones_like(hue)], axis=-1).astype(np.float32)
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)
