"""Example training configs shipped inside the package.

Two per trainable model: ``<model>-cpu`` (small enough for a laptop CPU) and
``<model>-gpu`` (the paper's settings, for one or more GPUs). They work after a
plain ``pip install``, with no repository checkout::

    inpaint train --list-examples
    inpaint train --example autoencoder-cpu --set train.data=photos/ --set train.output=runs/ae

Each names a ``data`` folder relative to where it is run; give your own with
``--set train.data=DIR``. From Python: ``inpaint_models.train(example_path("autoencoder-cpu"),
overrides={"train.data": "photos/"})``.
"""

from __future__ import annotations

from pathlib import Path

from inpaint_models.contract.errors import ConfigError

FOLDER = Path(__file__).resolve().parent

__all__ = ["FOLDER", "example_names", "example_path"]


def example_names() -> list[str]:
    """Names of the shipped example configs (file stems, e.g. ``autoencoder-cpu``), sorted."""
    return sorted(path.stem for path in FOLDER.glob("*.toml"))


def example_path(name: str) -> Path:
    """The file of the example config ``name`` (``autoencoder-cpu``; a ``.toml`` suffix is accepted).

    Raises:
        ConfigError: no example of that name (the message lists the examples).
    """
    stem = name[: -len(".toml")] if name.endswith(".toml") else name
    path = FOLDER / f"{stem}.toml"
    if stem not in example_names():
        raise ConfigError(f"no example config {name!r}; the examples are: {', '.join(example_names())}")
    return path
