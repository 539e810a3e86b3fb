"""Training on an open layer: the Train widget's "open layer" data source, without Qt.

The Train widget can take an image layer (and a mask layer) as its data
instead of a folder. That run is the same fit as the Inpaint widget's "learn
from this layer first": :func:`inpaint_models.fit` turns the layer into the
array data source of :mod:`inpaint_models.training.array_data` (crops of the
known pixels, artificial holes shaped like the mask's holes, no loss on a
pixel under the mask, held-back pixels for validation) and runs the shared
trainer on it, so the run folder, checkpoints, resume, progress events,
previews and Stop are those of any run. Nothing here reimplements that path:
this module only gathers the widget's fields into a :class:`LayerTrainRequest`
(on the GUI thread, reading shapes only) and hands them to ``fit`` in the
worker thread (:func:`run_layer_training`).

:func:`mask_source` is the one place that turns a napari mask layer (Labels,
Shapes or a non-RGB Image) into mask data: a Labels or Image layer gives its
data as it is; a Shapes layer gives a function rasterising a copy of its
shapes, called in the worker thread (rasterising many shapes takes a while).
"""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Optional, Union

import numpy as np

from inpaint_models.contract.datatypes import Reporter
from inpaint_models.io.user_folders import runs_folder

if TYPE_CHECKING:  # the front (and its pipeline) is imported by the functions that run in workers
    from inpaint_models.api import CancelCheck


#: ``[train]`` keys of a config file that an "open layer" run sets itself (the data is the layer)
LAYER_RUN_KEYS = ("data", "output", "resume", "channels", "steps", "seconds")


def layer_spatial_shape(layer: Any) -> tuple[int, ...]:
    """The shape of a napari layer's data without its RGB(A) axis (``layer.rgb``; labels have none)."""
    shape = tuple(int(n) for n in layer.data.shape)
    return shape[:-1] if getattr(layer, "rgb", False) else shape


def mask_source(layer: Any, spatial_shape: tuple[int, ...]) -> Union[np.ndarray, Any, Callable[[], np.ndarray]]:
    """What a mask layer gives a worker: its data, or a function rasterising its shapes there.

    Args:
        layer: a napari ``Labels``, ``Shapes`` or (non-RGB) ``Image`` layer, or
            None (no mask: nothing is unknown).
        spatial_shape: the image's shape without its channel axis, e.g.
            (H, W) or (Z, H, W).

    Returns:
        For Labels / Image: the layer's data itself (integer, bool or float
        array-like, non-zero = unknown pixel to fill), never copied nor
        modified here. For Shapes: a function returning uint8 / int labels of
        ``spatial_shape`` (or its trailing axes, for shapes with fewer
        dimensions; non-zero = inside a shape = unknown), built from a copy of
        the vertices taken now, so the layer may change meanwhile. For None:
        a function returning bool zeros of the image's (H, W) plane (an empty
        mask).

    Raises:
        ValueError: an RGB Image layer, or a layer whose shape does not match
            ``spatial_shape`` (its full shape or its trailing (H, W) axes),
            with both shapes in the message.
    """
    from napari.layers import Image, Shapes

    spatial_shape = tuple(int(n) for n in spatial_shape)
    if layer is None:
        plane = spatial_shape[-2:]
        return lambda: np.zeros(plane, dtype=bool)
    if isinstance(layer, Shapes):
        labels_shape = spatial_shape[-layer.ndim :] if layer.ndim < len(spatial_shape) else spatial_shape
        data = [np.array(vertices, copy=True) for vertices in layer.data]
        shape_types = list(layer.shape_type)
        ndim = layer.ndim

        def rasterise() -> np.ndarray:
            if not data:
                return np.zeros(labels_shape, dtype=np.uint8)
            return Shapes(data, shape_type=shape_types, ndim=ndim).to_labels(labels_shape=labels_shape)

        return rasterise
    if isinstance(layer, Image) and layer.rgb:
        raise ValueError(f"the mask layer {layer.name!r} is an RGB image; a mask needs one value per pixel "
                         f"(non-zero = fill)")
    shape = tuple(int(n) for n in layer.data.shape)
    if not (2 <= len(shape) <= len(spatial_shape) and spatial_shape[-len(shape) :] == shape):
        raise ValueError(f"the mask {layer.name!r} has shape {shape}, which does not match the image's "
                         f"{spatial_shape} (it must be the same, or the image's last two axes {spatial_shape[-2:]} "
                         f"for one mask on every plane)")
    return layer.data


def file_stem(layer_name: str) -> str:
    """A layer's name as a folder name: characters a file name cannot hold become ``_`` ("layer" if none is left)."""
    return re.sub(r"[^\w.\- ]+", "_", layer_name).strip(" .") or "layer"


def default_layer_output(model: str, layer_name: str, root: Optional[Path] = None) -> Path:
    """A fresh run folder ``<layer>-<model>-<time>`` for a run on a layer, in ``root`` (default: the user's
    data folder's ``runs``, :func:`inpaint_models.io.user_folders.runs_folder`).

    The folder's name is what the Inpaint widget's weights list shows
    (``<folder>/best``), so it names the layer (characters a file name cannot
    hold are replaced).
    """
    root = root if root is not None else runs_folder()
    stem = file_stem(layer_name)
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    return root / f"{stem}-{model}-{stamp}"


@dataclass
class LayerTrainRequest:
    """Everything one press of Start (or Resume) needs to train on an open layer.

    Attributes:
        image: the image layer's data, any array-like of a dtype ``fill``
            takes (uint8, uint16, int16, float, bool; any range): (H, W),
            (H, W, C) with ``rgb``, or a stack such as (Z, H, W) or
            (T, Z, H, W[, C]). Read in the worker thread, never modified.
        mask: the mask data (non-zero = unknown pixel: the holes the model
            will fill, never trained on) of the image's spatial shape or its
            trailing (H, W) axes, or a function returning it (called in the
            worker thread; see :func:`mask_source`). An empty mask is allowed:
            the artificial holes are then boxes a quarter of the crop side.
        rgb: whether the image's last axis holds RGB(A) channels.
        model: a trainable registered model.
        output: the run folder (checkpoints, previews, metrics log and the
            layer's data as ``data/``).
        steps: total optimisation steps.
        volume_axis: the image axis whose neighbouring planes are context for
            models that read them (an index into ``image.shape``), or None
            (plane by plane).
        device: ``auto``, ``cpu`` or ``cuda``.
        options: the model's ``[model]`` options (architecture and training).
        train: further ``[train]`` settings (image_size, batch_size,
            learning_rate, preview_every, ...) over ``fit``'s own.
        resume: continue the run in ``output``.
        layer_name: the image layer's name (messages only).
        registry: the model registry (None: the installed plugins).
    """

    image: Any
    mask: Any
    model: str
    output: Path
    steps: int
    rgb: bool = False
    volume_axis: Optional[int] = None
    device: str = "auto"
    options: dict[str, Any] = field(default_factory=dict)
    train: dict[str, Any] = field(default_factory=dict)
    resume: bool = False
    layer_name: str = ""
    registry: Any = None


def run_layer_training(request: LayerTrainRequest, progress: Optional[Reporter] = None,
                       cancel: CancelCheck = None) -> Path:
    """Train ``request.model`` on the request's layer and return its checkpoint (also when stopped early).

    Runs :func:`inpaint_models.fit` with ``steps`` as its only budget: the
    checkpoint returned is the best one on the held-back pixels
    (``best.safetensors``), else the last one written.

    Raises:
        ShapeMismatchError: the mask does not match the image's spatial shape.
        NotTrainableError, UnknownModelError: the model cannot be trained.
        InpaintError subclasses as ``fit`` raises them (a mask covering every
        pixel, NaN outside the mask, bad options, an output folder holding
        another run without ``resume``, crops that do not fit the planes).
    """
    from inpaint_models.api_fit import fit
    from inpaint_models.io.maskops import prepare_mask

    image = np.asarray(request.image)
    spatial_shape = image.shape[:-1] if request.rgb else image.shape
    painted = request.mask() if callable(request.mask) else request.mask
    mask = prepare_mask(painted, spatial_shape)
    return fit(image, mask, request.model, steps=int(request.steps), volume_axis=request.volume_axis,
               channel_axis=image.ndim - 1 if request.rgb else None, output=request.output,
               device=request.device, resume=request.resume, options=dict(request.options),
               train=dict(request.train), progress=progress, cancel=cancel, registry=request.registry)
