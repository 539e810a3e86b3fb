"""GLCIC networks (Iizuka, Simo-Serra & Ishikawa 2017).

Modules only: the completion network (the paper's 17-layer table), the local and
global context discriminators and their joint head. Shapes are given as
``(B, C, H, W)``; images are float in [0, 1]; masks are ``(B, 1, H, W)`` with
1 = hole (the backend's convention, which is also the paper's).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from inpaint_models.contract.errors import OptionError, ShapeMismatchError
from inpaint_models.models.layers import crop_boxes, hole_centred_boxes, local_patch_size, resolve_width  # noqa: F401 (re-exported)
from inpaint_models.models.prefill import smooth_fill, zero_init

# Width presets (layers.WIDTH_PRESETS): ``paper`` is the published network (about
# 6.07M parameters); the smaller ones train on a CPU.

# The completion network, row for row as in the paper's Table 1:
# (kind, kernel, dilation, stride, output channels). "deconv" is the 4x4
# transposed convolution with stride 1/2 (i.e. 2x upsampling).
COMPLETION_TABLE: tuple[tuple[str, int, int, int, int], ...] = (
    ("conv", 5, 1, 1, 64),
    ("conv", 3, 1, 2, 128),
    ("conv", 3, 1, 1, 128),
    ("conv", 3, 1, 2, 256),
    ("conv", 3, 1, 1, 256),
    ("conv", 3, 1, 1, 256),
    ("conv", 3, 2, 1, 256),
    ("conv", 3, 4, 1, 256),
    ("conv", 3, 8, 1, 256),
    ("conv", 3, 16, 1, 256),
    ("conv", 3, 1, 1, 256),
    ("conv", 3, 1, 1, 256),
    ("deconv", 4, 1, 2, 128),
    ("conv", 3, 1, 1, 128),
    ("deconv", 4, 1, 2, 64),
    ("conv", 3, 1, 1, 32),
    ("conv", 3, 1, 1, 3),  # output layer: sigmoid, no BatchNorm
)

LOCAL_CHANNELS: tuple[int, ...] = (64, 128, 256, 512, 512)
GLOBAL_CHANNELS: tuple[int, ...] = (64, 128, 256, 512, 512, 512)
FEATURE_SIZE = 1024  # each discriminator's FC output; joint head sees 2 x 1024




def _scaled(channels: int, width: float) -> int:
    return max(1, round(channels * width))


def _check_mask(image: Tensor, mask: Tensor) -> None:
    if image.ndim != 4 or mask.ndim != 4 or mask.shape[1] != 1:
        raise ShapeMismatchError(
            f"expected image (B, C, H, W) and mask (B, 1, H, W), got {tuple(image.shape)} and {tuple(mask.shape)}"
        )
    if mask.shape[0] != image.shape[0] or mask.shape[-2:] != image.shape[-2:]:
        raise ShapeMismatchError(f"mask {tuple(mask.shape)} does not fit image {tuple(image.shape)}")


class CompletionNetwork(nn.Module):
    """The GLCIC completion network.

    Input: the image with its holes set to the mean pixel, plus the mask
    (``channels + 1`` planes). BatchNorm + ReLU after every layer but the last,
    which is a sigmoid. Two stride-2 convolutions, four dilated ones (2, 4, 8,
    16) for a large receptive field at 1/4 resolution, two transposed
    convolutions back to full size.

    Args:
        width: channel multiplier (or a :data:`WIDTH_PRESETS` name); 1.0 is the
            paper's network (6,072,131 parameters for RGB).
        channels: image channels (3 for RGB).
        mean_pixel: the value written into hole pixels before the network sees
            them (the paper uses the training set's mean pixel). Stored as a
            buffer so it travels with the weights; set it with :meth:`set_mean_pixel`.
        residual: instead of the mean pixel, the hole is pre-filled by
            :func:`..prefill.smooth_fill`, the last layer has no sigmoid and
            starts at zero, and its output is added to the pre-fill (the
            network learns a correction of a classical fill; ``models/prefill.py``).
    """

    #: height and width must be multiples of this (two stride-2 layers)
    size_multiple: int = 4

    def __init__(self, width: float | str = 1.0, channels: int = 3, mean_pixel: Sequence[float] | None = None,
                 residual: bool = False) -> None:
        super().__init__()
        self.residual = bool(residual)
        self.width = resolve_width(width)
        self.channels = int(channels)
        mean = (
            torch.full((self.channels,), 0.5)
            if mean_pixel is None
            else torch.as_tensor(mean_pixel, dtype=torch.float32)
        )
        if mean.shape != (self.channels,):
            raise OptionError(f"mean_pixel needs {self.channels} values, got {tuple(mean.shape)}")
        self.register_buffer("mean_pixel", mean.clone())
        layers: list[nn.Module] = []
        c_in = self.channels + 1
        last = len(COMPLETION_TABLE) - 1
        for i, (kind, k, dilation, stride, c_out) in enumerate(COMPLETION_TABLE):
            c_out = self.channels if i == last else _scaled(c_out, self.width)
            if kind == "deconv":
                layers.append(nn.ConvTranspose2d(c_in, c_out, k, stride=stride, padding=(k - 2) // 2))
            else:
                layers.append(
                    nn.Conv2d(c_in, c_out, k, stride=stride, dilation=dilation, padding=dilation * (k - 1) // 2)
                )
            if i == last:
                if self.residual:
                    zero_init(layers[-1])
                else:
                    layers.append(nn.Sigmoid())
            else:
                layers += [nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)]
            c_in = c_out
        self.net = nn.Sequential(*layers)

    def set_mean_pixel(self, mean: Sequence[float] | Tensor) -> None:
        """Set the hole fill value, ``channels`` floats in [0, 1]."""
        self.mean_pixel.copy_(torch.as_tensor(mean, dtype=self.mean_pixel.dtype))

    def forward(self, image: Tensor, mask: Tensor) -> Tensor:
        """image (B, C, H, W) in [0, 1], mask (B, 1, H, W) 1 = hole -> (B, C, H, W) in [0, 1].

        Returns the raw prediction for every pixel; the caller composites
        ``mask * out + (1 - mask) * image``. Values under the hole in ``image``
        are ignored. H and W must be multiples of 4.
        """
        _check_mask(image, mask)
        if image.shape[1] != self.channels:
            raise ShapeMismatchError(f"network expects {self.channels} channels, got {image.shape[1]}")
        h, w = image.shape[-2:]
        if h % self.size_multiple or w % self.size_multiple:
            raise ShapeMismatchError(f"height and width must be multiples of {self.size_multiple}, got {(h, w)}")
        mask = mask.to(image.dtype)
        if self.residual:
            base = smooth_fill(image, mask)
            return base + self.net(torch.cat([base, mask], dim=1))
        filled = image * (1 - mask) + self.mean_pixel.view(1, -1, 1, 1).to(image.dtype) * mask
        return self.net(torch.cat([filled, mask], dim=1))


def _conv_stack(channels: int, widths: Sequence[int]) -> nn.Sequential:
    """5x5 stride-2 convolutions, each followed by BatchNorm + ReLU."""
    layers: list[nn.Module] = []
    c_in = channels
    for c_out in widths:
        layers += [nn.Conv2d(c_in, c_out, 5, stride=2, padding=2), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)]
        c_in = c_out
    return nn.Sequential(*layers)


def _reduced(size: int, layers: int) -> int:
    # a 5x5 / stride 2 / padding 2 convolution maps n to ceil(n / 2)
    for _ in range(layers):
        size = (size + 1) // 2
    return size


class ContextDiscriminator(nn.Module):
    """One context discriminator: 5x5 stride-2 convolutions + BN + ReLU, then FC -> 1024.

    The local one has 5 convolutions (64..512) on a ``size`` x ``size`` patch,
    the global one 6 (64..512, 512) on the whole image.

    Args:
        size: input height = width (128 local / 256 global in the paper).
        conv_channels: output channels of the convolutions (before ``width``).
        width: channel multiplier (also scales the 1024-wide feature).
        channels: image channels.
    """

    def __init__(self, size: int, conv_channels: Sequence[int], width: float | str = 1.0, channels: int = 3) -> None:
        super().__init__()
        width = resolve_width(width)
        if size < 1:
            raise OptionError(f"discriminator input size must be positive, got {size}")
        self.size = int(size)
        widths = [_scaled(c, width) for c in conv_channels]
        self.features = _conv_stack(channels, widths)
        side = _reduced(self.size, len(widths))
        self.out_features = _scaled(FEATURE_SIZE, width)
        self.fc = nn.Sequential(
            nn.Flatten(), nn.Linear(widths[-1] * side * side, self.out_features), nn.ReLU(inplace=True)
        )

    def forward(self, x: Tensor) -> Tensor:
        """(B, C, size, size) -> (B, 1024 * width)."""
        if x.shape[-2:] != (self.size, self.size):
            raise ShapeMismatchError(
                f"discriminator built for {self.size}x{self.size} inputs, got {tuple(x.shape[-2:])}"
            )
        return self.fc(self.features(x))


class GLCICDiscriminator(nn.Module):
    """Global + local context discriminators with the joint head.

    The local discriminator sees a ``local_size`` patch centred on the hole,
    the global one the whole ``image_size`` image; their two 1024-d features
    are concatenated (2048) and a fully connected layer gives one logit
    (sigmoid of it = probability that the image is real).

    Args:
        image_size: training image size (paper: 256).
        local_size: local patch size; default ``image_size // 2`` (128 at 256),
            so it scales with smaller inputs (16 at 32 px).
        width: channel multiplier (or a :data:`WIDTH_PRESETS` name).
        channels: image channels.
    """

    def __init__(
        self, image_size: int = 256, local_size: int | None = None, width: float | str = 1.0, channels: int = 3
    ) -> None:
        super().__init__()
        self.image_size = int(image_size)
        self.local_size = local_patch_size(self.image_size, local_size)
        self.local = ContextDiscriminator(self.local_size, LOCAL_CHANNELS, width, channels)
        self.global_ = ContextDiscriminator(self.image_size, GLOBAL_CHANNELS, width, channels)
        self.head = nn.Linear(self.local.out_features + self.global_.out_features, 1)

    def forward(self, image: Tensor, mask: Tensor) -> Tensor:
        """image (B, C, S, S) in [0, 1], mask (B, 1, S, S) 1 = hole -> logits (B, 1).

        The mask only places the local patch (centred on the hole's bounding
        box). Use ``torch.sigmoid`` on the result for the paper's probability.
        """
        _check_mask(image, mask)
        patches = crop_boxes(image, hole_centred_boxes(mask, self.local_size), self.local_size)
        return self.forward_patches(image, patches)

    def forward_patches(self, image: Tensor, patch: Tensor) -> Tensor:
        """Whole image (B, C, S, S) and local patch (B, C, s, s) -> logits (B, 1)."""
        return self.head(torch.cat([self.local(patch), self.global_(image)], dim=1))
