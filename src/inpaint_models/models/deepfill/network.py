"""DeepFill v1 networks (Yu et al. 2018, "Generative image inpainting with
contextual attention").

Modules only. The generator works in [-1, 1]: its input is prepared by
:func:`.inputs.network_input` (``image * (1 - m)`` for the plain ``hole``
variant) and it receives ``[x, ones, m]`` (5 planes for RGB). Masks are
``(B, 1, H, W)`` with 1 = hole. Channel widths follow the released code
(``cnum`` = 32 at width 1.0); convolutions use zero padding and ELU, no
normalisation; outputs are clipped to [-1, 1].
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from inpaint_models.contract.errors import ShapeMismatchError
from inpaint_models.models.deepfill.contextual_attention import AttentionSettings, ContextualAttention
from inpaint_models.models.layers import crop_boxes, hole_centred_boxes, local_patch_size, resolve_width  # noqa: F401 (re-exported)

BASE_WIDTH = 32




class _Conv(nn.Sequential):
    """Convolution ('same' zero padding) + optional activation (ELU by default)."""

    def __init__(
        self, c_in: int, c_out: int, k: int, stride: int = 1, dilation: int = 1, act: nn.Module | None = None
    ) -> None:
        layers: list[nn.Module] = [
            nn.Conv2d(c_in, c_out, k, stride, padding=dilation * (k - 1) // 2, dilation=dilation)
        ]
        if act is not None:
            layers.append(act)
        super().__init__(*layers)


def _tf_default_init(module: nn.Module) -> None:
    """Glorot-uniform weights and zero biases: TensorFlow's defaults, which the
    released model was trained with. (PyTorch's default init shrinks the signal
    through this deep normalisation-free ELU stack; the net then barely learns.)"""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.xavier_uniform_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


#: scale of the default init of each stage's last layer with ``residual``: the stages start close
#: to (not exactly at) the identity of their input
RESIDUAL_INIT_SCALE = 0.1

def _conv(c_in: int, c_out: int, k: int, stride: int = 1, dilation: int = 1) -> _Conv:
    return _Conv(c_in, c_out, k, stride, dilation, nn.ELU())


class _Up(nn.Sequential):
    """The released ``gen_deconv``: nearest 2x upsampling, then a 3x3 convolution + ELU."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__(nn.Upsample(scale_factor=2, mode="nearest"), _conv(c_in, c_out, 3))


def _dilated(c: int) -> list[nn.Module]:
    return [_conv(c, c, 3, dilation=d) for d in (2, 4, 8, 16)]


def _decoder(c_in: int, cnum: int, channels: int) -> nn.Sequential:
    # 3x3 4c (x2); up 2c; 3x3 2c; up c; 3x3 c/2; 3x3 -> channels (no activation)
    c4, c2, c1, c_half = 4 * cnum, 2 * cnum, cnum, max(1, cnum // 2)
    return nn.Sequential(
        _conv(c_in, c4, 3),
        _conv(c4, c4, 3),
        _Up(c4, c2),
        _conv(c2, c2, 3),
        _Up(c2, c1),
        _conv(c1, c_half, 3),
        _Conv(c_half, channels, 3),
    )


class CoarseNetwork(nn.Module):
    """Stage 1: 5x5 c; 3x3 s2 2c; 3x3 2c; 3x3 s2 4c; 3x3 4c (x2); dilated 3x3 4c at
    2, 4, 8, 16; then the decoder. (B, C + 2, H, W) -> (B, C, H, W) in [-1, 1]."""

    def __init__(self, cnum: int, channels: int) -> None:
        super().__init__()
        c1, c2, c4 = cnum, 2 * cnum, 4 * cnum
        self.encoder = nn.Sequential(
            _conv(channels + 2, c1, 5),
            _conv(c1, c2, 3, stride=2),
            _conv(c2, c2, 3),
            _conv(c2, c4, 3, stride=2),
            _conv(c4, c4, 3),
            _conv(c4, c4, 3),
            *_dilated(c4),
        )
        self.decoder = _decoder(c4, cnum, channels)

    residual: bool = False

    def forward(self, x: Tensor) -> Tensor:
        out = self.decoder(self.encoder(x))
        if self.residual:  # a correction of the (pre-filled) input image
            out = out + x[:, : out.shape[1]]
        return out.clamp(-1.0, 1.0)


class RefinementNetwork(nn.Module):
    """Stage 2 on the composite: a dilated branch and a contextual-attention
    branch at 1/4 resolution, concatenated, then the decoder.

    Dilated branch (released ``xconv``): 5x5 c; 3x3 s2 c; 3x3 2c; 3x3 s2 2c;
    3x3 4c (x2); dilated 3x3 4c at 2, 4, 8, 16. Attention branch (``pmconv``):
    5x5 c; 3x3 s2 c; 3x3 2c; 3x3 s2 4c; 3x3 4c; 3x3 4c + ReLU; contextual
    attention; 3x3 4c (x2).
    """

    def __init__(self, cnum: int, channels: int, attention: ContextualAttention) -> None:
        super().__init__()
        c1, c2, c4 = cnum, 2 * cnum, 4 * cnum
        self.dilated_branch = nn.Sequential(
            _conv(channels + 2, c1, 5),
            _conv(c1, c1, 3, stride=2),
            _conv(c1, c2, 3),
            _conv(c2, c2, 3, stride=2),
            _conv(c2, c4, 3),
            _conv(c4, c4, 3),
            *_dilated(c4),
        )
        self.attention_encoder = nn.Sequential(
            _conv(channels + 2, c1, 5),
            _conv(c1, c1, 3, stride=2),
            _conv(c1, c2, 3),
            _conv(c2, c4, 3, stride=2),
            _conv(c4, c4, 3),
            _Conv(c4, c4, 3, act=nn.ReLU()),
        )
        self.attention = attention
        self.attention_decoder = nn.Sequential(_conv(c4, c4, 3), _conv(c4, c4, 3))
        self.decoder = _decoder(2 * c4, cnum, channels)

    residual: bool = False

    def forward(self, x: Tensor, feature_mask: Tensor) -> tuple[Tensor, Tensor]:
        """x (B, C + 2, H, W), feature_mask (B, 1, H/4, W/4) -> (output (B, C, H, W), flow (B, 2, H/4, W/4))."""
        dilated = self.dilated_branch(x)
        features = self.attention_encoder(x)
        attended, flow = self.attention(features, features, feature_mask)
        attended = self.attention_decoder(attended)
        out = self.decoder(torch.cat([dilated, attended], dim=1))
        if self.residual:  # a correction of the coarse composite
            out = out + x[:, : out.shape[1]]
        return out.clamp(-1.0, 1.0), flow


class GeneratorOutput(NamedTuple):
    """coarse, refined: (B, C, H, W) raw predictions in [-1, 1] (not composited);
    flow: (B, 2, H/4, W/4) attention offsets (dy, dx) in feature pixels (x4 for
    image pixels)."""

    coarse: Tensor
    refined: Tensor
    flow: Tensor


class DeepFillGenerator(nn.Module):
    """Coarse network + refinement network with contextual attention.

    Args:
        width: multiplier of the base width 32 (or a :data:`WIDTH_PRESETS` name).
        channels: image channels.
        ksize, rate, fuse_k, softmax_scale: contextual-attention settings
            (paper: 3, 2, 3, 10).
        residual: each stage outputs its input image plus a correction (last
            layers' weights scaled by :data:`RESIDUAL_INIT_SCALE`, biases zero); use with a
            pre-filled hole (``hole_smooth``).
    """

    #: height and width must be multiples of this (two stride-2 layers, then rate 2)
    size_multiple: int = 8

    def __init__(
        self,
        width: float | str = 1.0,
        channels: int = 3,
        ksize: int = 3,
        rate: int = 2,
        fuse_k: int = 3,
        softmax_scale: float = 10.0,
        residual: bool = False,
    ) -> None:
        super().__init__()
        self.width = resolve_width(width)
        self.channels = int(channels)
        cnum = max(2, round(BASE_WIDTH * self.width))
        self.size_multiple = 4 * rate
        self.coarse = CoarseNetwork(cnum, self.channels)
        attention = ContextualAttention(AttentionSettings(ksize, rate, fuse_k, softmax_scale))
        self.refine = RefinementNetwork(cnum, self.channels, attention)
        _tf_default_init(self)
        if residual:  # both stages start close to the identity of their input image (models/prefill.py)
            for stage in (self.coarse, self.refine):
                stage.residual = True
                # small, not zero: the last layer is the only path to the ELU stack, and from an exact zero
                # its sign-flipping gradients left the rest of the network without signal for hundreds of steps
                with torch.no_grad():
                    stage.decoder[-1][0].weight.mul_(RESIDUAL_INIT_SCALE)

    def forward(self, x: Tensor, mask: Tensor) -> GeneratorOutput:
        """x (B, C, H, W) in [-1, 1], the network input (hole content per the input
        variant), mask (B, 1, H, W) 1 = hole -> :class:`GeneratorOutput`.

        H and W must be multiples of 8.
        """
        if x.ndim != 4 or x.shape[1] != self.channels:
            raise ShapeMismatchError(f"expected x (B, {self.channels}, H, W), got {tuple(x.shape)}")
        if mask.shape != (x.shape[0], 1, *x.shape[-2:]):
            raise ShapeMismatchError(f"mask must be {(x.shape[0], 1, *x.shape[-2:])}, got {tuple(mask.shape)}")
        h, w = x.shape[-2:]
        if h % self.size_multiple or w % self.size_multiple:
            raise ShapeMismatchError(f"height and width must be multiples of {self.size_multiple}, got {(h, w)}")
        mask = mask.to(x.dtype)
        ones = torch.ones_like(mask)
        coarse = self.coarse(torch.cat([x, ones, mask], dim=1))
        composite = coarse * mask + x * (1 - mask)
        # a feature location counts as hole if any image pixel under it is
        feature_mask = F.max_pool2d(mask, 4, stride=4)
        refined, flow = self.refine(torch.cat([composite, ones, mask], dim=1), feature_mask)
        return GeneratorOutput(coarse, refined, flow)


def _reduced(size: int, layers: int) -> int:
    for _ in range(layers):  # 5x5 / stride 2 / padding 2: n -> ceil(n / 2)
        size = (size + 1) // 2
    return size


class Critic(nn.Module):
    """WGAN critic: 5x5 stride-2 convolutions + LeakyReLU(0.2), flatten, linear -> 1 score.

    Args:
        size: input height = width.
        conv_channels: channels of the convolutions before ``width``
            (local: 64-128-256-512, global: 64-128-256-256).
        width: channel multiplier.
        channels: image channels.
    """

    def __init__(self, size: int, conv_channels: Sequence[int], width: float | str = 1.0, channels: int = 3) -> None:
        super().__init__()
        width = resolve_width(width)
        self.size = int(size)
        layers: list[nn.Module] = []
        c_in = channels
        for c in conv_channels:
            c_out = max(1, round(c * width))
            layers += [nn.Conv2d(c_in, c_out, 5, stride=2, padding=2), nn.LeakyReLU(0.2)]
            c_in = c_out
        self.features = nn.Sequential(*layers)
        side = _reduced(self.size, len(conv_channels))
        self.score = nn.Sequential(nn.Flatten(), nn.Linear(c_in * side * side, 1))
        _tf_default_init(self)

    def forward(self, x: Tensor) -> Tensor:
        """(B, C, size, size) in [-1, 1] -> (B, 1) scores."""
        if x.shape[-2:] != (self.size, self.size):
            raise ShapeMismatchError(f"critic built for {self.size}x{self.size} inputs, got {tuple(x.shape[-2:])}")
        return self.score(self.features(x))


LOCAL_CHANNELS = (64, 128, 256, 512)
GLOBAL_CHANNELS = (64, 128, 256, 256)


class DeepFillCritics(nn.Module):
    """The local and global WGAN-GP critics (scored separately, as in the paper).

    Args:
        image_size: training image size (paper: 256).
        local_size: patch around the hole seen by the local critic; default
            ``image_size // 2`` (128 at 256).
        width: channel multiplier.
        channels: image channels.
    """

    def __init__(
        self, image_size: int = 256, local_size: int | None = None, width: float | str = 1.0, channels: int = 3
    ) -> None:
        super().__init__()
        self.image_size = int(image_size)
        self.local_size = local_patch_size(self.image_size, local_size)
        self.local = Critic(self.local_size, LOCAL_CHANNELS, width, channels)
        self.global_ = Critic(self.image_size, GLOBAL_CHANNELS, width, channels)

    def boxes(self, mask: Tensor) -> list[tuple[int, int]]:
        """Local-patch corners for mask (B, 1, S, S)."""
        return hole_centred_boxes(mask, self.local_size)

    def forward(self, image: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        """image (B, C, S, S) in [-1, 1], mask (B, 1, S, S) 1 = hole
        -> (local scores (B, 1), global scores (B, 1))."""
        patch = crop_boxes(image, self.boxes(mask), self.local_size)
        return self.local(patch), self.global_(image)
