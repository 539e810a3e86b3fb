"""``train()``: run a model's training from a config file, a dict or a TrainConfig."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Optional, Sequence, Union

from inpaint_models.contract.datatypes import Reporter
from inpaint_models.contract.registry import ModelRegistry, default_registry
from inpaint_models.io.examples import example_names, example_path  # noqa: F401 (the front of the examples)
from inpaint_models.pipeline.progress import CancelCheck, make_reporter
from inpaint_models.training.config import (  # noqa: F401 (the front of training configs, for the CLI and napari)
    TrainSettings,
    load_config,
    parse_value,
    read_config_file,
)


def train(
    config: Union[str, Path, Mapping[str, Any], Any],
    report: Optional[Reporter] = None,
    cancel: Optional[CancelCheck] = None,
    overrides: Union[Mapping[str, Any], Sequence[str], None] = None,
    registry: Optional[ModelRegistry] = None,
) -> Path:
    """Train the model named in ``config`` and return its final checkpoint.

    Args:
        config: a ``.toml`` / ``.yaml`` file with ``[model]`` (``name`` + the
            model's options) and ``[train]`` sections, the same as a dict, or a
            :class:`inpaint_models.training.TrainConfig`.
        report: called with :class:`~inpaint_models.contract.datatypes.ProgressEvent`
            objects (step, total, losses, learning rate, images/s, ETA, latest
            preview and checkpoint paths) at most every 0.25 s and at every log step.
        cancel: a ``threading.Event`` or a callable returning True to stop; the
            run then writes a checkpoint and returns its path (check your event
            to tell a cancelled run from a finished one).
        overrides: ``["train.steps=100", "model.depth=3"]`` or ``{"train.steps": 100}``.
        registry: the plugin registry (default: installed plugins).

    Returns:
        Path of the last checkpoint's ``.safetensors`` weights (its ``.json``
        sidecar lies next to it); pass it to ``fill(..., weights=path)``.

    Raises:
        ConfigError: a bad config (unknown key, bad value, missing data folder),
            ``resume = true`` into an output folder with no checkpoint to resume
            (naming it), or a fresh run into one that holds another run's; all
            before any work starts.
        UnknownModelError, NotTrainableError: the model cannot be trained.
    """

    registry = registry or default_registry()
    resolved = load_config(config, overrides=overrides, registry=registry)
    return registry.call_train(resolved.model_name, resolved, make_reporter(report, cancel))
