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
from torch.overrides import TorchFunctionMode

from inpaint_models.contract.errors import WeightsError
from inpaint_models.contract.options import FILL, build_options, option_default, option_kind, option_types
from inpaint_models.io.sidecar import CheckpointFiles, WeightsGeometry, geometry_of, read_sidecar
from inpaint_models.io.weights_header import read_weights_header
from inpaint_models.training.checkpoints import (
    check_network_fit,
    load_networks,
    load_tensors,
    network_shapes,
    weights_path_from,
)
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


@dataclass(frozen=True)
class CheckedCheckpoint:
    """A checkpoint checked before any network of it is built (:func:`check_checkpoint`).

    Attributes:
        path: the weights file.
        sidecar: its checked sidecar.
        options: the fill's options merged with the checkpoint's (:func:`merge_options`).
        spec: the task spec that rebuilds its networks.
        tensors: ``{network: {state-dict key: stored tensor name}}`` of the inference
            networks (:func:`~inpaint_models.training.checkpoints.check_network_fit`);
            None when the factory cannot build on the ``meta`` device (checked on the real networks then).
        geometry: the geometry of the networks the sidecar builds; None as ``tensors``.
    """

    path: Path
    sidecar: dict[str, Any]
    options: Any
    spec: TaskSpec
    tensors: Optional[dict[str, dict[str, str]]]
    geometry: Optional[WeightsGeometry]


def _build(factory: TaskFactory, spec: TaskSpec, info: Any, path: Path) -> TrainTask:
    try:
        return factory(spec)
    except ValueError as error:
        raise WeightsError(f"cannot rebuild model {info.name!r} from {path.name}: {error}") from None


# in-place ops that change a tensor's shape: the only ones a shapes-only build must still run
_RESHAPING = frozenset({"resize_", "resize_as_", "squeeze_", "unsqueeze_", "transpose_", "t_", "swapaxes_",
                        "swapdims_", "as_strided_", "set_"})


class _ShapesOnly(TorchFunctionMode):
    """Skips in-place ops (``normal_``, ``uniform_``, ``zero_``, ``nn.init.*_``) on meta tensors.

    They do nothing on the meta device but cost time: torch's meta ``normal_``
    imports ``torch._dynamo`` (about 2 s, once per process) for an
    initialisation the shapes do not need.
    """

    def __torch_function__(self, func: Any, types: Any, args: tuple = (), kwargs: Optional[dict] = None) -> Any:
        kwargs = kwargs or {}
        name = getattr(func, "__name__", "")
        target = args[0] if args else next(iter(kwargs.values()), None)
        if (name.endswith("_") and not name.endswith("__") and name not in _RESHAPING
                and isinstance(target, torch.Tensor) and target.is_meta):
            return target
        return func(*args, **kwargs)


def _meta_task(factory: TaskFactory, spec: TaskSpec, info: Any, path: Path) -> Optional[TrainTask]:
    """The task built on torch's ``meta`` device: shapes without memory (an mlp-gan sidecar saying
    image_size 4096 would otherwise allocate 275 GB before its tensors are compared); None when the
    factory does something the meta device cannot (a third-party one reading tensor values)."""
    try:
        with torch.device("meta"), _ShapesOnly():
            return factory(spec)
    except ValueError as error:
        raise WeightsError(f"cannot rebuild model {info.name!r} from {path.name}: {error}") from None
    except Exception as error:  # noqa: BLE001 -- any other failure: fall back to checking the real networks
        if isinstance(error, OverflowError) or "overflow" in str(error).lower():
            # on the meta device nothing is computed: only sizes (the sidecar's options) can overflow
            raise WeightsError(f"cannot rebuild model {info.name!r} from {path.name}: its sidecar's options "
                               f"make sizes too large to exist ({type(error).__name__}: {str(error)[:120]})") from None
        return None


def _check_geometry(sidecar: dict[str, Any], task: TrainTask, path: Path) -> WeightsGeometry:
    network = task.geometry()
    entry = sidecar.get("geometry")
    problem = WeightsGeometry.from_dict(entry).disagreement(network) if isinstance(entry, dict) else None
    if problem is not None:
        raise WeightsError(
            f"weights sidecar {CheckpointFiles(path).sidecar}: geometry says {problem} "
            f"(built from the sidecar's options, channels and image_size); the sidecar was edited "
            f"or belongs to other weights"
        )
    return network


def check_checkpoint(weights: Union[str, Path], info: Any, factory: TaskFactory,
                     options: Any = None) -> CheckedCheckpoint:
    """Check a checkpoint before building its networks: sidecar, safetensors header, shapes, geometry.

    The sidecar is read (:func:`~inpaint_models.io.sidecar.read_sidecar`: schema,
    regular file), the safetensors header too (no tensor data), the task is built
    on the ``meta`` device and the stored shapes are compared with its inference
    networks', and the sidecar's ``geometry`` with the networks'. So weights that
    do not fit, or a sidecar whose sizes would build a network far larger than
    the file, are refused before any memory is spent.

    Raises:
        WeightsError: any of these does not fit (the message names the file and the problem).
    """
    path = weights_path_from(weights)
    sidecar = read_sidecar(path, info.name)
    merged = merge_options(info, sidecar.get("options", {}), options)
    spec = TaskSpec(options=merged, channels=int(sidecar.get("channels", 3)),
                    image_size=int(sidecar.get("image_size", 64)), train=None)
    header = read_weights_header(path)
    meta = _meta_task(factory, spec, info, path)
    if meta is None:
        return CheckedCheckpoint(path, sidecar, merged, spec, None, None)
    expected = {name: network_shapes(meta.networks[name]) for name in meta.inference_names()}
    tensors = check_network_fit(expected, header.shapes(), prefer_ema=True, source=path.name)
    return CheckedCheckpoint(path, sidecar, merged, spec, tensors, _check_geometry(sidecar, meta, path))


def checkpoint_geometry(weights: Union[str, Path], info: Any, factory: TaskFactory) -> WeightsGeometry:
    """The crop geometry of a checkpoint, checked against the networks its sidecar builds.

    The sidecar's ``geometry`` when it fits the networks (:func:`check_checkpoint`),
    their own geometry for a sidecar without one.

    Raises:
        WeightsError: as :func:`check_checkpoint`.
    """
    checked = check_checkpoint(weights, info, factory)
    recorded, is_recorded = geometry_of(checked.path, info)
    if is_recorded:
        return recorded
    if checked.geometry is not None:
        return checked.geometry
    return _build(factory, checked.spec, info, checked.path).geometry()


def load_task(
    weights: Union[str, Path],
    info: Any,
    factory: TaskFactory,
    device: str = "cpu",
    options: Any = None,
) -> LoadedModel:
    """Rebuild a model's task from a checkpoint for inference (EMA weights when present).

    Everything is checked first (:func:`check_checkpoint`); only the tensors of
    the inference networks are read.

    Args:
        weights: the ``.safetensors`` file (or its ``.json`` sidecar).
        info: the model's :class:`~inpaint_models.contract.datatypes.ModelInfo`.
        factory: the model's task factory.
        device: a concrete torch device string.
        options: options of the fill (see :func:`merge_options`); None = the checkpoint's.

    Raises:
        WeightsError: missing sidecar, a sidecar that breaks its schema, a checkpoint
            of another model, options, tensor shapes or a geometry that do not fit.
            Nothing is unpickled.
    """
    checked = check_checkpoint(weights, info, factory, options)
    path = checked.path
    task = _build(factory, checked.spec, info, path)
    chosen = checked.tensors
    if chosen is None:
        expected = {name: network_shapes(task.networks[name]) for name in task.inference_names()}
        chosen = check_network_fit(expected, read_weights_header(path).shapes(), prefer_ema=True, source=path.name)
        _check_geometry(checked.sidecar, task, path)
    tensors = load_tensors(path, [stored for keys in chosen.values() for stored in keys.values()])
    load_networks(task.networks, tensors, names=task.inference_names(), prefer_ema=True, source=path.name)
    task.load_extra_state(checked.sidecar.get("extra", {}))
    target = torch.device(device)
    for name in task.inference_names():
        task.networks[name].to(target)
    task.eval_mode()
    task.use_options(checked.options)
    return LoadedModel(task=task, sidecar=checked.sidecar, options=checked.options, device=target, path=path)


def describe_checkpoint(weights: Union[str, Path], model_name: Optional[str] = None) -> dict[str, Any]:
    """The sidecar of a checkpoint (model, options, step, metrics...), checked."""
    return read_sidecar(weights, model_name)
