"""The "Train inpainting model" dock widget.

The widget gathers a config (a file, the main ``[train]`` fields, built from the
trainer's ``TrainSettings`` with magicgui, and the model's own ``[model]``
options: those that fix the architecture and those used only in training; the
options a fill may change belong to the Inpaint widget) and hands it to
:func:`napari_inpaint.jobs.run_training`, which :mod:`napari_inpaint._threading`
runs in a worker thread. Its data is a folder of images, or an open image layer
with its mask layer (:mod:`napari_inpaint.train_data`; the run is
:mod:`napari_inpaint.layer_training`: the fit path of "learn from this layer
first", :func:`inpaint_models.fit`, with the widget's fields as its settings).
Progress events update the progress bar, the loss plot and a "training preview"
image layer; the finished checkpoint is added to
:data:`napari_inpaint.checkpoints.store`, which puts it in the Inpaint widget's
weights list. Stop asks the trainer to finish its current step and write a
checkpoint; closing napari does the same.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional, Union

from napari.utils.notifications import show_error, show_info
from qtpy.QtCore import Signal
from qtpy.QtWidgets import QFormLayout, QHBoxLayout, QPushButton, QVBoxLayout, QWidget

from inpaint_models.api_train import read_config_file
from inpaint_models.contract.datatypes import ProgressEvent
from inpaint_models.contract.errors import InpaintError
from napari_inpaint._compat import avoid_triton_llvm_clash
from napari_inpaint._dock import (
    HoldsJobSlot,
    JobSlot,
    PreviewReader,
    ProgressStatus,
    error_text,
    load_registry,
    short_dock_title,
    show_preview,
)
from napari_inpaint._threading import Job, JobCallbacks
from napari_inpaint._widgets import LossPlot, ModelComboBox, PathEdit
from napari_inpaint.checkpoints import store
from napari_inpaint.jobs import TrainRequest, run_training
from napari_inpaint.layer_training import LayerTrainRequest, default_layer_output, run_layer_training
from napari_inpaint.messages import clock_duration, describe
from napari_inpaint.train_config import config_file_sections, default_output, plain, show_config
from napari_inpaint.train_data import DATA_LAYER, DataPanel
from napari_inpaint.train_options import ModelOptionsPanel, settings_fields

if TYPE_CHECKING:
    import napari.viewer

PREVIEW_LAYER = "training preview"
#: the dock's tab (napari's own name for it, "Train inpainting model (napari-inpaint)", is cut short in a tab)
DOCK_TITLE = "Train"
CONFIG_FILTER = "Training configs (*.toml *.yaml *.yml);;All files (*)"
#: the dock's attribute for each ``[train]`` field's widget (Qt's own: ``setValue``, ``setText``, ``setCurrentText``)
FIELD_ATTRIBUTES = {"image_size": "image_size", "batch_size": "batch_size", "steps": "steps",
                    "learning_rate": "learning_rate", "preview_every": "preview_every", "device": "device_combo"}


class TrainWidget(HoldsJobSlot, QWidget):
    """Dock widget training any trainable registered model from a folder of images or an open layer.

    ``training_finished`` is emitted with ``"done"``, ``"error"`` (or ``"cancelled"``
    when a run ends without a checkpoint) after each run; ``models_loaded`` once
    the model registry is ready (it is built in a worker thread).
    """

    training_finished = Signal(str)
    models_loaded = Signal()

    def __init__(self, napari_viewer: "napari.viewer.Viewer", registry=None) -> None:
        super().__init__()
        self.viewer = napari_viewer
        self.registry = None  # set once loaded (see models_loaded)
        self._pending_config: Optional[str] = None
        self.checkpoint: Optional[Path] = None
        self._outcome = ""
        self._started = 0.0
        # napari closing deletes the dock: stop the run, which writes a checkpoint first
        self.slot = JobSlot(self, timeout=120)
        layout = QVBoxLayout(self)
        self._fields(layout)
        self.model_options = ModelOptionsPanel(layout)
        self.options_toggle = self.model_options.options_toggle
        self.architecture_options = self.model_options.architecture_options  # fixed in the checkpoint
        self.training_options = self.model_options.training_options  # used only in training
        self._run_rows(layout)
        self._connect()
        short_dock_title(self, DOCK_TITLE)
        load_registry("Train", self.model_combo, self._on_registry, self.status, registry)
        self._update_buttons()

    def _fields(self, layout: QVBoxLayout) -> None:
        form = QFormLayout()
        layout.addLayout(form)
        self.model_combo = ModelComboBox()
        self.model_combo.setToolTip("Models that can be trained (classical fills need no training)")
        form.addRow("Model", self.model_combo)
        self.config_path = PathEdit(folder=False, file_filter=CONFIG_FILTER, placeholder="optional .toml / .yaml")
        self.config_path.setToolTip("A config file; its values fill the fields below, which override it")
        form.addRow("Config file", self.config_path)
        self.data = DataPanel(self.viewer, form, self)
        self.data_source, self.data_folder = self.data.data_source, self.data.data_folder
        self.image_layer, self.mask_layer = self.data.image_layer, self.data.mask_layer
        self.volume_axis_combo = self.data.volume_axis_combo
        self.settings = settings_fields(form)
        for name, attribute in FIELD_ATTRIBUTES.items():
            setattr(self, attribute, self.settings.widget(name).native)
        self.output_folder = PathEdit(folder=True, placeholder="new folder in your data folder's runs/")
        self.output_folder.setToolTip("Run folder: checkpoints, previews and the metrics log go here")
        form.addRow("Output folder", self.output_folder)

    def _run_rows(self, layout: QVBoxLayout) -> None:
        buttons = QHBoxLayout()
        self.start_button = QPushButton("Start")
        self.stop_button = QPushButton("Stop")
        self.resume_button = QPushButton("Resume")
        self.stop_button.setToolTip("Finish the current step, write a checkpoint and stop")
        self.resume_button.setToolTip("Continue from the newest checkpoint in the output folder")
        for button in (self.start_button, self.stop_button, self.resume_button):
            buttons.addWidget(button)
        layout.addLayout(buttons)
        self.line = ProgressStatus(layout, "Choose a data folder (or an open layer) and press Start.", "step %v / %m")
        self.progress, self.status = self.line.progress, self.line.status
        self._show_planned_steps()
        self.loss_plot = LossPlot()
        layout.addWidget(self.loss_plot)
        layout.addStretch(1)

    def _connect(self) -> None:
        self.model_combo.about_to_show.connect(self.refresh_models)
        self.model_combo.currentIndexChanged.connect(self._on_model_changed)
        self.config_path.changed.connect(self.load_config_file)
        self.output_folder.edit.textChanged.connect(self._update_buttons)
        self.settings.widget("steps").changed.connect(self._show_planned_steps)
        self.start_button.clicked.connect(lambda: self.start(resume=False))
        self.resume_button.clicked.connect(lambda: self.start(resume=True))
        self.stop_button.clicked.connect(self.stop)

    # -- model ------------------------------------------------------------------------------
    @property
    def loaded(self) -> bool:
        """Whether the model registry is ready."""
        return self.registry is not None

    def _on_registry(self, registry) -> None:
        self.registry = registry
        self.refresh_models()
        if self._pending_config:
            self.load_config_file(self._pending_config)
        self.models_loaded.emit()

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
        self.model_options.show_model(info)
        self._update_buttons()
        if info is None and self.registry is not None:
            self.status.setText("No trainable model is installed.")

    # -- [model] options (see ModelOptionsPanel) ---------------------------------------------------
    def option_names(self) -> list[str]:
        """The ``[model]`` options shown: architecture, then training."""
        return self.model_options.names()

    def option_widget(self, name: str):
        """The magicgui widget of ``[model]`` option ``name``."""
        return self.model_options.form_of(name).widget(name)

    def set_option(self, name: str, value: Any) -> None:
        """Set one ``[model]`` option field."""
        self.model_options.form_of(name).set_value(name, value)

    def option_values(self, only_changed: bool = True) -> dict[str, Any]:
        """The ``[model]`` options as ``{name: value}`` (only those changed from the defaults, by default)."""
        return self.model_options.values(only_changed)

    # -- data source (see DataPanel) ---------------------------------------------------------------
    def data_mode(self) -> str:
        """``"folder"`` or ``"open layer"``: where the training data comes from."""
        return self.data.mode()

    def set_data_mode(self, mode: str) -> None:
        """Choose the data source, ``"folder"`` or ``"open layer"``."""
        self.data.set_mode(mode)

    def volume_axis(self) -> Optional[int]:
        """The chosen image axis whose neighbouring planes are context, or None (plane by plane, or 2D)."""
        return self.data.volume_axis()

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
        show_config(self, data)

    def _settings(self) -> dict[str, Any]:
        """The ``[train]`` fields as ``{name: value}``; ValueError for a number that is not one."""
        values = self.settings.values(only_changed=False)
        for name, value in values.items():
            if isinstance(value, str) and name != "device":
                label = self.settings.label(name).lower()
                raise ValueError(f"{label} must be a number, got {value!r}")
        return values

    def request(self, resume: bool = False) -> Union[TrainRequest, LayerTrainRequest]:
        """The run the fields describe (the config file, overridden by every field).

        A :class:`TrainRequest` for a folder of images, a
        :class:`~napari_inpaint.layer_training.LayerTrainRequest` for an open layer.

        Raises:
            ValueError: no model, a model that cannot be trained, a field that is
                not a valid value; for an open layer: see :meth:`DataPanel.layer_inputs`.
        """
        model = self.model_combo.currentData()
        if not model:
            raise ValueError("no trainable model is installed")
        info = self._model_info()
        if info is not None and not info.trainable:
            raise ValueError(f"model {model!r} cannot be trained (a classical fill learns nothing)")
        settings = self._settings()
        if self.data_mode() == DATA_LAYER:
            return self._layer_request(model, settings, resume)
        output = self.output_folder.text()
        if not output:
            output = str(default_output(model))
            self.output_folder.edit.setText(output)  # Resume continues in the same folder
        config = Path(self.config_path.text()).expanduser() if self.config_path.text() else None
        overrides: dict[str, Any] = {"model.name": model}
        # over a file, every field wins (a field set back to its default must still override the file)
        options = self.option_values(only_changed=config is None)
        overrides.update({f"model.{name}": plain(value) for name, value in options.items()})
        if self.data_folder.text():
            overrides["train.data"] = [self.data_folder.text()]
        overrides.update({f"train.{name}": value for name, value in settings.items()})
        overrides["train.output"] = output
        if resume:
            overrides["train.resume"] = True
        return TrainRequest(config=config, overrides=overrides, registry=self.registry)

    def _layer_request(self, model: str, settings: dict[str, Any], resume: bool) -> LayerTrainRequest:
        """The "open layer" run: shapes are checked here, the layer's data is read in the worker."""
        image, mask = self.data.layer_inputs(settings["image_size"])
        options, train = config_file_sections(self.config_path.text())
        options.update({name: plain(value) for name, value in self.option_values(only_changed=False).items()})
        train.update({name: value for name, value in settings.items() if name not in ("steps", "device")})
        output = self.output_folder.text()
        if not output:
            output = str(default_layer_output(model, image.name))
            self.output_folder.edit.setText(output)  # Resume continues in the same folder
        return LayerTrainRequest(
            image=image.data, mask=mask, rgb=bool(image.rgb), model=model, output=Path(output).expanduser(),
            steps=settings["steps"], volume_axis=self.volume_axis(), device=settings["device"], options=options,
            train=train, resume=resume, layer_name=image.name, registry=self.registry,
        )

    # -- running -------------------------------------------------------------------------------------
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
            output, model, source = request.output, request.model, f" on {request.layer_name!r}"
            work = lambda progress, cancel: run_layer_training(request, progress, cancel)  # noqa: E731
        else:
            output = Path(str(request.overrides["train.output"])).expanduser()
            model, source = str(request.overrides["model.name"]), ""
            work = lambda progress, cancel: run_training(request, progress, cancel)  # noqa: E731
        store.add_folder(output)  # its checkpoints show up in the Inpaint widget from now on
        if not resume:
            self.loss_plot.clear()
        self._outcome, self._started = "", time.monotonic()
        job = Job(work, JobCallbacks(on_progress=self._on_progress, on_done=self._on_done,
                                     on_cancelled=self._on_cancelled, on_error=self._on_error,
                                     on_finished=self._on_finished),
                  extra=PreviewReader(), interval=0.1, name=f"train {model}")
        self.slot.start(job)
        self._update_buttons()
        self.line.busy("step %v / %m")  # busy until the first step (torch import, data scan)
        self.status.setText(("Resuming" if resume else "Starting") + f" {model}{source}…")
        return job

    def stop(self) -> None:
        """Ask the run to stop; the trainer writes a checkpoint first."""
        if self.running:
            self.job.cancel()
            self.stop_button.setEnabled(False)
            self.status.setText("Stopping: writing a checkpoint…")

    def _on_progress(self, event: ProgressEvent, preview: Any) -> None:
        if event.total > 0:
            self.line.steps(event.step, event.total, f"{event.phase} %v / %m")
        self.status.setText(describe(event))
        if event.phase == "train" and event.losses:
            self.loss_plot.add(event.step, event.losses)
        if preview is not None:
            show_preview(self.viewer, PREVIEW_LAYER, preview)
        if event.checkpoint_path is not None and Path(event.checkpoint_path) != self.checkpoint:
            self.checkpoint = Path(event.checkpoint_path)  # events repeat the latest one: list it once
            store.add_file(event.checkpoint_path)

    def _on_done(self, checkpoint: Any) -> None:
        self._outcome = "done"
        seconds = time.monotonic() - self._started
        self.checkpoint = Path(checkpoint)
        store.add_file(self.checkpoint)
        verb = "Stopped" if self.job is not None and self.job.cancel_event.is_set() else "Finished"
        self.status.setText(f"{verb} after {clock_duration(seconds)}; checkpoint: {self.checkpoint}")
        show_info(f"Training {verb.lower()}: checkpoint {self.checkpoint.name} is in the Inpaint widget's weights list")

    def _on_cancelled(self) -> None:
        self._outcome = "cancelled"
        self.status.setText("Training stopped before the first checkpoint.")

    def _on_error(self, error: BaseException) -> None:
        self._outcome = "error"
        message = error_text(error)
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
        if self.progress.maximum() == 0:  # ended before its first step: the run the fields plan
            self._show_planned_steps()
        self.training_finished.emit(self._outcome)

    def _show_planned_steps(self, *_args) -> None:
        """Before a run (and after one that never stepped): "step 0 / <Steps field>"; a run's bar is left alone."""
        if self.running:
            return
        steps = self.settings.widget("steps").value
        if isinstance(steps, int):
            self.line.steps(0, steps, "step %v / %m")

    def showEvent(self, event) -> None:
        """Refresh the model list whenever the dock is shown (plugins may have been installed)."""
        short_dock_title(self, DOCK_TITLE)
        self.refresh_models()
        super().showEvent(event)
