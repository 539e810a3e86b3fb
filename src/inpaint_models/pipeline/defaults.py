"""Which model ``fill(model="auto")`` uses: the best measured fill for a single image or a stack."""

from __future__ import annotations

from typing import Optional

from inpaint_models.contract.errors import UnknownModelError
from inpaint_models.contract.registry import ModelRegistry, default_registry
from inpaint_models.pipeline.layout import ChannelAxis, VolumeAxis, resolve_layout, resolve_volume_axis

#: default models, best first, as measured (benchmarks/bench_volume.py, docs/results.md); the first
#: one registered wins. Photographs: PatchMatch keeps texture. Stacks: biharmonic's volume fill uses
#: the neighbouring planes (+3.5 dB on the stack sample) and is the best plane by plane too; push-pull's
#: volume fill is as good on that noisy sample but far worse on smooth data and needs torch.
IMAGE_DEFAULTS = ("patchmatch", "biharmonic")
STACK_DEFAULTS = ("biharmonic", "push-pull")


def default_model(
    image_shape: tuple[int, ...],
    registry: Optional[ModelRegistry] = None,
    *,
    mask_shape: Optional[tuple[int, ...]] = None,
    channel_axis: ChannelAxis = "auto",
    volume_axis: VolumeAxis = "auto",
) -> str:
    """The model ``fill(model="auto")`` uses for an image of this shape.

    A single 2D image gets ``patchmatch`` (content-aware, keeps texture), or
    ``biharmonic`` when that is not installed; a stack gets the best measured
    volume fill (``biharmonic``, which fills it as a volume unless
    ``volume_axis=None``). Only registered models are chosen: failing the
    preferred ones, a stack gets any model that fills volumes, then any
    non-trainable model, then any model.

    Args:
        image_shape: the image's shape, e.g. (H, W, 3) or (Z, H, W).
        registry: the plugin registry (default: installed plugins).
        mask_shape: the mask's shape when known (resolves ambiguous layouts as
            ``fill`` does); default: the image's spatial shape, reading a
            trailing axis of size <= 4 as channels when ``channel_axis="auto"``.
        channel_axis: as in :func:`inpaint_models.fill`.
        volume_axis: as in :func:`inpaint_models.fill`; None picks the best plane-by-plane model.

    Raises:
        ShapeMismatchError: the shapes do not fit (as in :func:`inpaint_models.fill`).
        UnknownModelError: no model is installed.
    """
    registry = registry or default_registry()
    image_shape = tuple(int(n) for n in image_shape)
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
    preferred = STACK_DEFAULTS if stack else IMAGE_DEFAULTS
    for name in preferred:
        if name in infos and (not volume or infos[name].fills_volumes):
            return name
    fallbacks = [
        [name for name in names if volume and infos[name].fills_volumes],
        [name for name in names if not infos[name].trainable],
        names,
    ]
    return next(group[0] for group in fallbacks if group)
