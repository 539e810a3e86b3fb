"""Mask-conditioned noise-prediction U-Net (DDPM / improved-DDPM style).

Input: x_t (B, 3, H, W), the image (B, 3, H, W) in [-1, 1] and the hole mask (B, 1, H, W)
with 1 = hole; the network sees the 7 channels [x_t, image * (1 - mask), mask] and returns
the predicted noise epsilon (B, 3, H, W). H and W must be multiples of ``size_multiple``.

Layout for ``levels = len(channel_mults)``:
    conv 3x3 (7 -> base)
    down, per level: num_res_blocks x [ResBlock (+ attention)], then a stride-2 conv (not after the last)
    middle: ResBlock, attention, ResBlock
    up, per level in reverse: (num_res_blocks + 1) x [concat skip, ResBlock (+ attention)],
        then nearest 2x + conv 3x3 (not after level 0)
    GroupNorm, SiLU, conv 3x3 (base -> 3, zero-initialised)
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, Optional, Union

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class UNetConfig:
    """Hyper-parameters of :class:`DiffusionUNet`.

    Attributes:
        base_channels: width of the first level; level i has ``base_channels * channel_mults[i]``.
        channel_mults: one multiplier per resolution level.
        num_res_blocks: residual blocks per level on the way down (one more on the way up).
        attention_resolutions: feature-map sides, *at ``image_size``*, that get self-attention.
            Attention is placed by level (``image_size // side`` = downsampling factor), so at
            another input size it stays at the same depth, as in guided-diffusion.
        image_size: the native training size the attention resolutions refer to.
        dropout: dropout inside each residual block (between its two convolutions).
        norm_groups: GroupNorm groups (capped by each layer's channel count).
        attention_head_dim: channels per attention head.
        image_channels: channels of the image and of the predicted noise.
    """

    base_channels: int = 64
    channel_mults: tuple[int, ...] = (1, 2, 2, 4)
    num_res_blocks: int = 2
    attention_resolutions: tuple[int, ...] = (16, 8)
    image_size: int = 64
    dropout: float = 0.1
    norm_groups: int = 32
    attention_head_dim: int = 32
    image_channels: int = 3

    def __post_init__(self) -> None:
        # tuples even when built from a TOML/JSON list, so the config stays hashable and comparable
        object.__setattr__(self, "channel_mults", tuple(int(m) for m in self.channel_mults))
        object.__setattr__(self, "attention_resolutions", tuple(int(r) for r in self.attention_resolutions))
        if self.base_channels < 1 or not self.channel_mults or min(self.channel_mults) < 1:
            raise ValueError(f"base_channels and channel_mults must be positive; got {self}")
        if self.num_res_blocks < 1:
            raise ValueError(f"num_res_blocks must be >= 1; got {self.num_res_blocks}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1); got {self.dropout}")

    @property
    def levels(self) -> int:
        return len(self.channel_mults)

    @property
    def size_multiple(self) -> int:
        """H and W must be divisible by this (one halving between consecutive levels)."""
        return 2 ** (self.levels - 1)

    @property
    def attention_levels(self) -> tuple[int, ...]:
        """Level indices (0 = full resolution) that carry self-attention."""
        return tuple(
            level
            for level in range(self.levels)
            if self.image_size // 2**level in self.attention_resolutions
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict (lists for tuples), for checkpoint metadata."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}


#: Named presets. ``tiny`` is for CPU experiments at 32-64 px (~1.2M parameters); ``base``
#: is the MODELS.md network for 64-128 px (~19.4M parameters). Set ``image_size`` to the
#: training crop size (``preset_config(name, image_size=...)``) so attention lands on the
#: 16x16 and 8x8 maps of the training images; at 64 px, tiny (3 levels) only reaches 16x16.
PRESETS: dict[str, UNetConfig] = {
    "tiny": UNetConfig(
        base_channels=32,
        channel_mults=(1, 2, 2),
        num_res_blocks=1,
        attention_resolutions=(16, 8),
        image_size=64,
        dropout=0.0,
        norm_groups=8,
    ),
    "base": UNetConfig(
        base_channels=64,
        channel_mults=(1, 2, 2, 4),
        num_res_blocks=2,
        attention_resolutions=(16, 8),
        image_size=64,
        dropout=0.1,
        norm_groups=32,
    ),
}


def preset_config(name: str, **overrides: Any) -> UNetConfig:
    """The named preset, with any field replaced by ``overrides`` (e.g. ``dropout=0.0``)."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose one of {sorted(PRESETS)}")
    return dataclasses.replace(PRESETS[name], **overrides)


def timestep_embedding(t: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """Sinusoidal embedding (Transformer / DDPM): (B,) timesteps -> (B, dim) float32."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
    args = t.float()[:, None] * freqs[None]
    embedding = torch.cat([torch.cos(args), torch.sin(args)], dim=-1)
    if dim % 2:
        embedding = F.pad(embedding, (0, 1))
    return embedding


def _norm(channels: int, groups: int) -> nn.GroupNorm:
    groups = math.gcd(channels, min(groups, channels))
    return nn.GroupNorm(groups, channels)


def _zero(module: nn.Module) -> nn.Module:
    # Zero-initialised last layers make every residual branch start as the identity and the
    # network start by predicting eps = 0 (loss 1): a stable start for deep U-Nets.
    for p in module.parameters():
        nn.init.zeros_(p)
    return module


class ResBlock(nn.Module):
    """GroupNorm-SiLU-conv, time FiLM (scale/shift of the second norm), SiLU-dropout-conv, residual.

    (B, C_in, H, W), (B, E) -> (B, C_out, H, W).
    """

    def __init__(self, in_channels: int, out_channels: int, embed_dim: int, dropout: float, groups: int) -> None:
        super().__init__()
        self.norm1 = _norm(in_channels, groups)
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, padding=1)
        self.embed = nn.Sequential(nn.SiLU(), nn.Linear(embed_dim, 2 * out_channels))
        self.norm2 = _norm(out_channels, groups)
        self.dropout = nn.Dropout(dropout)
        self.conv2 = _zero(nn.Conv2d(out_channels, out_channels, 3, padding=1))
        self.skip = nn.Conv2d(in_channels, out_channels, 1) if in_channels != out_channels else nn.Identity()

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        scale, shift = self.embed(emb)[:, :, None, None].chunk(2, dim=1)
        h = self.norm2(h) * (1 + scale) + shift
        h = self.conv2(self.dropout(F.silu(h)))
        return self.skip(x) + h


class SelfAttention(nn.Module):
    """Multi-head self-attention over the H*W positions, residual. (B, C, H, W) -> same."""

    def __init__(self, channels: int, head_dim: int, groups: int) -> None:
        super().__init__()
        self.heads = max(1, channels // head_dim)
        self.norm = _norm(channels, groups)
        self.qkv = nn.Conv2d(channels, 3 * channels, 1)
        self.proj = _zero(nn.Conv2d(channels, channels, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        qkv = self.qkv(self.norm(x)).reshape(b, 3, self.heads, c // self.heads, h * w)
        q, k, v = qkv.transpose(-1, -2).unbind(dim=1)  # each (B, heads, HW, C/heads)
        out = F.scaled_dot_product_attention(q, k, v)
        out = out.transpose(-1, -2).reshape(b, c, h, w)
        return x + self.proj(out)


class Downsample(nn.Module):
    """Stride-2 conv 3x3: (B, C, H, W) -> (B, C, H/2, W/2)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, stride=2, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


class Upsample(nn.Module):
    """Nearest 2x then conv 3x3 (no checkerboard of transposed convs): (B, C, H, W) -> (B, C, 2H, 2W)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


class _Stage(nn.Module):
    """A ResBlock optionally followed by attention."""

    def __init__(self, block: ResBlock, attention: Optional[SelfAttention]) -> None:
        super().__init__()
        self.block = block
        self.attention = attention if attention is not None else nn.Identity()

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        return self.attention(self.block(x, emb))


class DiffusionUNet(nn.Module):
    """Epsilon-prediction U-Net conditioned on the masked image and the hole mask.

    ``forward(x_t, t, image, mask)``:
        x_t: (B, 3, H, W) noisy image at timestep t.
        t: long (B,) 0-based timesteps (an int is broadcast).
        image: (B, 3, H, W) in [-1, 1]; its hole pixels are zeroed *here* (image * (1 - mask)),
            so whatever the caller left under the hole never reaches the network.
        mask: (B, 1, H, W) or (B, H, W), float or bool, 1 = hole.
        returns: (B, 3, H, W) predicted noise, float32 (dtype of x_t).
    """

    def __init__(self, config: Union[UNetConfig, str] = "base") -> None:
        super().__init__()
        if isinstance(config, str):
            config = preset_config(config)
        self.config = config
        c = config
        base, groups = c.base_channels, c.norm_groups
        embed_dim = 4 * base
        self.time_mlp = nn.Sequential(nn.Linear(base, embed_dim), nn.SiLU(), nn.Linear(embed_dim, embed_dim))
        self.input_conv = nn.Conv2d(2 * c.image_channels + 1, base, 3, padding=1)

        def stage(cin: int, cout: int, level: int) -> _Stage:
            attn = SelfAttention(cout, c.attention_head_dim, groups) if level in c.attention_levels else None
            return _Stage(ResBlock(cin, cout, embed_dim, c.dropout, groups), attn)

        widths = [base * m for m in c.channel_mults]
        skip_channels = [base]
        self.down = nn.ModuleList()
        self.downsample = nn.ModuleList()
        channels = base
        for level, width in enumerate(widths):
            blocks = nn.ModuleList()
            for _ in range(c.num_res_blocks):
                blocks.append(stage(channels, width, level))
                channels = width
                skip_channels.append(channels)
            self.down.append(blocks)
            if level < c.levels - 1:
                self.downsample.append(Downsample(channels))
                skip_channels.append(channels)
            else:
                self.downsample.append(nn.Identity())

        self.mid_block1 = ResBlock(channels, channels, embed_dim, c.dropout, groups)
        self.mid_attention = SelfAttention(channels, c.attention_head_dim, groups)
        self.mid_block2 = ResBlock(channels, channels, embed_dim, c.dropout, groups)

        self.up = nn.ModuleList()
        self.upsample = nn.ModuleList()
        for level in reversed(range(c.levels)):
            blocks = nn.ModuleList()
            for _ in range(c.num_res_blocks + 1):
                blocks.append(stage(channels + skip_channels.pop(), widths[level], level))
                channels = widths[level]
            self.up.append(blocks)
            self.upsample.append(Upsample(channels) if level > 0 else nn.Identity())

        self.out = nn.Sequential(
            _norm(channels, groups), nn.SiLU(), _zero(nn.Conv2d(channels, c.image_channels, 3, padding=1))
        )

    @property
    def size_multiple(self) -> int:
        """H and W of the input must be divisible by this."""
        return self.config.size_multiple

    def forward(
        self, x_t: torch.Tensor, t: Union[torch.Tensor, int], image: torch.Tensor, mask: torch.Tensor
    ) -> torch.Tensor:
        b, _, h, w = x_t.shape
        m = self.size_multiple
        if h % m or w % m:
            raise ValueError(f"input size {h}x{w} is not a multiple of {m}; pad it (see size_multiple)")
        if mask.ndim == 3:
            mask = mask[:, None]
        mask = mask.to(dtype=x_t.dtype)
        t = torch.as_tensor(t, device=x_t.device)
        if t.ndim == 0:
            t = t.expand(b)
        emb = self.time_mlp(timestep_embedding(t, self.config.base_channels).to(x_t.dtype))

        x = self.input_conv(torch.cat([x_t, image * (1 - mask), mask], dim=1))
        skips = [x]
        for blocks, down in zip(self.down, self.downsample):
            for stage in blocks:
                x = stage(x, emb)
                skips.append(x)
            if not isinstance(down, nn.Identity):
                x = down(x)
                skips.append(x)

        x = self.mid_block2(self.mid_attention(self.mid_block1(x, emb)), emb)

        for blocks, up in zip(self.up, self.upsample):
            for stage in blocks:
                x = stage(torch.cat([x, skips.pop()], dim=1), emb)
            x = up(x)
        return self.out(x)


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
