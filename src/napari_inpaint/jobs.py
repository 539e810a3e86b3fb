"""The work behind the widgets, as plain functions with a progress callback.

Nothing here imports Qt or napari, and the heavy parts of the backend (the
fill pipeline, OpenCV, scipy) are imported by the functions that run in the
worker thread, not when a dock opens: a widget gathers its inputs into a request,
``_threading`` runs :func:`run_fill` / :func:`run_training` in a worker thread,
and tests call the same functions directly, without a GUI.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional, Sequence, Union

import numpy as np

from inpaint_models.contract.datatypes import Reporter
from inpaint_models.io.user_folders import fits_folder

if TYPE_CHECKING:  # the front (and its pipeline) is imported by the functions that run in workers
    from inpaint_models.api import CancelCheck



@dataclass
class FillRequest:
    """Everything one press of Fill needs.

    Attributes:
        image: the image layer's data (any array-like; read in the worker thread).
        mask: the mask (labels data); non-zero = fill. Or a function returning
            it, called in the worker thread (rasterising a Shapes layer).
        rgb: whether the image's last axis holds RGB(A) channels.
        model: registered model name, or ``"auto"`` (:func:`inpaint_models.api.default_model`).
        weights: weights file, or None for the model's default.
        device: ``auto``, ``cpu`` or ``cuda``.
        options: the model's options as a dict.
        plane: stack indices of the one plane to fill, or None for every plane.
        dilation: pixels to grow the mask by, within each plane.
        registry: the model registry (None: the installed plugins).
        volume_axis: the image axis filled as the third spatial dimension (the
            neighbouring planes are context), or None for plane by plane.
        fit_seconds: "learn from this layer first": fit ``model`` (a trainable
            one) to the image for this many seconds (:func:`inpaint_models.fit`,
            every hole of the mask, all planes) and fill with the fit's best
            checkpoint instead of ``weights``; None = no fit.
        fit_output: the fit's run folder (required with ``fit_seconds``).
        stop_fit: set it to end the fit early; the fill then goes on with the
            best checkpoint so far (``cancel`` stops everything).
    """

    image: Any
    mask: Any
    rgb: bool = False
    model: str = "auto"
    weights: Optional[Path] = None
    device: str = "auto"
    options: dict[str, Any] = field(default_factory=dict)
    plane: Optional[Sequence[int]] = None
    dilation: int = 0
    registry: Any = None
    volume_axis: Optional[int] = None
    fit_seconds: Optional[float] = None
    fit_output: Optional[Path] = None
    stop_fit: Any = None


def run_fill(request: FillRequest, progress: Optional[Reporter] = None, cancel: CancelCheck = None) -> Any:
    """Fill the request's image; returns a new array of the image's shape and dtype.

    A dask- or zarr-backed image stays lazy: the result is a dask array, and
    only the chunks around the holes are read and filled (``inpaint_models.pipeline.chunked``).

    Raises whatever :func:`inpaint_models.fill` raises (``InpaintError`` for bad
    input, ``Cancelled`` when ``cancel`` is set).
    """
    from inpaint_models import api
    from inpaint_models.io.maskops import prepare_lazy_mask, prepare_mask

    image, mask, painted, spatial_shape = _fill_inputs(request)
    weights = request.weights
    if request.fit_seconds is not None:
        # every hole is unknown to the fit, also when only the current plane is filled
        prepare = prepare_lazy_mask if api.is_lazy(image) else prepare_mask
        holes = mask if request.plane is None else prepare(painted, spatial_shape, dilation=request.dilation)
        weights = run_fit(request, image, holes, progress, cancel)
    return api.fill(
        image,
        mask,
        model=request.model,
        weights=weights,
        device=request.device,
        channel_axis=image.ndim - 1 if request.rgb else None,
        progress=progress,
        cancel=cancel,
        registry=request.registry,
        volume_axis=request.volume_axis,
        **request.options,
    )


def _fill_inputs(request: FillRequest) -> tuple[Any, Any, Any, tuple[int, ...]]:
    """``(image, mask, painted, spatial_shape)`` of a request: the mask prepared (planes, dilation) as filled.

    A Shapes mask is rasterised here (worker thread); ``request.mask`` then keeps the
    raster, so an estimate followed by the fill rasterises once.
    """
    from inpaint_models import api
    from inpaint_models.io.maskops import prepare_lazy_mask, prepare_mask

    lazy = api.is_lazy(request.image)
    image = request.image if lazy else np.asarray(request.image)
    spatial_shape = image.shape[:-1] if request.rgb else image.shape
    painted = request.mask() if callable(request.mask) else request.mask
    request.mask = painted
    if lazy:  # filled chunk by chunk; a fit reads its training crops window by window
        mask = prepare_lazy_mask(painted, spatial_shape, plane=request.plane, dilation=request.dilation)
    else:
        mask = prepare_mask(painted, spatial_shape, plane=request.plane, dilation=request.dilation)
    return image, mask, painted, tuple(spatial_shape)


def run_estimate(request: FillRequest, cancel: CancelCheck = None) -> Any:
    """How long the request's fill will take (:func:`inpaint_models.estimate_fill_seconds`), before it starts.

    Times one network call of the request's model on its largest crop, on its
    device (seconds on a CPU; nothing for a classical model). Returns a
    :class:`~inpaint_models.pipeline.estimate.FillEstimate`, or None when the fill cannot
    be estimated beforehand: "learn from this layer first" (the weights come
    from the fit), or a dask-backed layer.

    Raises:
        InpaintError: what the fill would raise for these inputs.
        Cancelled: ``cancel`` was set.
    """
    from inpaint_models import api

    if request.fit_seconds is not None or api.is_lazy(request.image):
        return None
    image, mask, _painted, _shape = _fill_inputs(request)
    return api.estimate_fill_seconds(
        image,
        mask,
        model=request.model,
        weights=request.weights,
        device=request.device,
        channel_axis=image.ndim - 1 if request.rgb else None,
        cancel=cancel,
        registry=request.registry,
        volume_axis=request.volume_axis,
        **request.options,
    )


def run_fit(request: FillRequest, image: np.ndarray, mask: np.ndarray, progress: Optional[Reporter] = None,
            cancel: CancelCheck = None) -> Path:
    """The fit of "learn from this layer first"; returns its best checkpoint (also when stopped early).

    Raises:
        Cancelled: ``cancel`` was set (not ``request.stop_fit``, which only ends the fit).
        InpaintError: as :func:`inpaint_models.fit` raises it.
    """
    from inpaint_models.api import cancel_requested
    from inpaint_models.api_fit import fit
    from inpaint_models.contract.errors import Cancelled

    if request.fit_output is None:
        raise ValueError("FillRequest.fit_output is needed with fit_seconds")

    def stop() -> bool:
        return cancel_requested(cancel) or cancel_requested(request.stop_fit)

    weights = fit(image, mask, request.model, seconds=request.fit_seconds,
                  volume_axis=request.volume_axis, channel_axis=image.ndim - 1 if request.rgb else None,
                  output=request.fit_output, device=request.device, progress=progress, cancel=stop,
                  registry=request.registry)
    if cancel_requested(cancel):
        raise Cancelled("cancelled during the fit")
    return weights


def default_fits_root() -> Path:
    """Where "learn from this layer first" saves its fits unless the dock says otherwise: the user's data
    folder's ``fits`` (:func:`inpaint_models.io.user_folders.fits_folder`, where ``fit()`` saves too:
    ``~/.local/share/napari-inpaint/fits`` on Linux). Nothing is created here."""
    return fits_folder()


def run_fit_preview(request: FillRequest, plane: Optional[Sequence[int]], weights: Path,
                    cancel: CancelCheck = None) -> Any:
    """The fit preview: the request's image with the holes of one plane filled with the fit's ``weights`` so far.

    Args:
        request: the "learn from this layer first" fill (its image, mask, model, options, volume axis).
        plane: stack indices of the plane to fill (the one on screen), or None (a 2D image: all of it).
        weights: a checkpoint of the running fit.
        cancel: stops the preview's fill (it raises ``Cancelled``).

    Returns:
        An array of the image's shape and dtype: the image, with ``plane``'s holes
        filled -- a layer at the image's place. For a dask- or zarr-backed stack, a
        dask array reading the image as it is shown, the plane filled here (the
        GUI thread that shows it never runs the network).
    """
    from inpaint_models.api import is_lazy

    preview = dataclasses.replace(request, plane=None if plane is None else tuple(plane), weights=Path(weights),
                                  fit_seconds=None, fit_output=None, stop_fit=None)
    filled = run_fill(preview, None, cancel)
    if not is_lazy(filled):
        return filled
    if plane is None:  # a 2D image: filled here, whole
        return np.asarray(filled)
    import dask.array as da

    shown = da.asarray(request.image)
    shown[tuple(plane)] = np.asarray(filled[tuple(plane)])
    return shown


def fit_folder(layer_name: str, root: Optional[Path] = None) -> Path:
    """A new run folder for a fit of layer ``layer_name``: ``<root>/<name>`` (``-2``... when taken).

    ``root``: the folder the fits go in (default :func:`default_fits_root`).
    The folder's name is what the weights list shows (``<name>/best``), so it
    is the layer's name, with characters a file name cannot hold replaced.

    Raises:
        ValueError: ``root`` is a file, not a folder.
    """
    from napari_inpaint.layer_training import file_stem

    root = Path(root).expanduser() if root is not None else default_fits_root()
    if root.exists() and not root.is_dir():
        raise ValueError(f"the fit folder {root} is a file; choose a folder")
    stem = file_stem(layer_name)
    folder, number = root / stem, 1
    while folder.exists():
        number += 1
        folder = root / f"{stem}-{number}"
    return folder


@dataclass
class TrainRequest:
    """Everything one press of Start (or Resume) needs.

    Attributes:
        config: a config file, or None to train from ``overrides`` alone.
        overrides: ``{"section.key": value}`` applied on top of the config
            (``model.name`` included when no file gives it).
        registry: the model registry (None: the installed plugins).
    """

    config: Optional[Path] = None
    overrides: dict[str, Any] = field(default_factory=dict)
    registry: Any = None


def run_training(
    request: TrainRequest, progress: Optional[Reporter] = None, cancel: CancelCheck = None
) -> Path:
    """Train as the request says and return the checkpoint written (also when stopped early).

    Raises:
        ConfigError (an ``InpaintError``): the config is incomplete or invalid;
        checked before torch is imported or any image is read.
    """
    from inpaint_models.api_train import load_config

    config = load_config(
        request.config if request.config is not None else {}, overrides=request.overrides, registry=request.registry
    )
    from inpaint_models.api_train import train  # imports torch: only once the config is known to be valid

    return train(config, report=progress, cancel=cancel, registry=request.registry)


def read_preview(path: Union[str, Path]) -> np.ndarray:
    """The preview grid PNG written by the trainer, as an array (for an image layer)."""
    from inpaint_models.io.imageio import read_image

    return read_image(path)

