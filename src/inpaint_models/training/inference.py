"""Loading a checkpoint for inference (``fill``) and merging a fill's options with the checkpoint's.

Options have three kinds (:mod:`inpaint_models.contract.options`). A checkpoint's
*architecture* options rebuild its networks and its *training* options are
kept as they were trained: both come from the sidecar. *Fill* options (a
diffusion sampler's steps and seed, GLCIC's post-processing) come from the
fill call, and reach the cached task through :meth:`TrainTask.use_options
<inpaint_models.training.task.TrainTask.use_options>` before each prediction.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Union

import torch

from inpaint_models.contract.errors import WeightsError
from inpaint_models.contract.options import FILL, build_options, option_default, option_kind, option_types
from inpaint_models.io.sidecar import read_sidecar
from inpaint_models.training.checkpoints import load_networks, load_tensors, weights_path_from
from inpaint_models.training.task import TaskFactory, TaskSpec, TrainTask


def merge_options(info: Any, saved: dict[str, Any], given: Any = None) -> Any:
    """The options of a fill with a checkpoint: architecture and training values saved, fill values given.

    Args:
        info: the model's ModelInfo.
        saved: the sidecar's ``options``.
        given: an options instance from the fill call (its fill options are
            used), or None to keep the checkpoint's own fill values too.

    Raises:
        WeightsError: ``given`` sets a non-fill option to a value that is neither
            its default nor the checkpoint's (the weights cannot honour it), or
            the checkpoint's options no longer fit the model.
    """
    types = option_types(info.options)
    values = {key: value for key, value in saved.items() if key in types}
    for field in dataclasses.fields(info.options) if given is not None else ():
        value = getattr(given, field.name)
        if option_kind(info, field) == FILL:
            values[field.name] = value
            continue
        default = option_default(field)
        saved_value = saved.get(field.name, default)
        if value != default and _plain(value) != _plain(saved_value):
            raise WeightsError(
                f"option {field.name}={value!r} does not match the checkpoint, which was trained with "
                f"{field.name}={saved_value!r}; leave the option out (the checkpoint's value is used)"
            )
    try:
        return build_options(info, values)
    except ValueError as error:
        raise WeightsError(f"the checkpoint's options no longer fit model {info.name!r}: {error}") from None


def _plain(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


@dataclass
class LoadedModel:
    """A task rebuilt from a checkpoint, in eval mode on its device."""

    task: TrainTask
    sidecar: dict[str, Any]
    options: Any
    device: torch.device
    path: Path


def load_task(
    weights: Union[str, Path],
    info: Any,
    factory: TaskFactory,
    device: str = "cpu",
    options: Any = None,
) -> LoadedModel:
    """Rebuild a model's task from a checkpoint for inference (EMA weights when present).

    Args:
        weights: the ``.safetensors`` file (or its ``.json`` sidecar).
        info: the model's :class:`~inpaint_models.contract.datatypes.ModelInfo`.
        factory: the model's task factory.
        device: a concrete torch device string.
        options: options of the fill (see :func:`merge_options`); None = the checkpoint's.

    Raises:
        WeightsError: missing sidecar, a checkpoint of another model, options
            or tensor shapes that do not fit. Nothing is unpickled.
    """
    path = weights_path_from(weights)
    sidecar = read_sidecar(path, info.name)
    merged = merge_options(info, sidecar.get("options", {}), options)
    channels = int(sidecar.get("channels", 3))
    image_size = int(sidecar.get("image_size", 64))
    try:
        task = factory(TaskSpec(options=merged, channels=channels, image_size=image_size, train=None))
    except ValueError as error:
        raise WeightsError(f"cannot rebuild model {info.name!r} from {path.name}: {error}") from None
    tensors = load_tensors(path)
    load_networks(task.networks, tensors, names=task.inference_names(), prefer_ema=True, source=path.name)
    task.load_extra_state(sidecar.get("extra", {}) or {})
    target = torch.device(device)
    for name in task.inference_names():
        task.networks[name].to(target)
    task.eval_mode()
    task.use_options(merged)
    return LoadedModel(task=task, sidecar=sidecar, options=merged, device=target, path=path)


def describe_checkpoint(weights: Union[str, Path], model_name: Optional[str] = None) -> dict[str, Any]:
    """The sidecar of a checkpoint (model, options, step, metrics...), checked."""
    return read_sidecar(weights, model_name)
