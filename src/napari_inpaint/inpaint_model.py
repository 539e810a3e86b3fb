"""The Inpaint dock's second part: the model and what a fill may set.

:class:`ModelPanel` holds the model list (every registered model, by title,
with the default for the chosen image selected until the user picks one), the
model's description, the form of its ``"fill"`` options (remembered per model
while the dock is open), the weights (:class:`~napari_inpaint.weights_picker.WeightsPicker`),
the device and "learn from this layer first" with its time budget and the folder its fits are saved in.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

from qtpy.QtCore import QObject, QTimer, Signal
from qtpy.QtWidgets import QCheckBox, QComboBox, QFormLayout, QHBoxLayout, QLabel, QSpinBox, QVBoxLayout, QWidget

from inpaint_models.contract.datatypes import ModelInfo
from inpaint_models.contract.options import FILL, fields_of_kind
from napari_inpaint._dock import DEVICES
from napari_inpaint._widgets import SMALL_WEIGHTS_NOTE, ModelComboBox, PathEdit, ships_small_weights
from napari_inpaint.jobs import default_fits_root
from napari_inpaint.option_form import OptionForm
from napari_inpaint.weights_picker import WeightsPicker

#: "learn from this layer first": default seconds of fitting
FIT_SECONDS = 60


def home_relative(path: Path) -> str:
    """``path`` as a field shows it: ``~/...`` under the home folder (shorter; read back with ``expanduser``)."""
    try:
        return str(Path("~") / path.relative_to(Path.home()))
    except ValueError:
        return str(path)


class ModelPanel(QObject):
    """Model, description, fill options, weights, device and "learn first" (added to the dock's layout).

    ``model_changed`` is emitted when another model is shown; ``form_ready`` once the
    first options form is built after the models arrived (see :meth:`set_registry`).
    """

    model_changed = Signal()
    form_ready = Signal()

    def __init__(self, layout: QVBoxLayout, form: QFormLayout, dock: QWidget) -> None:
        super().__init__(dock)  # deleted with the dock
        self.registry: Any = None
        self.form_pending: Optional[ModelInfo] = None  # a form to build on the next event-loop turn
        self._defer_form = False
        self._form_model: Optional[str] = None
        self._model_chosen = False  # the user picked a model: stop choosing the default for them
        self._option_memory: dict[str, dict[str, Any]] = {}  # per model: fill options the user changed
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
        lower = QFormLayout()
        layout.addLayout(lower)
        self.weights_picker = WeightsPicker(lower, self.model_info, self)
        self._device_and_learn_rows(lower)
        self.model_combo.activated.connect(self._on_activated)
        self.model_combo.currentIndexChanged.connect(self._on_model_changed)

    def _device_and_learn_rows(self, form: QFormLayout) -> None:
        self.device_combo = QComboBox()
        self.device_combo.addItems(DEVICES)
        self.device_combo.setToolTip("auto: the GPU when there is one, else the CPU")
        form.addRow("Device", self.device_combo)
        self.learn_check = QCheckBox("learn from this layer first")
        self.learn_check.setToolTip(
            "Fit the model to this image or stack before filling: it learns to fill holes like the mask's "
            "from the pixels that are known (a trainable model; Cancel ends the fit early and fills with "
            "its best checkpoint). The fitted weights join the Weights list, named after the layer."
        )
        self.learn_seconds = QSpinBox()
        self.learn_seconds.setRange(5, 24 * 3600)
        self.learn_seconds.setValue(FIT_SECONDS)
        self.learn_seconds.setSuffix(" s")
        self.learn_seconds.setToolTip("Time budget of the fit (a minute gets most of the gain on a CPU)")
        learn_row = QHBoxLayout()
        learn_row.addWidget(self.learn_check, 1)
        learn_row.addWidget(self.learn_seconds)
        form.addRow("Learn", learn_row)
        self.fits_folder = PathEdit(folder=True, placeholder="folder the fits are saved in")
        self.fits_folder.edit.setText(home_relative(default_fits_root()))
        self.fits_folder.edit.setCursorPosition(0)  # the start of the path shows in a narrow dock
        self.fits_folder.setToolTip("Each fit is saved in a folder named after the layer in here (its checkpoints, "
                                    "previews and log); the Weights list offers it as <layer>/best")
        form.addRow("Save fits in", self.fits_folder)

    def fits_root(self) -> Path:
        """The folder the fits go in: the field (a relative path is taken from napari's working folder), or
        :func:`~napari_inpaint.jobs.default_fits_root` when it is emptied."""
        text = self.fits_folder.text()
        return Path(text).expanduser().absolute() if text else default_fits_root()

    # -- the model list ----------------------------------------------------------------------------
    @property
    def ready(self) -> bool:
        """Whether the registry is here and the chosen model's options form is built."""
        return self.registry is not None and self.form_pending is None

    def set_registry(self, registry: Any, default: Optional[str]) -> None:
        """List the registry's models, ``default`` chosen; the first options form is built on the next
        turn of the event loop, so no one GUI-thread callback both lists the models and builds a form."""
        self.registry = registry
        self._defer_form = True
        try:
            self.refresh_models(default)
            self.choose_default(default)
        finally:
            self._defer_form = False
        if self.form_pending is None:
            self.form_ready.emit()

    def refresh_models(self, default: Optional[str] = None) -> None:
        """List every registered model, keeping the current choice (else ``default``)."""
        if self.registry is None:
            return
        self.model_combo.set_models(self.registry.infos(), fallback=default)
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

    def _on_activated(self, _index: int) -> None:
        self._model_chosen = True

    def choose_default(self, name: Optional[str]) -> None:
        """Select model ``name`` (the default for the chosen image), unless the user picked one."""
        if not self._model_chosen and name is not None and name != self.model_combo.currentData():
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
            self._describe(info)
            self._set_form(info)
            self.model_changed.emit()
        trainable = info is not None and info.trainable
        self.learn_check.setEnabled(trainable)  # only a trainable model can learn from the layer
        self.learn_seconds.setEnabled(trainable)
        self.fits_folder.setEnabled(trainable)
        if not trainable:
            self.learn_check.setChecked(False)
        self.weights_picker.refresh()

    def _describe(self, info: Optional[ModelInfo]) -> None:
        if info is None:
            self.model_description.setText("No model installed." if self.registry is not None else "")
            return
        text = info.description
        if ships_small_weights(info):
            text += f" ({SMALL_WEIGHTS_NOTE}.)"
        self.model_description.setText(text)
        self.model_description.setToolTip(info.source)

    # -- the options form ------------------------------------------------------------------------------
    def _set_form(self, info: Optional[ModelInfo]) -> None:
        """Show the fill options of ``info``'s model, with the values the user gave them before.

        While the models arrive (:meth:`set_registry`) the form is built on the next
        turn of the event loop instead (:meth:`_build_pending_form`).
        """
        self._form_model = info.name if info is not None else None
        if self._defer_form and info is not None:
            if self.form_pending is None:
                QTimer.singleShot(0, self._build_pending_form)
            self.form_pending = info
            return
        self.form_pending = None
        if info is None:
            self.options.set_fields(None, {})
            return
        self.options.set_fields(info.options, fields_of_kind(info, FILL))
        for name, value in self._option_memory.get(info.name, {}).items():
            if name in self.options.names():
                self.options.set_value(name, value)

    def _build_pending_form(self) -> None:
        """Build the options form deferred while the models arrived (unless another model took its place)."""
        info = self.form_pending
        self.form_pending = None
        if info is not None and info.name == self._form_model and self.options.options_class is not info.options:
            self._set_form(info)
        self.form_ready.emit()
