"""The "Inpaint" dock widget: pick an image and a mask, choose a model, press Fill.

The dock is made of three parts, each its own class, and only composes them:

- :class:`~napari_inpaint.inpaint_inputs.ImageMaskPanel`: image, planes, mask, New mask, dilation;
- :class:`~napari_inpaint.inpaint_model.ModelPanel`: model, fill options, weights, device, "learn first";
- :class:`~napari_inpaint.inpaint_run.RunPanel`: estimate → fit → fill → undo, progress and Cancel.

The dock turns their fields into a :class:`~napari_inpaint.jobs.FillRequest`
(:meth:`InpaintWidget.request`) and says what to do next in the status line.
The fill itself is :func:`napari_inpaint.jobs.run_fill`, in a worker thread;
building the model registry (when the dock opens), scanning checkpoint folders,
reading sidecars and rasterising a Shapes mask run in worker threads too.

The options form shows only what a fill may change (the model's ``"fill"``
options); what the chosen weights fix is one read-only line below the weights
picker, and training options belong to the Train widget.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional, Union

import numpy as np
from napari.layers import Labels
from napari.utils.notifications import show_error
from qtpy.QtCore import Signal
from qtpy.QtWidgets import QFormLayout, QVBoxLayout, QWidget

from inpaint_models.api import default_model
from inpaint_models.contract.datatypes import ModelInfo
from inpaint_models.contract.errors import InpaintError
from napari_inpaint._compat import avoid_triton_llvm_clash
from napari_inpaint._dock import load_registry, short_dock_title
from napari_inpaint._threading import Job
from napari_inpaint.inpaint_inputs import ImageMaskPanel
from napari_inpaint.inpaint_model import ModelPanel
from napari_inpaint.inpaint_run import RunPanel
from napari_inpaint.jobs import FillRequest, fit_folder
from napari_inpaint.layer_training import layer_spatial_shape

if TYPE_CHECKING:
    import napari.viewer

#: imported with the registry in the worker thread, so the GUI thread finds them loaded when it needs them
# magicgui imports its Qt backend on the first widget it builds (~30 ms): done in the worker too
BACKEND_MODULES = (
    "inpaint_models.api", "inpaint_models.io.maskops", "magicgui.type_map", "magicgui.backends._qtpy.widgets",
)
#: the dock's tab (napari's own name for it, "Inpaint (napari-inpaint)", is cut short in a tab)
DOCK_TITLE = "Inpaint"
#: shape standing for "a photograph" when choosing the default model before any image is open
PHOTO_SHAPE = (512, 512, 3)
#: the parts' controls, reachable on the dock by the same names (scripts and tests drive the dock by them)
CONTROLS = {
    "inputs": ("image_combo", "plane_current", "plane_all", "planes_row", "volume_check", "mask_combo",
               "new_mask_button", "brush_size", "dilation"),
    "models": ("model_combo", "model_description", "options", "device_combo", "learn_check", "learn_seconds",
               "fits_folder"),
    "run": ("result_new", "result_inplace", "fill_button", "cancel_button", "undo_button", "progress", "status"),
}


class InpaintWidget(QWidget):
    """Dock widget filling the masked pixels of an image layer with any registered model.

    ``fill_finished`` is emitted after each fill with ``"done"``, ``"cancelled"`` or ``"error"``;
    ``models_loaded`` once the model registry is ready (it is built in a worker thread).
    The parts are :attr:`inputs`, :attr:`models` and :attr:`run`; their controls are also
    attributes of the dock (:data:`CONTROLS`), e.g. ``image_combo`` or ``fill_button``.
    """

    fill_finished = Signal(str)
    models_loaded = Signal()

    def __init__(self, napari_viewer: "napari.viewer.Viewer", registry=None) -> None:
        super().__init__()
        self.viewer = napari_viewer
        self._loaded_announced = False
        layout = QVBoxLayout(self)
        form = QFormLayout()
        layout.addLayout(form)
        self.inputs = ImageMaskPanel(napari_viewer, form, self)
        self.models = ModelPanel(layout, form, self)
        lower = QFormLayout()
        layout.addLayout(lower)
        self.run = RunPanel(napari_viewer, layout, lower, self.models, self)
        layout.addStretch(1)
        for part, names in CONTROLS.items():
            for name in names:
                setattr(self, name, getattr(getattr(self, part), name))
        self.weights_combo = self.models.weights_picker.weights_combo
        self.weights_info = self.models.weights_picker.weights_info
        self._connect()
        self._update_hint()
        short_dock_title(self, DOCK_TITLE)
        load_registry("Inpaint", self.model_combo, self._on_registry, self.model_description, registry,
                      warm_up=BACKEND_MODULES)

    def _connect(self) -> None:
        self.inputs.image_changed.connect(self._on_image_changed)
        self.inputs.mask_changed.connect(self._update_hint)
        self.models.model_changed.connect(self._update_hint)
        self.models.form_ready.connect(self._announce_loaded)
        self.model_combo.about_to_show.connect(self.refresh_models)
        self.run.finished.connect(self.fill_finished)
        self.fill_button.clicked.connect(self.fill)

    # -- models ------------------------------------------------------------------------------------
    @property
    def registry(self) -> Any:
        """The model registry, once loaded (None before)."""
        return self.models.registry

    @property
    def loaded(self) -> bool:
        """Whether the model registry is ready and the chosen model's options form is built."""
        return self.models.ready

    def _on_registry(self, registry: Any) -> None:
        self.models.registry = registry  # default_model() reads it
        self.models.set_registry(registry, self.default_model())
        self.fill_button.setEnabled(not self.run.running)
        self._update_hint()

    def _announce_loaded(self) -> None:
        if not self._loaded_announced:
            self._loaded_announced = True
            self.models_loaded.emit()

    def refresh_models(self) -> None:
        """List every registered model, keeping the current choice."""
        self.models.refresh_models(self.default_model())

    def model_names(self) -> list[str]:
        """The model names in the drop-down, in order."""
        return self.models.model_names()

    def set_model(self, name: str) -> None:
        """Choose model ``name`` (refreshing the list first), as if the user had picked it."""
        self.models.set_model(name)

    def model_info(self) -> Optional[ModelInfo]:
        """The chosen model's info (None if the list is empty or the model went away)."""
        return self.models.model_info()

    def default_model(self) -> Optional[str]:
        """The best measured model for the chosen image (:func:`inpaint_models.api.default_model`)."""
        registry = self.registry
        if registry is None or not registry.names():
            return None
        image = self.inputs.image()
        if image is not None and not image.multiscale:
            shape = tuple(image.data.shape)
            mask = self.inputs.mask_combo.value()
            painted = mask.data if isinstance(mask, Labels) and isinstance(mask.data, np.ndarray) else None
            try:  # the painted mask, when there is one in memory: a mostly thin hole gets a diffusion fill
                return default_model(shape, registry, channel_axis=len(shape) - 1 if image.rgb else None,
                                     volume_axis=self.inputs.volume_axis(image), mask=painted)
            except (InpaintError, ValueError):  # a shape it cannot read: the choice for a photograph
                pass
        return default_model(PHOTO_SHAPE, registry, channel_axis=len(PHOTO_SHAPE) - 1, volume_axis=None)

    # -- weights ---------------------------------------------------------------------------------------
    def weights(self) -> Optional[Path]:
        """The chosen weights file, or None (the model's default)."""
        return self.models.weights_picker.weights()

    def weights_paths(self) -> list[str]:
        """The checkpoint paths listed for the chosen model."""
        return self.models.weights_picker.weights_paths()

    def set_weights(self, path: Union[str, Path]) -> None:
        """Choose a weights file (remembering it); it is selected once the list is refreshed."""
        self.models.weights_picker.set_weights(path)

    def refresh_weights(self, *_args) -> None:
        """List the chosen model's known checkpoints again (a worker scans the folders)."""
        self.models.weights_picker.refresh()

    # -- image and mask ----------------------------------------------------------------------------------
    def _on_image_changed(self) -> None:
        self.models.choose_default(self.default_model())
        self._update_hint()

    def volume_axis(self, image=None) -> Optional[int]:
        """The image axis to fill as a volume (the innermost stack axis), or None for plane by plane."""
        return self.inputs.volume_axis(image)

    def current_plane(self, image) -> Optional[tuple[int, ...]]:
        """Stack indices of the plane on screen, or None for a 2D image (see :class:`ImageMaskPanel`)."""
        return self.inputs.current_plane(image)

    def new_mask(self) -> Optional[Labels]:
        """Add an empty Labels layer matching the image, select it and switch to the paint brush."""
        labels = self.inputs.new_mask()
        if labels is not None:
            self.status.setText("Paint over what should go, then press Fill.")
        return labels

    def _update_hint(self, *_args) -> None:
        """Say what to do next (never "paint a mask" when one is loaded); not while a fill runs."""
        if self.run.running:
            return
        info = self.model_info()
        mask = self.mask_combo.value()
        if self.registry is None:
            text = "Loading the models…"
        elif self.inputs.image() is None:
            text = "Open an image (File ▸ Open Sample ▸ Inpaint has two), then choose or paint a mask."
        elif mask is None:
            text = "Press New mask and paint over what should go, then press Fill."
        elif info is None:
            text = "No inpainting model is installed."
        else:
            text = f"Press Fill to fill the pixels under {mask.name!r} with {info.title}."
        self.status.setText(text)

    # -- filling -------------------------------------------------------------------------------------
    def request(self) -> FillRequest:
        """The fill the dock's fields describe.

        Raises:
            ValueError: no image, no mask, no model, a plane that cannot be chosen, or (learning first)
                a fit folder that is a file.
        """
        image = self.inputs.image()
        if image is None:
            raise ValueError("choose an image layer first")
        if image.multiscale:
            raise ValueError(f"{image.name!r} is a multiscale image; inpainting needs a single-scale layer")
        if self.registry is None:
            raise ValueError("the models are still loading; try again in a moment")
        info = self.model_info()
        if info is None:
            raise ValueError("no inpainting model is installed")
        learn = self.learn_check.isChecked()
        if learn and not info.trainable:
            raise ValueError(f"{info.name} learns nothing: 'learn from this layer first' needs a trainable model")
        return FillRequest(
            image=image.data, mask=self.inputs.mask_data(image), rgb=bool(image.rgb), model=info.name,
            weights=self.weights() if info.trainable else None, device=self.device_combo.currentText(),
            options=self.options.values(), plane=self.inputs.plane(image), dilation=self.dilation.value(),
            registry=self.registry, volume_axis=self.inputs.volume_axis(image),
            fit_seconds=float(self.learn_seconds.value()) if learn else None,
            fit_output=fit_folder(image.name, self.models.fits_root()) if learn else None,
            stop_fit=threading.Event() if learn else None,
        )

    def fill(self) -> Optional[Job]:
        """Start a fill in a worker thread; returns its job (None if the inputs are incomplete).

        For a model that runs a network the fill's duration is estimated first
        (:class:`~napari_inpaint.inpaint_run.RunPanel`); the returned job is then
        that estimate, and the fill starts when it ends.
        """
        if self.run.running:
            return self.run.job
        if self.run.estimate_dialog is not None:  # the question about the last press is still open
            self.run.estimate_dialog.raise_()
            return None
        self.models.choose_default(self.default_model())  # unless the user picked one: it reads the mask now
        try:
            request = self.request()
        except ValueError as error:
            show_error(f"Inpaint: {error}")
            return None
        info = self.model_info()
        if info.trainable:
            avoid_triton_llvm_clash()  # neural models import torch in the worker
        image = self.inputs.image()
        return self.run.start(image, request, info, mask_layer=self.mask_combo.value(),
                              preview_plane=self._preview_plane(image, request))

    def _preview_plane(self, image, request: FillRequest) -> Optional[tuple[int, ...]]:
        """The plane the fit preview fills: the one filled, else the one on screen (the first in a 3D view);
        None for a 2D image."""
        if request.plane is not None:
            return tuple(request.plane)
        try:
            return self.inputs.current_plane(image)
        except ValueError:  # the stack is shown in 3D
            return (0,) * (len(layer_spatial_shape(image)) - 2)

    def cancel(self) -> None:
        """Ask the running fill (or its estimate) to stop (see :meth:`RunPanel.cancel`)."""
        self.run.cancel()

    def undo(self) -> None:
        """Put back the image data replaced by the last in-place fill, and show the mask layer it hid."""
        self.run.undo()

    # -- Qt ------------------------------------------------------------------------------------------
    def showEvent(self, event) -> None:
        """Refresh the model and weights lists whenever the dock is shown (plugins may have been added)."""
        short_dock_title(self, DOCK_TITLE)
        self.refresh_models()
        super().showEvent(event)
