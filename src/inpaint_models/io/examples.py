"""Example training configs, found in the folders of the installed model plugins.

A model ships its examples in its own folder: ``<plugin package>/configs/*.toml``
(the built-ins: ``<model>-cpu`` small enough for a laptop CPU and ``<model>-gpu``
the paper's settings, for one or more GPUs). A third-party plugin that ships a
``configs/`` folder next to the module it registers gets its examples listed too.
They work after a plain ``pip install``, with no repository checkout::

    inpaint train --list-examples
    inpaint train --example autoencoder-cpu --set train.data=photos/ --set train.output=runs/ae

Each names a ``data`` folder relative to where it is run; give your own with
``--set train.data=DIR``. From Python: ``inpaint_models.train(example_path("autoencoder-cpu"),
overrides={"train.data": "photos/"})``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

from inpaint_models.contract.errors import ConfigError
from inpaint_models.contract.registry import ModelRegistry, default_registry

#: the folder, next to a plugin's module, that holds its example configs
EXAMPLES_FOLDER = "configs"

__all__ = ["EXAMPLES_FOLDER", "example_names", "example_path", "plugin_folder"]


def plugin_folder(registry: ModelRegistry, name: str) -> Optional[Path]:
    """The folder of the module that defines the plugin of model ``name`` (None: not a file-backed module).

    A module plugin gives its own file's folder; any other plugin object (an
    instance, a namespace) the folder of the module that defines its class.
    """
    plugin = registry.plugin_manager.get_plugin(name)
    module = plugin if hasattr(plugin, "__file__") else sys.modules.get(type(plugin).__module__)
    file = getattr(module, "__file__", None)
    return Path(file).resolve().parent if file else None


def _examples(registry: Optional[ModelRegistry]) -> dict[str, list[Path]]:
    """Example name (file stem) -> the files of that name, over every registered plugin's folder."""
    registry = registry if registry is not None else default_registry()
    found: dict[str, list[Path]] = {}
    for name in registry.names():
        folder = plugin_folder(registry, name)
        if folder is None:
            continue
        for path in sorted((folder / EXAMPLES_FOLDER).glob("*.toml")):
            if path not in found.get(path.stem, []):  # two models of one package share a folder
                found.setdefault(path.stem, []).append(path)
    return found


def example_names(registry: Optional[ModelRegistry] = None) -> list[str]:
    """Names of the example configs of the installed models (file stems, e.g. ``autoencoder-cpu``), sorted.

    Args:
        registry: the plugins to search; default: the process-wide registry.
    """
    return sorted(_examples(registry))


def example_path(name: str, registry: Optional[ModelRegistry] = None) -> Path:
    """The file of the example config ``name`` (``autoencoder-cpu``; a ``.toml`` suffix is accepted).

    Args:
        name: an example's name, as :func:`example_names` lists it.
        registry: the plugins to search; default: the process-wide registry.

    Raises:
        ConfigError: no example of that name (the message lists the examples), or two
            plugins ship an example of that name (the message names both files).
    """
    stem = name[: -len(".toml")] if name.endswith(".toml") else name
    examples = _examples(registry)
    paths = examples.get(stem)
    if not paths:
        raise ConfigError(f"no example config {name!r}; the examples are: {', '.join(sorted(examples))}")
    if len(paths) > 1:
        raise ConfigError(f"two plugins ship an example config {stem!r}: {', '.join(map(str, paths))}; "
                          "give the file's path instead")
    return paths[0]
