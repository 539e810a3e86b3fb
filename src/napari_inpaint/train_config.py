"""The Train dock and config files: a file's values shown in the fields, and what a run takes from it.

A folder run hands the file to the trainer with every field as an override
(:class:`~napari_inpaint.jobs.TrainRequest`); an "open layer" run takes the
file's ``[model]`` options and ``[train]`` settings under the fields
(:func:`config_file_sections`), leaving out the keys such a run sets itself.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from inpaint_models.api_train import read_config_file
from inpaint_models.contract.errors import InpaintError
from inpaint_models.io.user_folders import new_run_folder, runs_folder
from napari_inpaint.layer_training import LAYER_RUN_KEYS


def default_output(model: str) -> Path:
    """A fresh run folder in the user's data folder's ``runs`` (``~/.local/share/napari-inpaint/runs`` on
    Linux, :func:`inpaint_models.io.user_folders.runs_folder`) for a run started without one."""
    return new_run_folder(runs_folder(), model)


def plain(value: Any) -> Any:
    """A config value as TOML would hold it (paths as strings)."""
    return str(value) if isinstance(value, Path) else value


def show_config(dock: Any, data: Mapping[str, Any]) -> None:
    """Show a read config (``{"model": {...}, "train": {...}}``) in the Train dock's fields.

    The model (when listed), its options, the first data folder, the ``[train]``
    fields the dock shows (a value a field cannot hold is left out: the run
    reports it) and the output folder.
    """
    model = data.get("model", {}) if isinstance(data.get("model"), dict) else {}
    train = data.get("train", {}) if isinstance(data.get("train"), dict) else {}
    if model.get("name") in dock.model_names():
        dock.set_model(model["name"])
    for name in dock.option_names():
        if name in model:
            dock.set_option(name, model[name])
    folders = train.get("data")
    if isinstance(folders, list) and folders:
        folders = folders[0]
    if isinstance(folders, str):
        dock.data_folder.edit.setText(folders)
    for name in dock.settings.names():
        if name in train:
            try:
                dock.settings.set_value(name, train[name])
            except (TypeError, ValueError):
                pass
    if isinstance(train.get("output"), str):
        dock.output_folder.edit.setText(train["output"])


def config_file_sections(path: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """``([model] options, [train] settings)`` of the config file ``path`` ("": none) for an "open layer" run.

    Raises:
        ValueError: the file cannot be read or is not a config.
    """
    options: dict[str, Any] = {}
    train: dict[str, Any] = {}
    if not path:
        return options, train
    try:
        data = read_config_file(Path(path).expanduser())
    except InpaintError as error:
        raise ValueError(str(error)) from None
    if isinstance(data.get("model"), dict):
        options.update({k: v for k, v in data["model"].items() if k != "name"})
    if isinstance(data.get("train"), dict):
        train.update({k: v for k, v in data["train"].items() if k not in LAYER_RUN_KEYS})
    return options, train
