"""Which model ``fill(model="auto")`` uses: the best measured fill for a single image or a stack."""

from __future__ import annotations

from typing import Any, Optional

import numpy as np

from inpaint_models.contract.errors import UnknownModelError
from inpaint_models.contract.registry import ModelRegistry, default_registry
from inpaint_models.pipeline.hole_shape import wide_share
from inpaint_models.pipeline.layout import ChannelAxis, Layout, VolumeAxis, resolve_layout, resolve_volume_axis

#: default models, best first, as measured (benchmarks/bench_volume.py, docs/results.md); the first
#: one registered wins. Photographs: PatchMatch keeps texture. Stacks: biharmonic's volume fill uses
#: the neighbouring planes (+3.5 dB on the stack sample) and is the best plane by plane too; push-pull's
#: volume fill is as good on that noisy sample but far worse on smooth data and needs torch.
IMAGE_DEFAULTS = ("patchmatch", "biharmonic")
STACK_DEFAULTS = ("biharmonic", "push-pull")
#: a single image whose hole is mostly thin (:mod:`~inpaint_models.pipeline.hole_shape`: lines, scratches,
#: dead rows, hot pixels at most 4 px across) gets a diffusion fill, as measured by benchmarks/bench_auto.py:
#: on the held-out photographs (rows 1-4 px high) biharmonic beats patchmatch by 1.3-2.6 dB of hole PSNR
#: and telea and navier-stokes by 0.6-2.5 dB; on noisy single-channel images (fluorescence-like uint16)
#: telea is best on 2 px dead rows (+0.4 dB) and hot pixels (+1.7 dB) against biharmonic, which carries
#: the noise of the hole's rim into it (biharmonic is better there on 4 px rows, +1.0 dB). Either fills
#: a 2048² image's four dead rows in 0.04 s where patchmatch takes 2.3 s.
THIN_COLOUR_DEFAULTS = ("biharmonic", "telea", "navier-stokes")
THIN_GREY_DEFAULTS = ("telea", "navier-stokes", "biharmonic")
#: the content-aware fill keeps a hole whose wide part (wider than 4 px) holds at least this share of
#: the hole's pixels: with a 64 px box and 2 px scratches on the held-out photographs (bench_auto.py),
#: patchmatch's hole PSNR is above biharmonic's down to a share of 0.50 (+0.1 dB), below it at 0.46
#: (-0.25 dB), and its texture ratio stays about 0.9 where biharmonic's is 0.4-0.5
CONTENT_AWARE_SHARE = 0.5


def default_model(
    image_shape: tuple[int, ...],
    registry: Optional[ModelRegistry] = None,
    *,
    mask: Any = None,
    mask_shape: Optional[tuple[int, ...]] = None,
    channel_axis: ChannelAxis = "auto",
    volume_axis: VolumeAxis = "auto",
) -> str:
    """The model ``fill(model="auto")`` uses for an image of this shape (and this mask, when given).

    A single 2D image gets ``patchmatch`` (content-aware, keeps texture), or
    ``biharmonic`` when that is not installed; but when its in-memory ``mask``
    is given and the hole is mostly thin (less than :data:`CONTENT_AWARE_SHARE`
    of its pixels in parts wider than 4 px: lines, scratches, dead rows, hot
    pixels), a diffusion fill: ``biharmonic`` for a colour image, ``telea`` for
    a single-channel one. A stack gets the best measured
    volume fill (``biharmonic``, which fills it as a volume unless
    ``volume_axis=None``). Only registered models are chosen: failing the
    preferred ones, a stack gets any model that fills volumes, then any
    non-trainable model, then any model.

    Args:
        image_shape: the image's shape, e.g. (H, W, 3) or (Z, H, W).
        registry: the plugin registry (default: installed plugins).
        mask: the mask (numpy, True / non-zero = fill; (H, W), or (H, W, C) merged
            over its channels) of a single image: its hole's width is read (one
            erosion of the holes' bounding box). None, or a lazy (dask, zarr)
            mask, chooses by the shape alone.
        mask_shape: the mask's shape when known (resolves ambiguous layouts as
            ``fill`` does); default: ``mask``'s shape, or without a mask the image's
            spatial shape, reading a trailing axis of size <= 4 as channels when
            ``channel_axis="auto"``.
        channel_axis: as in :func:`inpaint_models.fill`.
        volume_axis: as in :func:`inpaint_models.fill`; None picks the best plane-by-plane model.

    Raises:
        ShapeMismatchError: the shapes do not fit (as in :func:`inpaint_models.fill`).
        UnknownModelError: no model is installed.
    """
    registry = registry or default_registry()
    image_shape = tuple(int(n) for n in image_shape)
    if mask_shape is None and isinstance(mask, np.ndarray):
        mask_shape = mask.shape
    if mask_shape is None:
        trailing_channels = channel_axis == "auto" and len(image_shape) >= 3 and image_shape[-1] <= 4
        if channel_axis == "auto":
            mask_shape = image_shape[:-1] if trailing_channels else image_shape
        elif channel_axis is None:
            mask_shape = image_shape
        else:
            mask_shape = tuple(n for i, n in enumerate(image_shape) if i != int(channel_axis) % len(image_shape))
    layout = resolve_layout(image_shape, tuple(mask_shape), channel_axis)
    stack = bool(layout.stack_shape)
    volume = resolve_volume_axis(image_shape, layout, volume_axis) is not None
    names = registry.names()
    if not names:
        raise UnknownModelError("no model is installed: there is no default model to choose")
    infos = {name: registry.info(name) for name in names}
    preferred = STACK_DEFAULTS if stack else _image_defaults(layout, mask)
    for name in preferred:
        if name in infos and (not volume or infos[name].fills_volumes):
            return name
    fallbacks = [
        [name for name in names if volume and infos[name].fills_volumes],
        [name for name in names if not infos[name].trainable],
        names,
    ]
    return next(group[0] for group in fallbacks if group)


def _image_defaults(layout: Layout, mask: Any) -> tuple[str, ...]:
    """The preferred models of a single image: by its hole's width when ``mask`` is an in-memory array."""
    # none, or lazy (reading the hole would read the whole mask), or a shape the layout does not explain
    if not isinstance(mask, np.ndarray) or mask.ndim < 2 or mask.shape[:2] != (layout.height, layout.width):
        return IMAGE_DEFAULTS
    plane = mask if mask.ndim == 2 else mask.reshape(*mask.shape[:2], -1).any(axis=-1)
    if wide_share(plane) >= CONTENT_AWARE_SHARE:
        return IMAGE_DEFAULTS
    return THIN_COLOUR_DEFAULTS if layout.channels >= 3 else THIN_GREY_DEFAULTS
