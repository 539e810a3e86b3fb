"""The work behind the widgets, as plain functions with a progress callback.

Nothing here imports Qt or napari: a widget gathers its inputs into a request,
``_threading`` runs :func:`run_fill` / :func:`run_training` in a worker thread,
and tests call the same functions directly, without a GUI.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Sequence, Union

import numpy as np

from inpaint_models import api
from inpaint_models.datatypes import Reporter
from inpaint_models.maskops import prepare_mask

CancelCheck = Any  # threading.Event or a callable returning True to stop


@dataclass
class FillRequest:
    """Everything one press of Fill needs.

    Attributes:
        image: the image layer's data (any array-like; read in the worker thread).
        mask: the mask (labels data or rasterised shapes); non-zero = fill.
        rgb: whether the image's last axis holds RGB(A) channels.
        model: registered model name.
        weights: weights file, or None for the model's default.
        device: ``auto``, ``cpu`` or ``cuda``.
        options: the model's options as a dict.
        plane: stack indices of the one plane to fill, or None for every plane.
        dilation: pixels to grow the mask by, within each plane.
        registry: the model registry (None: the installed plugins).
    """

    image: Any
    mask: Any
    rgb: bool = False
    model: str = "telea"
    weights: Optional[Path] = None
    device: str = "auto"
    options: dict[str, Any] = field(default_factory=dict)
    plane: Optional[Sequence[int]] = None
    dilation: int = 0
    registry: Any = None


def run_fill(request: FillRequest, progress: Optional[Reporter] = None, cancel: CancelCheck = None) -> np.ndarray:
    """Fill the request's image; returns a new array of the image's shape and dtype.

    Raises whatever :func:`inpaint_models.fill` raises (``InpaintError`` for bad
    input, ``Cancelled`` when ``cancel`` is set).
    """
    image = np.asarray(request.image)
    spatial_shape = image.shape[:-1] if request.rgb else image.shape
    mask = prepare_mask(request.mask, spatial_shape, plane=request.plane, dilation=request.dilation)
    return api.fill(
        image,
        mask,
        model=request.model,
        weights=request.weights,
        device=request.device,
        channel_axis=image.ndim - 1 if request.rgb else None,
        progress=progress,
        cancel=cancel,
        registry=request.registry,
        **request.options,
    )


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
    from inpaint_models.training.config import load_config

    config = load_config(
        request.config if request.config is not None else {}, overrides=request.overrides, registry=request.registry
    )
    from inpaint_models.api_train import train  # imports torch: only once the config is known to be valid

    return train(config, report=progress, cancel=cancel, registry=request.registry)


def read_preview(path: Union[str, Path]) -> np.ndarray:
    """The preview grid PNG written by the trainer, as an array (for an image layer)."""
    from inpaint_models.imageio import read_image

    return read_image(path)

