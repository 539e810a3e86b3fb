"""Checkpoints: safetensors weights + JSON sidecar, resume state without pickle.

A checkpoint ``<stem>`` in a run's ``checkpoints/`` folder is four files:

``<stem>.safetensors``
    every network's ``state_dict`` as ``"<network>.<key>"`` tensors, plus
    ``"ema.<network>.<key>"`` when an EMA is kept. Header metadata names the
    format and the model, so a foreign file is recognised even without its sidecar.
``<stem>.state.safetensors`` and ``<stem>.state.json``
    optimiser, gradient-scaler and scheduler state for resuming: tensors in
    safetensors, everything else (param groups, counters) in JSON.
``<stem>.json``
    the sidecar: format, model name and options, channels, image size, step,
    metrics, losses, the resolved train config, library versions, the task's
    extra state and the names of the other files.

Every file is written atomically (temporary file in the same folder, flush,
fsync, rename, fsync of the folder), and the sidecar is written last: a
checkpoint exists only once its sidecar does, so a run killed at any moment
leaves either a complete checkpoint or none (stray temporary files are removed
at the next start). Loading uses ``safetensors`` and ``json`` only: nothing is
ever unpickled.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import platform
import re
from pathlib import Path
from typing import Any, Iterable, Mapping, Optional, Union

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load as load_safetensors_bytes
from safetensors.torch import save as save_safetensors_bytes

from inpaint_models.contract.errors import ConfigError, WeightsError
from inpaint_models.io.atomic import atomic_write_bytes, atomic_write_text, remove_temporary_files  # noqa: F401 (re-exported)
from inpaint_models.io.sidecar import (
    EMA_PREFIX,
    FORMAT,
    FORMAT_VERSION,
    SIDECAR_MAX_BYTES,
    VERDICT_KEY,
    CheckpointFiles,
    read_json_file,
    read_sidecar,
    weights_path_from,
)
from inpaint_models.io.weights_header import read_tensor_bytes, read_weights_header

STEP_PATTERN = re.compile(r"^step_(\d+)$")


# --------------------------------------------------------------------------- atomic files
def atomic_write_json(path: Union[str, Path], data: Any) -> Path:
    """Write ``data`` as indented JSON, atomically."""
    return atomic_write_text(path, json.dumps(data, indent=2, sort_keys=False, default=_json_default) + "\n")


def _json_default(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, torch.Tensor):
        return value.tolist()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


# --------------------------------------------------------------------------- naming
def step_stem(step: int) -> str:
    """File stem of the checkpoint at ``step`` (``step_00001234``)."""
    return f"step_{step:08d}"


# --------------------------------------------------------------------------- tensors
def _cpu_tensors(tensors: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    # clone: safetensors refuses tensors sharing storage, and channels-last
    # CUDA weights must become ordinary contiguous CPU tensors
    return {key: value.detach().to("cpu").contiguous().clone() for key, value in tensors.items()}


def network_tensors(networks: Mapping[str, torch.nn.Module], prefix: str = "") -> dict[str, torch.Tensor]:
    """Every network's state dict flattened to ``"<prefix><network>.<key>"``."""
    out: dict[str, torch.Tensor] = {}
    for name, network in networks.items():
        for key, value in network.state_dict().items():
            out[f"{prefix}{name}.{key}"] = value
    return out


def flatten_optimizer(name: str, optimizer: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Split an optimiser's state dict into tensors and JSON-able data."""
    state = optimizer.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    plain: dict[str, dict[str, Any]] = {}
    for param_id, entry in state["state"].items():
        for key, value in entry.items():
            if isinstance(value, torch.Tensor):
                tensors[f"optimizer.{name}.{param_id}.{key}"] = value
            else:
                plain.setdefault(str(param_id), {})[key] = value
    groups = [{key: list(value) if isinstance(value, tuple) else value for key, value in group.items()}
              for group in state["param_groups"]]
    return tensors, {"param_groups": groups, "state": plain}


def unflatten_optimizer(name: str, tensors: Mapping[str, torch.Tensor], data: Mapping[str, Any]) -> dict[str, Any]:
    """Rebuild an optimiser state dict from :func:`flatten_optimizer`'s parts."""
    state: dict[int, dict[str, Any]] = {}
    prefix = f"optimizer.{name}."
    for key, value in tensors.items():
        if key.startswith(prefix):
            param_id, _, entry = key[len(prefix):].partition(".")
            state.setdefault(int(param_id), {})[entry] = value
    for param_id, entries in data.get("state", {}).items():
        state.setdefault(int(param_id), {}).update(entries)
    groups = []
    for group in data["param_groups"]:
        group = dict(group)
        if isinstance(group.get("betas"), list):
            group["betas"] = tuple(group["betas"])
        groups.append(group)
    return {"state": state, "param_groups": groups}


def library_versions() -> dict[str, str]:
    """Versions recorded in every sidecar."""
    import safetensors

    from inpaint_models import __version__

    return {
        "inpaint_models": __version__,
        "torch": torch.__version__,
        "numpy": np.__version__,
        "safetensors": safetensors.__version__,
        "python": platform.python_version(),
    }


# --------------------------------------------------------------------------- writing
def save_checkpoint(
    directory: Union[str, Path],
    stem: str,
    *,
    weights: Mapping[str, torch.Tensor],
    sidecar: Mapping[str, Any],
    state_tensors: Optional[Mapping[str, torch.Tensor]] = None,
    state_json: Optional[Mapping[str, Any]] = None,
) -> Path:
    """Write one checkpoint atomically, sidecar last; returns the weights path.

    Args:
        directory: the checkpoints folder.
        stem: file stem (``step_00000100``, ``best``, ``final``).
        weights: tensors of the weights file (see the module docstring).
        sidecar: JSON-able description (``model``, ``options``, ``step``...);
            ``format``, ``format_version``, ``files``, ``versions`` and
            ``created`` are added.
        state_tensors, state_json: resume state (omit for weights-only checkpoints).
    """
    files = CheckpointFiles.for_stem(Path(directory), stem)
    metadata = {"format": FORMAT, "format_version": str(FORMAT_VERSION), "model": str(sidecar.get("model", ""))}
    atomic_write_bytes(files.weights, save_safetensors_bytes(_cpu_tensors(weights), metadata=metadata))
    names = {"weights": files.weights.name}
    if state_json is not None:
        atomic_write_bytes(files.state, save_safetensors_bytes(_cpu_tensors(state_tensors or {}),
                                                               metadata={"format": FORMAT + "-state"}))
        atomic_write_json(files.state_json, state_json)
        names.update(state=files.state.name, state_json=files.state_json.name)
    else:
        for stale in (files.state, files.state_json):
            stale.unlink(missing_ok=True)
    record = {"format": FORMAT, "format_version": FORMAT_VERSION, **dict(sidecar), "files": names,
              "versions": library_versions(),
              "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}
    atomic_write_json(files.sidecar, record)
    return files.weights


def record_verdict(weights: Union[str, Path], verdict: Optional[Mapping[str, Any]]) -> None:
    """Keep a fit's verdict in its checkpoint's sidecar (:data:`~inpaint_models.io.sidecar.VERDICT_KEY`).

    The sidecar is rewritten atomically with the entry set (removed for None):
    the checkpoint stays complete at every moment, with or without its verdict.

    Raises:
        WeightsError: the checkpoint has no readable sidecar.
    """
    path = CheckpointFiles(weights_path_from(weights)).sidecar
    record = read_sidecar(path)
    record.pop(VERDICT_KEY, None)
    if verdict is not None:
        record[VERDICT_KEY] = dict(verdict)
    atomic_write_json(path, record)


def delete_checkpoint(weights: Union[str, Path]) -> None:
    """Delete a checkpoint, sidecar first (so it stops counting as complete at once)."""
    for path in CheckpointFiles(Path(weights)).all():
        path.unlink(missing_ok=True)


def complete_checkpoints(directory: Union[str, Path]) -> list[tuple[int, Path]]:
    """``(step, weights path)`` of the complete step checkpoints in ``directory``, oldest first.

    Complete means: the sidecar parses and every file it lists exists.
    """
    directory = Path(directory)
    found = []
    if not directory.is_dir():
        return found
    for sidecar in directory.glob("step_*.json"):
        if sidecar.name.endswith(".state.json"):
            continue
        match = STEP_PATTERN.match(sidecar.stem)
        if not match:
            continue
        try:  # a regular file of bounded size only: a FIFO named step_*.json must not block a resume
            data = read_json_file(sidecar, SIDECAR_MAX_BYTES, "weights sidecar")
        except WeightsError:
            continue
        names = data.get("files", {}) if isinstance(data, dict) else {}
        step = data.get("step", int(match.group(1))) if isinstance(data, dict) else None
        if not isinstance(names, dict) or "weights" not in names or not isinstance(step, int) or not all(
                _plain_name(name) and (directory / name).is_file() for name in names.values()):
            continue
        found.append((step, directory / names["weights"]))
    return sorted(found)


def _plain_name(name: Any) -> bool:
    """A file name of this folder: a sidecar's ``files`` never point elsewhere (pruning deletes them)."""
    return isinstance(name, str) and name not in ("", ".", "..") and Path(name).name == name and "\\" not in name


def prune_checkpoints(directory: Union[str, Path], keep_last: int) -> list[Path]:
    """Delete all but the newest ``keep_last`` step checkpoints (and orphaned files); returns what was deleted."""
    directory = Path(directory)
    complete = complete_checkpoints(directory)
    doomed = [path for _step, path in complete[: max(0, len(complete) - keep_last)]]
    for path in doomed:
        delete_checkpoint(path)
    kept = {CheckpointFiles(path).stem for _step, path in complete[len(doomed):]}
    for path in directory.glob("step_*"):  # files of checkpoints interrupted before their sidecar
        stem = path.name.split(".")[0]
        if stem not in kept and path.is_file():
            path.unlink(missing_ok=True)
            doomed.append(path)
    return doomed


# --------------------------------------------------------------------------- reading
def load_tensors(path: Union[str, Path], names: Optional[Iterable[str]] = None) -> dict[str, torch.Tensor]:
    """Read a safetensors file to CPU tensors (never unpickles).

    The header is read and checked first (:func:`~inpaint_models.io.weights_header.read_weights_header`:
    a regular file only, a header that fits the file), then only the tensors asked for.

    Args:
        path: the file.
        names: the tensors to read (default: all); e.g. :func:`check_network_fit`'s answer.

    Raises:
        WeightsError: the file is missing, not a regular file, not a valid
            safetensors file, lacks one of ``names``, or does not fit in memory.
    """
    path = Path(path)
    header = read_weights_header(path)
    names = list(header.tensors) if names is None else list(names)
    absent = [name for name in names if name not in header.tensors]
    if absent:
        raise WeightsError(f"{path} has no tensor {absent[0]!r}")
    try:
        return load_safetensors_bytes(read_tensor_bytes(header, names))
    except (SafetensorError, ValueError) as error:
        raise WeightsError(f"{path} is not a valid safetensors file ({error})") from None
    except MemoryError:
        raise WeightsError(f"{path}: its tensors do not fit in memory") from None


def network_shapes(network: torch.nn.Module) -> dict[str, tuple[int, ...]]:
    """key -> shape of a network's state dict (works on the ``meta`` device too)."""
    return {key: tuple(value.shape) for key, value in network.state_dict().items()}


def check_network_fit(
    expected: Mapping[str, Mapping[str, tuple[int, ...]]],
    shapes: Mapping[str, tuple[int, ...]],
    prefer_ema: bool = True,
    source: str = "checkpoint",
) -> dict[str, dict[str, str]]:
    """Check that stored tensors fit networks, by names and shapes only; returns what to load.

    Args:
        expected: network name -> {state-dict key: shape} (:func:`network_shapes`).
        shapes: stored tensor name -> shape (a safetensors header's, or loaded tensors').
        prefer_ema: use ``ema.<network>.*`` instead of ``<network>.*`` when present.
        source: file name used in messages.

    Returns:
        ``{network: {state-dict key: stored tensor name}}``, every key of every network.

    Raises:
        WeightsError: missing or unexpected keys, or mismatched shapes -- the
            message says which and suggests the cause (other options).
    """
    chosen: dict[str, dict[str, str]] = {}
    for name, wanted in expected.items():
        use_ema = prefer_ema and any(key.startswith(f"{EMA_PREFIX}{name}.") for key in shapes)
        prefix = f"{EMA_PREFIX}{name}." if use_ema else f"{name}."
        given = {key[len(prefix):]: shape for key, shape in shapes.items() if key.startswith(prefix)}
        missing = sorted(set(wanted) - set(given))
        unexpected = sorted(set(given) - set(wanted))
        mismatched = [f"{name}.{key}: file {tuple(given[key])}, model {tuple(shape)}"
                      for key, shape in wanted.items() if key in given and tuple(given[key]) != tuple(shape)]
        problems = []
        if missing:
            problems.append(f"{len(missing)} missing tensor(s) such as {name}.{missing[0]}")
        if unexpected:
            problems.append(f"{len(unexpected)} unexpected tensor(s) such as {name}.{unexpected[0]}")
        if mismatched:
            problems.append(f"{len(mismatched)} shape mismatch(es) such as {mismatched[0]}")
        if problems:
            raise WeightsError(
                f"{source} does not fit network {name!r}: {'; '.join(problems)} "
                f"(were the weights trained with other model options?)"
            )
        chosen[name] = {key: prefix + key for key in wanted}
    return chosen


def load_networks(
    networks: Mapping[str, torch.nn.Module],
    tensors: Mapping[str, torch.Tensor],
    names: Optional[tuple[str, ...]] = None,
    prefer_ema: bool = True,
    source: str = "checkpoint",
) -> None:
    """Load tensors into networks, checking every key and shape first (:func:`check_network_fit`).

    Args:
        networks: name -> module.
        tensors: as written by :func:`save_checkpoint` (all, or those :func:`check_network_fit` chose).
        names: networks to load (default: all).
        prefer_ema: load ``ema.<network>.*`` instead of ``<network>.*`` when present.
        source: file name used in messages.

    Raises:
        WeightsError: missing or unexpected keys, or mismatched shapes.
    """
    names = names or tuple(networks)
    expected = {name: network_shapes(networks[name]) for name in names}
    chosen = check_network_fit(expected, {key: tuple(value.shape) for key, value in tensors.items()},
                               prefer_ema, source)
    for name in names:
        target = networks[name].state_dict()
        given = {key: tensors[stored] for key, stored in chosen[name].items()}
        # weights may be stored in another floating precision (the shipped default weights are
        # half precision): cast floating tensors to the network's own dtype, so fill runs in float32
        state = {
            key: given[key].to(value.dtype)
            if given[key].is_floating_point() and value.is_floating_point() and given[key].dtype != value.dtype
            else given[key]
            for key, value in target.items()
        }
        with torch.no_grad():
            networks[name].load_state_dict(state, strict=True)


def resolve_resume(settings_resume: Union[bool, Path], checkpoint_dir: Path) -> Optional[Path]:
    """The weights path to resume from, or None for a fresh run.

    Raises:
        ConfigError: a given checkpoint is incomplete (no sidecar or resume state).
    """
    if settings_resume is False:
        return None
    if settings_resume is True:
        complete = complete_checkpoints(checkpoint_dir)
        return complete[-1][1] if complete else None
    weights = weights_path_from(Path(settings_resume))
    files = CheckpointFiles(weights)
    if not (weights.is_file() and files.sidecar.is_file() and files.state.is_file() and files.state_json.is_file()):
        raise ConfigError(
            f"[train] resume: {weights} is not a complete checkpoint with resume state "
            f"(best/final weights-only checkpoints cannot be resumed; use a step_* checkpoint)"
        )
    return weights
