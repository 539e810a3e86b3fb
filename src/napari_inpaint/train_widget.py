"""The "Train inpainting model" dock widget.

The widget gathers a config (a file, the main ``[train]`` fields and the
model's own ``[model]`` options: those that fix the architecture and those
used only in training; the options a fill may change belong to the Inpaint
widget) and hands it to :func:`napari_inpaint.jobs.run_training`,
which :mod:`napari_inpaint._threading` runs in a worker thread. Its data is a
folder of images, or an open image layer with its mask layer
(:mod:`napari_inpaint.layer_training`: the fit path of "learn from this layer
first", :func:`inpaint_models.fit`, with the widget's fields as its settings). Progress events
update the progress bar, the loss plot and a "training preview" image layer;
the finished checkpoint is added to :data:`napari_inpaint.checkpoints.store`,
which puts it in the Inpaint widget's weights list. Stop asks the trainer to
finish its current step and write a checkpoint; closing napari does the same.
"""

from __future__ import annotations

import datetime
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional, Union

from napari.layers import Image, Labels, Shapes
from napari.utils.notifications import show_error, show_info
from qtpy.QtCore import Signal
from qtpy.QtWidgets import (
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from inpaint_models.api_train import TrainSettings, read_config_file
from inpaint_models.contract.datatypes import ProgressEvent
from inpaint_models.contract.errors import InpaintError
from inpaint_models.contract.options import ARCHITECTURE, TRAINING, fields_of_kind
from napari_inpaint._compat import avoid_triton_llvm_clash
from napari_inpaint._threading import Job, load_models, stop_jobs_when_destroyed
from napari_inpaint._widgets import LayerComboBox, LossPlot, ModelComboBox, PathEdit, notify_skipped_plugins
from napari_inpaint.checkpoints import store
from napari_inpaint.jobs import TrainRequest, read_preview, run_training
from napari_inpaint.layer_training import (
    LAYER_RUN_KEYS,
    LayerTrainRequest,
    default_layer_output,
    layer_spatial_shape,
    mask_source,
    run_layer_training,
)
from napari_inpaint.option_form import OptionForm

if TYPE_CHECKING:
    import napari.viewer

PREVIEW_LAYER = "training preview"
DEVICES = ("auto", "cpu", "cuda")
CONFIG_FILTER = "Training configs (*.toml *.yaml *.yml);;All files (*)"
#: the data sources: a folder of images, or an open image layer and its mask
DATA_FOLDER = "folder"
DATA_LAYER = "open layer"
DATA_SOURCES = (DATA_FOLDER, DATA_LAYER)
#: the volume-axis choice meaning "plane by plane"
NO_VOLUME = "none (plane by plane)"


def default_output(model: str) -> Path:
    """A fresh run folder under ``~/napari-inpaint/runs`` for a run started without one."""
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    return Path.home() / "napari-inpaint" / "runs" / f"{model}-{stamp}"


def _duration(seconds: Optional[float]) -> str:
    if seconds is None:
        return "?"
    seconds = int(round(seconds))
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}" if seconds >= 3600 else (
        f"{seconds // 60}:{seconds % 60:02d}"
    )


def describe(event: ProgressEvent) -> str:
    """One status line for a training event: step, losses, speed and time left."""
    parts = [f"{event.phase} {event.step}/{event.total}"]
    if event.losses:
        parts.append(" ".join(f"{name} {value:.4g}" for name, value in event.losses.items()))
    if event.images_per_second is not None:
        parts.append(f"{event.images_per_second:.1f} img/s")
    if event.eta_seconds is not None:
        parts.append(f"ETA {_duration(event.eta_seconds)}")
    if event.message:
        parts.append(event.message)
    return " · ".join(parts)


class TrainWidget(QWidget):
    """Dock widget training any trainable registered model from a folder of images or an open layer.

    ``training_finished`` is emitted with ``"done"``, ``"error"`` (or ``"cancelled"``
    when a run ends without a checkpoint) after each run; ``models_loaded`` once
    the model registry is ready (it is built in a worker thread).
    """

    training_finished = Signal(str)
    models_loaded = Signal()

    def __init__(self, napari_viewer: "napari.viewer.Viewer", registry=None) -> None:
        super().__init__()
        avoid_triton_llvm_clash()  # before the registry imports model plugins (some import torch)
        self.viewer = napari_viewer
        self.registry = None  # set once loaded (see models_loaded)
        self._pending_config: Optional[str] = None
        self._form_model: Optional[str] = None
        self._forms_built = False
        self.job: Optional[Job] = None
        self.checkpoint: Optional[Path] = None
        self._outcome = ""
        self._last_preview: Optional[Path] = None
        self._started = 0.0
        self._jobs: dict[str, Optional[Job]] = {"train": None}
        self._volume_axes_for: Optional[tuple[int, ...]] = None  # the image shape the volume axes list is for
        # napari closing deletes the dock: stop the run, which writes a checkpoint first
        stop_jobs_when_destroyed(self, self._jobs, timeout=120)
        defaults = TrainSettings()

        layout = QVBoxLayout(self)
        form = QFormLayout()
        layout.addLayout(form)
        self.model_combo = ModelComboBox()
        self.model_combo.setToolTip("Models that can be trained (classical fills need no training)")
        form.addRow("Model", self.model_combo)
        self.config_path = PathEdit(folder=False, file_filter=CONFIG_FILTER, placeholder="optional .toml / .yaml")
        self.config_path.setToolTip("A config file; its values fill the fields below, which override it")
        form.addRow("Config file", self.config_path)
        self.data_source = QComboBox()
        self.data_source.addItems(DATA_SOURCES)
        self.data_source.setToolTip(
            "folder: a folder of training images. open layer: an image layer (2D or a stack) and its mask: "
            "the model learns to fill holes like the mask's from the layer's known pixels (as 'learn from "
            "this layer first' in the Inpaint widget); the mask's pixels are never trained on"
        )
        form.addRow("Data", self.data_source)
        self.data_folder = PathEdit(folder=True, placeholder="folder of training images")
        self.data_folder.setToolTip("Searched recursively for png / jpg / tif images")
        form.addRow("Data folder", self.data_folder)
        self.image_layer = LayerComboBox(napari_viewer, [Image])
        self.image_layer.setToolTip("The image layer to learn from (2D, RGB or a stack); it is read, never changed")
        form.addRow("Image layer", self.image_layer)
        self.mask_layer = MaskLayerComboBox(napari_viewer)
        self.mask_layer.setToolTip(
            "Its holes (Labels, Shapes or an Image; non-zero = unknown): never trained on, and the artificial "
            "holes the model learns from are drawn like them. Empty: no holes, boxes a quarter of the crop side"
        )
        form.addRow("Mask layer", self.mask_layer)
        self.volume_axis_combo = QComboBox()
        self.volume_axis_combo.setToolTip(
            "For a stack: the axis whose neighbouring planes are context for models that read them "
            "(stack-unet); fill with the same choice ('use neighbouring planes' fills along the last stack axis)"
        )
        form.addRow("Volume axis", self.volume_axis_combo)
        self._form = form
        self.image_size = _spin(8, 4096, defaults.image_size, " px")
        form.addRow("Image size", self.image_size)
        self.batch_size = _spin(1, 4096, defaults.batch_size)
        form.addRow("Batch size", self.batch_size)
        self.steps = _spin(1, 100_000_000, defaults.steps)
        form.addRow("Steps", self.steps)
        self.learning_rate = QLineEdit(f"{defaults.learning_rate:g}")
        form.addRow("Learning rate", self.learning_rate)
        self.preview_every = _spin(0, 100_000_000, defaults.preview_every)
        self.preview_every.setToolTip("Steps between preview grids (0 = none)")
        form.addRow("Preview every", self.preview_every)
        self.device_combo = QComboBox()
        self.device_combo.addItems(DEVICES)
        form.addRow("Device", self.device_combo)
        self.output_folder = PathEdit(folder=True, placeholder="new folder under ~/napari-inpaint/runs")
        self.output_folder.setToolTip("Run folder: checkpoints, previews and the metrics log go here")
        form.addRow("Output folder", self.output_folder)

        self.options_toggle = QToolButton()
        self.options_toggle.setText("Model options")
        self.options_toggle.setCheckable(True)
        self.options_toggle.setArrowType(_arrow(False))
        self.options_toggle.setToolButtonStyle(_text_beside_icon())
        layout.addWidget(self.options_toggle)
        self.options_panel = QWidget()
        panel = QVBoxLayout(self.options_panel)
        panel.setContentsMargins(0, 0, 0, 0)
        self.architecture_heading = QLabel("Architecture (fixed in the checkpoint this run writes)")
        self.architecture_options = OptionForm()
        self.training_heading = QLabel("Training only")
        self.training_options = OptionForm()
        for heading in (self.architecture_heading, self.training_heading):
            heading.setStyleSheet("color: #a0a4aa")
        for widget in (self.architecture_heading, self.architecture_options, self.training_heading,
                       self.training_options):
            panel.addWidget(widget)
        self.options_panel.setVisible(False)
        layout.addWidget(self.options_panel)

        buttons = QHBoxLayout()
        self.start_button = QPushButton("Start")
        self.stop_button = QPushButton("Stop")
        self.resume_button = QPushButton("Resume")
        self.stop_button.setEnabled(False)
        self.resume_button.setEnabled(False)
        self.stop_button.setToolTip("Finish the current step, write a checkpoint and stop")
        self.resume_button.setToolTip("Continue from the newest checkpoint in the output folder")
        for button in (self.start_button, self.stop_button, self.resume_button):
            buttons.addWidget(button)
        layout.addLayout(buttons)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress.setFormat("step %v / %m")
        layout.addWidget(self.progress)
        self.status = QLabel("Choose a data folder (or an open layer) and press Start.")
        self.status.setWordWrap(True)
        layout.addWidget(self.status)
        self.loss_plot = LossPlot()
        layout.addWidget(self.loss_plot)
        layout.addStretch(1)

        self.model_combo.about_to_show.connect(self.refresh_models)
        self.model_combo.currentIndexChanged.connect(self._on_model_changed)
        self.config_path.changed.connect(self.load_config_file)
        self.data_source.currentIndexChanged.connect(self._on_data_source_changed)
        self.image_layer.currentIndexChanged.connect(self._update_volume_axes)
        self._on_data_source_changed()
        self.output_folder.edit.textChanged.connect(self._update_buttons)
        self.options_toggle.toggled.connect(self._toggle_options)
        self.start_button.clicked.connect(lambda: self.start(resume=False))
        self.resume_button.clicked.connect(lambda: self.start(resume=True))
        self.stop_button.clicked.connect(self.stop)
        if registry is not None:
            self._on_registry(registry)
        else:  # building the registry imports every model plugin: never on the GUI thread
            self.model_combo.show_loading()
            self._update_buttons()
            load_models(self._on_registry, self._on_registry_error)

    # -- model ------------------------------------------------------------------------------
    @property
    def loaded(self) -> bool:
        """Whether the model registry is ready."""
        return self.registry is not None

    def _on_registry(self, registry) -> None:
        self.registry = registry
        notify_skipped_plugins(getattr(registry, "failed", {}))
        self.refresh_models()
        if self._pending_config:
            self.load_config_file(self._pending_config)
        self.models_loaded.emit()

    def _on_registry_error(self, error: BaseException) -> None:
        self.model_combo.clear()
        self.status.setText(f"The models could not be loaded: {error}")
        show_error(f"Train: the models could not be loaded: {type(error).__name__}: {error}")

    def refresh_models(self) -> None:
        """List every registered trainable model, keeping the current choice."""
        if self.registry is None:
            return
        self.model_combo.set_models([info for info in self.registry.infos() if info.trainable])
        self._on_model_changed()

    def model_names(self) -> list[str]:
        """The trainable model names listed."""
        return self.model_combo.names()

    def set_model(self, name: str) -> None:
        """Choose model ``name``."""
        self.refresh_models()
        if not self.model_combo.select(name):
            raise ValueError(f"model {name!r} is not trainable or not installed: {self.model_names()}")

    def _model_info(self):
        name = self.model_combo.currentData()
        registry = self.registry
        return registry.info(name) if registry is not None and name in registry.names() else None

    def _on_model_changed(self, *_args) -> None:
        info = self._model_info()
        if info is None or info.name != self._form_model:
            self._forms_built = False  # built when shown or read: magicgui widgets take ~5 ms each
        if self.options_toggle.isChecked():
            self._build_forms()
        self._update_buttons()
        if info is None and self.registry is not None:
            self.status.setText("No trainable model is installed.")

    def _build_forms(self) -> None:
        """Fill the two option forms with the chosen model's architecture and training options."""
        if self._forms_built:
            return
        info = self._model_info()
        self._form_model = info.name if info is not None else None
        if info is None:
            self.architecture_options.set_fields(None, {})
            self.training_options.set_fields(None, {})
        else:
            self.architecture_options.set_fields(info.options, fields_of_kind(info, ARCHITECTURE))
            self.training_options.set_fields(info.options, fields_of_kind(info, TRAINING))
        self.architecture_heading.setVisible(bool(self.architecture_options.names()))
        self.training_heading.setVisible(bool(self.training_options.names()))
        self._forms_built = True

    def option_names(self) -> list[str]:
        """The ``[model]`` options shown: architecture, then training."""
        self._build_forms()
        return self.architecture_options.names() + self.training_options.names()

    def _option_form(self, name: str) -> OptionForm:
        self._build_forms()
        for form in (self.architecture_options, self.training_options):
            if name in form.names():
                return form
        raise KeyError(f"no option {name!r} in the [model] fields; they are {self.option_names()}")

    def option_widget(self, name: str):
        """The magicgui widget of ``[model]`` option ``name``."""
        return self._option_form(name).widget(name)

    def set_option(self, name: str, value: Any) -> None:
        """Set one ``[model]`` option field."""
        self._option_form(name).set_value(name, value)

    def option_values(self, only_changed: bool = True) -> dict[str, Any]:
        """The ``[model]`` options as ``{name: value}`` (only those changed from the defaults, by default)."""
        self._build_forms()
        return {**self.architecture_options.values(only_changed), **self.training_options.values(only_changed)}

    def _toggle_options(self, shown: bool) -> None:
        if shown:
            self._build_forms()
        self.options_panel.setVisible(shown)
        self.options_toggle.setArrowType(_arrow(shown))

    # -- data source -----------------------------------------------------------------------------
    def data_mode(self) -> str:
        """``"folder"`` or ``"open layer"``: where the training data comes from."""
        return self.data_source.currentText()

    def set_data_mode(self, mode: str) -> None:
        """Choose the data source, ``"folder"`` or ``"open layer"``."""
        if mode not in DATA_SOURCES:
            raise ValueError(f"data source must be one of {DATA_SOURCES}, got {mode!r}")
        self.data_source.setCurrentText(mode)

    def _on_data_source_changed(self, *_args) -> None:
        layer = self.data_mode() == DATA_LAYER
        self._set_row_visible(self.data_folder, not layer)
        for widget in (self.image_layer, self.mask_layer, self.volume_axis_combo):
            self._set_row_visible(widget, layer)
        self._update_volume_axes()

    def _set_row_visible(self, field: QWidget, visible: bool) -> None:
        label = self._form.labelForField(field)
        if label is not None:
            label.setVisible(visible)
        field.setVisible(visible)

    def _update_volume_axes(self, *_args) -> None:
        """List the chosen image's stack axes (the last one by default), or none for a 2D image."""
        image = self.image_layer.value()
        shape = layer_spatial_shape(image) if image is not None and not image.multiscale else ()
        if self._volume_axes_for == shape:
            return
        self._volume_axes_for = shape
        combo = self.volume_axis_combo
        combo.blockSignals(True)
        combo.clear()
        combo.addItem(NO_VOLUME, None)
        for axis in range(len(shape) - 2):
            combo.addItem(f"axis {axis} ({shape[axis]} planes)", axis)
        combo.setCurrentIndex(combo.count() - 1)  # the innermost stack axis, as the Inpaint widget fills
        combo.blockSignals(False)
        combo.setEnabled(combo.count() > 1)

    def volume_axis(self) -> Optional[int]:
        """The chosen image axis whose neighbouring planes are context, or None (plane by plane, or 2D)."""
        self._update_volume_axes()
        data = self.volume_axis_combo.currentData()
        return int(data) if data is not None else None

    # -- config --------------------------------------------------------------------------------
    def load_config_file(self, path: str = "") -> None:
        """Show a config file's values in the fields (the fields then override the file)."""
        path = path or self.config_path.text()
        if not path:
            return
        if self.registry is None:  # the model list is still loading: apply the file once it is there
            self._pending_config = path
            return
        self._pending_config = None
        try:
            data = read_config_file(path)
        except InpaintError as error:
            show_error(f"Train: {error}")
            return
        model = data.get("model", {}) if isinstance(data.get("model"), dict) else {}
        train = data.get("train", {}) if isinstance(data.get("train"), dict) else {}
        if model.get("name") in self.model_names():
            self.set_model(model["name"])
        for name in self.option_names():
            if name in model:
                self.set_option(name, model[name])
        folders = train.get("data")
        if isinstance(folders, list) and folders:
            folders = folders[0]
        if isinstance(folders, str):
            self.data_folder.edit.setText(folders)
        for key, spin in (("image_size", self.image_size), ("batch_size", self.batch_size), ("steps", self.steps),
                          ("preview_every", self.preview_every)):
            if isinstance(train.get(key), int):
                spin.setValue(train[key])
        if isinstance(train.get("learning_rate"), (int, float)):
            self.learning_rate.setText(f"{train['learning_rate']:g}")
        if isinstance(train.get("device"), str) and train["device"] in DEVICES:
            self.device_combo.setCurrentText(train["device"])
        if isinstance(train.get("output"), str):
            self.output_folder.edit.setText(train["output"])

    def request(self, resume: bool = False) -> Union[TrainRequest, LayerTrainRequest]:
        """The run the fields describe (the config file, overridden by every field).

        A :class:`TrainRequest` for a folder of images, a
        :class:`~napari_inpaint.layer_training.LayerTrainRequest` for an open layer.

        Raises:
            ValueError: no model, a model that cannot be trained, a field that is
                not a valid value; for an open layer: no image layer, a
                multiscale one, a mask layer that does not match the image, or an
                image size larger than the layer's planes.
        """
        model = self.model_combo.currentData()
        if not model:
            raise ValueError("no trainable model is installed")
        info = self._model_info()
        if info is not None and not info.trainable:
            raise ValueError(f"model {model!r} cannot be trained (a classical fill learns nothing)")
        try:
            learning_rate = float(self.learning_rate.text().replace(",", "."))
        except ValueError:
            raise ValueError(f"learning rate must be a number, got {self.learning_rate.text()!r}") from None
        if self.data_mode() == DATA_LAYER:
            return self._layer_request(model, learning_rate, resume)
        output = self.output_folder.text()
        if not output:
            output = str(default_output(model))
            self.output_folder.edit.setText(output)  # Resume continues in the same folder
        config = Path(self.config_path.text()).expanduser() if self.config_path.text() else None
        overrides: dict[str, Any] = {"model.name": model}
        # over a file, every field wins (a field set back to its default must still override the file)
        options = self.option_values(only_changed=config is None)
        overrides.update({f"model.{name}": _plain(value) for name, value in options.items()})
        if self.data_folder.text():
            overrides["train.data"] = [self.data_folder.text()]
        overrides.update({
            "train.image_size": self.image_size.value(),
            "train.batch_size": self.batch_size.value(),
            "train.steps": self.steps.value(),
            "train.learning_rate": learning_rate,
            "train.preview_every": self.preview_every.value(),
            "train.device": self.device_combo.currentText(),
            "train.output": output,
        })
        if resume:
            overrides["train.resume"] = True
        return TrainRequest(config=config, overrides=overrides, registry=self.registry)

    def _layer_request(self, model: str, learning_rate: float, resume: bool) -> LayerTrainRequest:
        """The "open layer" run: shapes are checked here, the layer's data is read in the worker."""
        image = self.image_layer.value()
        if image is None:
            raise ValueError("no image layer: open an image (or choose one) to train on, or choose 'folder' data")
        if image.multiscale:
            raise ValueError(f"{image.name!r} is a multiscale image; training needs a single-scale layer")
        shape = layer_spatial_shape(image)
        if len(shape) < 2:
            raise ValueError(f"{image.name!r} has shape {tuple(image.data.shape)}; an image needs (H, W) at least")
        mask_layer = self.mask_layer.value()
        if mask_layer is not None and mask_layer == image:
            raise ValueError(f"the mask layer cannot be the image {image.name!r} itself")
        mask = mask_source(mask_layer, shape)
        size = self.image_size.value()
        if size > min(shape[-2:]):
            raise ValueError(f"Image size {size} px is larger than the planes of {image.name!r} "
                             f"({shape[-2]} x {shape[-1]}); choose at most {min(shape[-2:])} px")
        config = Path(self.config_path.text()).expanduser() if self.config_path.text() else None
        options: dict[str, Any] = {}
        train: dict[str, Any] = {}
        if config is not None:  # the file's values, under the fields (which were filled from it)
            try:
                data = read_config_file(config)
            except InpaintError as error:
                raise ValueError(str(error)) from None
            if isinstance(data.get("model"), dict):
                options.update({k: v for k, v in data["model"].items() if k != "name"})
            if isinstance(data.get("train"), dict):
                train.update({k: v for k, v in data["train"].items() if k not in LAYER_RUN_KEYS})
        options.update({name: _plain(value) for name, value in self.option_values(only_changed=False).items()})
        train.update({
            "image_size": size,
            "batch_size": self.batch_size.value(),
            "learning_rate": learning_rate,
            "preview_every": self.preview_every.value(),
        })
        output = self.output_folder.text()
        if not output:
            output = str(default_layer_output(model, image.name))
            self.output_folder.edit.setText(output)  # Resume continues in the same folder
        return LayerTrainRequest(
            image=image.data,
            mask=mask,
            rgb=bool(image.rgb),
            model=model,
            output=Path(output).expanduser(),
            steps=self.steps.value(),
            volume_axis=self.volume_axis(),
            device=self.device_combo.currentText(),
            options=options,
            train=train,
            resume=resume,
            layer_name=image.name,
            registry=self.registry,
        )

    # -- running -------------------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        """Whether a training run is in progress."""
        return self.job is not None and self.job.running

    def start(self, resume: bool = False) -> Optional[Job]:
        """Start (or resume) training in a worker thread; returns the job, None if the fields are incomplete."""
        if self.running:
            return self.job
        try:
            request = self.request(resume=resume)
        except ValueError as error:
            show_error(f"Train: {error}")
            return None
        avoid_triton_llvm_clash()  # before the worker imports torch
        if isinstance(request, LayerTrainRequest):
            output, model = request.output, request.model
            work = lambda progress, cancel: run_layer_training(request, progress, cancel)
        else:
            output = Path(str(request.overrides["train.output"])).expanduser()
            model = str(request.overrides["model.name"])
            work = lambda progress, cancel: run_training(request, progress, cancel)
        store.add_folder(output)  # its checkpoints show up in the Inpaint widget from now on
        if not resume:
            self.loss_plot.clear()
        self._last_preview = None
        self._outcome = ""
        self._started = time.monotonic()
        self.job = Job(
            work,
            on_progress=self._on_progress,
            on_done=self._on_done,
            on_cancelled=self._on_cancelled,
            on_error=self._on_error,
            on_finished=self._on_finished,
            extra=self._load_preview,
            interval=0.1,
            name=f"train {model}",
        )
        self._jobs["train"] = self.job
        self.start_button.setEnabled(False)
        self.resume_button.setEnabled(False)
        self.stop_button.setEnabled(True)
        self.progress.setRange(0, 0)  # busy until the first step (torch import, data scan)
        source = f" on {request.layer_name!r}" if isinstance(request, LayerTrainRequest) else ""
        self.status.setText(("Resuming" if resume else "Starting") + f" {model}{source}…")
        return self.job.start()

    def stop(self) -> None:
        """Ask the run to stop; the trainer writes a checkpoint first."""
        if self.running:
            self.job.cancel()
            self.stop_button.setEnabled(False)
            self.status.setText("Stopping: writing a checkpoint…")

    def _load_preview(self, event: ProgressEvent) -> Any:
        """(worker thread) Read a new preview grid, so the GUI thread only swaps the layer's data."""
        path = event.preview_path
        if path is None or path == self._last_preview:
            return None
        self._last_preview = path
        return read_preview(path)

    def _on_progress(self, event: ProgressEvent, preview: Any) -> None:
        if event.total > 0:
            self.progress.setRange(0, event.total)
            self.progress.setValue(min(event.step, event.total))
            self.progress.setFormat(f"{event.phase} %v / %m")
        self.status.setText(describe(event))
        if event.phase == "train" and event.losses:
            self.loss_plot.add(event.step, event.losses)
        if preview is not None:
            self._show_preview(preview)
        if event.checkpoint_path is not None and Path(event.checkpoint_path) != self.checkpoint:
            self.checkpoint = Path(event.checkpoint_path)  # events repeat the latest one: list it once
            store.add_file(event.checkpoint_path)

    def _show_preview(self, preview: Any) -> None:
        if PREVIEW_LAYER in self.viewer.layers:
            layer = self.viewer.layers[PREVIEW_LAYER]
            if layer.data.shape == preview.shape:
                layer.data = preview
                return
            self.viewer.layers.remove(layer)
        self.viewer.add_image(preview, name=PREVIEW_LAYER, rgb=preview.ndim == 3 and preview.shape[-1] in (3, 4))

    def _on_done(self, checkpoint: Any) -> None:
        self._outcome = "done"
        seconds = time.monotonic() - self._started
        self.checkpoint = Path(checkpoint)
        store.add_file(self.checkpoint)
        stopped = self.job is not None and self.job.cancel_event.is_set()
        verb = "Stopped" if stopped else "Finished"
        self.status.setText(f"{verb} after {_duration(seconds)}; checkpoint: {self.checkpoint}")
        show_info(f"Training {verb.lower()}: checkpoint {self.checkpoint.name} is in the Inpaint widget's weights list")

    def _on_cancelled(self) -> None:
        self._outcome = "cancelled"
        self.status.setText("Training stopped before the first checkpoint.")

    def _on_error(self, error: BaseException) -> None:
        self._outcome = "error"
        message = str(error) if isinstance(error, InpaintError) else f"{type(error).__name__}: {error}"
        self.status.setText(f"Training failed: {message}")
        show_error(f"Training failed: {message}")

    def _update_buttons(self, *_args) -> None:
        idle = not self.running
        models = bool(self.model_names())
        self.start_button.setEnabled(idle and models)
        self.resume_button.setEnabled(idle and models and bool(self.output_folder.text()))
        self.stop_button.setEnabled(not idle and not self.job.cancel_event.is_set())

    def _on_finished(self) -> None:
        self._update_buttons()
        if self.progress.maximum() == 0:
            self.progress.setRange(0, 1)
        self.training_finished.emit(self._outcome)

    def showEvent(self, event) -> None:
        """Refresh the model list whenever the dock is shown (plugins may have been installed)."""
        self.refresh_models()
        super().showEvent(event)


class MaskLayerComboBox(LayerComboBox):
    """The mask layers (Labels, Shapes, Image) and an empty item for "no mask".

    The empty item is chosen only by the user: while it is not, the first
    Labels or Shapes layer (the top one, as napari lists them) is preselected,
    so an image opened with its mask trains with that mask.
    """

    def __init__(self, viewer, parent=None) -> None:
        super().__init__(viewer, [Labels, Shapes, Image], allow_none=True, parent=parent)
        self.activated.connect(self._on_activated)

    def _on_activated(self, _index: int) -> None:
        self._none_chosen = self.currentText() == ""

    def refresh(self, *_args) -> None:
        """Rebuild the list; with nothing chosen (and "no mask" not chosen by the user) pick a Labels / Shapes layer."""
        super().refresh()
        if self.currentText() or getattr(self, "_none_chosen", False):
            return
        for layer in reversed(self._viewer.layers):
            if isinstance(layer, (Labels, Shapes)):
                self.setCurrentIndex(self.findText(layer.name))
                return

    def set_value(self, layer) -> None:
        """Choose ``layer``, or None for no mask."""
        self._none_chosen = layer is None
        if layer is None:
            self.refresh()
            self.setCurrentIndex(0)
        else:
            super().set_value(layer)


def _plain(value: Any) -> Any:
    """A config value as TOML would hold it (paths as strings)."""
    return str(value) if isinstance(value, Path) else value


def _spin(low: int, high: int, value: int, suffix: str = "") -> QSpinBox:
    spin = QSpinBox()
    spin.setRange(low, high)
    spin.setValue(value)
    spin.setSuffix(suffix)
    return spin


def _arrow(expanded: bool):
    from qtpy.QtCore import Qt

    return Qt.ArrowType.DownArrow if expanded else Qt.ArrowType.RightArrow


def _text_beside_icon():
    from qtpy.QtCore import Qt

    return Qt.ToolButtonStyle.ToolButtonTextBesideIcon

