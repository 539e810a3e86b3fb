"""Model options: each model owns a dataclass; this module validates and coerces values.

Values come from Python (``fill(..., radius=5)``), from the CLI
(``--opt radius=5``, strings) or from the napari widget; all go through
:func:`build_options`, so every front end reports the same clear errors.

Every field of a model's options dataclass has one of three **kinds**, each
with its own owner (see :func:`option_kind`):

- ``"fill"`` — what a fill may change (radius, sampler steps, seed, patch
  size): ``fill(**options)``, ``--opt`` and the Inpaint widget;
- ``"architecture"`` — what the weights fix (width, depth, residual): read
  from the checkpoint's sidecar, never an editable fill option;
- ``"training"`` — what only training uses (steps, phase lengths, loss
  weights): the ``[model]`` config section and the Train widget.

A field declares its kind with :func:`fill_option`, :func:`architecture_option`
or :func:`training_option`. Undeclared fields are fill options of a model that
is not trainable, and architecture options of a trainable one (the checkpoint's
value is used, as it always was), so older plugins keep working unchanged.
This module imports neither torch nor Qt.
"""

from __future__ import annotations

import dataclasses
import typing
from pathlib import Path
from typing import Any, Literal, Mapping, Optional, Union, get_args, get_origin

from inpaint_models.contract.datatypes import ModelInfo
from inpaint_models.contract.errors import OptionError, UnknownOptionError
from inpaint_models.contract.suggest import did_you_mean

_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}


FILL: Literal["fill"] = "fill"
ARCHITECTURE: Literal["architecture"] = "architecture"
TRAINING: Literal["training"] = "training"
OptionKind = Literal["fill", "architecture", "training"]
OPTION_KINDS: tuple[str, ...] = (FILL, ARCHITECTURE, TRAINING)
_KIND_KEY = "inpaint_option_kind"


def _option(kind: str, default: Any, kwargs: dict[str, Any]) -> Any:
    metadata = dict(kwargs.pop("metadata", {}) or {})
    metadata[_KIND_KEY] = kind
    if "default_factory" in kwargs:
        return dataclasses.field(metadata=metadata, **kwargs)
    return dataclasses.field(default=default, metadata=metadata, **kwargs)


def fill_option(default: Any = None, **kwargs: Any) -> Any:
    """A dataclass field that a fill may change: ``steps: int = fill_option(50)``."""
    return _option(FILL, default, kwargs)


def architecture_option(default: Any = None, **kwargs: Any) -> Any:
    """A dataclass field fixed by the weights (read from the checkpoint): ``width: int = architecture_option(32)``."""
    return _option(ARCHITECTURE, default, kwargs)


def training_option(default: Any = None, **kwargs: Any) -> Any:
    """A dataclass field used only in training: ``completion_steps: int = training_option(90000)``."""
    return _option(TRAINING, default, kwargs)


def declared_kind(field: dataclasses.Field) -> Optional[str]:
    """The kind a field declares through its metadata, or None."""
    return field.metadata.get(_KIND_KEY)


def option_kind(info: ModelInfo, field: Union[dataclasses.Field, str]) -> str:
    """``"fill"``, ``"architecture"`` or ``"training"`` for one field of ``info.options``.

    ``field`` is a dataclass field or its name. Undeclared fields are ``"fill"``
    for models that are not trainable and ``"architecture"`` for trainable ones.
    """
    if isinstance(field, str):
        field = option_fields(info.options)[field]
    kind = declared_kind(field)
    if kind is not None:
        return kind
    return ARCHITECTURE if info.trainable else FILL


def fields_of_kind(info: ModelInfo, *kinds: str) -> dict[str, dataclasses.Field]:
    """The fields of ``info.options`` whose kind is one of ``kinds``, by name, in declaration order."""
    for kind in kinds:
        if kind not in OPTION_KINDS:
            raise ValueError(f"unknown option kind {kind!r}; kinds are {', '.join(OPTION_KINDS)}")
    return {name: f for name, f in option_fields(info.options).items() if option_kind(info, f) in kinds}


def option_default(field: dataclasses.Field) -> Any:
    """The default value of a dataclass field (calling its factory), or None when it has none."""
    if field.default is not dataclasses.MISSING:
        return field.default
    if field.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
        return field.default_factory()  # type: ignore[misc]
    return None


def option_descriptions(options_class: type) -> dict[str, str]:
    """One-line descriptions of the fields, from the ``Attributes:`` section of the class docstring.

    A field may instead carry ``metadata={"description": ...}``, which wins.
    """
    import inspect
    import re

    descriptions: dict[str, str] = {}
    doc = inspect.getdoc(options_class) or ""
    match = re.search(r"^Attributes:\s*$(.*?)(?=^\S|\Z)", doc, flags=re.MULTILINE | re.DOTALL)
    if match:
        block = match.group(1)
        lines = [line for line in block.splitlines() if line.strip()]
        base = min((len(line) - len(line.lstrip()) for line in lines), default=0)
        current = None
        for line in lines:
            item = re.match(r"(\w+)(?:\s*\([^)]*\))?:\s*(.*)$", line.strip())
            if item and len(line) - len(line.lstrip()) == base:
                current = item.group(1)
                descriptions[current] = item.group(2).strip()
            elif current is not None:
                descriptions[current] += " " + line.strip()
    if dataclasses.is_dataclass(options_class):
        for f in dataclasses.fields(options_class):
            if "description" in f.metadata:
                descriptions[f.name] = str(f.metadata["description"])
    return descriptions


def option_fields(options_class: type) -> dict[str, dataclasses.Field]:
    """The dataclass fields of a model's options class, by name."""
    return {f.name: f for f in dataclasses.fields(options_class)}


def option_types(options_class: type) -> dict[str, Any]:
    """Resolved type annotations of an options dataclass (strings evaluated)."""
    return typing.get_type_hints(options_class)


def coerce_value(name: str, annotation: Any, value: Any) -> Any:
    """Check ``value`` against ``annotation`` and convert strings (from the CLI).

    Supports bool, int, float, str, Path, ``Literal[...]`` and ``Optional[...]``.

    Raises:
        OptionError: the value does not fit the type.
    """
    origin = get_origin(annotation)
    if origin is Union:
        arguments = get_args(annotation)
        if value is None or (isinstance(value, str) and value.lower() == "none" and type(None) in arguments):
            if type(None) in arguments:
                return None
        errors = []
        for argument in arguments:
            if argument is type(None):
                continue
            try:
                return coerce_value(name, argument, value)
            except OptionError as error:
                errors.append(str(error))
        raise OptionError(errors[0] if errors else f"option {name!r}: invalid value {value!r}")
    if origin is Literal:
        choices = get_args(annotation)
        for choice in choices:
            if value == choice or (isinstance(value, str) and str(choice) == value):
                return choice
        raise OptionError(f"option {name!r} must be one of {', '.join(map(repr, choices))}; got {value!r}")
    if annotation is bool:
        if isinstance(value, (bool,)) or (hasattr(value, "dtype") and getattr(value, "dtype").kind == "b"):
            return bool(value)
        if isinstance(value, str) and value.lower() in _TRUE | _FALSE:
            return value.lower() in _TRUE
        raise OptionError(f"option {name!r} must be true or false; got {value!r}")
    if annotation is int:
        if isinstance(value, bool):
            raise OptionError(f"option {name!r} must be an integer; got {value!r}")
        if isinstance(value, str):
            try:
                return int(value)
            except ValueError:
                raise OptionError(f"option {name!r} must be an integer; got {value!r}") from None
        if isinstance(value, (int,)) or (isinstance(value, float) and value.is_integer()):
            return int(value)
        if hasattr(value, "dtype") and getattr(value, "dtype").kind in "iu":
            return int(value)
        raise OptionError(f"option {name!r} must be an integer; got {value!r}")
    if annotation is float:
        if isinstance(value, bool):
            raise OptionError(f"option {name!r} must be a number; got {value!r}")
        try:
            return float(value)
        except (TypeError, ValueError):
            raise OptionError(f"option {name!r} must be a number; got {value!r}") from None
    if annotation is str:
        if isinstance(value, str):
            return value
        raise OptionError(f"option {name!r} must be a string; got {value!r}")
    if annotation is Path:
        if isinstance(value, (str, Path)):
            return Path(value)
        raise OptionError(f"option {name!r} must be a path; got {value!r}")
    return value  # other annotations: left to the dataclass's own checks


def build_options(info: ModelInfo, given: Mapping[str, Any]) -> Any:
    """An instance of ``info.options`` from user-given values.

    Raises:
        UnknownOptionError: a name the model does not define (the message lists its options).
        OptionError: a value of the wrong type, or rejected by the dataclass's own checks.
    """
    fields = option_fields(info.options)
    unknown = sorted(set(given) - set(fields))
    if unknown:
        known = ", ".join(sorted(fields)) if fields else "none"
        plural = "s" if len(unknown) > 1 else ""
        hint = did_you_mean(unknown[0], fields) if len(unknown) == 1 else ""
        raise UnknownOptionError(
            f"model {info.name!r} has no option{plural} {', '.join(map(repr, unknown))}{hint}; "
            f"its options are: {known}"
        )
    types = option_types(info.options)
    values = {key: coerce_value(key, types.get(key, Any), value) for key, value in given.items()}
    try:
        return info.options(**values)
    except (TypeError, ValueError) as error:
        raise OptionError(f"invalid option for model {info.name!r}: {error}") from None


def parse_option_strings(pairs: list[str]) -> dict[str, str]:
    """Parse CLI ``key=value`` strings into a dict (values stay strings).

    Raises:
        OptionError: an item without ``=``.
    """
    options: dict[str, str] = {}
    for pair in pairs:
        key, separator, value = pair.partition("=")
        if not separator or not key.strip():
            raise OptionError(f"option {pair!r} must look like key=value")
        options[key.strip().replace("-", "_")] = value.strip()
    return options


def options_as_dict(options: Any) -> dict[str, Any]:
    """A plain dict of an options instance (for sidecars and tables)."""
    return dataclasses.asdict(options)


def build_fill_options(info: ModelInfo, given: Mapping[str, Any]) -> Any:
    """Like :func:`build_options`, for a fill: only ``"fill"`` options may be given.

    Architecture options come from the weights and training options are used
    only in training, so setting either for a fill is an error that says so.

    Raises:
        UnknownOptionError: a name the model does not define.
        OptionError: a non-fill option, or a value of the wrong type.
    """
    fields = option_fields(info.options)
    fill_names = list(fields_of_kind(info, FILL))
    for name in given:
        if name not in fields or name in fill_names:
            continue
        why = "is fixed by the weights" if option_kind(info, fields[name]) == ARCHITECTURE else "is used only in training"
        known = ", ".join(fill_names) if fill_names else "none"
        raise OptionError(
            f"option {name!r} of model {info.name!r} {why} and cannot be set for a fill; its fill options are: {known}"
        )
    return build_options(info, given)
