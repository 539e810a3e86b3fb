"""Model options: each model owns a dataclass; this module validates and coerces values.

Values come from Python (``fill(..., radius=5)``), from the CLI
(``--opt radius=5``, strings) or from the napari widget; all go through
:func:`build_options`, so every front end reports the same clear errors.
"""

from __future__ import annotations

import dataclasses
import typing
from pathlib import Path
from typing import Any, Literal, Mapping, Union, get_args, get_origin

from .datatypes import ModelInfo
from .errors import OptionError, UnknownOptionError

_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}


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
        raise UnknownOptionError(
            f"model {info.name!r} has no option{plural} {', '.join(map(repr, unknown))}; its options are: {known}"
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
