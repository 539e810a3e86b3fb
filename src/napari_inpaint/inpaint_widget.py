"""The "Inpaint" dock widget: pick an image and a mask, choose a model, press Fill.

The widget only gathers inputs and shows results: the fill itself is
:func:`napari_inpaint.jobs.run_fill` (mask preparation in
:mod:`inpaint_models.maskops`, the fill in :func:`inpaint_models.fill`), run by
:mod:`napari_inpaint._threading` so the viewer stays responsive.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

from napari.layers import Image, Labels, Layer, Shapes
from napari.utils.notifications import show_error, show_info, show_warning
from qtpy.QtCore import Signal
from qtpy.QtWidgets import (
    QButtonGroup,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QRadioButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from inpaint_models.datatypes import ModelInfo, ProgressEvent
from inpaint_models.errors import InpaintError
from inpaint_models.maskops import new_mask
from inpaint_models.plugins import default_registry

from ._compat import avoid_triton_llvm_clash
from ._threading import Job, stop_jobs_when_destroyed
from ._widgets import LayerComboBox, ModelComboBox, RefreshingComboBox
from .checkpoints import store
from .jobs import FillRequest, run_fill
from .option_fields import OptionFields

if TYPE_CHECKING:
    import napari.viewer

BROWSE = "Browse…"
DEVICES = ("auto", "cpu", "cuda")
UNDO_DEPTH = 5


def spatial_shape(layer: Image) -> tuple[int, ...]:
    """The image layer's shape without its RGB(A) axis."""
    shape = tuple(layer.data.shape)
    return shape[:-1] if layer.rgb else shape


class InpaintWidget(QWidget):
    """Dock widget filling the masked pixels of an image layer with any registered model.

    ``fill_finished`` is emitted after each fill with ``"done"``, ``"cancelled"`` or ``"error"``.
    """

    fill_finished = Signal(str)

    def __init__(self, napari_viewer: "napari.viewer.Viewer", registry=None) -> None:
        super().__init__()
        avoid_triton_llvm_clash()  # before the registry imports model plugins (some import torch)
        self.viewer = napari_viewer
        self.registry = registry or default_registry()
        self.job: Optional[Job] = None
        # (layer, data before the fill); layers are held as napari hands them to plugins (proxies),
        # so they are compared by membership in the layer list, not by identity
        self._undo: list[tuple[Layer, Any]] = []
        self._started = 0.0
        self._outcome = ""
        self._brush_layer: Optional[Labels] = None
        self._jobs: dict[str, Optional[Job]] = {"fill": None}
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
        self.planes_row.setToolTip("For a stack: fill the plane on screen only, or every plane that has a mask")
        form.addRow("Fill", self.planes_row)

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

        # model, options, weights, device
        self.model_combo = ModelComboBox()
        self.model_combo.setToolTip("Every installed inpainting model, built-in or from another package")
        form.addRow("Model", self.model_combo)
        self.model_description = QLabel()
        self.model_description.setWordWrap(True)
        self.model_description.setStyleSheet("color: #a0a4aa")
        form.addRow(self.model_description)
        self.options = OptionFields()
        layout.addWidget(self.options)
        form2 = QFormLayout()
        layout.addLayout(form2)
        self.weights_combo = RefreshingComboBox()
        self.weights_combo.setToolTip("Weights of a trainable model: shipped defaults, your training runs, or a file")
        form2.addRow("Weights", self.weights_combo)
        self.device_combo = QComboBox()
        self.device_combo.addItems(DEVICES)
        self.device_combo.setToolTip("auto: the GPU when there is one, else the CPU")
        form2.addRow("Device", self.device_combo)
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
        self.status = QLabel("Paint a mask, then press Fill.")
        self.status.setWordWrap(True)
        layout.addWidget(self.status)
        layout.addStretch(1)

        # connections
        self.image_combo.currentIndexChanged.connect(self._update_planes_row)
        self.new_mask_button.clicked.connect(self.new_mask)
        self.mask_combo.currentIndexChanged.connect(self._on_mask_changed)
        self.brush_size.valueChanged.connect(self._set_brush_size)
        self.model_combo.about_to_show.connect(self.refresh_models)
        self.model_combo.currentIndexChanged.connect(self._on_model_changed)
        self.weights_combo.about_to_show.connect(self.refresh_weights)
        self.weights_combo.activated.connect(self._on_weights_activated)
        self.fill_button.clicked.connect(self.fill)
        self.cancel_button.clicked.connect(self.cancel)
        self.undo_button.clicked.connect(self.undo)
        store.changed.connect(self.refresh_weights)
        refresh = self.refresh_weights
        self.destroyed.connect(lambda *_: store.changed.disconnect(refresh))
        napari_viewer.dims.events.ndim.connect(self._update_planes_row)

        self.refresh_models()
        self._update_planes_row()
        self._on_mask_changed()

    # -- models and weights ----------------------------------------------------------------
    def refresh_models(self) -> None:
        """List every registered model, keeping the current choice."""
        self.model_combo.set_models(self.registry.infos(), fallback="telea")
        self._on_model_changed()

    def model_names(self) -> list[str]:
        """The model names in the drop-down, in order."""
        return self.model_combo.names()

    def set_model(self, name: str) -> None:
        """Choose model ``name`` (refreshing the list first)."""
        self.refresh_models()
        if not self.model_combo.select(name):
            raise ValueError(f"model {name!r} is not in the list: {self.model_names()}")

    def model_info(self) -> Optional[ModelInfo]:
        """The chosen model's info (None if the list is empty or the model went away)."""
        name = self.model_combo.currentData()
        if name is None or name not in self.registry.names():
            return None
        return self.registry.info(name)

    def _on_model_changed(self, *_args) -> None:
        info = self.model_info()
        if info is None:
            self.model_description.setText("No model installed.")
            self.options.set_options_class(None)
            self.refresh_weights()
            return
        self.model_description.setText(info.description)
        self.model_description.setToolTip(info.source)
        if self.options.options_class is not info.options:
            self.options.set_options_class(info.options)
        self.refresh_weights()

    def refresh_weights(self, *_args) -> None:
        """List the chosen model's known checkpoints (plus Browse…), keeping the current choice."""
        info = self.model_info()
        current = self.weights_combo.currentData()
        self.weights_combo.blockSignals(True)
        self.weights_combo.clear()
        if info is None or not info.trainable:
            self.weights_combo.addItem("not needed", None)
            self.weights_combo.setEnabled(False)
        else:
            self.weights_combo.setEnabled(True)
            checkpoints = store.for_model(info)
            if not checkpoints:
                self.weights_combo.addItem("none yet: train one, or Browse…", None)
            for checkpoint in checkpoints:
                self.weights_combo.addItem(checkpoint.label, str(checkpoint.path))
                self.weights_combo.setItemData(self.weights_combo.count() - 1, str(checkpoint.path), 3)
            self.weights_combo.addItem(BROWSE, BROWSE)
            index = self.weights_combo.findData(current) if current else -1
            self.weights_combo.setCurrentIndex(index if index >= 0 else 0)
        self.weights_combo.blockSignals(False)

    def weights_paths(self) -> list[str]:
        """The checkpoint paths listed for the chosen model."""
        items = [self.weights_combo.itemData(i) for i in range(self.weights_combo.count())]
        return [item for item in items if item and item != BROWSE]

    def set_weights(self, path: str | Path) -> None:
        """Choose a weights file (remembering it)."""
        path = Path(path).expanduser().resolve()
        store.add_file(path)
        self.refresh_weights()
        index = self.weights_combo.findData(str(path))
        if index >= 0:
            self.weights_combo.setCurrentIndex(index)

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
    def _update_planes_row(self, *_args) -> None:
        layer = self.image_combo.value()
        self.planes_row.setEnabled(layer is not None and not layer.multiscale and len(spatial_shape(layer)) > 2)

    def new_mask(self) -> Optional[Labels]:
        """Add an empty Labels layer matching the image, select it and switch to the paint brush."""
        image = self.image_combo.value()
        if image is None:
            show_warning("Open or choose an image first: the mask is made to match it.")
            return None
        if image.multiscale:
            show_warning("Multiscale images cannot be inpainted.")
            return None
        brush = self.brush_size.value()  # adding the layer may select it and show its own brush size
        labels = self.viewer.add_labels(
            new_mask(spatial_shape(image)),
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
        layer = self.mask_combo.value()
        if layer is None:
            raise ValueError("choose a mask layer, or press New mask and paint over what should go")
        if isinstance(layer, Shapes):
            shape = spatial_shape(image)
            return layer.to_labels(labels_shape=shape[-layer.ndim:] if layer.ndim < len(shape) else shape)
        return layer.data

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
        info = self.model_info()
        if info is None:
            raise ValueError("no inpainting model is installed")
        plane = self.current_plane(image) if self.plane_current.isChecked() else None
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
        )

    def fill(self) -> Optional[Job]:
        """Start filling in a worker thread; returns the job (None if the inputs are incomplete)."""
        if self.job is not None and self.job.running:
            return self.job
        try:
            request = self.request()
        except ValueError as error:
            show_error(f"Inpaint: {error}")
            return None
        if self.model_info() is not None and self.model_info().trainable:
            avoid_triton_llvm_clash()  # neural models import torch in the worker
        image = self.image_combo.value()
        in_place = self.result_inplace.isChecked()
        self._started = time.monotonic()
        self.job = Job(
            lambda progress, cancel: run_fill(request, progress, cancel),
            on_progress=self._on_progress,
            on_done=lambda result: self._on_done(image, result, in_place, request.model),
            on_cancelled=self._on_cancelled,
            on_error=self._on_error,
            on_finished=self._on_finished,
            name=f"inpaint {image.name}",
        )
        self.fill_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.progress.setRange(0, 0)  # busy until the first event
        self.status.setText(f"Filling {image.name!r} with {request.model}…")
        self._jobs["fill"] = self.job
        return self.job.start()

    def cancel(self) -> None:
        """Ask the running fill to stop."""
        if self.job is not None and self.job.running:
            self.job.cancel()
            self.status.setText("Cancelling…")

    def _on_progress(self, event: ProgressEvent, _extra: Any) -> None:
        self.progress.setRange(0, max(event.total, 1))
        self.progress.setValue(min(event.step, event.total))
        self.progress.setFormat(f"{event.phase} %v / %m")
        if event.message:
            self.status.setText(f"{event.phase}: {event.message}")

    def _on_done(self, image: Image, result: Any, in_place: bool, model: str) -> None:
        seconds = time.monotonic() - self._started
        self._outcome = "done"
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

