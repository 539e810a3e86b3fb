"""Atomic file writes: the one helper every writer of the package uses (checkpoints, logs, previews, images).

A file is written to a temporary name in its own folder, flushed and fsynced,
renamed over the target, and the folder is fsynced: a reader (or a crash) sees
either the old file or the whole new one, never a half-written file. Stray
temporary files of an interrupted write carry :data:`TEMP_MARK` in their name
and are removed by :func:`remove_temporary_files`. No torch, no numpy.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Union

#: marks the temporary files of an interrupted atomic write (``.<name>.tmp-XXXX``)
TEMP_MARK = ".tmp-"


def _read_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# mkstemp creates 0600 files; a written file gets the permissions an ordinary open() would give it
_FILE_MODE = 0o666 & ~_read_umask()


def _fsync_directory(directory: Path) -> None:
    if os.name == "nt":  # directories cannot be opened on Windows; rename is durable enough there
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write_bytes(path: Union[str, Path], data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (temp file, fsync, rename, fsync of the folder); returns the path.

    The parent folder is created when missing.

    Raises:
        OSError: the folder or file cannot be written (the temporary file is removed).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp_name = tempfile.mkstemp(prefix=f".{path.name}{TEMP_MARK}", dir=path.parent)
    try:
        if hasattr(os, "fchmod"):
            os.fchmod(fd, _FILE_MODE)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp_name, path)
    except BaseException:
        try:
            os.unlink(temp_name)
        except OSError:
            pass
        raise
    _fsync_directory(path.parent)
    return path


def atomic_write_text(path: Union[str, Path], text: str) -> Path:
    """:func:`atomic_write_bytes` for UTF-8 text."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def remove_temporary_files(directory: Union[str, Path]) -> int:
    """Delete temporary files left in ``directory`` by an interrupted atomic write; returns how many."""
    directory = Path(directory)
    count = 0
    if directory.is_dir():
        for path in directory.iterdir():
            if path.name.startswith(".") and TEMP_MARK in path.name and path.is_file():
                path.unlink(missing_ok=True)
                count += 1
    return count
