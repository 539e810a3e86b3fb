"""The plugin contract: three hooks every model plugin implements.

A model plugin is any object (usually a module) with functions decorated by
:data:`hookimpl`, registered under its model name through the entry-point group
``inpaint_models``. The backend calls each hook on exactly one plugin — the one
whose model was asked for — so a hook returns that model's answer directly.

Implementations may accept fewer arguments than a spec lists (pluggy passes
only the ones they name), so specs can grow without breaking plugins.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pluggy

from inpaint_models.contract.datatypes import FillContext, ModelInfo, Reporter

PROJECT_NAME = "inpaint_models"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


@hookspec(firstresult=True)
def model_info() -> ModelInfo:
    """Describe the model this plugin provides.

    Returns:
        A :class:`~inpaint_models.contract.datatypes.ModelInfo`; its ``name`` must equal
        the entry-point name the plugin is registered under, and its ``options``
        dataclass lists every option ``fill`` understands, with defaults.
    """


@hookspec(firstresult=True)
def fill(image: np.ndarray, mask: np.ndarray, options: Any, context: FillContext) -> np.ndarray:
    """Fill the holes of one 2D crop, or of one 3D crop for a model that fills volumes.

    The backend has already validated and normalised the input, cropped around
    the hole and chosen the channel count, so a plugin only predicts pixels.

    Args:
        image: float32 array (H, W, C) with values in [0, 1]; C is one of
            ``ModelInfo.channels`` (any C when that is None). Pixels under the
            mask hold no information (the backend zeroes them). A model whose
            ``ModelInfo.spatial_dims`` contains 3 also receives volume crops,
            float32 (D, H, W, C), when a stack is filled as a volume (D is the
            caller's volume axis: Z of a Z-stack, T of a time-lapse); tell them
            apart by ``image.ndim`` (3 = plane, 4 = volume).
        mask: bool array (H, W), or (D, H, W) with a volume crop; True marks
            pixels to fill (the hole).
        options: an instance of the model's ``ModelInfo.options`` dataclass.
        context: weights path, concrete device, source dtype and the progress
            callback (see :class:`~inpaint_models.contract.datatypes.FillContext`);
            call ``context.report`` between long steps — it raises ``Cancelled``
            when the user cancels.

    Returns:
        float32 array of the image's shape ((H, W, C) or (D, H, W, C)) in
        [0, 1]. Only pixels under the mask are used:
        the backend composites, so values outside the hole do not matter.

    The image is a buffer made for this call and the mask a copy: what the
    plugin does to them reaches no one. The answer is checked (shape, a float
    dtype, finite, [0, 1] within a small tolerance) and anything the plugin
    raises other than an ``InpaintError`` (an input problem the user can fix),
    ``Cancelled`` or ``KeyboardInterrupt`` becomes a
    :class:`~inpaint_models.contract.errors.PluginError` naming the model and its
    distribution (docs/plugins.md).
    """


@hookspec(firstresult=True)
def train(config: Any, report: Reporter) -> Path:
    """Train the model from a configuration.

    Args:
        config: a :class:`inpaint_models.training.config.TrainConfig` (its
            ``model`` section is this model's options dataclass).
        report: progress callback receiving
            :class:`~inpaint_models.contract.datatypes.ProgressEvent` objects; it raises
            ``Cancelled`` when the user stops the run, after which the plugin
            writes a checkpoint and returns.

    Returns:
        Path of the final checkpoint (a ``.safetensors`` file with its sidecar).

    Raises:
        NotTrainableError: for models that cannot be trained.
    """
