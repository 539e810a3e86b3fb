"""The Train dock's fields that come from dataclasses: ``[train]`` settings and the model's ``[model]`` options.

- :func:`settings_fields`: the main ``[train]`` fields, magicgui widgets built from
  the trainer's :class:`~inpaint_models.api_train.TrainSettings` (type, default and
  description from the dataclass; only the widgets' limits are chosen here).
- :class:`ModelOptionsPanel`: a "Model options" toggle over two forms of the
  chosen model's options: those that fix the architecture and those used only in
  training (the options a fill may change belong to the Inpaint widget). Built
  when first shown or read: magicgui widgets take a few milliseconds each.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Optional

from qtpy.QtCore import Qt
from qtpy.QtWidgets import QFormLayout, QLabel, QToolButton, QVBoxLayout, QWidget

from inpaint_models.api_train import TrainSettings
from inpaint_models.contract.datatypes import ModelInfo
from inpaint_models.contract.options import ARCHITECTURE, TRAINING, fields_of_kind
from napari_inpaint._dock import DEVICES
from napari_inpaint.option_form import FieldSet, OptionForm

#: the ``[train]`` settings the dock shows, and their widgets' limits (magicgui options)
TRAIN_FIELDS: dict[str, dict[str, Any]] = {
    "image_size": {"min": 8, "max": 4096},
    "batch_size": {"min": 1, "max": 4096},
    "steps": {"min": 1, "max": 100_000_000},
    "learning_rate": {},
    "preview_every": {"min": 0, "max": 100_000_000},
    "device": {"choices": DEVICES},
}


def settings_fields(form: QFormLayout) -> FieldSet:
    """The :data:`TRAIN_FIELDS` of ``TrainSettings`` as magicgui widgets, one row of ``form`` each."""
    fields = {field.name: field for field in dataclasses.fields(TrainSettings) if field.name in TRAIN_FIELDS}
    settings = FieldSet(TrainSettings, {name: fields[name] for name in TRAIN_FIELDS}, TRAIN_FIELDS)
    for name in settings.names():
        form.addRow(settings.label(name), settings.widget(name).native)
    return settings


class ModelOptionsPanel(QWidget):
    """The "Model options" toggle and, under it, the architecture and training-only option forms."""

    def __init__(self, layout: QVBoxLayout) -> None:
        super().__init__()
        self._built_for: Optional[ModelInfo] = None
        self._pending: Optional[ModelInfo] = None  # the model the forms are for once built
        self._stale = True
        self.options_toggle = QToolButton()
        self.options_toggle.setText("Model options")
        self.options_toggle.setCheckable(True)
        self.options_toggle.setArrowType(Qt.ArrowType.RightArrow)
        self.options_toggle.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        layout.addWidget(self.options_toggle)
        panel = QVBoxLayout(self)
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
        self.setVisible(False)
        layout.addWidget(self)
        self.options_toggle.toggled.connect(self._toggle)

    def show_model(self, info: Optional[ModelInfo]) -> None:
        """Make the forms ``info``'s (built now when shown, else when first read)."""
        if info is None or self._built_for is None or info.name != self._built_for.name:
            self._stale = True
        self._pending = info
        if self.options_toggle.isChecked():
            self.build()

    def build(self) -> None:
        """Fill the two forms with the chosen model's architecture and training options (once per model)."""
        if not self._stale:
            return
        info = self._pending
        self._built_for = info
        if info is None:
            self.architecture_options.set_fields(None, {})
            self.training_options.set_fields(None, {})
        else:
            self.architecture_options.set_fields(info.options, fields_of_kind(info, ARCHITECTURE))
            self.training_options.set_fields(info.options, fields_of_kind(info, TRAINING))
        self.architecture_heading.setVisible(bool(self.architecture_options.names()))
        self.training_heading.setVisible(bool(self.training_options.names()))
        self._stale = False

    def names(self) -> list[str]:
        """The ``[model]`` options shown: architecture, then training."""
        self.build()
        return self.architecture_options.names() + self.training_options.names()

    def form_of(self, name: str) -> OptionForm:
        """The form holding option ``name``; KeyError when neither does."""
        self.build()
        for form in (self.architecture_options, self.training_options):
            if name in form.names():
                return form
        raise KeyError(f"no option {name!r} in the [model] fields; they are {self.names()}")

    def values(self, only_changed: bool = True) -> dict[str, Any]:
        """The ``[model]`` options as ``{name: value}`` (only those changed from the defaults, by default)."""
        self.build()
        return {**self.architecture_options.values(only_changed), **self.training_options.values(only_changed)}

    def _toggle(self, shown: bool) -> None:
        if shown:
            self.build()
        self.setVisible(shown)
        self.options_toggle.setArrowType(Qt.ArrowType.DownArrow if shown else Qt.ArrowType.RightArrow)
