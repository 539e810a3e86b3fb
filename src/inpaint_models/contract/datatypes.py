"""Plain data types shared by the plugin contract, the API and the front ends.

Nothing here imports torch, napari or Qt: these objects cross every boundary.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional


@dataclass(frozen=True)
class ModelInfo:
    """Everything the backend and the front ends need to know about one model.

    Attributes:
        name: registry name, lowercase with dashes (``"telea"``); must equal the
            entry-point name the plugin is registered under.
        title: human readable name for menus (``"Telea (fast marching)"``).
        description: one line saying what the model does.
        source: the paper or report it reproduces.
        trainable: whether the ``train`` hook is implemented.
        options: the model's options dataclass (a *class*); every field needs a
            default. ``fill(..., **options)`` is validated against its fields.
        default_weights: a weights file shipped with the plugin, or None.
        channels: the channel counts ``fill`` accepts, e.g. ``(3,)`` or ``(1, 3)``;
            None means any count (the model treats channels independently).
        min_size: smallest height/width of a crop the model can process.
        native_size: if set, each crop is resized to this square size before the
            model sees it and the prediction is resized back (fixed-input nets).
        size_multiple: crops are padded (reflect) to a multiple of this.
        crop_margin: default context margin, in pixels, around each hole region.
        spatial_dims: the numbers of spatial dimensions ``fill`` handles: ``(2,)``
            (the default) for a model of 2D images; ``(2, 3)`` for a model that
            also fills volumes, whose ``fill`` then also receives float32
            (D, H, W, C) crops with a bool (D, H, W) mask when the caller fills a
            stack as a volume (``fill(..., volume_axis=...)``). 2 must be present:
            every model fills single images. Volume crops are padded to
            ``size_multiple`` along all three axes; ``native_size`` resizes 2D
            crops only.
        volume_margin: context planes along the volume axis a volume fill
            gives each hole region when the caller does not say (None:
            :data:`DEFAULT_VOLUME_MARGIN`); a model that learns from the
            planes around a hole asks for more.
        requires: top-level Python packages that ``fill`` and ``train`` import
            beyond the base install, e.g. ``("torch",)`` for a neural model; the
            model is listed without them and refused with an install hint when
            used (:mod:`inpaint_models.contract.requirements`).
    """

    name: str
    title: str
    description: str
    source: str
    trainable: bool = False
    options: type = field(default=dataclasses.make_dataclass("NoOptions", []))
    default_weights: Optional[Path] = None
    channels: Optional[tuple[int, ...]] = None
    min_size: int = 3
    native_size: Optional[int] = None
    size_multiple: int = 1
    crop_margin: int = 16
    spatial_dims: tuple[int, ...] = (2,)
    volume_margin: Optional[int] = None
    requires: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        dims = self.spatial_dims
        if (
            not isinstance(dims, tuple)
            or not all(isinstance(d, int) and not isinstance(d, bool) for d in dims)
            or not set(dims) <= {2, 3}
            or 2 not in dims
        ):
            raise ValueError(
                f"ModelInfo {self.name!r}: spatial_dims must be (2,) or (2, 3), got {dims!r}"
            )

    @property
    def fills_volumes(self) -> bool:
        """Whether ``fill`` accepts (D, H, W, C) volume crops (3 in :attr:`spatial_dims`)."""
        return 3 in self.spatial_dims


@dataclass(frozen=True)
class ProgressEvent:
    """One progress report from a fill or a training run.

    ``phase`` names the stage (``"fill"``, ``"sample"``, ``"train"``,
    ``"validate"``...); ``step`` counts from 1 to ``total``. ``losses`` and the
    other fields are filled in by training runs; ``extra`` carries anything
    model specific (e.g. the GLCIC phase). Plain data: no Qt, no tensors.
    """

    phase: str
    step: int
    total: int
    message: str = ""
    losses: dict[str, float] = field(default_factory=dict)
    learning_rate: Optional[float] = None
    images_per_second: Optional[float] = None
    eta_seconds: Optional[float] = None
    elapsed_seconds: Optional[float] = None
    preview_path: Optional[Path] = None
    checkpoint_path: Optional[Path] = None
    extra: dict[str, Any] = field(default_factory=dict)


#: Signature of the progress callback given to ``fill`` and ``train``. It may
#: raise :class:`inpaint_models.contract.errors.Cancelled` to stop the run.
Reporter = Callable[[ProgressEvent], None]


def ignore_progress(event: ProgressEvent) -> None:
    """A :data:`Reporter` that discards every event."""


#: context planes added along the volume axis on each side of a hole region (``fill``'s volume_margin)
DEFAULT_VOLUME_MARGIN = 3


@dataclass(frozen=True)
class FillContext:
    """What the backend tells a plugin's ``fill`` besides the pixels.

    Attributes:
        weights: resolved weights file (None for models that need none).
        device: a concrete torch device string (``"cpu"``, ``"cuda:0"``), never ``"auto"``.
        source_dtype: dtype name of the caller's array (``"uint8"``...); a model
            may use it to take an exact fast path (e.g. OpenCV on 8-bit data).
        report: progress callback; raises ``Cancelled`` when the caller cancels.
    """

    weights: Optional[Path] = None
    device: str = "cpu"
    source_dtype: str = "float32"
    report: Reporter = ignore_progress
