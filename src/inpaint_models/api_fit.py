"""``fit()``: train a model on the image or stack being filled, then ``fill(..., weights=path)``.

A fit is an ordinary training run of the shared trainer whose data is the
caller's own array (:mod:`inpaint_models.training.array_data`): crops of the
known pixels with artificial holes shaped like the caller's mask, a loss that
never reads an unknown pixel, validation on held-back known pixels, a time
budget. Its checkpoint is used like any other::

    import inpaint_models
    weights = inpaint_models.fit(stack, mask, seconds=60)          # -> Path (best checkpoint)
    filled = inpaint_models.fill(stack, mask, model="stack-unet", weights=weights)
"""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any, Mapping, Optional, Union

import numpy as np

from inpaint_models.api import CancelCheck, checked_layout
from inpaint_models.contract.datatypes import Reporter
from inpaint_models.contract.errors import (
    EmptyMaskWarning,
    MaskCoversImageError,
    NotTrainableError,
    OptionError,
    ShapeMismatchError,
    UnknownModelError,
)
from inpaint_models.contract.registry import ModelRegistry, default_registry
from inpaint_models.contract.values import mask_to_bool
from inpaint_models.contract.values import value_range as measure_value_range
from inpaint_models.pipeline.layout import (
    ChannelAxis,
    VolumeAxis,
    as_planes,
    as_volumes,
    channel_last,
    resolve_volume_axis,
)

#: the model ``fit`` trains by default, the first one registered wins (built for fitting: it reads the
#: neighbouring planes); failing it, any trainable model that fills volumes, then any trainable model
FIT_DEFAULTS = ("stack-unet",)

#: ``fit``'s time budget when neither ``seconds`` nor ``steps`` is given
DEFAULT_SECONDS = 60.0

#: the step count of a run limited by its time budget only (the budget ends it first)
_STEP_CAP = 1_000_000

#: ``[train]`` settings of a fit, before the caller's ``train`` overrides: small batches and a cosine
#: decay over the time budget suit a few hundred steps on a CPU; frequent validation keeps the best
#: checkpoint current when the fit is cancelled
FIT_SETTINGS: dict[str, Any] = {
    "batch_size": 8,
    "learning_rate": 2e-3,
    "lr_schedule": "cosine",
    "warmup_steps": 10,
    "weight_decay": 0.0,
    "grad_clip": 1.0,
    "validation_split": 0.1,
    "validation_images": 16,
    "validate_every": 50,
    "preview_every": 100,
    "preview_images": 4,
    "checkpoint_every": 100,
    "keep_last": 2,
    "log_every": 10,
    "tensorboard": False,
    "workers": 0,
    "flip": True,
}


def default_fit_model(registry: Optional[ModelRegistry] = None) -> str:
    """The model :func:`fit` trains when none is named (see :data:`FIT_DEFAULTS`).

    Raises:
        UnknownModelError: no trainable model is installed.
    """
    registry = registry or default_registry()
    infos = {name: registry.info(name) for name in registry.names()}
    trainable = [name for name, info in infos.items() if info.trainable]
    for name in FIT_DEFAULTS:
        if name in trainable:
            return name
    volume = [name for name in trainable if infos[name].fills_volumes]
    if volume or trainable:
        return (volume or trainable)[0]
    raise UnknownModelError("no trainable model is installed: there is nothing to fit")


def fit(
    image: np.ndarray,
    mask: np.ndarray,
    model: Optional[str] = None,
    *,
    seconds: Optional[float] = None,
    steps: Optional[int] = None,
    volume_axis: VolumeAxis = "auto",
    channel_axis: ChannelAxis = "auto",
    output: Optional[Union[str, Path]] = None,
    device: str = "auto",
    seed: int = 0,
    resume: bool = False,
    options: Optional[Mapping[str, Any]] = None,
    train: Optional[Mapping[str, Any]] = None,
    progress: Optional[Reporter] = None,
    cancel: Optional[CancelCheck] = None,
    registry: Optional[ModelRegistry] = None,
) -> Path:
    """Fit a model to the image or stack being filled and return its best checkpoint.

    The model learns to fill holes like the caller's own (``mask``) from the
    pixels that are known: it is trained on crops of ``image`` in which
    artificial holes, drawn like the real ones (boxes of similar size, lines
    of similar width, strokes), hide known pixels; the loss reads only those
    pixels, never a pixel under ``mask``; a tenth of the known area is held
    back to pick the best checkpoint. Pass the result to
    ``fill(image, mask, model=..., weights=path)`` with the same ``volume_axis``.

    Args:
        image: (H, W), (H, W, C) or a stack such as (Z, H, W) or (T, Z, H, W, C);
            any dtype :func:`~inpaint_models.fill` takes. Each training crop is
            mapped to [0, 1] by its own known pixels, as ``fill`` maps each
            crop box (so the fitted model sees the scale it will fill at, even
            where the brightness varies across the image); NaN is allowed
            under the mask.
        mask: True / non-zero = unknown pixel (a hole to fill); the image's
            spatial shape or its trailing (H, W) axes, as for ``fill``.
        model: a trainable model; default :func:`default_fit_model`
            (``stack-unet``, which reads the neighbouring planes).
        seconds: time budget of the training, in seconds (default 60 when
            ``steps`` is not given either). Setup and the final checkpoint come on top.
        steps: optimisation steps (the run ends at whichever of ``seconds`` and
            ``steps`` comes first).
        volume_axis: the stack axis that forms the third spatial dimension, as
            in ``fill`` (``"auto"``: the axis just before H; None: the planes are
            independent). A model that reads neighbouring planes gets them along it.
        channel_axis: as in ``fill``.
        output: the run folder (checkpoints, previews, metrics log, the data the
            fit reads in ``data/``); default ``runs/fit-<model>-<time>``. A folder
            that already holds a run is refused unless ``resume``.
        device: ``"auto"`` (CUDA when present), ``"cpu"``, ``"cuda"``, ``"cuda:N"``.
        seed: seeds the network, the crops and the artificial holes.
        resume: continue the run in ``output`` (its budget continues too).
        options: the model's architecture and training options (``[model]``).
        train: further ``[train]`` settings (e.g. ``{"batch_size": 4}``), over
            :data:`FIT_SETTINGS`.
        progress: called with the run's :class:`~inpaint_models.contract.datatypes.ProgressEvent`
            objects (step, losses, elapsed seconds, time left, preview and checkpoint paths).
        cancel: a ``threading.Event`` or a callable returning True to stop early;
            the best checkpoint so far is returned.
        registry: the plugin registry (default: installed plugins).

    Returns:
        The best checkpoint's weights (``<output>/checkpoints/best.safetensors``,
        chosen on the held-back pixels), or the last one when nothing could be
        held back (an image too small for two crops).

    Raises:
        InpaintError (ValueError) subclasses as ``fill`` raises them (shapes,
        dtypes, NaN outside the mask, a mask covering everything);
        OptionError for a bad ``seconds`` / ``steps``; NotTrainableError,
        UnknownModelError; ConfigError for bad ``options`` / ``train`` values or
        an ``output`` that already holds another run.
    """
    import warnings

    from inpaint_models.api_train import train as run_training
    from inpaint_models.training.array_data import describe_holes, suggested_crop_size, write_array_data

    registry = registry or default_registry()
    if seconds is not None and (isinstance(seconds, bool) or not np.isfinite(seconds) or seconds <= 0):
        raise OptionError(f"seconds must be a positive number, got {seconds!r}")
    if steps is not None and (isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 1):
        raise OptionError(f"steps must be a positive integer, got {steps!r}")
    if seconds is None and steps is None:
        seconds = DEFAULT_SECONDS
    name = model or default_fit_model(registry)
    info = registry.info(name)
    if not info.trainable:
        raise NotTrainableError(f"model {name!r} is not trainable: it cannot be fitted")

    volumes, holes, meta = fit_volumes(image, mask, info.channels, volume_axis=volume_axis,
                                       channel_axis=channel_axis)
    if not holes.any():
        warnings.warn("the mask is empty: the fit learns from boxes a quarter of the crop side", EmptyMaskWarning,
                      stacklevel=2)
    run = Path(output) if output is not None else Path("runs") / (
        f"fit-{name}-{datetime.datetime.now().strftime('%Y%m%d-%H%M%S')}")
    channels = volumes.shape[-1]
    multiple = max(16, info.size_multiple)
    crop = suggested_crop_size(describe_holes(holes), volumes.shape[2], volumes.shape[3], multiple=multiple)
    settings = dict(FIT_SETTINGS)
    settings.update({
        "data": [str(run / "data")], "output": str(run), "image_size": crop, "channels": channels,
        "steps": int(steps) if steps is not None else _STEP_CAP, "seconds": float(seconds or 0.0),
        "device": device, "seed": int(seed), "resume": bool(resume),
    })
    settings.update(dict(train or {}))
    config = {"model": {"name": name, **dict(options or {})}, "train": settings}
    # everything is checked before anything is written: a bad option, a folder holding another run
    from inpaint_models.contract.errors import ConfigError
    from inpaint_models.training.checkpoints import complete_checkpoints
    from inpaint_models.training.config import load_config

    load_config(_checkable(config), registry=registry)
    if not resume and complete_checkpoints(run / "checkpoints"):
        raise ConfigError(f"output {run} already holds the checkpoints of another run; continue it with "
                          f"resume=True or choose another output")
    write_array_data(run / "data", volumes, holes, meta)
    last = run_training(config, report=progress, cancel=cancel, registry=registry)
    return fitted_checkpoint(run) or Path(last)


def fitted_checkpoint(run: Union[str, Path]) -> Optional[Path]:
    """The checkpoint a fit's run folder ``run`` leaves to fill with, or None when it holds none yet.

    ``<run>/checkpoints/best.safetensors`` (best on the held-back pixels), else
    the newest step checkpoint. Reads file names only (no torch import).
    """
    checkpoints = Path(run) / "checkpoints"
    best = checkpoints / "best.safetensors"
    if best.is_file():
        return best
    steps = sorted(p for p in checkpoints.glob("step_*.safetensors") if not p.name.endswith(".state.safetensors"))
    return steps[-1] if steps else None


def _checkable(config: dict[str, Any]) -> dict[str, Any]:
    """The config with a data folder that exists now (the fit writes its data after the checks)."""
    import tempfile

    checked = dict(config)
    checked["train"] = dict(config["train"], data=[tempfile.gettempdir()])
    return checked


def fit_volumes(
    image: np.ndarray,
    mask: np.ndarray,
    accepted_channels: Optional[tuple[int, ...]] = (1, 3),
    *,
    volume_axis: VolumeAxis = "auto",
    channel_axis: ChannelAxis = "auto",
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """The caller's image as the volumes a fit trains on, in the caller's values.

    Args:
        image, mask, volume_axis, channel_axis: as for :func:`fit`.
        accepted_channels: the channel counts the model takes (None: any).

    Returns:
        ``(volumes, holes, meta)``: (N, D, H, W, C) in the image's dtype and
        range (zero under the mask, NaN there included), bool (N, D, H, W)
        (True = unknown) and a JSON-able description. The values are not
        converted here: the array data source converts each training crop to
        [0, 1] by its own known pixels, with the function ``fill`` converts
        each crop box with (:func:`inpaint_models.contract.values.value_range`: uint8
        / 255, float data in [0, 1] as it is, any other range stretched from
        the crop's known minimum to its maximum), so the fitted model sees at
        fill time the scale it was trained on, also where the brightness varies
        across the image. Every volume is D planes along ``volume_axis`` (D = 1 plane
        by plane); channels the model does not take together become separate
        volumes (``meta["channel_groups"]`` = C, and the value range of a crop
        is taken over all C of them, as a fill takes it over the crop's
        channels); grey through a colour-only model is repeated to RGB; RGBA
        loses alpha (whose values then no longer count in a crop's range, as
        they do in a fill's: only data outside 8 bits and [0, 1] notices).

    Raises:
        InpaintError subclasses: the checks of ``fill`` (dtype, shapes, NaN
        outside the mask, a mask covering every pixel).
    """
    image = np.asarray(image)
    mask = np.asarray(mask)
    mask, layout = checked_layout(image, mask, channel_axis)
    mask_bool = mask_to_bool(mask)
    planes, mask_planes = as_planes(image, mask_bool, layout)
    if bool(np.all(mask_planes)):
        raise MaskCoversImageError("the mask covers the whole image: there is nothing to learn from")
    value_range = measure_value_range(planes, mask_planes)  # the checks fill makes: NaN, a range float32 holds
    volume_index = resolve_volume_axis(image.shape, layout, volume_axis)
    stacked = channel_last(image, layout).reshape(layout.stack_shape + (layout.height, layout.width,
                                                                                 layout.channels))
    full_mask = np.broadcast_to(mask_bool, layout.stack_shape + (layout.height, layout.width))
    if volume_index is None:
        volumes = stacked.reshape((-1, 1, layout.height, layout.width, layout.channels))
        holes = full_mask.reshape((-1, 1, layout.height, layout.width))
    else:
        moved, moved_mask = as_volumes(stacked, full_mask, layout, volume_index)
        depth = moved.shape[-4]
        volumes = moved.reshape((-1, depth, layout.height, layout.width, layout.channels))
        holes = moved_mask.reshape((-1, depth, layout.height, layout.width))
    holes = np.ascontiguousarray(holes, dtype=bool)
    values = np.where(holes[..., np.newaxis], np.zeros((), image.dtype), volumes)  # a copy; NaN under the mask gone
    count = values.shape[-1]
    split = 1
    if accepted_channels is not None and count not in accepted_channels:
        if count == 4 and 3 in accepted_channels:
            values = values[..., :3]
        elif 1 in accepted_channels:  # each channel a volume of its own
            values = np.moveaxis(values, -1, 0).reshape((-1,) + values.shape[1:-1] + (1,))
            holes = np.tile(holes, (count, 1, 1, 1))
            split = count
        elif 3 in accepted_channels and count == 1:
            values = np.repeat(values, 3, axis=-1)
        else:
            raise ShapeMismatchError(f"the model takes images with {', '.join(map(str, accepted_channels))} "
                                     f"channel(s); this image has {count}")
    meta = {"source_shape": list(image.shape), "source_dtype": str(image.dtype),
            "volume_axis": volume_axis if volume_index is not None else None,
            "values": "caller's, converted to [0, 1] per crop by its known pixels as fill converts a crop box",
            "value_low": value_range.low, "value_high": value_range.high,
            # volume m holds channel m // N of the image's volume m % N (N = volumes / groups): a fill takes one
            # value range over those channels
            "channel_groups": split}
    return np.ascontiguousarray(values), holes, meta
