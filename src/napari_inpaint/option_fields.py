"""Qt fields generated from a model's options dataclass.

Each model owns an options dataclass (``ModelInfo.options``); this widget shows
one field per dataclass field — a check box for ``bool``, a spin box for
``int``, a text field for ``float`` (so ``2e-4`` reads as typed), a drop-down
for ``Literal[...]``, a text field for ``str``, ``Path`` and ``Optional[...]``
(empty = None) — with the field's description from the class docstring as its
tooltip. :meth:`OptionFields.values` returns what differs from the defaults
(or everything); validation and coercion stay in
:func:`inpaint_models.options.build_options`.
"""

from __future__ import annotations

import dataclasses
import inspect
import re
from pathlib import Path
from typing import Any, Literal, Optional, Union, get_args, get_origin

from qtpy.QtGui import QDoubleValidator
from qtpy.QtWidgets import QCheckBox, QComboBox, QFormLayout, QLabel, QLineEdit, QSpinBox, QWidget

from inpaint_models.options import option_types

_INT_LIMIT = 2**31 - 1


def field_descriptions(options_class: type) -> dict[str, str]:
    """Descriptions of the fields from the ``Attributes:`` section of a class docstring."""
    doc = inspect.getdoc(options_class) or ""
    match = re.search(r"^Attributes:\s*$(.*?)(?=^\S|\Z)", doc, flags=re.MULTILINE | re.DOTALL)
    if not match:
        return {}
    block = match.group(1)
    base = min((len(line) - len(line.lstrip()) for line in block.splitlines() if line.strip()), default=0)
    descriptions: dict[str, str] = {}
    current = None
    for line in block.splitlines():
        if not line.strip():
            continue
        item = re.match(r"(\w+)(?:\s*\([^)]*\))?:\s*(.*)$", line.strip())
        if item and len(line) - len(line.lstrip()) == base:
            current = item.group(1)
            descriptions[current] = item.group(2).strip()
        elif current is not None:
            descriptions[current] += " " + line.strip()
    return descriptions


def _default(field: dataclasses.Field) -> Any:
    if field.default is not dataclasses.MISSING:
        return field.default
    if field.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
        return field.default_factory()  # type: ignore[misc]
    return None


def _label(name: str) -> str:
    return name.replace("_", " ").capitalize()


class OptionFields(QWidget):
    """A form of fields for one options dataclass (empty for models without options)."""

    def __init__(self, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self._layout = QFormLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self._fields: dict[str, tuple[QWidget, Any, Any]] = {}  # name -> (widget, annotation, default)
        self.options_class: Optional[type] = None

    # -- building -----------------------------------------------------------------
    def set_options_class(self, options_class: Optional[type]) -> None:
        """Show the fields of ``options_class`` (None: no fields)."""
        while self._layout.rowCount():
            self._layout.removeRow(0)
        self._fields.clear()
        self.options_class = options_class
        if options_class is None or not dataclasses.is_dataclass(options_class):
            return
        types = option_types(options_class)
        descriptions = field_descriptions(options_class)
        for field in dataclasses.fields(options_class):
            if not field.init:
                continue
            annotation = types.get(field.name, Any)
            default = _default(field)
            widget = self._make_widget(annotation, default)
            widget.setObjectName(f"option_{field.name}")
            tip = descriptions.get(field.name, "")
            widget.setToolTip(tip)
            label = QLabel(_label(field.name))
            label.setToolTip(tip)
            self._layout.addRow(label, widget)
            self._fields[field.name] = (widget, annotation, default)

    def _make_widget(self, annotation: Any, default: Any) -> QWidget:
        origin = get_origin(annotation)
        if annotation is bool:
            box = QCheckBox()
            box.setChecked(bool(default))
            return box
        if annotation is int:
            spin = QSpinBox()
            spin.setRange(-_INT_LIMIT, _INT_LIMIT)
            spin.setValue(int(default if default is not None else 0))
            return spin
        if origin is Literal:
            combo = QComboBox()
            for choice in get_args(annotation):
                combo.addItem(str(choice), choice)
            index = combo.findData(default)
            combo.setCurrentIndex(max(index, 0))
            return combo
        edit = QLineEdit("" if default is None else str(default))
        if annotation is float:
            edit.setValidator(QDoubleValidator())
        elif origin is Union and type(None) in get_args(annotation):
            edit.setPlaceholderText("none")
        return edit

    # -- reading --------------------------------------------------------------------------
    def names(self) -> list[str]:
        """Names of the fields shown."""
        return list(self._fields)

    def widget(self, name: str) -> QWidget:
        """The field widget of option ``name``."""
        return self._fields[name][0]

    def set_value(self, name: str, value: Any) -> None:
        """Set a field from a Python value."""
        widget = self._fields[name][0]
        if isinstance(widget, QCheckBox):
            widget.setChecked(bool(value))
        elif isinstance(widget, QSpinBox):
            widget.setValue(int(value))
        elif isinstance(widget, QComboBox):
            widget.setCurrentIndex(max(widget.findData(value), 0))
        else:
            widget.setText("" if value is None else str(value))

    def _value(self, name: str) -> Any:
        widget, annotation, default = self._fields[name]
        if isinstance(widget, QCheckBox):
            return widget.isChecked()
        if isinstance(widget, QSpinBox):
            return widget.value()
        if isinstance(widget, QComboBox):
            return widget.currentData()
        text = widget.text().strip()
        if text == ("" if default is None else str(default)):
            return default
        if text == "" and get_origin(annotation) is Union and type(None) in get_args(annotation):
            return None
        if annotation is float:
            try:
                return float(text.replace(",", "."))
            except ValueError:
                return text  # build_options names the option in its error
        if annotation is Path:
            return Path(text)
        return text

    def values(self, only_changed: bool = True) -> dict[str, Any]:
        """The options as Python values (or strings for the backend to coerce).

        Args:
            only_changed: leave out the options still at their dataclass default.
        """
        values = {}
        for name, (_widget, _annotation, default) in self._fields.items():
            value = self._value(name)
            if not only_changed or value != default:
                values[name] = value
        return values
