"""The user's own folders for what napari-inpaint keeps between sessions: fits, training runs, timings.

One owner of these places (platformdirs), so the Python API, the command line
and napari save to the same folders and say the same paths. Nothing is written
to the current folder unless the user names it.
"""

from __future__ import annotations

import datetime
import os
from pathlib import Path

#: the application name of the platformdirs folders
APP_NAME = "napari-inpaint"
#: an environment variable that moves the timings cache (tests, shared machines)
CACHE_ENV_VAR = "INPAINT_MODELS_CACHE"


def data_folder() -> Path:
    """The user's data folder of napari-inpaint: ``~/.local/share/napari-inpaint`` on Linux,
    ``~/Library/Application Support/napari-inpaint`` on macOS, ``%LOCALAPPDATA%\\napari-inpaint`` on
    Windows (platformdirs). Not created here."""
    from platformdirs import user_data_dir

    return Path(user_data_dir(APP_NAME, appauthor=False))


def fits_folder() -> Path:
    """Where fits are saved unless the user names a folder: ``<data folder>/fits``."""
    return data_folder() / "fits"


def runs_folder() -> Path:
    """Where training runs started without an output folder go: ``<data folder>/runs``."""
    return data_folder() / "runs"


def cache_folder() -> Path:
    """The timings cache folder: ``$INPAINT_MODELS_CACHE``, else the user's cache folder
    (platformdirs: ``~/.cache/napari-inpaint`` on Linux)."""
    folder = os.environ.get(CACHE_ENV_VAR)
    if folder:
        return Path(folder)
    from platformdirs import user_cache_dir

    return Path(user_cache_dir(APP_NAME, appauthor=False))


def new_run_folder(root: Path, name: str) -> Path:
    """A fresh, not yet existing folder ``root/<name>-<YYYYmmdd-HHMMSS>`` (``-2``, ``-3``... if taken)."""
    base = root / f"{name}-{datetime.datetime.now().strftime('%Y%m%d-%H%M%S')}"
    run, number = base, 1
    while run.exists():
        number += 1
        run = base.with_name(f"{base.name}-{number}")
    return run
