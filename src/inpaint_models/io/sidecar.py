"""Reading checkpoint sidecars without torch: what a weights file is, what it fixes, how crops must fit it.

Everything a front end or the fill pipeline needs to know about a checkpoint
*before* any network is built lives in its JSON sidecar (``<stem>.json`` next to
``<stem>.safetensors``, written by :mod:`.checkpoints`). This module reads it
with ``json`` only, so listing models, showing a checkpoint's architecture and
planning crops never import torch:

- :func:`read_sidecar` — the checked sidecar of a weights file: a regular file
  (:mod:`inpaint_models.io.regular_files`) of at most :data:`SIDECAR_MAX_BYTES`,
  valid against :data:`SIDECAR_SCHEMA` (:func:`check_sidecar`: types, ranges,
  nesting; a failure is a ``WeightsError`` naming the file and the field);
- :func:`architecture_of` — the options the weights fix, for read-only display;
- :func:`geometry_of` — the channels, native size and size multiple crops must
  have for these weights (the ``geometry`` entry; see :class:`WeightsGeometry`);
- :func:`shipped_weights` — the default weights a model plugin ships.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Optional, Union

from inpaint_models.contract.datatypes import ModelInfo
from inpaint_models.contract.errors import WeightsError
from inpaint_models.io.regular_files import check_regular_file, file_problem, read_regular_file
from inpaint_models.io.weights_header import read_weights_header

FORMAT = "napari-inpaint-checkpoint"
FORMAT_VERSION = 1
#: weights of the exponential moving average are stored as ``ema.<network>.<key>``
EMA_PREFIX = "ema."
#: file name of the default weights a model plugin ships in its ``weights/`` folder (+ ``.json`` sidecar)
SHIPPED_WEIGHTS_NAME = "default.safetensors"
#: the sidecar entry of a fitted checkpoint's verdict (:mod:`inpaint_models.pipeline.fit_verdict`)
VERDICT_KEY = "fit_verdict"


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
    """``(absolute weights path, modification times and sizes of the weights and the sidecar)``.

    A key for caches of what a checkpoint holds: rewriting either file (a new
    export, an edited sidecar) gives another stamp. Missing files count as 0.
    """
    # absolute, links not followed: the sidecar read is the one beside the path given, as read_sidecar reads
    # it (a link's target may have another beside it); a link loop gets here unresolved, and read_sidecar names it
    path = Path(os.path.abspath(weights_path_from(weights)))
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


# --------------------------------------------------------------------------- the schema
#: the largest sidecar read: the shipped ones are about 4 KB, a fit's with its verdict about 10 KB
SIDECAR_MAX_BYTES = 2**20
#: the deepest nesting of objects and lists a sidecar may have (the written ones reach 4)
SIDECAR_MAX_DEPTH = 32
#: bounds of sizes in pixels (``image_size``, ``geometry.native_size``). 8 is the smallest training size
#: (:mod:`inpaint_models.training.config`). 4096: a fixed-size network gets every crop resized to its
#: native size, and a 4096 x 4096 crop is already 256 MiB of float32 RGBA per crop before the network's
#: own activations; no network here is trained near it (the shipped ones: 32 to 256 px)
SIZE_RANGE = (8, 4096)
#: bounds of ``geometry.size_multiple``: crops are padded to it, so it bounds the padding; a
#: pconv-unet of 10 levels needs 1024, one whose levels follow a 4096 px training size 2048
MULTIPLE_RANGE = (1, 4096)
#: bounds of channel counts: grey, grey + alpha, RGB, RGBA (what the fill pipeline routes to a
#: model, :mod:`inpaint_models.pipeline.crops`; the trainer writes 1 or 3)
CHANNEL_RANGE = (1, 4)
_TEXT_MAX = 4096
_OPTIONS_MAX = 256


def _is_int(value: Any, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def _is_scalar(value: Any) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return -(2**63) <= value < 2**63
    return value is None or isinstance(value, bool) or (isinstance(value, str) and len(value) <= _TEXT_MAX)


def _is_channels(value: Any) -> bool:
    if isinstance(value, list):
        return 0 < len(value) <= CHANNEL_RANGE[1] and len(set(map(str, value))) == len(value) and all(
            _is_int(count, *CHANNEL_RANGE) for count in value)
    return _is_int(value, *CHANNEL_RANGE)


@dataclass(frozen=True)
class Rule:
    """What one sidecar field must be: ``test(value)`` holds; ``expected`` says it in words.

    ``each``: the field is an object of at most ``limit`` entries, each value of which
    ``each(value)`` accepts (``each_expected`` in words; a failure names the entry).
    """

    test: Callable[[Any], bool]
    expected: str
    required: bool = False
    nullable: bool = False
    each: Optional[Callable[[Any], bool]] = None
    each_expected: str = ""


def _integer(low: int, high: int, **flags: bool) -> Rule:
    return Rule(lambda value: _is_int(value, low, high), f"an integer from {low} to {high}", **flags)


def _mapping(each: Callable[[Any], bool], each_expected: str, limit: int = 10**6, **flags: bool) -> Rule:
    return Rule(lambda value: isinstance(value, dict) and len(value) <= limit,
                f"an object of at most {limit} entries", each=each, each_expected=each_expected, **flags)


_GEOMETRY_KEYS = frozenset({"channels", "native_size", "size_multiple"})

#: The sidecar's schema: dotted field -> :class:`Rule`, checked in this order by :func:`check_sidecar`
#: (a ``geometry.*`` field only once ``geometry`` is an object). A field may be absent unless
#: ``required``; null only where ``nullable``. Other top-level fields (``config``, ``shipped``,
#: ``versions``, ``created``, a newer writer's records) are kept unchecked but for the size and
#: depth bounds: nothing reads them to size or build anything. Checked by hand, not with a JSON
#: Schema library (jsonschema): the rules are a dozen, and the messages must name the file and say
#: the range in words.
SIDECAR_SCHEMA: dict[str, Rule] = {
    "format": Rule(lambda value: isinstance(value, str), "a string", required=True),
    "format_version": _integer(0, 2**31 - 1),
    "model": Rule(lambda value: isinstance(value, str) and 0 < len(value) <= 200,
                  "a model name (a string of 1 to 200 characters)", required=True),
    "options": _mapping(_is_scalar, "a finite number (an integer within 64 bits), a string of at most "
                        f"{_TEXT_MAX} characters, true / false or null", _OPTIONS_MAX),
    "channels": _integer(*CHANNEL_RANGE),
    "image_size": _integer(*SIZE_RANGE),
    "geometry": Rule(lambda value: isinstance(value, dict) and set(value) <= _GEOMETRY_KEYS,
                     "an object with at most channels, native_size and size_multiple", nullable=True),
    "geometry.channels": Rule(_is_channels, f"an integer from {CHANNEL_RANGE[0]} to {CHANNEL_RANGE[1]} "
                              f"or a list of them", nullable=True),
    "geometry.native_size": _integer(*SIZE_RANGE, nullable=True),
    "geometry.size_multiple": _integer(*MULTIPLE_RANGE),
    "step": _integer(0, 2**63 - 1),
    "total_steps": _integer(0, 2**63 - 1),
    "metrics": _mapping(lambda value: value is None or (isinstance(value, (int, float))
                                                        and not isinstance(value, bool)),
                        "a number or null", nullable=True),
    "extra": Rule(lambda value: isinstance(value, dict), "an object"),
    "files": _mapping(lambda value: isinstance(value, str) and len(value) <= _TEXT_MAX, "a string"),
    VERDICT_KEY: Rule(lambda value: isinstance(value, dict), "an object", nullable=True),
}


def _shown(value: Any) -> str:
    text = json.dumps(value, allow_nan=True, default=str) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _depth(data: Any) -> int:
    """How deep objects and lists nest in ``data`` (0 for a scalar), without recursion."""
    deepest, stack = 0, [(data, 0)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, (dict, list)):
            depth += 1
            deepest = max(deepest, depth)
            if depth > SIDECAR_MAX_DEPTH:
                break
            stack.extend((item, depth) for item in (value.values() if isinstance(value, dict) else value))
    return deepest


def check_sidecar(data: Mapping[str, Any], source: Union[str, Path]) -> None:
    """Check a parsed sidecar against :data:`SIDECAR_SCHEMA` and the nesting bound.

    Raises:
        WeightsError: ``weights sidecar <source>: <field> must be <expected>, not <value>``
            for the first field that breaks its rule (a string where an integer is
            expected, NaN or infinity, a size out of range, a list for an object...).
    """
    if _depth(data) > SIDECAR_MAX_DEPTH:
        raise WeightsError(f"weights sidecar {source}: nests objects and lists more than "
                           f"{SIDECAR_MAX_DEPTH} levels deep")
    for name, rule in SIDECAR_SCHEMA.items():
        parent, _, key = name.rpartition(".")
        holder = data.get(parent) if parent else data
        if not isinstance(holder, Mapping):
            continue
        if key not in holder:
            if rule.required:
                raise WeightsError(f"weights sidecar {source}: {name} is missing; it must be {rule.expected}")
            continue
        value = holder[key]
        if value is None and rule.nullable:
            continue
        if not rule.test(value):
            raise WeightsError(f"weights sidecar {source}: {name} must be {rule.expected}, not {_shown(value)}")
        for entry, item in value.items() if rule.each is not None else ():
            if not rule.each(item):
                raise WeightsError(f"weights sidecar {source}: {name}.{entry[:60]} must be {rule.each_expected}, "
                                   f"not {_shown(item)}")


def read_json_file(path: Union[str, Path], limit: int, what: str) -> Any:
    """Parse a JSON file of at most ``limit`` bytes that is a regular file.

    Raises:
        WeightsError: not a regular file, over ``limit``, not UTF-8 JSON, or nested
            too deeply for the parser (Python's ``json`` recurses once per level).
    """
    raw = read_regular_file(path, limit, what, WeightsError)
    try:
        return json.loads(raw.decode("utf-8"))
    except RecursionError:
        raise WeightsError(f"{what} {path}: nests objects and lists too deeply to be read") from None
    except ValueError as error:  # UnicodeDecodeError, JSONDecodeError, an integer of over 4300 digits
        raise WeightsError(f"cannot read the {what} {path}: {str(error)[:200]}") from None


# --------------------------------------------------------------------------- reading
def read_sidecar(path: Union[str, Path], model_name: Optional[str] = None) -> dict[str, Any]:
    """Read and check the sidecar of a weights file.

    Only regular files are read (:mod:`inpaint_models.io.regular_files`: a FIFO,
    a device, a directory or a link loop is refused as such), the sidecar at most
    :data:`SIDECAR_MAX_BYTES`, and its content is checked against
    :data:`SIDECAR_SCHEMA` before anything uses it (see :func:`check_sidecar`).

    Args:
        path: the ``.safetensors`` weights file or its ``.json`` sidecar.
        model_name: when given, the checkpoint must belong to this model.

    Raises:
        WeightsError: no weights file or sidecar, not a regular file, a sidecar
            that breaks the schema (the message names the file and the field),
            not a napari-inpaint checkpoint, a newer checkpoint format, or a
            checkpoint of another model than ``model_name``.
    """
    weights = weights_path_from(path)
    files = CheckpointFiles(weights)
    check_regular_file(weights, "weights file", WeightsError)
    problem = file_problem(files.sidecar, "weights sidecar")
    if problem is not None and problem.missing:
        foreign = weights_metadata(weights).get("model")
        hint = f" (its header says model {foreign!r})" if foreign else ""
        raise WeightsError(
            f"{weights} has no sidecar {files.sidecar.name}{hint}: it is not a napari-inpaint checkpoint, "
            f"or the .json file was not copied along with it"
        )
    if problem is not None:
        raise WeightsError(problem.message)
    data = read_json_file(files.sidecar, SIDECAR_MAX_BYTES, "weights sidecar")
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise WeightsError(f"{files.sidecar} is not a napari-inpaint checkpoint sidecar")
    check_sidecar(data, files.sidecar)
    if data.get("format_version", 0) > FORMAT_VERSION:
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
        return dict(read_weights_header(path).metadata)
    except WeightsError:
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

    def disagreement(self, network: "WeightsGeometry") -> Optional[str]:
        """What in this (recorded) geometry the ``network``'s own geometry cannot take, or None.

        Crops fitted to this geometry reach a network of geometry ``network``: the
        native sizes must be equal, every channel count recorded must be one the
        network takes, and the recorded size multiple a multiple of the network's.
        """
        if self.native_size != network.native_size:
            return f"native_size {self.native_size}, but the network takes {network.native_size}"
        if network.channels is not None and (self.channels is None or not set(self.channels) <= set(network.channels)):
            return f"channels {self.channels}, but the network takes {list(network.channels)}"
        if self.size_multiple % max(1, network.size_multiple):
            return f"size_multiple {self.size_multiple}, but the network needs multiples of {network.size_multiple}"
        return None

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
        data = read_json_file(sidecar, SIDECAR_MAX_BYTES, "weights sidecar")
    except WeightsError:
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
