"""``inpaint models``: the installed models (built-in and third-party plugins)."""

from __future__ import annotations

import argparse
import dataclasses
import json
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

from inpaint_models.cli._common import add_quiet, format_table, note, warn
from inpaint_models.contract.requirements import install_hint, missing_requirements
from inpaint_models.io.sidecar import SMALL_WEIGHTS_NOTE, weights_note  # noqa: F401 (SMALL_WEIGHTS_NOTE re-exported)

if TYPE_CHECKING:
    from inpaint_models.contract.datatypes import ModelInfo

NAME = "models"


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add ``inpaint models``."""
    parser = subparsers.add_parser(
        NAME,
        help="list the installed models",
        description="List every installed model: name, title, whether it can be trained, "
        "whether weights are available and the paper or report it comes from.",
    )
    parser.add_argument("--json", action="store_true", help="print the models as JSON (with options and defaults)")
    add_quiet(parser)
    return parser


def weights_available(info: ModelInfo) -> Optional[bool]:
    """True / False for trainable models (shipped weights present or not), None for models without weights."""
    if not info.trainable:
        return None
    return info.default_weights is not None and Path(info.default_weights).is_file()


def _jsonable(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, (tuple, list)):
        return [_jsonable(v) for v in value]
    return value


def _option_defaults(info: ModelInfo) -> dict[str, Any]:
    defaults = {}
    for field in dataclasses.fields(info.options):
        if field.default is not dataclasses.MISSING:
            defaults[field.name] = _jsonable(field.default)
        elif field.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
            defaults[field.name] = _jsonable(field.default_factory())  # type: ignore[misc]
        else:
            defaults[field.name] = None
    return defaults


def describe(info: ModelInfo, origin: str) -> dict[str, Any]:
    """A JSON-ready description of one model."""
    return {
        "name": info.name,
        "title": info.title,
        "description": info.description,
        "source": info.source,
        "trainable": info.trainable,
        "weights": weights_available(info),
        "default_weights": _jsonable(info.default_weights),
        "channels": _jsonable(info.channels),
        "native_size": info.native_size,
        "options": _option_defaults(info),
        "weights_note": weights_note(info),
        "volumes": 3 in getattr(info, "spatial_dims", (2,)),
        "requires": list(info.requires),
        "missing": missing_requirements(info),
        "origin": origin,
    }


def load_registry():
    """The default registry, with each skipped plugin reported once on stderr, in one wording.

    The registry warns (``PluginSkippedWarning``) when it is first built and
    records the same message in ``registry.failed``; this command prints the
    record (so the list is complete even when the registry was built earlier
    in the process) and silences the warning, so each skipped plugin shows
    exactly once.
    """
    from inpaint_models.contract.registry import PluginSkippedWarning, default_registry

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PluginSkippedWarning)
        registry = default_registry()
    for message in registry.failed.values():
        warn(message)
    return registry


#: marks after a table cell: shipped weights are small CPU-trained ones; an optional package is missing
WEIGHTS_MARK, MISSING_MARK = "*", "!"


def table_row(info: ModelInfo) -> tuple[str, str, str, str]:
    """One model's row of the table: name (marked when a package it needs is missing), title, trainable, weights."""
    yes_no = {True: "yes", False: "no", None: "-"}
    weights = yes_no[weights_available(info)] + (WEIGHTS_MARK if weights_note(info) else "")
    name = info.name + (MISSING_MARK if missing_requirements(info) else "")
    return name, info.title, yes_no[info.trainable], weights


def weights_footnote(infos: list[ModelInfo]) -> str:
    """The note under the table on the shipped weights (one wording for all models), or ""."""
    notes = sorted({note_text for note_text in (weights_note(info) for info in infos) if note_text})
    return "\n".join(f"{WEIGHTS_MARK} {text}" for text in notes)


def requirements_footnote(infos: list[ModelInfo]) -> str:
    """The note under the table for models whose packages are not installed (a base install), or ""."""
    missing = sorted({module for info in infos for module in missing_requirements(info)})
    if not missing:
        return ""
    return f"{MISSING_MARK} needs {' and '.join(missing)}, not installed: {install_hint(missing)}"


def run(args: argparse.Namespace) -> int:
    """Print the models table (or JSON)."""
    registry = load_registry()
    infos = registry.infos()
    if args.json:
        print(json.dumps([describe(info, registry.origins.get(info.name, "")) for info in infos], indent=2))
        return 0
    if not infos:
        note("no models installed", args.quiet)
        return 0
    print(format_table(("NAME", "TITLE", "TRAINABLE", "WEIGHTS"), [table_row(info) for info in infos]))
    footnotes = [line for line in (weights_footnote(infos), requirements_footnote(infos)) if line]
    if footnotes:
        print()
        print("\n".join(footnotes))
    print("\nSources and options: inpaint models --json, or docs/models.md")
    return 0
