"""The "Inpaint" dock widget: pick an image and a mask, choose a model, press Fill.

The widget only gathers inputs and shows results: the fill itself is
:func:`napari_inpaint.jobs.run_fill` (mask preparation in
:mod:`inpaint_models.io.maskops`, the fill in :func:`inpaint_models.fill`), run by
:mod:`napari_inpaint._threading` so the viewer stays responsive. Everything
slow runs there too: building the model registry when the dock opens (the
model list says "loading models…" meanwhile), scanning checkpoint folders,
reading a checkpoint's sidecar and rasterising a Shapes mask.

The options form shows only what a fill may change (the model's ``"fill"``
options); what the chosen weights fix is one read-only line below the weights
picker, and training options belong to the Train widget.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

from napari.layers import Image, Labels, Layer, Shapes
from napari.utils.notifications import show_error, show_info, show_warning
from qtpy.QtCore import QTimer, Signal
from qtpy.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QRadioButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from inpaint_models.api import LONG_FILL_SECONDS, FillClock, default_model, format_duration, measures
from inpaint_models.api_fit import fitted_checkpoint
from inpaint_models.contract.datatypes import ModelInfo, ProgressEvent
from inpaint_models.contract.errors import InpaintError
from inpaint_models.contract.options import FILL, fields_of_kind
from napari_inpaint._compat import avoid_triton_llvm_clash
from napari_inpaint._threading import Job, call_in_background, load_models, stop_jobs_when_destroyed
from napari_inpaint._widgets import (
    SMALL_WEIGHTS_NOTE,
    LayerComboBox,
    ModelComboBox,
    RefreshingComboBox,
    notify_skipped_plugins,
    ships_small_weights,
)
from napari_inpaint.checkpoints import store, weights_summary
from napari_inpaint.jobs import (
    FillRequest,
    fit_folder,
    read_preview,
    run_estimate,
    run_fill,
)
from napari_inpaint.layer_training import layer_spatial_shape as spatial_shape
from napari_inpaint.layer_training import mask_source
from napari_inpaint.option_form import OptionForm

if TYPE_CHECKING:
    import napari.viewer

BROWSE = "Browse…"
DEVICES = ("auto", "cpu", "cuda")
UNDO_DEPTH = 5
#: imported with the registry in the worker thread, so the GUI thread finds them loaded when it needs them
# magicgui imports its Qt backend on the first widget it builds (~30 ms): done in the worker too
BACKEND_MODULES = ("inpaint_models.api", "inpaint_models.io.maskops", "magicgui.type_map", "magicgui.backends._qtpy.widgets")
#: shape standing for "a photograph" when choosing the default model before any image is open
PHOTO_SHAPE = (512, 512, 3)
#: "learn from this layer first": default seconds of fitting, and the image layer showing the fit's previews
FIT_SECONDS = 60
FIT_PREVIEW_LAYER = "fit preview"


def is_stack(layer: Optional[Image]) -> bool:
    """Whether a (single-scale) image layer has more than two spatial axes."""
    return layer is not None and not layer.multiscale and len(spatial_shape(layer)) > 2


class InpaintWidget(QWidget):
    """Dock widget filling the masked pixels of an image layer with any registered model.

    ``fill_finished`` is emitted after each fill with ``"done"``, ``"cancelled"`` or ``"error"``;
    ``models_loaded`` once the model registry is ready (it is built in a worker thread).
    """

    fill_finished = Signal(str)
    models_loaded = Signal()

    def __init__(self, napari_viewer: "napari.viewer.Viewer", registry=None) -> None:
        super().__init__()
        avoid_triton_llvm_clash()  # before the registry imports model plugins (some import torch)
        self.viewer = napari_viewer
        self.registry = None  # set once loaded (see models_loaded)
        self.job: Optional[Job] = None
        self.long_fill_seconds = LONG_FILL_SECONDS
        self.long_fill_dialog: Optional[QMessageBox] = None
        # before a fill: its estimate (measured in a worker) and, when long, the question asked
        self.estimate_before_fill = True
        self.last_estimate: Any = None
        self.estimate_dialog: Optional[QMessageBox] = None
        self.estimate_fill_anyway: Any = None
        self.estimate_lower: Any = None
        self.estimate_cancel: Any = None
        # (layer, data before the fill); layers are held as napari hands them to plugins (proxies),
        # so they are compared by membership in the layer list, not by identity
        self._undo: list[tuple[Layer, Any]] = []
        self._started = 0.0
        self._outcome = ""
        self._clock: Optional[FillClock] = None
        self._asked_long = False
        self.long_fill_cancel = None
        self._form_model: Optional[str] = None
        self._form_pending: Optional[ModelInfo] = None  # a form to build on the next event-loop turn
        self._defer_form = False
        self._loaded_announced = False
        self._fill_model: Optional[ModelInfo] = None
        self._fill_device = "auto"
        self._brush_layer: Optional[Labels] = None
        self._model_chosen = False  # the user picked a model: stop choosing the default for them
        self._option_memory: dict[str, dict[str, Any]] = {}  # per model: fill options the user changed
        self._weights_generation = 0
        self._wanted_weights: Optional[str] = None
        self._summary_generation = 0
        self._jobs: dict[str, Optional[Job]] = {"fill": None}
        self._stop_fit: Optional[threading.Event] = None  # ends a "learn first" fit early (the fill goes on)
        self._fitting = False
        self._fit_output: Optional[Path] = None
        self._last_fit_preview: Optional[Path] = None
        stop_jobs_when_destroyed(self, self._jobs, timeout=60)  # the dock is deleted when napari closes

        layout = QVBoxLayout(self)
        form = QFormLayout()
        layout.addLayout(form)

        # image and which planes
        self.image_combo = LayerComboBox(napari_viewer, [Image])
        self.image_combo.setToolTip("The image to fill (2D, RGB or an nD stack)")
        form.addRow("Image", self.image_combo)
        self.plane_current = QRadioButton("current plane")
        self.plane_all = QRadioButton("whole stack")
        self.plane_current.setChecked(True)
        self.plane_group = QButtonGroup(self)
        self.plane_group.addButton(self.plane_current)
        self.plane_group.addButton(self.plane_all)
        planes = QHBoxLayout()
        planes.addWidget(self.plane_current)
        planes.addWidget(self.plane_all)
        self.planes_row = QWidget()
        self.planes_row.setLayout(planes)
        planes.setContentsMargins(0, 0, 0, 0)
        self.planes_row.setToolTip("For a stack: fill the holes of the plane on screen only, or of every plane")
        form.addRow("Fill", self.planes_row)
        self.volume_check = QCheckBox("use neighbouring planes")
        self.volume_check.setToolTip(
            "For a stack: fill it as a volume, so the planes above and below a hole are context too "
            "(models that fill 2D images only still get one plane at a time)"
        )
        form.addRow("", self.volume_check)

        # mask
        self.mask_combo = LayerComboBox(napari_viewer, [Labels, Shapes])
        self.mask_combo.setToolTip("Labels or Shapes layer; every labelled pixel / shape interior is filled")
        self.new_mask_button = QPushButton("New mask")
        self.new_mask_button.setToolTip("Add an empty Labels layer the size of the image and start painting")
        mask_row = QHBoxLayout()
        mask_row.addWidget(self.mask_combo, 1)
        mask_row.addWidget(self.new_mask_button)
        form.addRow("Mask", mask_row)
        self.brush_size = QSpinBox()
        self.brush_size.setRange(1, 500)
        self.brush_size.setValue(15)
        self.brush_size.setSuffix(" px")
        self.brush_size.setToolTip("Brush size of the mask layer's paint brush")
        form.addRow("Brush size", self.brush_size)
        self.dilation = QSpinBox()
        self.dilation.setRange(0, 100)
        self.dilation.setValue(0)
        self.dilation.setSuffix(" px")
        self.dilation.setToolTip("Grow the mask by this many pixels before filling (covers soft object edges)")
        form.addRow("Dilate mask", self.dilation)

        # model, fill options, weights (and what they fix), device
        self.model_combo = ModelComboBox()
        self.model_combo.setToolTip("Every installed inpainting model, built-in or from another package")
        form.addRow("Model", self.model_combo)
        self.model_description = QLabel()
        self.model_description.setWordWrap(True)
        self.model_description.setStyleSheet("color: #a0a4aa")
        form.addRow(self.model_description)
        self.options = OptionForm()
        self.options.setToolTip("What a fill may change; the weights fix the rest")
        layout.addWidget(self.options)
        form2 = QFormLayout()
        layout.addLayout(form2)
        self.weights_combo = RefreshingComboBox()
        self.weights_combo.setToolTip("Weights of a trainable model: shipped defaults, your training runs, or a file")
        form2.addRow("Weights", self.weights_combo)
        self.weights_info = QLabel()
        self.weights_info.setWordWrap(True)
        self.weights_info.setStyleSheet("color: #a0a4aa")
        self.weights_info.setToolTip("Fixed by the chosen weights (read from the checkpoint); train to change them")
        form2.addRow(self.weights_info)
        self.device_combo = QComboBox()
        self.device_combo.addItems(DEVICES)
        self.device_combo.setToolTip("auto: the GPU when there is one, else the CPU")
        form2.addRow("Device", self.device_combo)
        self.learn_check = QCheckBox("learn from this layer first")
        self.learn_check.setToolTip(
            "Fit the model to this image or stack before filling: it learns to fill holes like the mask's "
            "from the pixels that are known (a trainable model such as stack-unet; Cancel ends the fit "
            "early and fills with its best checkpoint). The fitted weights join the Weights list, "
            "named after the layer."
        )
        self.learn_seconds = QSpinBox()
        self.learn_seconds.setRange(5, 24 * 3600)
        self.learn_seconds.setValue(FIT_SECONDS)
        self.learn_seconds.setSuffix(" s")
        self.learn_seconds.setToolTip("Time budget of the fit (a minute gets most of the gain on a CPU)")
        learn_row = QHBoxLayout()
        learn_row.addWidget(self.learn_check, 1)
        learn_row.addWidget(self.learn_seconds)
        form2.addRow("Learn", learn_row)
        self.result_new = QRadioButton("new layer")
        self.result_inplace = QRadioButton("replace in place")
        self.result_new.setChecked(True)
        self.result_group = QButtonGroup(self)
        self.result_group.addButton(self.result_new)
        self.result_group.addButton(self.result_inplace)
        result_row = QHBoxLayout()
        result_row.addWidget(self.result_new)
        result_row.addWidget(self.result_inplace)
        form2.addRow("Result", result_row)

        # actions and progress
        buttons = QHBoxLayout()
        self.fill_button = QPushButton("Fill")
        self.cancel_button = QPushButton("Cancel")
        self.undo_button = QPushButton("Undo")
        self.fill_button.setEnabled(False)  # until the models are loaded
        self.cancel_button.setEnabled(False)
        self.undo_button.setEnabled(False)
        self.undo_button.setToolTip("Restore the image data replaced by the last in-place fill")
        for button in (self.fill_button, self.cancel_button, self.undo_button):
            buttons.addWidget(button)
        layout.addLayout(buttons)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress.setTextVisible(True)
        layout.addWidget(self.progress)
        self.status = QLabel()
        self.status.setWordWrap(True)
        layout.addWidget(self.status)
        layout.addStretch(1)

        # connections
        self.image_combo.currentIndexChanged.connect(self._on_image_changed)
        self.volume_check.toggled.connect(self._on_volume_toggled)
        self.new_mask_button.clicked.connect(self.new_mask)
        self.mask_combo.currentIndexChanged.connect(self._on_mask_changed)
        self.brush_size.valueChanged.connect(self._set_brush_size)
        self.model_combo.about_to_show.connect(self.refresh_models)
        self.model_combo.activated.connect(self._on_model_activated)
        self.model_combo.currentIndexChanged.connect(self._on_model_changed)
        self.weights_combo.about_to_show.connect(self.refresh_weights)
        self.weights_combo.activated.connect(self._on_weights_activated)
        self.weights_combo.currentIndexChanged.connect(self._update_weights_info)
        self.fill_button.clicked.connect(self.fill)
        self.cancel_button.clicked.connect(self.cancel)
        self.undo_button.clicked.connect(self.undo)
        store.changed.connect(self.refresh_weights)
        refresh = self.refresh_weights
        self.destroyed.connect(lambda *_: store.changed.disconnect(refresh))
        napari_viewer.dims.events.ndim.connect(self._update_planes_row)

        self._on_image_changed()
        self._on_mask_changed()
        if registry is not None:
            self._on_registry(registry)
        else:  # building the registry imports every model plugin: never on the GUI thread
            self.model_combo.show_loading()
            self.weights_combo.setEnabled(False)
            self._update_hint()
            load_models(self._on_registry, self._on_registry_error, warm_up=BACKEND_MODULES)

    # -- models ------------------------------------------------------------------------------------
    @property
    def loaded(self) -> bool:
        """Whether the model registry is ready and the chosen model's options form is built."""
        return self.registry is not None and self._form_pending is None

    def _on_registry(self, registry) -> None:
        # the first options form (magicgui widgets) is built in a later turn of the event loop
        # (_build_pending_form), so no one GUI-thread callback both lists the models and builds a form
        self.registry = registry
        self._defer_form = True
        try:
            notify_skipped_plugins(getattr(registry, "failed", {}))
            self.refresh_models()
            self._choose_default_model()
        finally:
            self._defer_form = False
        self.fill_button.setEnabled(self.job is None or not self.job.running)
        if self._form_pending is None and not self._loaded_announced:
            self._loaded_announced = True
            self.models_loaded.emit()

    def _on_registry_error(self, error: BaseException) -> None:
        self.model_combo.clear()
        self.model_description.setText(f"The models could not be loaded: {error}")
        show_error(f"Inpaint: the models could not be loaded: {type(error).__name__}: {error}")

    def refresh_models(self) -> None:
        """List every registered model, keeping the current choice."""
        if self.registry is None:
            return
        self.model_combo.set_models(self.registry.infos(), fallback=self.default_model())
        self._on_model_changed()

    def model_names(self) -> list[str]:
        """The model names in the drop-down, in order."""
        return self.model_combo.names()

    def set_model(self, name: str) -> None:
        """Choose model ``name`` (refreshing the list first), as if the user had picked it."""
        self.refresh_models()
        if not self.model_combo.select(name):
            raise ValueError(f"model {name!r} is not in the list: {self.model_names()}")
        self._model_chosen = True

    def _on_model_activated(self, _index: int) -> None:
        self._model_chosen = True

    def default_model(self) -> Optional[str]:
        """The best measured model for the chosen image (``inpaint_models.api.default_model``)."""
        if self.registry is None or not self.registry.names():
            return None
        image = self.image_combo.value()
        if image is None or image.multiscale:
            shape, channel_axis, volume_axis = PHOTO_SHAPE, len(PHOTO_SHAPE) - 1, None
        else:
            shape = tuple(image.data.shape)
            channel_axis = len(shape) - 1 if image.rgb else None
            volume_axis = self.volume_axis(image)
        try:
            return default_model(shape, self.registry, channel_axis=channel_axis, volume_axis=volume_axis)
        except (InpaintError, ValueError):  # shapes default_model cannot read: the choice for a photograph
            return default_model(PHOTO_SHAPE, self.registry, channel_axis=len(PHOTO_SHAPE) - 1, volume_axis=None)

    def _choose_default_model(self) -> None:
        """Select the default model for the chosen image, unless the user picked one."""
        if self._model_chosen or self.registry is None:
            return
        name = self.default_model()
        if name is not None and name != self.model_combo.currentData():
            self.model_combo.select(name)

    def model_info(self) -> Optional[ModelInfo]:
        """The chosen model's info (None if the list is empty or the model went away)."""
        name = self.model_combo.currentData()
        if self.registry is None or name is None or name not in self.registry.names():
            return None
        return self.registry.info(name)

    def _on_model_changed(self, *_args) -> None:
        info = self.model_info()
        name = info.name if info is not None else None
        if name != self._form_model or self.options.options_class is not (info.options if info else None):
            if self._form_model is not None:
                self._option_memory[self._form_model] = self.options.values()
            if info is None:
                self.model_description.setText("No model installed." if self.registry is not None else "")
            else:
                text = info.description
                if ships_small_weights(info):
                    text += f" ({SMALL_WEIGHTS_NOTE}.)"
                self.model_description.setText(text)
                self.model_description.setToolTip(info.source)
            self._set_form(info)
            self._update_hint()
        trainable = info is not None and info.trainable
        self.learn_check.setEnabled(trainable)  # only a trainable model can learn from the layer
        self.learn_seconds.setEnabled(trainable)
        if not trainable:
            self.learn_check.setChecked(False)
        self.refresh_weights()

    def _set_form(self, info: Optional[ModelInfo]) -> None:
        """Show the fill options of ``info``'s model, with the values the user gave them before.

        While the models arrive (:meth:`_on_registry`) the form is built on the next
        turn of the event loop instead (:meth:`_build_pending_form`).
        """
        self._form_model = info.name if info is not None else None
        if self._defer_form and info is not None:
            if self._form_pending is None:
                QTimer.singleShot(0, self._build_pending_form)
            self._form_pending = info
            return
        self._form_pending = None
        if info is None:
            self.options.set_fields(None, {})
            return
        self.options.set_fields(info.options, fields_of_kind(info, FILL))
        for name, value in self._option_memory.get(info.name, {}).items():
            if name in self.options.names():
                self.options.set_value(name, value)

    def _build_pending_form(self) -> None:
        """Build the options form deferred while the models arrived (unless another model took its place)."""
        info = self._form_pending
        self._form_pending = None
        if info is not None and info.name == self._form_model and self.options.options_class is not info.options:
            self._set_form(info)
        if not self._loaded_announced:
            self._loaded_announced = True
            self.models_loaded.emit()

    # -- weights -------------------------------------------------------------------------------------
    def refresh_weights(self, *_args) -> None:
        """List the chosen model's known checkpoints (plus Browse…), scanning the folders in a worker thread."""
        info = self.model_info()
        self._weights_generation += 1
        if info is None or not info.trainable:
            self._fill_weights_combo(info, [])
            return
        generation = self._weights_generation
        if self.weights_combo.count() == 0 or self.weights_combo.itemData(0) is None:
            self.weights_combo.blockSignals(True)
            self.weights_combo.clear()
            self.weights_combo.addItem("looking for weights…", None)
            self.weights_combo.blockSignals(False)
        call_in_background(
            lambda: store.for_model(info),
            lambda checkpoints: self._on_weights_listed(generation, info, checkpoints),
            lambda error: self._on_weights_listed(generation, info, []),
            name="list checkpoints",
        )

    def _on_weights_listed(self, generation: int, info: ModelInfo, checkpoints: list) -> None:
        if generation == self._weights_generation:
            self._fill_weights_combo(info, checkpoints)

    def _fill_weights_combo(self, info: Optional[ModelInfo], checkpoints: list) -> None:
        current = self._wanted_weights or self.weights_combo.currentData()
        self.weights_combo.blockSignals(True)
        self.weights_combo.clear()
        if info is None or not info.trainable:
            self.weights_combo.addItem("not needed", None)
            self.weights_combo.setEnabled(False)
        else:
            self.weights_combo.setEnabled(True)
            if not checkpoints:
                self.weights_combo.addItem("none yet: train one, or Browse…", None)
            for checkpoint in checkpoints:
                self.weights_combo.addItem(checkpoint.label, str(checkpoint.path))
                self.weights_combo.setItemData(self.weights_combo.count() - 1, str(checkpoint.path), 3)
            self.weights_combo.addItem(BROWSE, BROWSE)
            index = self.weights_combo.findData(current) if current else -1
            self.weights_combo.setCurrentIndex(index if index >= 0 else 0)
            if index >= 0:
                self._wanted_weights = None
        self.weights_combo.blockSignals(False)
        self._update_weights_info()

    def _update_weights_info(self, *_args) -> None:
        """Show what the chosen weights fix (read from the sidecar in a worker thread)."""
        info = self.model_info()
        self._summary_generation += 1
        generation = self._summary_generation
        if info is None or not info.trainable:
            self.weights_info.setText("")
            self.weights_info.setVisible(False)
            return
        weights = self.weights()
        if weights is None and self.weights_combo.currentData() is None and info.default_weights is None:
            self._show_weights_info(generation, weights_summary(None, info))
            return
        call_in_background(
            lambda: weights_summary(weights, info),
            lambda text: self._show_weights_info(generation, text),
            name="read weights sidecar",
        )

    def _show_weights_info(self, generation: int, text: str) -> None:
        if generation == self._summary_generation:
            self.weights_info.setText(text)
            self.weights_info.setVisible(bool(text))

    def weights_paths(self) -> list[str]:
        """The checkpoint paths listed for the chosen model."""
        items = [self.weights_combo.itemData(i) for i in range(self.weights_combo.count())]
        return [item for item in items if item and item != BROWSE]

    def set_weights(self, path: str | Path) -> None:
        """Choose a weights file (remembering it); it is selected once the list is refreshed."""
        path = Path(path).expanduser().resolve()
        self._wanted_weights = str(path)
        store.add_file(path)  # emits changed: the list is refreshed

    def _on_weights_activated(self, index: int) -> None:
        if self.weights_combo.itemData(index) != BROWSE:
            return
        chosen, _ = QFileDialog.getOpenFileName(self, "Choose weights", "", "Weights (*.safetensors);;All files (*)")
        if chosen:
            self.set_weights(chosen)
        else:
            self.weights_combo.setCurrentIndex(0)

    def weights(self) -> Optional[Path]:
        """The chosen weights file, or None (the model's default)."""
        data = self.weights_combo.currentData()
        return Path(data) if data and data != BROWSE else None

    # -- image, planes and mask -----------------------------------------------------------------
    def _on_image_changed(self, *_args) -> None:
        stack = is_stack(self.image_combo.value())
        self.volume_check.blockSignals(True)
        self.volume_check.setChecked(stack)  # on by default for stacks
        self.volume_check.blockSignals(False)
        self._update_planes_row()
        self._choose_default_model()
        self._update_hint()

    def _on_volume_toggled(self, _checked: bool) -> None:
        self._choose_default_model()

    def _update_planes_row(self, *_args) -> None:
        stack = is_stack(self.image_combo.value())
        self.planes_row.setEnabled(stack)
        self.volume_check.setEnabled(stack)

    def volume_axis(self, image: Optional[Image] = None) -> Optional[int]:
        """The image axis to fill as a volume (the innermost stack axis), or None for plane by plane."""
        image = image if image is not None else self.image_combo.value()
        if not is_stack(image) or not self.volume_check.isChecked():
            return None
        return len(spatial_shape(image)) - 3

    def new_mask(self) -> Optional[Labels]:
        """Add an empty Labels layer matching the image, select it and switch to the paint brush."""
        image = self.image_combo.value()
        if image is None:
            show_warning("Open or choose an image first: the mask is made to match it.")
            return None
        if image.multiscale:
            show_warning("Multiscale images cannot be inpainted.")
            return None
        from inpaint_models.api import is_lazy
        from inpaint_models.io.maskops import new_mask  # loaded with the registry (BACKEND_MODULES)

        if is_lazy(image.data):  # a dask layer: the mask's chunks take memory only once painted
            from inpaint_models.io.maskops import empty_mask_like

            mask_data = empty_mask_like(image.data, rgb=bool(image.rgb))
        else:
            mask_data = new_mask(spatial_shape(image))
        brush = self.brush_size.value()  # adding the layer may select it and show its own brush size
        labels = self.viewer.add_labels(
            mask_data,
            name=f"{image.name} mask",
            scale=image.scale,
            translate=image.translate,
            opacity=0.6,
        )
        labels.brush_size = brush
        labels.selected_label = 1
        self.mask_combo.set_value(labels)
        self.viewer.layers.selection.active = labels
        labels.mode = "paint"
        self.status.setText("Paint over what should go, then press Fill.")
        return labels

    def _on_mask_changed(self, *_args) -> None:
        layer = self.mask_combo.value()
        previous = self._brush_layer
        same = previous is not None and layer is not None and previous == layer
        if previous is not None and not same:
            previous.events.brush_size.disconnect(self._on_layer_brush_size)
        is_labels = isinstance(layer, Labels)
        self.brush_size.setEnabled(is_labels)
        self._brush_layer = layer if is_labels else None
        if is_labels and not same:
            self.brush_size.blockSignals(True)
            self.brush_size.setValue(int(round(layer.brush_size)))
            self.brush_size.blockSignals(False)
            layer.events.brush_size.connect(self._on_layer_brush_size)
        self._update_hint()

    def _on_layer_brush_size(self, event) -> None:
        layer = self._brush_layer
        if layer is not None:
            self.brush_size.blockSignals(True)
            self.brush_size.setValue(int(round(layer.brush_size)))
            self.brush_size.blockSignals(False)

    def _set_brush_size(self, value: int) -> None:
        layer = self.mask_combo.value()
        if isinstance(layer, Labels):
            layer.brush_size = value

    def _update_hint(self) -> None:
        """Say what to do next (never "paint a mask" when one is loaded); not while a fill runs."""
        if self.job is not None and self.job.running:
            return
        info = self.model_info()
        mask = self.mask_combo.value()
        if self.registry is None:
            text = "Loading the models…"
        elif self.image_combo.value() is None:
            text = "Open an image (File ▸ Open Sample ▸ Inpaint has two), then choose or paint a mask."
        elif mask is None:
            text = "Press New mask and paint over what should go, then press Fill."
        elif info is None:
            text = "No inpainting model is installed."
        else:
            text = f"Press Fill to fill the pixels under {mask.name!r} with {info.title}."
        self.status.setText(text)

    def current_plane(self, image: Image) -> Optional[tuple[int, ...]]:
        """Stack indices of the plane on screen, or None for a 2D image.

        Raises:
            ValueError: the image's last two axes are not the ones displayed.
        """
        ndim = len(spatial_shape(image))
        if ndim <= 2:
            return None
        dims = self.viewer.dims
        world = dims.ndim
        if dims.ndisplay != 2 or tuple(dims.displayed) != (world - 2, world - 1):
            raise ValueError(
                "'current plane' needs the image's last two axes on screen in 2D view; choose 'whole stack'"
            )
        position = image.world_to_data(list(dims.point)[-ndim:])
        shape = spatial_shape(image)
        return tuple(min(max(int(round(position[i])), 0), shape[i] - 1) for i in range(ndim - 2))

    def _mask_data(self, image: Image) -> Any:
        """The mask layer's data, or (Shapes) a function rasterising a copy of its shapes in the worker."""
        layer = self.mask_combo.value()
        if layer is None:
            raise ValueError("choose a mask layer, or press New mask and paint over what should go")
        return mask_source(layer, spatial_shape(image))

    # -- filling -------------------------------------------------------------------------------------
    def request(self) -> FillRequest:
        """The fill the widget's fields describe.

        Raises:
            ValueError: no image, no mask, no model, or a plane that cannot be chosen.
        """
        image = self.image_combo.value()
        if image is None:
            raise ValueError("choose an image layer first")
        if image.multiscale:
            raise ValueError(f"{image.name!r} is a multiscale image; inpainting needs a single-scale layer")
        if self.registry is None:
            raise ValueError("the models are still loading; try again in a moment")
        info = self.model_info()
        if info is None:
            raise ValueError("no inpainting model is installed")
        plane = self.current_plane(image) if self.plane_current.isChecked() else None
        learn = self.learn_check.isChecked()
        if learn and not info.trainable:
            raise ValueError(f"{info.name} learns nothing: 'learn from this layer first' needs a trainable model "
                             f"(e.g. stack-unet)")
        return FillRequest(
            image=image.data,
            mask=self._mask_data(image),
            rgb=bool(image.rgb),
            model=info.name,
            weights=self.weights() if info.trainable else None,
            device=self.device_combo.currentText(),
            options=self.options.values(),
            plane=plane,
            dilation=self.dilation.value(),
            registry=self.registry,
            volume_axis=self.volume_axis(image),
            fit_seconds=float(self.learn_seconds.value()) if learn else None,
            fit_output=fit_folder(image.name) if learn else None,
            stop_fit=threading.Event() if learn else None,
        )

    def fill(self) -> Optional[Job]:
        """Start a fill in a worker thread; returns its job (None if the inputs are incomplete).

        For a model that runs a network (or has a ``steps`` option) the fill's
        duration is estimated first, in a worker (one network call timed,
        :func:`inpaint_models.estimate_fill_seconds`); the returned job is then
        that estimate, and the fill starts when it ends, unless the estimate
        exceeds :attr:`long_fill_seconds`: then a question offers "Fill anyway",
        "Lower steps to N (about M)" and "Cancel", without holding the GUI up.
        """
        if self.job is not None and self.job.running:
            return self.job
        if self.estimate_dialog is not None:  # the question about the last press is still open
            self.estimate_dialog.raise_()
            return None
        try:
            request = self.request()
        except ValueError as error:
            show_error(f"Inpaint: {error}")
            return None
        info = self.model_info()
        if info is not None and info.trainable:
            avoid_triton_llvm_clash()  # neural models import torch in the worker
        image = self.image_combo.value()
        self.last_estimate = None
        self._close_long_fill_dialog()
        if self.estimate_before_fill and request.fit_seconds is None and info is not None and measures(info):
            return self._start_estimate(image, request, info)
        return self._start_fill(image, request, info)

    def _start_estimate(self, image: Image, request: FillRequest, info: ModelInfo) -> Job:
        """Measure how long the fill will take, in a worker; :meth:`_on_estimate` goes on from there."""
        device = "" if request.device == "auto" else f" on {request.device}"
        self._outcome = ""
        self.job = Job(
            lambda _progress, cancel: run_estimate(request, cancel),
            on_done=lambda estimate: self._on_estimate(image, request, info, estimate),
            on_cancelled=self._on_estimate_cancelled,
            on_error=lambda error: self._on_estimate_error(image, request, info, error),
            name=f"estimate inpaint {image.name}",
        )
        self.fill_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.progress.setRange(0, 0)
        self.progress.setFormat("estimating")
        self.status.setText(f"Estimating how long {info.name}{device} takes: timing one network call…")
        self._jobs["fill"] = self.job
        return self.job.start()

    def _on_estimate(self, image: Image, request: FillRequest, info: ModelInfo, estimate: Any) -> None:
        self.last_estimate = estimate
        if self.job is not None and self.job.cancel_event.is_set():  # Cancel was pressed as it ended
            self._on_estimate_cancelled()
            return
        if image not in self.viewer.layers:
            self._finish_without_fill("cancelled", f"The layer {image.name!r} was removed; nothing was filled.")
            return
        if estimate is None or estimate.seconds is None or estimate.seconds <= self.long_fill_seconds:
            self._start_fill(image, request, info, estimate)
            return
        self._ask_before_fill(image, request, info, estimate)

    def _on_estimate_cancelled(self) -> None:
        self._outcome = "cancelled"
        self.status.setText("Fill cancelled before it started; nothing was changed.")
        show_info("Inpaint: fill cancelled")
        self._on_finished()

    def _on_estimate_error(self, image: Image, request: FillRequest, info: ModelInfo, error: BaseException) -> None:
        if isinstance(error, InpaintError):  # the fill would fail the same way: say so now
            self._on_error(error)
            self._on_finished()
            return
        show_warning(f"Inpaint: the fill's duration could not be estimated ({type(error).__name__}: {error}); "
                     "filling anyway")
        self._start_fill(image, request, info)

    def estimate_message(self, estimate: Any) -> str:
        """What the question before a long fill says: the estimate, how it was obtained, how to go faster."""
        device = f" on {estimate.device}"
        text = (f"Filling with {estimate.model}{device} will take {estimate.describe()}.\n\n"
                "This is an estimate: one network call was timed on this fill's largest crop and multiplied "
                "by the number of calls and regions.")
        lower = estimate.steps_within(self.long_fill_seconds)
        if lower is not None:
            name = estimate.steps_option.replace("_", " ")
            text += (f"\n\nFewer {name} go faster (and fill with less detail): {lower} instead of "
                     f"{estimate.steps} would take about {format_duration(estimate.seconds_with_steps(lower))}.")
        return text

    def _ask_before_fill(self, image: Image, request: FillRequest, info: ModelInfo, estimate: Any) -> None:
        """Ask, before a long fill starts, whether to fill anyway, with fewer steps, or not at all (non-modal)."""
        box = QMessageBox(self)
        box.setIcon(QMessageBox.Icon.Question)
        box.setWindowTitle("Long fill")
        box.setText(self.estimate_message(estimate))
        self.estimate_fill_anyway = box.addButton("Fill anyway", QMessageBox.ButtonRole.AcceptRole)
        lower = estimate.steps_within(self.long_fill_seconds)
        self.estimate_lower = None
        if lower is not None:
            seconds = estimate.seconds_with_steps(lower)
            self.estimate_lower = box.addButton(
                f"Lower {estimate.steps_option.replace('_', ' ')} to {lower} (about {format_duration(seconds)})",
                QMessageBox.ButtonRole.ActionRole,
            )
        self.estimate_cancel = box.addButton("Cancel", QMessageBox.ButtonRole.RejectRole)
        box.setEscapeButton(self.estimate_cancel)
        box.setModal(False)
        box.buttonClicked.connect(lambda button: self._on_estimate_answer(button, image, request, info, estimate, lower))
        self.estimate_dialog = box
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress.setFormat("waiting")
        self.status.setText(f"Estimate: {estimate.describe()}. Fill anyway, lower the steps, or cancel?")
        self.cancel_button.setEnabled(True)
        box.show()

    def _on_estimate_answer(self, button: Any, image: Image, request: FillRequest, info: ModelInfo, estimate: Any,
                            lower: Optional[int]) -> None:
        self._close_estimate_dialog()
        if button is self.estimate_fill_anyway:
            self._start_fill(image, request, info, estimate, asked=True)
        elif button is self.estimate_lower and self.estimate_lower is not None and lower is not None:
            from inpaint_models.api import with_steps

            name = estimate.steps_option
            if name in self.options.names():
                self.options.set_value(name, lower)  # the form says what the fill uses
            request.options = {**request.options, name: lower}
            self._start_fill(image, request, info, with_steps(estimate, lower), asked=True)
        else:
            self._finish_without_fill("cancelled", "Fill cancelled before it started; nothing was changed.")

    def _close_estimate_dialog(self) -> None:
        if self.estimate_dialog is not None:
            self.estimate_dialog.close()
            self.estimate_dialog.deleteLater()
            self.estimate_dialog = None

    def _finish_without_fill(self, outcome: str, message: str) -> None:
        self._outcome = outcome
        self.status.setText(message)
        self._on_finished()

    def _start_fill(self, image: Image, request: FillRequest, info: Optional[ModelInfo], estimate: Any = None,
                    asked: bool = False) -> Job:
        """Start the fill itself in a worker thread (``asked``: the user already said to go on with a long one)."""
        in_place = self.result_inplace.isChecked()
        self._started = time.monotonic()
        self._clock = FillClock()
        self._fill_model = info
        self._fill_device = request.device
        self._close_long_fill_dialog()
        self._asked_long = asked
        self._stop_fit = request.stop_fit
        self._fit_output = request.fit_output
        self._fitting = request.fit_seconds is not None
        self._last_fit_preview = None
        self._outcome = ""
        self.job = Job(
            lambda progress, cancel: run_fill(request, progress, cancel),
            on_progress=self._on_progress,
            extra=self._load_fit_preview if self._fitting else None,
            on_done=lambda result: self._on_done(image, result, in_place, request.model),
            on_cancelled=self._on_cancelled,
            on_error=self._on_error,
            on_finished=self._on_finished,
            name=f"inpaint {image.name}",
        )
        self.fill_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.progress.setRange(0, 0)  # busy until the first event
        self.progress.setFormat("%p%")
        expected = ""
        if estimate is not None and estimate.seconds is not None:
            expected = f" (estimate: about {format_duration(estimate.seconds)})"
        if self._fitting:
            self.status.setText(f"Learning from {image.name!r} ({request.model}, {request.fit_seconds:g} s)…")
        else:
            self.status.setText(f"Filling {image.name!r} with {request.model}…{expected}")
        self._jobs["fill"] = self.job
        return self.job.start()

    def cancel(self) -> None:
        """Ask the running fill (or its estimate) to stop; answers an open "long fill" question with Cancel."""
        if self.estimate_dialog is not None:
            self._close_estimate_dialog()
            self._finish_without_fill("cancelled", "Fill cancelled before it started; nothing was changed.")
            return
        if self.job is not None and self.job.running:
            if self._fitting and self._stop_fit is not None and not self._stop_fit.is_set():
                self._stop_fit.set()  # the fit ends at its next step; the fill goes on with its best checkpoint
                self.status.setText("Stopping the fit; filling with its best checkpoint (Cancel again to stop)…")
                return
            self.job.cancel()
            self.status.setText("Cancelling…")

    def _load_fit_preview(self, event: ProgressEvent) -> Any:
        """(worker thread) Read a new preview grid of the fit, so the GUI thread only swaps the layer's data."""
        path = event.preview_path
        if event.phase != "train" or path is None or path == self._last_fit_preview:
            return None
        self._last_fit_preview = path
        return read_preview(path)

    def _on_fit_progress(self, event: ProgressEvent, preview: Any) -> None:
        """A progress event of the fit: time spent of the budget, the loss, the validation PSNR, the preview."""
        elapsed = event.elapsed_seconds or 0.0
        left = event.eta_seconds
        total = elapsed + left if left is not None else None
        self.progress.setRange(0, 1000)
        self.progress.setValue(int(1000 * min(1.0, elapsed / total)) if total else 0)
        self.progress.setFormat("learning %p%")
        parts = [f"step {event.step}"]
        if "loss" in event.losses:
            parts.append(f"loss {event.losses['loss']:.3g}")
        psnr = event.extra.get("metrics", {}).get("psnr_hole")
        if psnr is not None:
            parts.append(f"held-back holes {psnr:.2f} dB")
        if left is not None and left >= 1:
            parts.append(f"{format_duration(left)} left")
        if not (self._stop_fit is not None and self._stop_fit.is_set()):
            self.status.setText("Learning: " + " · ".join(parts))
        if preview is not None:
            existing = [layer for layer in self.viewer.layers if layer.name == FIT_PREVIEW_LAYER]
            if existing and existing[0].data.shape == preview.shape:
                existing[0].data = preview
            else:
                for layer in existing:
                    self.viewer.layers.remove(layer)
                self.viewer.add_image(preview, name=FIT_PREVIEW_LAYER,
                                      rgb=preview.ndim == 3 and preview.shape[-1] in (3, 4))

    def _on_progress(self, event: ProgressEvent, _extra: Any) -> None:
        if event.phase == "train":
            self._on_fit_progress(event, _extra)
            return
        if self._fitting:  # the fit is over: the fill's own progress from here on
            self._fitting = False
            self._clock = FillClock()
            self._add_fitted_weights()
        remaining = self._clock.update(event) if self._clock is not None else None
        self.progress.setRange(0, max(event.total, 1))
        self.progress.setValue(min(event.step, event.total))
        left = f" · {format_duration(remaining)} left" if remaining is not None and remaining >= 1 else ""
        self.progress.setFormat(f"{event.phase} %v / %m{left}")
        if event.message:
            self.status.setText(f"{event.phase}: {event.message}")
        if (
            remaining is not None
            and remaining > self.long_fill_seconds
            and not self._asked_long
            and self.job is not None
            and not self.job.cancel_event.is_set()
        ):
            self._asked_long = True
            self._ask_about_long_fill(remaining)

    def long_fill_message(self, remaining: float) -> str:
        """What the "long fill" question says: the measured estimate and how to go faster."""
        info = self._fill_model
        title = info.title if info is not None else "this model"
        device = f" on {self._fill_device}" if self._fill_device != "auto" else ""
        scope = "" if self._clock is None or self._clock.regions_known else ", for its first hole region"
        text = (
            f"Filling with {title}{device} will take about {format_duration(remaining)} more "
            f"(measured on its first steps{scope})."
        )
        steps = [name for name in self.options.names() if "steps" in name]
        if steps:
            name = steps[0]
            text += (
                f"\n\nTo go faster, cancel, lower '{name.replace('_', ' ')}' (now {self.options.value(name)}) "
                "in the options and press Fill again."
            )
        return text

    def _ask_about_long_fill(self, remaining: float) -> None:
        """Ask (without stopping the fill meanwhile) whether to go on with a long fill."""
        box = QMessageBox(self)
        box.setIcon(QMessageBox.Icon.Information)
        box.setWindowTitle("Long fill")
        box.setText(self.long_fill_message(remaining))
        box.addButton("Keep filling", QMessageBox.ButtonRole.AcceptRole)
        self.long_fill_cancel = box.addButton("Cancel fill", QMessageBox.ButtonRole.RejectRole)
        box.setModal(False)
        box.buttonClicked.connect(lambda button: self.cancel() if button is self.long_fill_cancel else None)
        self.long_fill_dialog = box
        self.status.setText(f"About {format_duration(remaining)} left.")
        box.show()

    def _close_long_fill_dialog(self) -> None:
        if self.long_fill_dialog is not None:
            self.long_fill_dialog.close()
            self.long_fill_dialog.deleteLater()
            self.long_fill_dialog = None

    def _add_fitted_weights(self) -> Optional[Path]:
        """Offer the fit's checkpoint in the Weights list (named after the layer) and select it."""
        weights = fitted_checkpoint(self._fit_output) if self._fit_output is not None else None
        if weights is not None:
            self.set_weights(weights)  # the store lists it as "<layer name>/best"
        return weights

    def _on_done(self, image: Image, result: Any, in_place: bool, model: str) -> None:
        seconds = time.monotonic() - self._started
        self._outcome = "done"
        if self._fit_output is not None:
            self._add_fitted_weights()
        if image not in self.viewer.layers:
            show_warning(f"Inpaint: the layer {image.name!r} was removed during the fill; the result is dropped")
            return
        if in_place:
            self._undo.append((image, image.data))
            del self._undo[:-UNDO_DEPTH]
            image.data = result
            self.undo_button.setEnabled(True)
            self.status.setText(f"Filled {image.name!r} in place with {model} in {seconds:.1f} s (Undo restores it).")
        else:
            _data, meta, layer_type = image.as_layer_data_tuple()
            meta = dict(meta)
            meta["name"] = f"{image.name} inpainted"
            meta["metadata"] = {**dict(meta.get("metadata") or {}), "inpaint_model": model}
            self.viewer.add_layer(Layer.create(result, meta, layer_type))
            self.status.setText(f"Filled {image.name!r} with {model} in {seconds:.1f} s.")

    def _on_cancelled(self) -> None:
        self._outcome = "cancelled"
        self.status.setText("Fill cancelled; nothing was changed.")
        show_info("Inpaint: fill cancelled")

    def _on_error(self, error: BaseException) -> None:
        self._outcome = "error"
        if isinstance(error, InpaintError):
            message = str(error)
        else:
            message = f"{type(error).__name__}: {error}"
        self.status.setText(f"Fill failed: {message}")
        show_error(f"Inpaint failed: {message}")

    def _on_finished(self) -> None:
        self._close_long_fill_dialog()
        self.fill_button.setEnabled(True)
        self.cancel_button.setEnabled(False)
        self.progress.setRange(0, 1)
        self.progress.setValue(1)
        self.progress.setFormat("%p%")
        self.fill_finished.emit(self._outcome)

    def undo(self) -> None:
        """Put back the image data replaced by the last in-place fill."""
        while self._undo:
            layer, data = self._undo.pop()
            if layer in self.viewer.layers:
                layer.data = data
                self.status.setText(f"Restored {layer.name!r}.")
                break
        self.undo_button.setEnabled(bool(self._undo))

    # -- Qt ------------------------------------------------------------------------------------------
    def showEvent(self, event) -> None:
        """Refresh the model and weights lists whenever the dock is shown (plugins may have been added)."""
        self.refresh_models()
        super().showEvent(event)
