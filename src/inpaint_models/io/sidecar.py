"""Reading checkpoint sidecars without torch: what a weights file is, what it fixes, how crops must fit it.

Everything a front end or the fill pipeline needs to know about a checkpoint
*before* any network is built lives in its JSON sidecar (``<stem>.json`` next to
``<stem>.safetensors``, written by :mod:`.checkpoints`). This module reads it
with ``json`` only, so listing models, showing a checkpoint's architecture and
planning crops never import torch:

- :func:`read_sidecar` — the checked sidecar of a weights file;
- :func:`architecture_of` — the options the weights fix, for read-only display;
- :func:`geometry_of` — the channels, native size and size multiple crops must
  have for these weights (the ``geometry`` entry; see :class:`WeightsGeometry`);
- :func:`shipped_weights` — the default weights a model plugin ships.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Optional, Union

from inpaint_models.contract.datatypes import ModelInfo
from inpaint_models.contract.errors import WeightsError

FORMAT = "napari-inpaint-checkpoint"
FORMAT_VERSION = 1
#: weights of the exponential moving average are stored as ``ema.<network>.<key>``
EMA_PREFIX = "ema."
#: file name of the default weights a model plugin ships in its ``weights/`` folder (+ ``.json`` sidecar)
SHIPPED_WEIGHTS_NAME = "default.safetensors"


# --------------------------------------------------------------------------- naming
@dataclass(frozen=True)
class CheckpointFiles:
    """The four files of one checkpoint: weights, sidecar and (for step checkpoints) resume state."""

    weights: Path

    @property
    def stem(self) -> str:
        name = self.weights.name
        return name[: -len(".safetensors")] if name.endswith(".safetensors") else self.weights.stem

    @property
    def sidecar(self) -> Path:
        return self.weights.with_name(self.stem + ".json")

    @property
    def state(self) -> Path:
        return self.weights.with_name(self.stem + ".state.safetensors")

    @property
    def state_json(self) -> Path:
        return self.weights.with_name(self.stem + ".state.json")

    def all(self) -> list[Path]:
        """Every file, sidecar first (the order in which they are deleted)."""
        return [self.sidecar, self.weights, self.state, self.state_json]

    @classmethod
    def for_stem(cls, directory: Path, stem: str) -> "CheckpointFiles":
        return cls(Path(directory) / f"{stem}.safetensors")


def weights_path_from(path: Union[str, Path]) -> Path:
    """The weights file for a given path (a ``.safetensors`` file or its ``.json`` sidecar)."""
    path = Path(path)
    if path.suffix == ".json" and not path.name.endswith(".state.json"):
        return path.with_suffix(".safetensors")
    return path


def checkpoint_stamp(weights: Union[str, Path]) -> tuple[str, tuple[int, ...]]:
    """``(resolved weights path, modification times and sizes of the weights and the sidecar)``.

    A key for caches of what a checkpoint holds: rewriting either file (a new
    export, an edited sidecar) gives another stamp. Missing files count as 0.
    """
    path = weights_path_from(weights).resolve()
    stamp: list[int] = []
    for file in (path, CheckpointFiles(path).sidecar):
        try:
            stat = file.stat()
            stamp += [stat.st_mtime_ns, stat.st_size]
        except OSError:
            stamp += [0, 0]
    return str(path), tuple(stamp)


def shipped_weights(plugin_file: Union[str, Path]) -> Optional[Path]:
    """The default weights shipped next to a plugin module, or None when there are none.

    A model's ``model_info`` passes its own ``__file__``: the weights are
    ``<plugin folder>/weights/default.safetensors`` with the sidecar
    ``default.json`` beside it (both installed as package data). The file is
    used only when both exist, so a half-copied pair never counts as shipped.
    """
    folder = Path(plugin_file).resolve().parent / "weights"
    weights = folder / SHIPPED_WEIGHTS_NAME
    if weights.is_file() and weights.with_suffix(".json").is_file():
        return weights
    return None


# --------------------------------------------------------------------------- reading
def read_sidecar(path: Union[str, Path], model_name: Optional[str] = None) -> dict[str, Any]:
    """Read and check the sidecar of a weights file.

    Args:
        path: the ``.safetensors`` weights file or its ``.json`` sidecar.
        model_name: when given, the checkpoint must belong to this model.

    Raises:
        WeightsError: no weights file or sidecar, not a napari-inpaint checkpoint,
            a newer checkpoint format, or a checkpoint of another model than ``model_name``.
    """
    weights = weights_path_from(path)
    files = CheckpointFiles(weights)
    if weights.is_dir():
        raise WeightsError(f"{weights} is a directory, not a weights file")
    if not weights.is_file():
        raise WeightsError(f"weights file not found: {weights}")
    if not files.sidecar.is_file():
        foreign = weights_metadata(weights).get("model")
        hint = f" (its header says model {foreign!r})" if foreign else ""
        raise WeightsError(
            f"{weights} has no sidecar {files.sidecar.name}{hint}: it is not a napari-inpaint checkpoint, "
            f"or the .json file was not copied along with it"
        )
    try:
        data = json.loads(files.sidecar.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise WeightsError(f"cannot read the checkpoint sidecar {files.sidecar}: {error}") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise WeightsError(f"{files.sidecar} is not a napari-inpaint checkpoint sidecar")
    if int(data.get("format_version", 0)) > FORMAT_VERSION:
        raise WeightsError(
            f"{weights} was written by a newer napari-inpaint (checkpoint format {data.get('format_version')}); "
            f"upgrade to load it"
        )
    if model_name is not None and data.get("model") != model_name:
        raise WeightsError(
            f"{weights.name} is a checkpoint of model {data.get('model')!r}, not {model_name!r}; "
            f"use model={data.get('model')!r} or weights trained for {model_name!r}"
        )
    return data


#: the sidecar entry of a fitted checkpoint's verdict (:mod:`inpaint_models.pipeline.fit_verdict`)
VERDICT_KEY = "fit_verdict"


def read_verdict(path: Union[str, Path]) -> Optional[dict[str, Any]]:
    """The verdict of a fitted checkpoint (its fill against the classical fill on held-back holes), or None.

    ``{"compared_with", "fitted_psnr", "classical_psnr", "gain_db", "use": "fitted" | "classical", ...}``
    as :func:`inpaint_models.pipeline.fit_verdict.verdict_record` writes it; None
    for a checkpoint without one (not a fit, or a fit with nothing held back).

    Raises:
        WeightsError: as :func:`read_sidecar`.
    """
    verdict = read_sidecar(path).get(VERDICT_KEY)
    return dict(verdict) if isinstance(verdict, Mapping) and "use" in verdict else None


def weights_metadata(path: Union[str, Path]) -> dict[str, str]:
    """The header metadata of a safetensors file (``{}`` when it cannot be read); reads no tensor."""
    try:
        from safetensors import safe_open

        with safe_open(str(path), framework="numpy") as handle:
            return dict(handle.metadata() or {})
    except Exception:
        return {}


# --------------------------------------------------------------------------- what the weights fix
def architecture_of(weights: Optional[Union[str, Path]], info: Any) -> dict[str, Any]:
    """The values of the options a checkpoint fixes (its architecture), for read-only display.

    Args:
        weights: a checkpoint (``.safetensors`` or its sidecar); None = the model's
            default weights.
        info: the model's :class:`~inpaint_models.contract.datatypes.ModelInfo`.

    Returns:
        ``{option name: value}`` for every ``"architecture"`` option of
        ``info.options``, in declaration order: the sidecar's value, or the
        option's default when an older sidecar lacks it. Empty when the model
        has no weights to read (not trainable, or trainable without default weights).

    Raises:
        WeightsError: the checkpoint is unreadable or belongs to another model.
    """
    from inpaint_models.contract.options import ARCHITECTURE, fields_of_kind, option_default

    weights = weights if weights is not None else info.default_weights
    if weights is None:
        return {}
    saved = read_sidecar(weights, info.name).get("options", {}) or {}
    return {name: saved.get(name, option_default(field))
            for name, field in fields_of_kind(info, ARCHITECTURE).items()}


@dataclass(frozen=True)
class WeightsGeometry:
    """What a crop must look like for one model's weights (the fill pipeline fits crops to it).

    Attributes:
        channels: channel counts the weights accept (e.g. ``(3,)`` for an RGB
            checkpoint); None = any count.
        native_size: side of the square input of a fixed-size network (the
            checkpoint's training size); None = any size.
        size_multiple: height and width must be multiples of this (crops are padded).
    """

    channels: Optional[tuple[int, ...]]
    native_size: Optional[int]
    size_multiple: int = 1

    def to_dict(self) -> dict[str, Any]:
        """The sidecar's ``geometry`` entry (one channel count: a checkpoint is trained on one)."""
        channels = None if self.channels is None else (
            self.channels[0] if len(self.channels) == 1 else list(self.channels))
        return {"channels": channels, "native_size": self.native_size, "size_multiple": int(self.size_multiple)}

    @classmethod
    def from_dict(cls, entry: Mapping[str, Any]) -> "WeightsGeometry":
        channels = entry.get("channels")
        if channels is not None:
            channels = (int(channels),) if isinstance(channels, (int, float)) else tuple(int(c) for c in channels)
        native = entry.get("native_size")
        return cls(channels=channels, native_size=None if native is None else int(native),
                   size_multiple=max(1, int(entry.get("size_multiple", 1))))


def info_geometry(info: Any) -> WeightsGeometry:
    """The geometry a :class:`~inpaint_models.contract.datatypes.ModelInfo` declares (models without weights)."""
    return WeightsGeometry(channels=None if info.channels is None else tuple(info.channels),
                           native_size=info.native_size, size_multiple=max(1, int(info.size_multiple)))


def geometry_of(weights: Optional[Union[str, Path]], info: Any) -> tuple[WeightsGeometry, bool]:
    """The crop geometry of a model's weights, read from the sidecar; ``(geometry, recorded)``.

    ``recorded`` is False when the sidecar predates the ``geometry`` entry: the
    geometry is then inferred (the checkpoint's channel count; a fixed-size
    network's training size; ModelInfo's size multiple), and a caller that can
    build the network should compute it instead (:mod:`inpaint_models.pipeline.crops` does).
    Without weights (a classical model) the geometry is ModelInfo's, recorded.

    Raises:
        WeightsError: the checkpoint is unreadable or belongs to another model.
    """
    if weights is None:
        return info_geometry(info), True
    sidecar = read_sidecar(weights, info.name)
    entry = sidecar.get("geometry")
    if isinstance(entry, Mapping):
        return WeightsGeometry.from_dict(entry), True
    channels = sidecar.get("channels")
    native = sidecar.get("image_size") if info.native_size is not None else None
    return WeightsGeometry(
        channels=(int(channels),) if channels is not None else info_geometry(info).channels,
        native_size=None if native is None else int(native),
        size_multiple=max(1, int(info.size_multiple)),
    ), False


#: what to expect from default weights trained briefly on a CPU (see :func:`weights_note`)
SMALL_WEIGHTS_NOTE = "small CPU-trained default weights: expect results close to the classical fills"


def shipped_weights_record(info: ModelInfo) -> Optional[dict[str, Any]]:
    """The ``shipped`` record of the sidecar of a model's default weights, if any.

    Read as plain JSON (``NAME.json`` next to ``NAME.safetensors``), so listing
    models never imports torch.
    """
    if info.default_weights is None:
        return None
    sidecar = Path(info.default_weights).with_suffix(".json")
    try:
        data = json.loads(sidecar.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    record = data.get("shipped") if isinstance(data, dict) else None
    if not isinstance(record, dict):
        return None
    train = (data.get("config") or {}).get("train") or {}
    return dict(record, device=train.get("device"))


def weights_note(info: ModelInfo) -> Optional[str]:
    """A few words on what a model's default weights are, or None.

    Weights whose sidecar says they were trained on a CPU (the weights this
    package ships were trained for at most about an hour on 2 CPU cores) are
    marked :data:`SMALL_WEIGHTS_NOTE`, so nobody mistakes them for a network
    trained at scale.
    """
    record = shipped_weights_record(info)
    if record is None:
        return None
    on_cpu = record.get("device") == "cpu" or "CPU" in str(record.get("hardware", ""))
    return SMALL_WEIGHTS_NOTE if on_cpu else None
