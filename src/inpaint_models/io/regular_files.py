"""Reading only regular files: what a path is when it is not one, and reads that never block.

A path given as a file to read (weights, a sidecar, a config) may name
something else: a directory, a FIFO (opening one for reading blocks until a
writer comes), a device (``/dev/zero`` never ends), a socket, a symbolic link
loop or a broken link. ``Path.is_file()`` answers False for all of them, so a
caller testing it reports "not found" for a file that is there. This module
says what the path is instead, and opens files so that nothing can block:

- :func:`file_problem` — None for a regular file (or a link to one), else what
  the path is, as a :class:`FileProblem` with a one-line message;
- :func:`check_regular_file` — raises that message as the caller's error type;
- :func:`open_regular_file` — opens without blocking (``O_NONBLOCK``) and checks
  the opened file again (``fstat``: a FIFO swapped in after the check is still
  refused), with an optional size limit;
- :func:`read_regular_file` — the bytes of a regular file of at most a given size.

A symbolic link to a regular file is a regular file here. No numpy, no torch.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Iterator, Optional, Union

from inpaint_models.contract.errors import InpaintError

#: ``S_IS*`` tests and the words for what a path is when it is not a regular file
_KINDS = (
    (stat.S_ISDIR, "directory", "a directory"),
    (stat.S_ISFIFO, "fifo", "a FIFO (named pipe)"),
    (stat.S_ISCHR, "character device", "a character device"),
    (stat.S_ISBLK, "block device", "a block device"),
    (stat.S_ISSOCK, "socket", "a socket"),
)

# O_NONBLOCK: opening a FIFO for reading returns at once instead of waiting for a writer
# (POSIX only; Windows has no FIFOs in the file system). O_BINARY: Windows only.
_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0) | getattr(os, "O_CLOEXEC", 0)


@dataclass(frozen=True)
class FileProblem:
    """Why a path is not a readable regular file.

    Attributes:
        kind: ``"missing"``, ``"broken link"``, ``"link loop"``, ``"directory"``,
            ``"fifo"``, ``"character device"``, ``"block device"``, ``"socket"``,
            ``"other"`` (not a regular file of another type) or ``"unreadable"``
            (permission denied, a name too long...).
        message: one line naming the path and what it is.
    """

    kind: str
    message: str

    @property
    def missing(self) -> bool:
        """Nothing at all is at the path (not even a link)."""
        return self.kind == "missing"


def _kind_of(mode: int) -> Optional[tuple[str, str]]:
    if stat.S_ISREG(mode):
        return None
    for test, kind, words in _KINDS:
        if test(mode):
            return kind, words
    return "other", "not a regular file"


def file_problem(path: Union[str, Path], what: str = "file") -> Optional[FileProblem]:
    """None when ``path`` is a regular file (or a link to one), else what it is.

    Args:
        path: the path to read.
        what: the words for the expected file in messages (``"weights file"``).

    Never opens the path (so never blocks).
    """
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        if os.path.islink(path):
            target = os.readlink(path)
            return FileProblem("broken link", f"{path} is a broken symbolic link (to {target}), not a {what}")
        return FileProblem("missing", f"{what} not found: {path}")
    except OSError as error:
        if error.errno == errno.ELOOP:
            return FileProblem("link loop", f"{path} is a symbolic link loop, not a {what}")
        return FileProblem("unreadable", f"cannot read the {what} {path}: {error.strerror or error}")
    kind = _kind_of(mode)
    if kind is None:
        return None
    return FileProblem(kind[0], f"{path} is {kind[1]}, not a {what}")


def check_regular_file(path: Union[str, Path], what: str = "file",
                       error: type[Exception] = InpaintError) -> None:
    """Raise ``error`` with :func:`file_problem`'s message unless ``path`` is a regular file."""
    problem = file_problem(path, what)
    if problem is not None:
        raise error(problem.message)


@contextlib.contextmanager
def open_regular_file(path: Union[str, Path], what: str = "file", error: type[Exception] = InpaintError,
                      limit: Optional[int] = None) -> Iterator[tuple[BinaryIO, int]]:
    """Open a regular file for reading in binary mode; yields ``(file, size in bytes)``.

    The path is checked (:func:`check_regular_file`), opened without blocking and
    checked again on the open descriptor, so a FIFO or device put in its place in
    between is refused too, never read.

    Args:
        path: the file.
        what: the words for it in messages.
        error: the exception type raised (e.g. ``WeightsError``).
        limit: the largest size accepted, in bytes (None = any).

    Raises:
        error: the path is not a regular file, cannot be opened, or is over ``limit``.
    """
    check_regular_file(path, what, error)
    try:
        fd = os.open(path, _OPEN_FLAGS)
    except OSError as failure:
        raise error(f"cannot read the {what} {path}: {failure.strerror or failure}") from None
    try:
        info = os.fstat(fd)
        kind = _kind_of(info.st_mode)
        if kind is not None:
            raise error(f"{path} is {kind[1]}, not a {what}")
        if limit is not None and info.st_size > limit:
            raise error(f"{path} is {info.st_size:,} bytes; a {what} is at most {limit:,} bytes")
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        handle = os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise
    with handle:
        yield handle, int(info.st_size)


def read_regular_file(path: Union[str, Path], limit: int, what: str = "file",
                      error: type[Exception] = InpaintError) -> bytes:
    """The bytes of a regular file of at most ``limit`` bytes (see :func:`open_regular_file`).

    Raises:
        error: not a regular file, unreadable, or larger than ``limit`` (also when
            it grows past it while being read).
    """
    with open_regular_file(path, what, error, limit) as (handle, _size):
        try:
            data = handle.read(limit + 1)
        except OSError as failure:
            raise error(f"cannot read the {what} {path}: {failure.strerror or failure}") from None
    if len(data) > limit:
        raise error(f"{path} is over {limit:,} bytes; a {what} is at most {limit:,} bytes")
    return data
