"""``fit()``: train a model on the image or stack being filled, then ``fill(..., weights=path)``.

The model learns to fill holes like the caller's own (``mask``) from the
pixels that are known: it is trained on crops of ``image`` in which
artificial holes, drawn like the real ones (boxes of similar size, lines of
similar width, strokes), hide known pixels; the loss reads only those pixels,
never a pixel under ``mask``; a tenth of the known area is held back to pick
the best checkpoint. A fit is an ordinary run of the shared trainer whose data
source is the caller's own array (:class:`inpaint_models.training.array_data.ArraySource`,
handed to the trainer in memory and read crop by crop: numpy, memory-mapped,
dask and zarr arrays of any size are never loaded, converted or copied, and
setup reads a bounded part of them): checkpoints, validation, a time budget,
resume and cancel are those of any run. Its checkpoint is used like any other::

    import inpaint_models
    weights = inpaint_models.fit(stack, mask, seconds=60)          # -> Path (best checkpoint)
    filled = inpaint_models.fill(stack, mask, model="stack-unet", weights=weights)

A fit proves itself: at its end the held-back holes are filled with the best
checkpoint and with the classical fill ``fill(model="auto")`` uses for the array
(the biharmonic volume fill for a stack), and the verdict is kept in the
checkpoint's sidecar (:func:`fit_verdict`; :func:`prove_fit`). When the fitted
fill did not beat the classical one there, ``fill`` with these weights fills with
the classical fill and says so (``ClassicalFillKeptWarning``);
:func:`verdict_message` words the verdict for a user ("fitted: +1.2 dB over the
volume fill on held-back holes", or "kept the volume fill: the fit did not beat
it (...)"), and fit's last progress event carries it.
"""

from __future__ import annotations

import dataclasses
import warnings
from pathlib import Path
from typing import Any, Mapping, Optional, Union

import numpy as np

from inpaint_models.api import CancelCheck, checked_layout, default_model, is_lazy
from inpaint_models.api_train import train as run_training
from inpaint_models.contract.datatypes import ProgressEvent, Reporter
from inpaint_models.contract.errors import (
    Cancelled,
    EmptyMaskWarning,
    NotTrainableError,
    OptionError,
    ShapeMismatchError,
    UnknownModelError,
)
from inpaint_models.contract.registry import ModelRegistry, default_registry
from inpaint_models.io.sidecar import read_verdict
from inpaint_models.pipeline.fit_verdict import verdict_message
from inpaint_models.pipeline.layout import ChannelAxis, VolumeAxis, resolve_volume_axis
from inpaint_models.training.config import load_config
from inpaint_models.io.user_folders import fits_folder, new_run_folder
from inpaint_models.training.holes import suggested_crop_size
from inpaint_models.training.volumes import StackVolumes

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


def fit(image: np.ndarray, mask: np.ndarray, model: Optional[str] = None, *, seconds: Optional[float] = None,
        steps: Optional[int] = None, volume_axis: VolumeAxis = "auto", channel_axis: ChannelAxis = "auto",
        output: Optional[Union[str, Path]] = None, device: str = "auto", seed: int = 0, resume: bool = False,
        options: Optional[Mapping[str, Any]] = None, train: Optional[Mapping[str, Any]] = None,
        progress: Optional[Reporter] = None, cancel: Optional[CancelCheck] = None,
        registry: Optional[ModelRegistry] = None) -> Path:
    """Fit a model to the image or stack being filled and return its best checkpoint.

    The model learns to fill holes like ``mask``'s from the known pixels (see
    the module docstring); pass the result to ``fill(image, mask, model=...,
    weights=path)`` with the same ``volume_axis``.

    Args:
        image: (H, W), (H, W, C) or a stack such as (Z, H, W) or (T, Z, H, W, C);
            any dtype and channel count :func:`~inpaint_models.fill` takes; a
            numpy, memory-mapped numpy, dask or zarr array, read crop by crop
            (never whole). Each training crop is mapped to [0, 1] by its own
            known pixels, as ``fill`` maps each crop box; NaN is allowed under
            the mask. Never modified.
        mask: True / non-zero = unknown pixel (a hole to fill); the image's
            spatial shape or its trailing (H, W) axes, as for ``fill``; numpy,
            dask or zarr.
        model: a trainable model; default :func:`default_fit_model`
            (``stack-unet``, which reads the neighbouring planes).
        seconds: the training's time budget (default 60 s unless ``steps`` is given); setup comes on top.
        steps: optimisation steps (the run ends at whichever of ``seconds`` and ``steps`` comes first).
        volume_axis: the stack axis that forms the third spatial dimension, as
            in ``fill`` (``"auto"``: the axis just before H; None: the planes are
            independent). A model that reads neighbouring planes gets them along it.
        channel_axis: as in ``fill``.
        output: the run folder (checkpoints, previews, metrics log); default
            ``fit-<model>-<time>`` in the user's data folder
            (``~/.local/share/napari-inpaint/fits`` on Linux; never the current
            folder). A folder that already holds a run is refused unless ``resume``.
        device: ``"auto"`` (CUDA when present), ``"cpu"``, ``"cuda"``, ``"cuda:N"``.
        seed: seeds the network, the crops and the artificial holes.
        resume: continue the run in ``output`` on the same image and mask from its newest checkpoint
            (one comes every ``checkpoint_seconds``, 15 s, of training, and at a stop): its step count,
            its best checkpoint and its time budget continue (a 60 s fit stopped at 20 s trains 40 s
            more, and its progress events' ``elapsed_seconds`` start at 20). A ConfigError naming
            ``output`` when it holds nothing to resume (``best`` is never overwritten then).
        options: the model's architecture and training options (``[model]``).
        train: further ``[train]`` settings (e.g. ``{"batch_size": 4}``), over :data:`FIT_SETTINGS`.
        progress: called with the run's :class:`~inpaint_models.contract.datatypes.ProgressEvent`
            objects (step, losses, elapsed seconds, time left, preview and checkpoint paths); the last
            one's ``extra["verdict"]`` is :func:`fit_verdict`'s, its ``message`` :func:`verdict_message`'s.
        cancel: a ``threading.Event`` or a callable returning True to stop early (keeps the best checkpoint).
        registry: the plugin registry (default: installed plugins).

    Returns:
        The best checkpoint's weights (``<output>/checkpoints/best.safetensors``,
        chosen on the held-back pixels), or the last one when nothing could be
        held back (an image too small for two crops); with its verdict (:func:`fit_verdict`).

    Raises:
        InpaintError (ValueError) subclasses as ``fill`` raises them (shapes,
        dtypes, NaN outside the mask -- found in a crop as it is read, for an
        array not copied --, a mask covering everything);
        OptionError for a bad ``seconds`` / ``steps``; NotTrainableError,
        UnknownModelError; ConfigError for bad ``options`` / ``train`` values or
        an ``output`` that already holds another run.
    """
    from inpaint_models.training.array_data import ArraySource

    registry = registry or default_registry()
    seconds = checked_budget(seconds, steps)
    name = model or default_fit_model(registry)
    info = registry.info(name)
    if not info.trainable:
        raise NotTrainableError(f"model {name!r} is not trainable: it cannot be fitted")
    volumes, meta = fit_volumes(image, mask, info.channels, volume_axis=volume_axis, channel_axis=channel_axis)
    source = ArraySource.from_volumes(volumes, meta)
    warn_without_holes(source, stacklevel=3)
    run = fit_run_folder(output, name, resume)
    settings = fit_settings(source, info.size_multiple, run, seconds, steps)
    settings.update({"device": device, "seed": int(seed), "resume": bool(resume), **dict(train or {})})
    # everything is checked before the run writes anything: a bad option, a folder holding another run
    config = load_config({"model": {"name": name, **dict(options or {})}, "train": settings}, registry=registry,
                         data_source=source)
    events = LastEvent(progress)
    last = run_training(config, report=events, cancel=cancel, registry=registry)
    weights = fitted_checkpoint(run) or Path(last)
    events.tell_verdict(weights, prove_fit(source, config.train, weights, registry))
    return weights


def fit_run_folder(output: Optional[Union[str, Path]], model: str, resume: bool) -> Path:
    """A fit's run folder: ``output``, else ``<the user's data folder>/fits/fit-<model>-<time>``
    (:func:`inpaint_models.io.user_folders.fits_folder`; never the current folder).

    Raises:
        ConfigError: the folder holds the checkpoints of another run and ``resume`` is False;
            ``resume`` is True and it holds no checkpoint to resume from (the error names it).
    """
    from inpaint_models.training.loop import resume_point

    run = Path(output) if output is not None else new_run_folder(fits_folder(), f"fit-{model}")
    resume_point(bool(resume), run)
    return run


def prove_fit(source: Any, settings: Any, weights: Path, registry: ModelRegistry) -> Optional[dict[str, Any]]:
    """Compare a fit's checkpoint with the classical fill on its held-back holes; keep the verdict in its sidecar.

    Args:
        source: the fit's ArraySource (:func:`fit_volumes`' ``meta`` in its ``meta``); ``settings``
            the run's TrainSettings (the held-back cells and their holes are drawn as the run drew them).
        weights: the checkpoint ``fit`` returns.
        registry: the plugin registry.

    Returns:
        The verdict (:func:`inpaint_models.pipeline.fit_verdict.verdict_record`)
        against the model ``fill(model="auto")`` uses for the array, with the
        fit's volume axis; also written to the checkpoint's sidecar. None (which
        removes an older one) when nothing was held back, or when that model is
        trainable (nothing classical to compare with).
    """
    from inpaint_models.pipeline.fit_judge import judge_fit
    from inpaint_models.training.checkpoints import record_verdict

    meta = source.meta
    classical = default_model(tuple(meta["source_shape"]), registry, mask_shape=tuple(meta["mask_shape"]),
                              channel_axis=meta["channel_axis"], volume_axis=meta["volume_axis"])
    holes = source.held_back_holes(settings)
    verdict = None
    if holes and not registry.info(classical).trainable:
        verdict = judge_fit(source.volumes, holes, weights, classical, volume=meta["volume_axis"] is not None,
                            device=settings.device, registry=registry)
    record_verdict(weights, verdict)
    return verdict


class LastEvent:
    """A fit's progress reporter that remembers the run's last event and adds the verdict's after it."""

    def __init__(self, progress: Optional[Reporter]) -> None:
        self.progress = progress
        self.last: Optional[ProgressEvent] = None

    def __call__(self, event: ProgressEvent) -> None:
        self.last = event
        if self.progress is not None:
            self.progress(event)

    def tell_verdict(self, weights: Path, verdict: Optional[Mapping[str, Any]]) -> None:
        """The fit's last event: the run's final one with the verdict (``extra["verdict"]``, its message)."""
        if self.progress is None or self.last is None:
            return
        event = dataclasses.replace(self.last, message=verdict_message(verdict), checkpoint_path=weights,
                                    extra={**self.last.extra, "stage": "verdict", "verdict": verdict})
        try:
            self.progress(event)
        except Cancelled:  # the fit is over: nothing left to stop
            pass


def fit_verdict(weights: Union[str, Path]) -> Optional[dict[str, Any]]:
    """The verdict of a fitted checkpoint: its fill against the classical fill on the fit's held-back holes.

    ``{"compared_with": "biharmonic", "fitted_psnr": dB, "classical_psnr": dB,
    "gain_db": dB, "use": "fitted" | "classical", "held_back_holes": n,
    "held_back_pixels": n, "volume": bool}``, or None (weights that are not a
    fit's, or a fit with nothing held back). ``fill`` with these weights fills
    with the classical fill when ``use`` is ``"classical"``; say it to a user
    with :func:`verdict_message`. Reads the sidecar only (no torch).

    Raises:
        WeightsError: no weights file or sidecar there.
    """
    return read_verdict(weights)


def warn_without_holes(source: Any, stacklevel: int = 2) -> None:
    """Warn (:class:`~inpaint_models.contract.errors.EmptyMaskWarning`) when ``source`` (an ArraySource) found no
    hole to imitate: the mask is empty, or holds none in the planes its setup surveyed."""
    if source.shapes:
        return
    surveyed = "the mask is empty" if source.surveyed_all else (
        f"no hole in the {source.meta['planes_surveyed']} planes of the mask surveyed")
    warnings.warn(f"{surveyed}: the fit learns from boxes a quarter of the crop side", EmptyMaskWarning,
                  stacklevel=stacklevel)


def checked_budget(seconds: Optional[float], steps: Optional[int]) -> float:
    """A fit's time budget in seconds: ``seconds``, else :data:`DEFAULT_SECONDS` without ``steps``, else 0 (none).

    Raises:
        OptionError: ``seconds`` is not a positive number or ``steps`` not a positive integer.
    """
    if seconds is not None and (isinstance(seconds, bool) or not np.isfinite(seconds) or seconds <= 0):
        raise OptionError(f"seconds must be a positive number, got {seconds!r}")
    if steps is not None and (isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 1):
        raise OptionError(f"steps must be a positive integer, got {steps!r}")
    if seconds is None and steps is None:
        return DEFAULT_SECONDS
    return float(seconds or 0.0)


def fit_settings(source: Any, size_multiple: int, run: Path, seconds: float,
                 steps: Optional[int]) -> dict[str, Any]:
    """The ``[train]`` settings of a fit on ``source`` (an ArraySource) into ``run``, before the caller's.

    :data:`FIT_SETTINGS`, crops sized for the source's holes
    (:func:`~inpaint_models.training.holes.suggested_crop_size`, a multiple of 16
    and of the model's ``size_multiple``), its channel count, the budget.
    """
    _, _, height, width, channels = source.shape
    crop = suggested_crop_size(source.shapes, height, width, multiple=max(16, size_multiple))
    settings = dict(FIT_SETTINGS)
    settings.update({"output": str(run), "image_size": crop, "channels": channels, "seconds": seconds,
                     "steps": int(steps) if steps is not None else _STEP_CAP})
    return settings


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


def fit_volumes(
    image: Any,
    mask: Any,
    accepted_channels: Optional[tuple[int, ...]] = (1, 3),
    *,
    volume_axis: VolumeAxis = "auto",
    channel_axis: ChannelAxis = "auto",
) -> tuple[StackVolumes, dict[str, Any]]:
    """The caller's image as the volumes a fit trains on, read in place: nothing is loaded, converted or copied.

    Args:
        image, mask, volume_axis, channel_axis: as for :func:`fit` (numpy,
            memory-mapped numpy, dask or zarr arrays; anything else goes through
            ``np.asarray``).
        accepted_channels: the channel counts the model takes (None: any).

    Returns:
        ``(volumes, meta)``: a :class:`~inpaint_models.training.volumes.StackVolumes`,
        the image as (N, D, H, W, C) volumes and its mask as bool (N, D, H, W)
        (True = unknown) over the caller's arrays, read window by window in the
        caller's values (0 where unknown, NaN there included); and a JSON-able
        description. The values are not converted here: the array data source
        converts each training crop to [0, 1] by its own known pixels, with the
        function ``fill`` converts each crop box with
        (:func:`inpaint_models.contract.values.value_range`: uint8 / 255, float
        data in [0, 1] as it is, any other range stretched from the crop's
        known minimum to its maximum), so the fitted model sees at fill time
        the scale it was trained on, also where the brightness varies across
        the image. Every volume is D planes along ``volume_axis`` (D = 1 plane
        by plane); channels the model does not take together become separate
        volumes (:func:`channel_sets_for_model`; ``meta["channel_groups"]`` = C,
        and the value range of a crop is taken over all C of them, as a fill
        takes it over the crop's channels).

    Raises:
        InpaintError subclasses: the checks of ``fill`` on dtypes and shapes
        (values are checked crop by crop as they are read, as ``fill`` checks
        its crop boxes); ShapeMismatchError for a dask array of unknown shape
        or channels the model cannot take.
    """
    image, mask = (array if is_lazy(array) or isinstance(array, np.ndarray) else np.asarray(array)
                   for array in (image, mask))
    if not all(np.isfinite(size) for array in (image, mask) for size in array.shape):
        raise ShapeMismatchError("the array's chunk sizes are unknown; call compute_chunk_sizes() on it first")
    mask, layout = checked_layout(image, mask, channel_axis)
    volume_index = resolve_volume_axis(image.shape, layout, volume_axis)
    spatial = [axis for axis in range(len(image.shape)) if axis != layout.channel_axis]
    stack = spatial[:-2]
    volume = stack[volume_index] if volume_index is not None else None
    channel_sets = channel_sets_for_model(layout.channels, accepted_channels)
    volumes = StackVolumes(image, mask, tuple(a for a in stack if a != volume), volume, spatial[-2], spatial[-1],
                           layout.channel_axis, channel_sets)
    meta = {"source_shape": [int(n) for n in image.shape], "mask_shape": [int(n) for n in mask.shape],
            "source_dtype": str(image.dtype), "channel_axis": channel_axis,
            "volume_axis": volume_axis if volume_index is not None else None,
            "values": "caller's, converted to [0, 1] per crop by its known pixels as fill converts a crop box",
            # volume m holds channel m // N of the image's volume m % N (N = volumes / groups): a fill takes one
            # value range over those channels
            "channel_groups": len(channel_sets)}
    return volumes, meta


def channel_sets_for_model(count: int, accepted: Optional[tuple[int, ...]]) -> tuple[tuple[int, ...], ...]:
    """The image channels each channel group of volumes holds, by the rule ``fill`` adapts a crop's channels by.

    :func:`inpaint_models.pipeline.crops.fill_crop`: channel counts the model
    takes stay together (one group); RGBA through a colour model loses alpha
    (which ``fill`` never inpaints); any other count goes channel by channel
    (each channel a group of volumes of its own), grey through a colour-only
    model as R = G = B.

    Args:
        count: the image's channel count C.
        accepted: the channel counts the model takes (None: any).

    Returns:
        One tuple of image channels per group (see
        :attr:`~inpaint_models.training.volumes.StackVolumes.channel_sets`):
        ``((0, .., C-1),)``, ``((0, 1, 2),)``, ``((0,), .., (C-1,))`` or ``((0, 0, 0), ..)``.

    Raises:
        ShapeMismatchError: the model takes neither 1 nor 3 channels, nor C.
    """
    if accepted is None or count in accepted:
        return (tuple(range(count)),)
    if count == 4 and 3 in accepted:
        return ((0, 1, 2),)
    if 1 not in accepted and 3 not in accepted:
        raise ShapeMismatchError(f"the model takes images with {', '.join(map(str, accepted))} "
                                 f"channel(s); this image has {count}")
    return tuple((c,) if 1 in accepted else (c, c, c) for c in range(count))  # colour-only: grey as R = G = B
