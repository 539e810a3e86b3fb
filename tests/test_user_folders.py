"""What napari-inpaint keeps goes to the user's folders (platformdirs), never the current folder."""

from __future__ import annotations

import numpy as np
import pytest

import inpaint_models
from inpaint_models.io import user_folders


@pytest.fixture
def home(tmp_path, monkeypatch):
    """platformdirs' Linux folders moved into a temporary folder."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv(user_folders.CACHE_ENV_VAR, raising=False)
    return tmp_path


def test_the_folders_are_the_users_and_named_after_the_package(home):
    assert user_folders.fits_folder() == home / "data" / "napari-inpaint" / "fits"
    assert user_folders.runs_folder() == home / "data" / "napari-inpaint" / "runs"
    assert user_folders.cache_folder() == home / "cache" / "napari-inpaint"


def test_new_run_folders_never_reuse_an_existing_one(tmp_path):
    first = user_folders.new_run_folder(tmp_path, "fit-x")
    first.mkdir()
    second = user_folders.new_run_folder(tmp_path, "fit-x")
    assert second != first and not second.exists() and second.name.startswith(first.name)


@pytest.mark.slow
def test_fit_without_output_writes_to_the_data_folder_not_the_current_one(home, tmp_path, monkeypatch):
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    rng = np.random.default_rng(0)
    stack = (rng.random((8, 64, 64)) * 1000).astype(np.uint16)  # smaller than the 64 px default crop allows
    mask = np.zeros(stack.shape, bool)
    mask[3, 20:30, 20:30] = True
    weights = inpaint_models.fit(stack, mask, seconds=3)
    assert weights.is_file()
    assert weights.is_relative_to(home / "data" / "napari-inpaint" / "fits")
    assert list(work.iterdir()) == [], "nothing in the current folder"
