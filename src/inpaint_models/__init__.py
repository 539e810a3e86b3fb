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

from .api import available_models, fill, model_info
from .api_fit import fit
from .api_train import train
from .datatypes import FillContext, ModelInfo, ProgressEvent
from .errors import (
    Cancelled,
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
    ShapeMismatchError,
    UnknownModelError,
    UnknownOptionError,
    UnsupportedDtypeError,
    WeightsError,
)
from .estimate import FillEstimate, estimate_fill_seconds
from .evaluation import evaluate
from .hookspecs import hookimpl

__version__ = "0.1.0"

__all__ = [
    "Cancelled", "ConfigError", "DeviceError", "EmptyMaskWarning", "FillContext", "FillEstimate", "ImageTooSmallError",
    "InpaintError", "InvalidValuesError", "MaskCoversImageError", "MissingWeightsError", "ModelInfo",
    "NotTrainableError", "OptionError", "PlaneByPlaneWarning", "PluginConflictError", "ProgressEvent", "ShapeMismatchError",
    "UnknownModelError", "UnknownOptionError", "UnsupportedDtypeError", "WeightsError",
    "available_models", "estimate_fill_seconds", "evaluate", "fill", "fit", "hookimpl", "model_info", "train",
]
