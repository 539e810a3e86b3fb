"""Partial-convolution U-Net (Liu et al. 2018, "Image inpainting for irregular holes
using partial convolutions").

Modules only. Images are ``(B, C, H, W)`` floats in [0, 1]; the public
:class:`PConvUNet` takes the backend's hole mask (1 = hole) and converts it to
the paper's convention (M = 1 valid) internally. :class:`PartialConv2d` itself
works in the paper's convention.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from inpaint_models.contract.errors import OptionError, ShapeMismatchError
from inpaint_models.models.layers import resolve_width
from inpaint_models.models.prefill import smooth_fill, zero_init

# Encoder levels as (kernel, output channels); levels past the table repeat the
# last row (3x3, 512): 7 levels at 256 px, 8 at 512 px.
ENCODER_TABLE: tuple[tuple[int, int], ...] = ((7, 64), (5, 128), (5, 256), (3, 512))
DECODER_KERNEL = 3




def layers_for_size(size: int) -> int:
    """Number of U-Net levels the paper uses for ``size`` px inputs: 7 at 256, 8 at 512.

    That is ``log2(size) - 1`` (the bottleneck is 2x2); e.g. 4 at 32, 5 at 64.
    """
    if size < 4 or size & (size - 1):
        raise OptionError(f"layers can only be derived from a power-of-two size >= 4, got {size}")
    return int(math.log2(size)) - 1


class PartialConv2d(nn.Module):
    """Partial convolution with per-channel masks and mask update.

    With ``M`` the validity mask (1 = valid, paper convention) under the
    sliding window, ``sum(1)`` the window's element count (in-channels x k x k,
    zero padding included, so padding counts as hole) and ``sum(M)`` its valid
    count::

        out = W^T (X * M) * sum(1) / sum(M) + b   where sum(M) > 0, else 0
        new mask = 1                              where sum(M) > 0, else 0

    Args: as ``nn.Conv2d``; ``padding`` defaults to ``dilation * (k - 1) // 2``.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        stride: int = 1,
        padding: int | None = None,
        dilation: int = 1,
        bias: bool = True,
    ) -> None:
        super().__init__()
        padding = dilation * (kernel_size - 1) // 2 if padding is None else padding
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding, dilation, bias=bias)
        self.register_buffer("window", torch.ones(1, in_channels, kernel_size, kernel_size), persistent=False)
        self.window_size = float(in_channels * kernel_size * kernel_size)

    def forward(self, x: Tensor, valid: Tensor) -> tuple[Tensor, Tensor]:
        """x (B, Cin, H, W), valid (B, Cin, H, W) or (B, 1, H, W) with 1 = valid
        -> (out (B, Cout, H', W'), new valid mask (B, Cout, H', W'))."""
        if valid.shape[1] == 1:
            valid = valid.expand(-1, x.shape[1], -1, -1)
        c = self.conv
        # the mask is data, not a learned quantity: no gradient through it. Its counts and the
        # re-weighting stay in float32 under fp16/bf16 autocast: a count clamped in fp16 (1e-8
        # underflows to 0) gave inf * 0 = NaN, and a ratio up to C*k*k times an fp16 activation overflows
        with torch.no_grad(), torch.autocast(x.device.type, enabled=False):
            valid = valid.float()
            valid_count = F.conv2d(valid, self.window.float(), None, c.stride, c.padding, c.dilation)
            new_valid = (valid_count > 0).float()
            ratio = self.window_size / valid_count.clamp_min(1.0) * new_valid  # counts are integers: 0 or >= 1
        out = F.conv2d(x * valid.to(x.dtype), c.weight, None, c.stride, c.padding, c.dilation).float() * ratio
        if c.bias is not None:
            out = out + c.bias.view(1, -1, 1, 1) * new_valid
        return out, new_valid.expand(-1, out.shape[1], -1, -1)


class _PConvBlock(nn.Module):
    """PartialConv2d, optional BatchNorm, optional activation."""

    def __init__(self, c_in: int, c_out: int, k: int, stride: int, bn: bool, act: nn.Module | None) -> None:
        super().__init__()
        self.pconv = PartialConv2d(c_in, c_out, k, stride=stride)
        self.bn = nn.BatchNorm2d(c_out) if bn else None
        self.act = act

    def forward(self, x: Tensor, valid: Tensor) -> tuple[Tensor, Tensor]:
        x, valid = self.pconv(x, valid)
        if self.bn is not None:
            x = self.bn(x)
        if self.act is not None:
            x = self.act(x)
        return x, valid


class PConvUNet(nn.Module):
    """The partial-convolution U-Net.

    Encoder: PConv 7x7 s2 -> 64 (no BN), 5x5 s2 -> 128, 5x5 s2 -> 256,
    3x3 s2 -> 512, then 3x3 s2 -> 512 for the remaining levels; BN + ReLU.
    Decoder, level by level: nearest 2x upsampling of features *and* mask,
    concatenation with the encoder's skip features and masks (the input image
    and its mask for the last level), PConv 3x3 + BN + LeakyReLU(0.2); the last
    layer outputs ``channels`` planes without BN or activation.

    Args:
        layers: number of levels (7 for 256 px, 8 for 512 px; see
            :func:`layers_for_size` or :meth:`for_size`).
        width: channel multiplier (or a :data:`WIDTH_PRESETS` name).
        channels: image channels.
        residual: add the output to a :func:`..prefill.smooth_fill` of the hole (the last
            layer starts at zero, so an untrained network returns that classical fill).
    """

    def __init__(self, layers: int = 7, width: float | str = 1.0, channels: int = 3, residual: bool = False) -> None:
        super().__init__()
        self.residual = bool(residual)
        if layers < 2:
            raise OptionError(f"the U-Net needs at least 2 levels, got {layers}")
        self.layers = int(layers)
        self.width = resolve_width(width)
        self.channels = int(channels)
        self.size_multiple = 2**self.layers
        self.encoder_bn_frozen = False

        enc_channels: list[int] = []
        self.encoder = nn.ModuleList()
        c_in = self.channels
        for i in range(self.layers):
            k, c = ENCODER_TABLE[min(i, len(ENCODER_TABLE) - 1)]
            c_out = max(1, round(c * self.width))
            self.encoder.append(_PConvBlock(c_in, c_out, k, 2, bn=i > 0, act=nn.ReLU(inplace=True)))
            enc_channels.append(c_out)
            c_in = c_out

        # decoder[j] runs at level layers - 1 - j: upsample, concat skip, PConv 3x3
        self.decoder = nn.ModuleList()
        skips = [self.channels] + enc_channels[:-1]
        for level in reversed(range(self.layers)):
            last = level == 0
            c_out = self.channels if last else skips[level]
            act = None if last else nn.LeakyReLU(0.2, inplace=True)
            self.decoder.append(_PConvBlock(c_in + skips[level], c_out, DECODER_KERNEL, 1, bn=not last, act=act))
            c_in = c_out
        if self.residual:
            zero_init(self.decoder[-1].pconv.conv)

    @classmethod
    def for_size(cls, size: int, width: float | str = 1.0, channels: int = 3) -> PConvUNet:
        """The network with the paper's level count for ``size`` px inputs."""
        return cls(layers=layers_for_size(size), width=width, channels=channels)

    def freeze_encoder_bn(self, frozen: bool = True) -> None:
        """Fine-tuning stage: freeze (or unfreeze) the encoder's BatchNorm layers.

        Frozen layers use their running statistics even in ``train()`` mode and
        their affine parameters stop receiving gradients (the paper fine-tunes
        at lr 5e-5 this way, so holes do not bias the batch statistics).
        """
        self.encoder_bn_frozen = frozen
        for block in self.encoder:
            if block.bn is not None:
                block.bn.requires_grad_(not frozen)
        self.train(self.training)

    def train(self, mode: bool = True) -> PConvUNet:
        super().train(mode)
        if self.encoder_bn_frozen:
            for block in self.encoder:
                if block.bn is not None:
                    block.bn.eval()
        return self

    def forward(self, image: Tensor, mask: Tensor) -> Tensor:
        """image (B, C, H, W) in [0, 1], mask (B, 1, H, W) or (B, C, H, W) with 1 = hole
        -> (B, C, H, W) raw prediction (unbounded; composite with the mask).

        H and W must be multiples of ``2 ** layers``.
        """
        if image.ndim != 4 or mask.ndim != 4 or image.shape[1] != self.channels:
            raise ShapeMismatchError(
                f"expected image (B, {self.channels}, H, W) and mask (B, 1, H, W), "
                f"got {tuple(image.shape)} and {tuple(mask.shape)}"
            )
        if (
            mask.shape[1] not in (1, self.channels)
            or mask.shape[0] != image.shape[0]
            or mask.shape[-2:] != image.shape[-2:]
        ):
            raise ShapeMismatchError(f"mask {tuple(mask.shape)} does not fit image {tuple(image.shape)}")
        h, w = image.shape[-2:]
        if h % self.size_multiple or w % self.size_multiple:
            raise ShapeMismatchError(
                f"a {self.layers}-level U-Net needs height and width multiples of {self.size_multiple}, got {(h, w)}"
            )
        valid = (1 - mask.to(image.dtype)).expand(-1, self.channels, -1, -1)
        x = image * valid
        skips = [(x, valid)]
        for block in self.encoder:
            x, valid = block(x, valid)
            skips.append((x, valid))
        skips.pop()  # the bottleneck is not a skip
        for block in self.decoder:
            skip_x, skip_valid = skips.pop()
            x = torch.cat([F.interpolate(x, scale_factor=2, mode="nearest"), skip_x], dim=1)
            valid = torch.cat([F.interpolate(valid, scale_factor=2, mode="nearest"), skip_valid], dim=1)
            x, valid = block(x, valid)
        if self.residual:
            return smooth_fill(image, mask.amax(dim=1, keepdim=True).to(image.dtype)) + x
        return x
