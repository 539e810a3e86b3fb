"""Exceptions raised by the inpainting backend.

Every error caused by the caller's input derives from :class:`InpaintError`,
itself a :class:`ValueError`, so ``except ValueError`` catches all of them and
the CLI / napari widget can turn them into one clear line for the user.
"""

from __future__ import annotations


class InpaintError(ValueError):
    """Base class of every input error raised by ``inpaint_models``."""


class ShapeMismatchError(InpaintError):
    """The mask's shape does not fit the image's shape."""


class InvalidValuesError(InpaintError):
    """The image holds NaN or infinite values."""


class UnsupportedDtypeError(InpaintError):
    """The image or mask dtype cannot be inpainted (complex, object, strings...)."""


class UnknownModelError(InpaintError):
    """No registered plugin provides the requested model name."""


class OptionError(InpaintError):
    """An option value has the wrong type or is out of range."""


class UnknownOptionError(OptionError):
    """An option was passed that the model's options dataclass does not define."""


class MaskCoversImageError(InpaintError):
    """The mask leaves no known pixel to inpaint from."""


class ImageTooSmallError(InpaintError):
    """The image (or one plane of it) is smaller than the model can process."""


class MissingWeightsError(InpaintError):
    """A neural model was asked to fill without weights and ships none."""


class WeightsError(InpaintError):
    """A weights file is missing, unreadable, of another model or has mismatched shapes."""


class DeviceError(InpaintError):
    """The requested compute device is unknown or unavailable."""


class NotTrainableError(InpaintError):
    """``train`` was called for a model that cannot be trained (e.g. a classical fill)."""


class ConfigError(InpaintError):
    """A training configuration is invalid (unknown key, bad value, missing data)."""


class PluginConflictError(RuntimeError):
    """Two installed plugins claim the same model name (an installation problem,
    not an input problem, hence not a ValueError)."""


class PluginError(RuntimeError):
    """A model plugin failed: its ``fill`` raised, or returned what the contract does not allow.

    A bug of the plugin, never of the caller's input, hence not an :class:`InpaintError`
    (nor a ``ValueError``): the CLI exits with its own status and names the plugin.
    The plugin's own exception, if any, is chained as ``__cause__``.

    Attributes:
        model: the model name the plugin is registered under.
        distribution: where the plugin came from (``"my-package 1.0"``, or ``"registered"`` inline).
        problem: what went wrong (``"raised ValueError: ..."``, ``"returned shape ..."``).
    """

    def __init__(self, model: str, distribution: str, problem: str) -> None:
        super().__init__(
            f"the {model!r} model plugin ({distribution}) {problem}; this is a fault of the plugin, "
            f"not of your input: report it to its authors or choose another model"
        )
        self.model, self.distribution, self.problem = model, distribution, problem

    def __reduce__(self):  # keeps it picklable (dask workers send it back) despite the three arguments
        return type(self), (self.model, self.distribution, self.problem)


class ClusterError(ConnectionError):
    """A fill on a ``dask.distributed`` cluster could not finish, for the cluster's sake, not the input's.

    Its workers died running one task again and again (``KilledWorker``, chained),
    it has had no worker for ``distributed.scheduler.no-workers-timeout`` (default
    here :data:`inpaint_models.pipeline.chunked.NO_WORKERS_SECONDS`), or the client lost its scheduler. The message
    says which, how far the fill got and what to do. A ``ConnectionError`` (an
    ``OSError``): the command line reports it on one line.
    """


class EmptyMaskWarning(UserWarning):
    """The mask has no hole pixel: the image is returned unchanged."""


class PlaneByPlaneWarning(UserWarning):
    """A stack was to be filled as a volume, but the model fills 2D images only: it was filled plane by plane."""


class ClassicalFillKeptWarning(UserWarning):
    """Fitted weights lost to the classical fill on their held-back holes: the fill used the classical fill."""


class Cancelled(Exception):
    """Raised inside a fill or training run when the caller asked it to stop."""
