"""Checkpoints the widgets know about, shared by the Inpaint and Train widgets.

Known checkpoints are, per model: the model's shipped default weights, every
``.safetensors`` file inside the training output folders seen in this session
(a run started from the Train widget remembers its folder, so later
checkpoints in it show up too), and files picked with "Browse…". Which model
a checkpoint belongs to is read from its sidecar (:mod:`inpaint_models.io.sidecar`,
the one reader); a file without a readable sidecar is offered for every trainable model.

:data:`store` emits ``changed`` when a folder or file is added, so an open
Inpaint widget refreshes its weights list when a training run finishes.
:func:`weights_summary` describes what a checkpoint fixes (its architecture)
for the Inpaint widget's read-only line. Nothing here imports Qt; the widgets
call the slow parts (folder scans, sidecar reads) in a worker thread.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Union

from psygnal import Signal

from inpaint_models.contract.datatypes import ModelInfo
from inpaint_models.contract.errors import WeightsError
from inpaint_models.io.sidecar import architecture_of, read_sidecar

WEIGHTS_SUFFIX = ".safetensors"
STATE_SUFFIX = ".state.safetensors"  # resume state written next to each checkpoint by the trainer


@dataclass(frozen=True)
class Checkpoint:
    """One weights file the user can pick."""

    path: Path
    label: str
    model: Optional[str] = None  # from the sidecar; None when unknown


def checkpoint_model(path: Union[str, Path]) -> Optional[str]:
    """The model name recorded in a checkpoint's sidecar, or None if there is none readable."""
    try:
        model = read_sidecar(path).get("model")
    except WeightsError:
        return None
    return model if isinstance(model, str) else None


class CheckpointStore:
    """The folders and files seen in this session (see the module docstring)."""

    changed = Signal()

    def __init__(self) -> None:
        self._folders: list[Path] = []
        self._files: list[Path] = []
        self._lock = threading.Lock()

    def add_folder(self, folder: Union[str, Path]) -> None:
        """Remember a training output folder (its checkpoints are listed from now on)."""
        folder = Path(folder).expanduser().resolve()
        with self._lock:
            if folder in self._folders:
                new = False
            else:
                self._folders.append(folder)
                new = True
        if new:
            self.changed.emit()

    def add_file(self, path: Union[str, Path]) -> None:
        """Remember one checkpoint file (a training result or a browsed file); also emits ``changed``."""
        path = Path(path).expanduser().resolve()
        with self._lock:
            if path not in self._files:
                self._files.append(path)
        self.changed.emit()  # also for a known file: it may have been rewritten (resume)

    def forget_all(self) -> None:
        """Forget every folder and file (tests)."""
        with self._lock:
            self._folders.clear()
            self._files.clear()
        self.changed.emit()

    def folders(self) -> list[Path]:
        """The remembered folders."""
        with self._lock:
            return list(self._folders)

    def files(self) -> list[Path]:
        """Every checkpoint file currently known, newest first (remembered files, then folder contents)."""
        with self._lock:
            files = list(self._files)
            folders = list(self._folders)
        found: list[Path] = [f for f in files if f.is_file()]
        for folder in folders:
            if folder.is_dir():
                found.extend(p.resolve() for p in folder.rglob(f"*{WEIGHTS_SUFFIX}") if is_weights_file(p))
        unique = list(dict.fromkeys(found))
        return sorted(unique, key=lambda p: p.stat().st_mtime, reverse=True)

    def for_model(self, info: ModelInfo) -> list[Checkpoint]:
        """Checkpoints to offer for ``info``'s model: its default weights first, then the newest known files."""
        offered: list[Checkpoint] = []
        if not info.trainable:
            return offered
        if info.default_weights is not None and Path(info.default_weights).is_file():
            default = Path(info.default_weights)
            offered.append(Checkpoint(default, f"default ({default.name})", info.name))
        for path in self.files():
            model = checkpoint_model(path)
            if model is not None and model != info.name:
                continue
            offered.append(Checkpoint(path, _short_label(path), model))
        return offered


def trained_size(weights: Optional[Union[str, Path]], info: ModelInfo) -> Optional[int]:
    """The image size (pixels) a checkpoint was trained at, from its sidecar; None when not recorded."""
    path = weights if weights is not None else info.default_weights
    if path is None:
        return None
    try:
        size = read_sidecar(path).get("image_size")
    except WeightsError:
        return None
    return int(size) if isinstance(size, (int, float)) and not isinstance(size, bool) else None


def _shown(value: Any) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    return str(value)


def weights_summary(weights: Optional[Union[str, Path]], info: ModelInfo) -> str:
    """One line saying what the chosen weights fix, e.g. ``"Weights: width=tiny, residual=on; trained at 256 px"``.

    Empty for a model that takes no weights. Reads the checkpoint's sidecar only
    (no torch); a sidecar that cannot be read is said so in the line.
    """
    if not info.trainable:
        return ""
    if weights is None and info.default_weights is None:
        return "Weights: none chosen (train a model, or Browse… for a checkpoint)"
    try:
        values = architecture_of(weights, info)
    except Exception as error:  # noqa: BLE001 - shown to the user; the fill reports it again
        return f"Weights: cannot read the checkpoint's sidecar: {error}"
    parts = ", ".join(f"{name}={_shown(value)}" for name, value in values.items())
    size = trained_size(weights, info)
    trained = f"trained at {size} px" if size else ""
    return "Weights: " + "; ".join(part for part in (parts, trained) if part) if (parts or trained) else ""


def is_weights_file(path: Path) -> bool:
    """A checkpoint's weights file: not its resume state, not a temporary or hidden file."""
    name = path.name
    return (
        path.is_file()
        and name.endswith(WEIGHTS_SUFFIX)
        and not name.endswith(STATE_SUFFIX)
        and not name.startswith(".")
    )


def _short_label(path: Path) -> str:
    """``run-folder/final``: enough to tell checkpoints apart in a drop-down."""
    stem = path.name[: -len(WEIGHTS_SUFFIX)] if path.name.endswith(WEIGHTS_SUFFIX) else path.name
    folder = path.parent.parent if path.parent.name == "checkpoints" else path.parent
    return f"{folder.name}/{stem}" if folder.name else stem


#: The session-wide store the widgets share.
store = CheckpointStore()
