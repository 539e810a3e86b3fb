"""magicgui forms for the fields of a dataclass: a model's options, or the trainer's settings.

Each model owns an options dataclass (``ModelInfo.options``) whose fields have a
kind (:mod:`inpaint_models.contract.options`): the Inpaint widget shows the ``"fill"``
fields, the Train widget the ``"architecture"`` and ``"training"`` ones. An
:class:`OptionForm` shows one magicgui widget per field, chosen from the
field's annotation and default, with the field's description (from the class
docstring, :func:`~inpaint_models.contract.options.option_descriptions`) as tooltip.

A :class:`FieldSet` is the widgets and their values without a layout (the
Train widget puts the ``[train]`` fields of ``TrainSettings`` in its own form);
an :class:`OptionForm` lays a FieldSet out. Floats are typed as text, so ``2e-4`` reads as written and keeps its
precision (a spin box would round it); ``Optional[...]`` fields are text too,
empty meaning None. :meth:`FieldSet.values` returns Python values or, where
the text is not one, the text itself: validation and coercion stay in the
backend (:func:`~inpaint_models.contract.options.build_fill_options` /
:func:`~inpaint_models.contract.options.build_options`), so every front end reports the
same errors.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Literal, Mapping, Optional, Union, get_args, get_origin

from magicgui.widgets import Container, create_widget
from magicgui.widgets.bases import ValueWidget
from qtpy.QtWidgets import QVBoxLayout, QWidget

from inpaint_models.contract.options import option_default, option_descriptions, option_types

_INT_LIMIT = 2**31 - 1


def _is_optional(annotation: Any) -> bool:
    return get_origin(annotation) is Union and type(None) in get_args(annotation)


def _as_text(value: Any) -> str:
    """A value as typed in a text field (floats by ``repr``, so they read back exactly)."""
    if value is None:
        return ""
    return repr(value) if isinstance(value, float) else str(value)


def _widget_for(name: str, annotation: Any, default: Any, tooltip: str,
                limits: Optional[Mapping[str, Any]] = None) -> ValueWidget:
    """The magicgui widget of one field; ``limits``: magicgui options (``min``, ``max``, ``choices``)."""
    options: dict[str, Any] = {"tooltip": tooltip, **(limits or {})}
    if "choices" in options:
        return create_widget(value=default, annotation=annotation, name=name, widget_type="ComboBox", options=options)
    if annotation is bool:
        return create_widget(value=bool(default), annotation=bool, name=name, options=options)
    if annotation is int:
        options = {"min": -_INT_LIMIT, "max": _INT_LIMIT, **options}
        return create_widget(value=int(default or 0), annotation=int, name=name, options=options)
    if get_origin(annotation) is Literal:
        return create_widget(value=default, annotation=annotation, name=name, options=options)
    if annotation is Path and default is not None:
        return create_widget(value=default, annotation=Path, name=name, options=options)
    # float, str, Optional[...] and anything else: text, read back by FieldSet.value
    widget = create_widget(value=_as_text(default), annotation=str, name=name, widget_type="LineEdit", options=options)
    if _is_optional(annotation):
        widget.native.setPlaceholderText("none")
    return widget


class FieldSet:
    """magicgui widgets for some fields of a dataclass, and their values read back.

    Args:
        options_class: the dataclass (a model's options, or the trainer's ``TrainSettings``).
        fields: the fields to show, by name (dataclass fields of ``options_class``).
        limits: per field, extra magicgui options (``min``, ``max``, ``choices``).
    """

    def __init__(self, options_class: Optional[type], fields: Mapping[str, dataclasses.Field],
                 limits: Optional[Mapping[str, Mapping[str, Any]]] = None) -> None:
        self.options_class = options_class
        self.widgets: dict[str, ValueWidget] = {}
        self._annotations: dict[str, Any] = {}
        self._defaults: dict[str, Any] = {}
        if options_class is None or not fields:
            return
        types = option_types(options_class)
        descriptions = option_descriptions(options_class)
        for name, field in fields.items():
            if not field.init:
                continue
            annotation, default = types.get(name, Any), option_default(field)
            self.widgets[name] = _widget_for(name, annotation, default, descriptions.get(name, ""),
                                             (limits or {}).get(name))
            self._annotations[name] = annotation
            self._defaults[name] = default

    def names(self) -> list[str]:
        """Names of the fields, in order."""
        return list(self.widgets)

    def label(self, name: str) -> str:
        """The field's label: its name in words, capitalised (``image_size`` -> ``Image size``)."""
        text = self.widget(name).label
        return text[:1].upper() + text[1:]

    def widget(self, name: str) -> ValueWidget:
        """The magicgui widget of field ``name``."""
        if name not in self.widgets:
            raise KeyError(f"no option {name!r} in this form; it has {self.names()}")
        return self.widgets[name]

    def set_value(self, name: str, value: Any) -> None:
        """Set a field from a Python value (or from text, for text fields)."""
        widget = self.widget(name)
        if widget.widget_type == "LineEdit" and not isinstance(value, str):
            value = _as_text(value)
        widget.value = value

    def value(self, name: str) -> Any:
        """The value of one field: a Python value, or the text typed when it is not one."""
        widget = self.widget(name)
        value = widget.value
        if widget.widget_type != "LineEdit":
            return value
        annotation, default = self._annotations[name], self._defaults[name]
        text = str(value).strip()
        if text == _as_text(default):
            return default
        if text == "" and _is_optional(annotation):
            return None
        if annotation is float or (_is_optional(annotation) and float in get_args(annotation)):
            try:
                return float(text.replace(",", "."))
            except ValueError:
                return text  # the backend names the option in its error
        return text

    def values(self, only_changed: bool = True) -> dict[str, Any]:
        """The fields as ``{name: value}``; ``only_changed``: leave out those still at their default."""
        values = {}
        for name, default in self._defaults.items():
            value = self.value(name)
            if not only_changed or value != default:
                values[name] = value
        return values


class OptionForm(QWidget):
    """A magicgui form for some fields of one options dataclass (empty when there are none)."""

    def __init__(self, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self.container: Container = Container(labels=True)
        self._layout.addWidget(self.container.native)
        self.fields = FieldSet(None, {})

    @property
    def options_class(self) -> Optional[type]:
        """The dataclass whose fields are shown (None: none)."""
        return self.fields.options_class

    def set_fields(self, options_class: Optional[type], fields: Mapping[str, dataclasses.Field]) -> None:
        """Show a widget for each of ``fields`` (dataclass fields of ``options_class``)."""
        self._layout.removeWidget(self.container.native)
        self.container.native.setParent(None)
        self.container.native.deleteLater()
        self.fields = FieldSet(options_class, fields)
        self.container = Container(widgets=list(self.fields.widgets.values()), labels=True)
        self.container.margins = (0, 0, 0, 0)
        self._layout.addWidget(self.container.native)

    # -- reading and writing (see FieldSet) ------------------------------------------------------
    def names(self) -> list[str]:
        """Names of the fields shown, in order."""
        return self.fields.names()

    def widget(self, name: str) -> ValueWidget:
        """The magicgui widget of option ``name``."""
        return self.fields.widget(name)

    def set_value(self, name: str, value: Any) -> None:
        """Set a field from a Python value (or from text, for text fields)."""
        self.fields.set_value(name, value)

    def value(self, name: str) -> Any:
        """The value of one field: a Python value, or the text typed when it is not one."""
        return self.fields.value(name)

    def values(self, only_changed: bool = True) -> dict[str, Any]:
        """The options as ``{name: value}`` (only those changed from their defaults, by default)."""
        return self.fields.values(only_changed)
