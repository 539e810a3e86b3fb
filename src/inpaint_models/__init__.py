"""inpaint_models: image inpainting backend with a plugin system of models.

Quick start::

    import inpaint_models
    filled = inpaint_models.fill(image, mask, model="telea")   # mask: True = fill
    inpaint_models.estimate_fill_seconds(image, mask, model="diffusion").describe()  # before a long fill
    weights = inpaint_models.fit(stack, mask, seconds=60)       # learn from the data itself
    filled = inpaint_models.fill(stack, mask, model="stack-unet", weights=weights)
    inpaint_models.available_models()

No napari or Qt import anywhere in this package.
"""

from __future__ import annotations

from inpaint_models.api import available_models, fill, model_info
from inpaint_models.api_fit import fit, fit_verdict
from inpaint_models.api_train import train
from inpaint_models.contract.datatypes import FillContext, ModelInfo, ProgressEvent
from inpaint_models.contract.errors import (
    Cancelled,
    ClusterError,
    ClassicalFillKeptWarning,
    ConfigError,
    DeviceError,
    EmptyMaskWarning,
    ImageTooSmallError,
    InpaintError,
    InvalidValuesError,
    MaskCoversImageError,
    MissingWeightsError,
    NotTrainableError,
    OptionError,
    PlaneByPlaneWarning,
    PluginConflictError,
    PluginError,
    ShapeMismatchError,
    UnknownModelError,
    UnknownOptionError,
    UnsupportedDtypeError,
    WeightsError,
)
from inpaint_models.contract.hookspecs import hookimpl
from inpaint_models.contract.requirements import MissingDependencyError
from inpaint_models.evaluation import evaluate
from inpaint_models.pipeline.estimate import FillEstimate, estimate_fill_seconds

__version__ = "0.1.0"

__all__ = [
    "Cancelled", "ClassicalFillKeptWarning", "ClusterError", "ConfigError", "DeviceError", "EmptyMaskWarning",
    "FillContext", "FillEstimate", "ImageTooSmallError", "InpaintError", "InvalidValuesError",
    "MaskCoversImageError", "MissingDependencyError", "MissingWeightsError", "ModelInfo", "NotTrainableError",
    "OptionError", "PlaneByPlaneWarning", "PluginConflictError", "PluginError", "ProgressEvent",
    "ShapeMismatchError", "UnknownModelError", "UnknownOptionError", "UnsupportedDtypeError", "WeightsError",
    "available_models", "estimate_fill_seconds", "evaluate", "fill", "fit", "fit_verdict", "hookimpl",
    "model_info", "train",
]
