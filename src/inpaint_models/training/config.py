"""Training configuration: a TOML or YAML file read into dataclasses.

A config file has two sections::

    [model]                 # the model's own options dataclass, plus its name
    name = "autoencoder"
    depth = 4

    [train]                 # TrainSettings below: data, sizes, steps, device...
    data = ["data/train"]
    steps = 2000

Every check runs before any work starts (no image is read, no network built)
and a problem raises one :class:`~inpaint_models.contract.errors.ConfigError` whose
message names the section, the key and what is wrong. Relative paths are
relative to the current working directory.
"""

from __future__ import annotations

import dataclasses
import json
import math
import tomllib
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Mapping, Optional, Sequence, Union

from inpaint_models.contract.errors import ConfigError, InpaintError, OptionError
from inpaint_models.contract.options import build_options, coerce_value, options_as_dict
from inpaint_models.contract.suggest import did_you_mean
from inpaint_models.io.sidecar import SIZE_RANGE

Precision = Literal["auto", "fp32", "bf16", "fp16"]

#: metric names a run may select as ``best_metric`` (from metrics.py) and whether higher is better
BEST_METRICS: dict[str, bool] = {
    "psnr": True, "psnr_hole": True, "ssim": True, "ssim_hole": True,
    "l1": False, "l1_hole": False, "mse": False, "mse_hole": False,
}


@dataclass
class TrainSettings:
    """The ``[train]`` section: everything model-independent about a run.

    Attributes:
        data: folder(s) searched recursively for png/jpg/tif images (a string is one folder);
            empty when the config has a ``data_source`` (a fit reads the array it fills).
        validation: folder(s) of validation images; when empty, ``validation_split``
            of the training files is held out instead.
        validation_split: fraction of the training files held out for validation (0 = none).
        validation_images: at most this many validation images are scored at each validation.
        image_size: side of the square training crops, in pixels.
        channels: 3 (RGB; grey files are repeated) or 1 (grey; colour files are converted).
        crop_scale: [min, max] side of the random crop as a fraction of the image's
            shorter side, before resizing to ``image_size``.
        flip: random horizontal flips.
        rotate: random rotations by a multiple of 90 degrees (crops are square).
        colour_jitter: per-sample colour augmentation of strength ``j`` in [0, 1]
            (0 = off): a random permutation of the RGB channels, then per-channel
            gains uniform in [1 - j, 1 + j] and an offset uniform in [-j/4, j/4],
            clipped to [0, 1]. Grey images (``channels = 1``) get the gain and offset.
        min_image_size: files whose shorter side is below this are skipped (and counted);
            0 means ``image_size // 2``.
        batch_size: images per step *per process* (the global batch is this times the
            number of DDP processes).
        steps: total optimisation steps (a GAN's discriminator and generator updates
            of one iteration are one step).
        seconds: a time budget: the run ends (normally, not cancelled) after the
            step that passes this many seconds of training, or at ``steps``,
            whichever comes first; a cosine schedule then decays over the budget.
            0 = no budget. A resumed run continues the budget it had spent.
        learning_rate: learning rate of the main network (the generator).
        discriminator_learning_rate: learning rate of discriminators/critics; 0 means
            ``learning_rate``.
        lr_schedule: ``constant`` or ``cosine`` decay to 0 at ``steps``.
        warmup_steps: linear learning-rate warm-up from 0.
        weight_decay: passed to optimisers that take it.
        mask: mask kind from :data:`inpaint_models.io.masks.MASK_KINDS`.
        mask_preset: stroke preset (``thin``, ``medium``, ``thick``) for ``mask = "strokes"`` or ``"mixed"``.
        mask_params: extra keyword arguments of the mask generator (a table).
        device: ``auto``, ``cpu``, ``cuda``, ``cuda:N`` (``mps`` where available).
        precision: ``auto`` (bf16 on CUDA where supported, else fp16 with a gradient
            scaler; fp32 on CPU), ``fp32``, ``bf16`` or ``fp16`` (CUDA only).
        channels_last: use the channels-last memory format on CUDA.
        grad_clip: clip each optimiser's gradient norm to this value (0 = off).
        ema_decay: keep an exponential moving average of the inference networks'
            weights with this decay (0 = off); previews, validation and the saved
            fill weights then use the average.
        seed: seeds weights, crops, flips and masks: two runs with one seed match.
        workers: data-loader worker processes (0 = load in the main process).
        output: run folder (checkpoints, previews, metrics log, TensorBoard log).
        log_every: steps between metrics-log records.
        checkpoint_every: steps between checkpoints (a final one is always written).
        checkpoint_seconds: also write a checkpoint when this many seconds have passed
            since the last one (0 = by steps only), so a killed run loses at most
            that much training, however slow its steps (and at least 20 times as
            long as the last one took to write: big checkpoints cost at most 5 %).
        preview_every: steps between preview grids (0 = off).
        validate_every: steps between validations (0 = off).
        preview_images: rows of each preview grid.
        keep_last: number of step checkpoints kept (the best one is kept apart).
        best_metric: validation metric selecting ``best.safetensors``.
        log_format: ``jsonl`` or ``csv``.
        tensorboard: also write a TensorBoard log when ``tensorboard`` is installed.
        resume: ``false``; ``true`` (continue from the newest complete step
            checkpoint in ``output``; a ConfigError naming the folder when it holds
            none); or a checkpoint path.
    """

    data: list[Path] = field(default_factory=list)
    validation: list[Path] = field(default_factory=list)
    validation_split: float = 0.05
    validation_images: int = 32
    image_size: int = 64
    channels: int = 3
    crop_scale: list[float] = field(default_factory=lambda: [0.6, 1.0])
    flip: bool = True
    rotate: bool = False
    colour_jitter: float = 0.0
    min_image_size: int = 0
    batch_size: int = 16
    steps: int = 1000
    seconds: float = 0.0
    learning_rate: float = 2e-4
    discriminator_learning_rate: float = 0.0
    lr_schedule: Literal["constant", "cosine"] = "constant"
    warmup_steps: int = 0
    weight_decay: float = 0.0
    mask: str = "box"
    mask_preset: Optional[str] = None
    mask_params: dict[str, Any] = field(default_factory=dict)
    device: str = "auto"
    precision: Precision = "auto"
    channels_last: bool = True
    grad_clip: float = 0.0
    ema_decay: float = 0.0
    seed: int = 0
    workers: int = 0
    output: Path = Path("runs/train")
    log_every: int = 10
    checkpoint_every: int = 500
    checkpoint_seconds: float = 15.0
    preview_every: int = 250
    validate_every: int = 250
    preview_images: int = 4
    keep_last: int = 3
    best_metric: str = "psnr_hole"
    log_format: Literal["jsonl", "csv"] = "jsonl"
    tensorboard: bool = True
    resume: Union[bool, Path] = False

    @property
    def d_learning_rate(self) -> float:
        """The discriminator's learning rate (``learning_rate`` when not set)."""
        return self.discriminator_learning_rate or self.learning_rate

    @property
    def smallest_image(self) -> int:
        """Shorter side below which a file is skipped."""
        return self.min_image_size or max(1, self.image_size // 2)


@dataclass
class TrainConfig:
    """A whole training configuration.

    Attributes:
        model_name: the registered model to train (``[model] name``).
        train: the ``[train]`` section.
        model: an instance of the model's options dataclass (the rest of ``[model]``);
            None means the model's defaults (filled in by :func:`load_config`).
        source: the file the config was read from, if any (for messages).
        data_source: where the run's samples come from, a
            :class:`~inpaint_models.training.sources.DataSource` (``fit`` sets an
            :class:`~inpaint_models.training.array_data.ArraySource`; ``[train] data``
            is then empty); None = the image folders of ``[train] data``
            (:class:`~inpaint_models.training.folders.ImageFolders`).
    """

    model_name: str
    train: TrainSettings = field(default_factory=TrainSettings)
    model: Any = None
    source: Optional[Path] = None
    data_source: Any = None


# --------------------------------------------------------------------------- reading
def read_config_file(path: Union[str, Path]) -> dict[str, Any]:
    """Parse a ``.toml``, ``.yaml`` or ``.yml`` file into a plain dict.

    Raises:
        ConfigError: missing file, unknown extension or a syntax error (with its line).
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    suffix = path.suffix.lower()
    text = path.read_text(encoding="utf-8")
    if suffix == ".toml":
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as error:
            raise ConfigError(f"{path}: invalid TOML: {error}") from None
    elif suffix in (".yaml", ".yml"):
        import yaml

        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as error:
            raise ConfigError(f"{path}: invalid YAML: {' '.join(str(error).split())}") from None
        data = {} if data is None else data
    elif suffix == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as error:
            raise ConfigError(f"{path}: invalid JSON: {error}") from None
    else:
        raise ConfigError(f"{path}: unknown config format {suffix!r}; use .toml, .yaml or .yml")
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the config must be a table with [model] and [train] sections")
    return data


def parse_value(text: str) -> Any:
    """A ``--set`` value: a TOML literal (``100``, ``true``, ``[1, 2]``, ``"x"``) or else the bare string."""
    try:
        return tomllib.loads(f"value = {text}")["value"]
    except tomllib.TOMLDecodeError:
        return text


def apply_overrides(data: dict[str, Any], overrides: Union[Mapping[str, Any], Sequence[str], None]) -> dict[str, Any]:
    """Apply ``section.key=value`` overrides to a raw config dict (a new dict is returned).

    ``overrides`` is a mapping (``{"train.steps": 100}``) or CLI strings
    (``["train.steps=100"]``, values parsed by :func:`parse_value`).
    Nested keys (``train.mask_params.count=2``) address sub-tables.
    """
    data = json.loads(json.dumps(data, default=str))  # deep copy; values are plain
    if not overrides:
        return data
    if isinstance(overrides, Mapping):
        items = list(overrides.items())
    else:
        items = []
        for item in overrides:
            key, separator, value = str(item).partition("=")
            if not separator or not key.strip():
                raise ConfigError(f"override {item!r} must look like section.key=value (e.g. train.steps=100)")
            items.append((key.strip(), parse_value(value.strip())))
    for key, value in items:
        parts = [part for part in key.split(".") if part]
        if len(parts) < 2:
            raise ConfigError(f"override {key!r} must name a section and a key, e.g. train.steps or model.depth")
        table = data
        for part in parts[:-1]:
            child = table.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigError(f"override {key!r}: {part!r} is not a table")
            table = child
        table[parts[-1]] = value
    return data


# --------------------------------------------------------------------------- building
def _train_types() -> dict[str, Any]:
    return typing.get_type_hints(TrainSettings)


def _coerce_train_value(name: str, annotation: Any, value: Any) -> Any:
    """Check one ``[train]`` value against its annotation; raise ConfigError on mismatch."""
    where = f"[train] {name}"
    if name in ("data", "validation"):
        if value is None or value == "":
            return []
        items = [value] if isinstance(value, (str, Path)) else value
        if not isinstance(items, (list, tuple)) or not all(isinstance(v, (str, Path)) and str(v) for v in items):
            raise ConfigError(f"{where} must be a folder path or a list of folder paths; got {value!r}")
        return [Path(v).expanduser() for v in items]
    if name == "crop_scale":
        if (
            not isinstance(value, (list, tuple))
            or len(value) != 2
            or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
        ):
            raise ConfigError(f"{where} must be a list of two numbers [min, max]; got {value!r}")
        return [float(v) for v in value]
    if name == "mask_params":
        if not isinstance(value, Mapping):
            raise ConfigError(f"{where} must be a table of mask-generator arguments; got {value!r}")
        return dict(value)
    if name == "resume":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false", "yes", "no", "1", "0", ""):
            return value.lower() in ("true", "yes", "1")
        if isinstance(value, (str, Path)):
            return Path(value).expanduser()
        raise ConfigError(f"{where} must be true, false or a checkpoint path; got {value!r}")
    if name == "output":
        if not isinstance(value, (str, Path)) or not str(value):
            raise ConfigError(f"{where} must be a folder path; got {value!r}")
        return Path(value).expanduser()
    try:
        return coerce_value(name, annotation, value)
    except OptionError as error:
        message = str(error).replace(f"option {name!r}", where, 1)
        raise ConfigError(message) from None


def build_train_settings(section: Mapping[str, Any]) -> TrainSettings:
    """A :class:`TrainSettings` from a raw ``[train]`` table (types coerced, unknown keys rejected)."""
    if not isinstance(section, Mapping):
        raise ConfigError(f"[train] must be a table of settings; got {section!r}")
    types = _train_types()
    unknown = sorted(set(section) - set(types))
    if unknown:
        hint = did_you_mean(unknown[0], types) if len(unknown) == 1 else ""
        raise ConfigError(
            f"[train] has unknown key{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))}{hint}; "
            f"valid keys: {', '.join(sorted(types))}"
        )
    values = {key: _coerce_train_value(key, types[key], value) for key, value in section.items()}
    return TrainSettings(**values)


def _model_info(model_name: str, registry: Any):
    from inpaint_models.contract.registry import default_registry

    registry = registry or default_registry()
    return registry.info(model_name)


def build_config(data: Mapping[str, Any], registry: Any = None, source: Optional[Path] = None,
                 data_source: Any = None) -> TrainConfig:
    """A checked :class:`TrainConfig` from a raw dict (as read from a file); ``data_source`` as in :class:`TrainConfig`.

    Raises:
        ConfigError: unknown section or key, bad value, missing data folder...
        UnknownModelError / NotTrainableError: the model cannot be trained.
    """
    from inpaint_models.contract.errors import NotTrainableError

    prefix = f"{source}: " if source else ""
    unknown = sorted(set(data) - {"model", "train"})
    if unknown:
        hint = did_you_mean(unknown[0], ["model", "train"]) if len(unknown) == 1 else ""
        raise ConfigError(f"{prefix}unknown section{'s' if len(unknown) > 1 else ''} "
                          f"{', '.join(map(repr, unknown))}{hint}; a config has [model] and [train]")
    model_section = data.get("model")
    if not isinstance(model_section, Mapping) or not model_section.get("name"):
        raise ConfigError(f"{prefix}[model] name is missing: say which model to train, e.g. name = \"autoencoder\"")
    model_section = dict(model_section)
    model_name = str(model_section.pop("name"))
    info = _model_info(model_name, registry)
    if not info.trainable:
        raise NotTrainableError(f"model {model_name!r} is not trainable")
    try:
        options = build_options(info, model_section)
    except OptionError as error:
        raise ConfigError(f"{prefix}[model] {error}") from None
    try:
        settings = build_train_settings(data.get("train", {}))
    except ConfigError as error:
        raise ConfigError(f"{prefix}{error}") from None
    config = TrainConfig(model_name=model_name, train=settings, model=options, source=source,
                         data_source=data_source)
    check_config(config, info)
    return config


def load_config(
    config: Union[str, Path, TrainConfig, Mapping[str, Any]],
    overrides: Union[Mapping[str, Any], Sequence[str], None] = None,
    registry: Any = None,
    data_source: Any = None,
) -> TrainConfig:
    """Read and check a training configuration.

    Args:
        config: a ``.toml`` / ``.yaml`` path, a raw dict of the same shape, or a
            :class:`TrainConfig` (checked again; its model options default when None).
        overrides: ``section.key=value`` strings or a ``{"section.key": value}`` mapping.
        registry: the model registry (default: installed plugins).
        data_source: the run's :class:`~inpaint_models.training.sources.DataSource`
            instead of the image folders of ``[train] data`` (which must then be
            empty); None keeps a TrainConfig's own.

    Raises:
        ConfigError: with one message naming the problem, before any work starts.
    """
    if isinstance(config, TrainConfig):
        if data_source is not None:
            config = dataclasses.replace(config, data_source=data_source)
        if overrides:
            config = build_config(apply_overrides(config_to_dict(config), overrides), registry, config.source,
                                  config.data_source)
        else:
            info = _model_info(config.model_name, registry)
            if config.model is None:
                config = dataclasses.replace(config, model=info.options())
            elif not isinstance(config.model, info.options):
                raise ConfigError(
                    f"TrainConfig.model must be a {info.options.__name__} for model {config.model_name!r}, "
                    f"got {type(config.model).__name__}"
                )
            from inpaint_models.contract.errors import NotTrainableError

            if not info.trainable:
                raise NotTrainableError(f"model {config.model_name!r} is not trainable")
            check_config(config, info)
        return config
    if isinstance(config, Mapping):
        return build_config(apply_overrides(dict(config), overrides), registry, data_source=data_source)
    path = Path(config).expanduser()
    return build_config(apply_overrides(read_config_file(path), overrides), registry, source=path,
                        data_source=data_source)


def check_config(config: TrainConfig, info: Any = None) -> None:
    """Check every value of ``config`` that can be checked without reading images.

    Raises:
        ConfigError: the first problem found, with the key it concerns.
    """
    from inpaint_models.contract.devices import resolve_device
    from inpaint_models.io.masks import make_mask

    s = config.train
    prefix = f"{config.source}: " if config.source else ""

    def fail(message: str) -> None:
        raise ConfigError(prefix + message)

    if config.data_source is None and not s.data:
        fail("[train] data is missing: give the folder(s) of training images, e.g. data = [\"images/train\"]")
    if config.data_source is not None and s.data:
        fail("[train] data names folders, but this run reads its own data source (a fit); leave [train] data empty")
    for folder in list(s.data) + list(s.validation):
        key = "data" if folder in s.data else "validation"
        if not Path(folder).is_dir():
            fail(f"[train] {key}: folder not found: {folder}")
    positive = ("image_size", "batch_size", "steps", "log_every", "checkpoint_every", "keep_last", "preview_images")
    for name in positive:
        if getattr(s, name) < 1:
            fail(f"[train] {name} must be at least 1; got {getattr(s, name)}")
    non_negative = ("warmup_steps", "workers", "preview_every", "validate_every", "min_image_size", "validation_images")
    for name in non_negative:
        if getattr(s, name) < 0:
            fail(f"[train] {name} must be 0 or more; got {getattr(s, name)}")
    for name in ("learning_rate", "discriminator_learning_rate", "weight_decay", "grad_clip", "seconds",
                 "checkpoint_seconds"):
        value = getattr(s, name)
        if not math.isfinite(value) or value < 0:
            fail(f"[train] {name} must be a finite number >= 0; got {value}")
    if s.learning_rate <= 0:
        fail(f"[train] learning_rate must be positive; got {s.learning_rate}")
    if not 0.0 <= s.validation_split < 1.0:
        fail(f"[train] validation_split must be in [0, 1); got {s.validation_split}")
    if not (math.isfinite(s.colour_jitter) and 0.0 <= s.colour_jitter <= 1.0):
        fail(f"[train] colour_jitter must be in [0, 1] (0 = off); got {s.colour_jitter}")
    if not 0.0 <= s.ema_decay < 1.0:
        fail(f"[train] ema_decay must be in [0, 1) (0 = off); got {s.ema_decay}")
    if s.channels not in (1, 3):
        fail(f"[train] channels must be 1 (grey) or 3 (RGB); got {s.channels}")
    low, high = s.crop_scale
    if not 0.0 < low <= high <= 1.0:
        fail(f"[train] crop_scale must satisfy 0 < min <= max <= 1; got {s.crop_scale}")
    if s.best_metric not in BEST_METRICS:
        fail(f"[train] best_metric must be one of {', '.join(BEST_METRICS)}; got {s.best_metric!r}")
    if not SIZE_RANGE[0] <= s.image_size <= SIZE_RANGE[1]:  # the sizes a checkpoint's sidecar may record
        fail(f"[train] image_size must be from {SIZE_RANGE[0]} to {SIZE_RANGE[1]}; got {s.image_size}")
    if info is not None:
        if s.image_size < info.min_size:
            fail(f"[train] image_size {s.image_size} is below model {info.name!r}'s minimum {info.min_size}")
        if info.channels is not None and s.channels not in info.channels:
            fail(f"[train] channels = {s.channels}, but model {info.name!r} accepts {info.channels}")
    try:
        import numpy as np

        make_mask(s.mask, (s.image_size, s.image_size), np.random.default_rng(0), s.mask_preset, **s.mask_params)
    except (InpaintError, TypeError, ValueError) as error:
        fail(f"[train] mask: {error}")
    try:
        device = resolve_device(s.device)
    except InpaintError as error:
        fail(f"[train] device: {error}")
    if s.precision == "fp16" and not device.startswith("cuda"):
        fail(f"[train] precision = \"fp16\" needs a CUDA device (device resolves to {device}); use fp32 or bf16")
    if isinstance(s.resume, Path) and not s.resume.is_file():
        fail(f"[train] resume: checkpoint not found: {s.resume}")


# --------------------------------------------------------------------------- writing
def _plain(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return value


def config_to_dict(config: TrainConfig) -> dict[str, Any]:
    """The resolved config as plain JSON/TOML-able data (``[model]`` with ``name``, ``[train]``)."""
    model = {"name": config.model_name}
    if config.model is not None:
        model.update(_plain(options_as_dict(config.model)))
    train = {f.name: _plain(getattr(config.train, f.name)) for f in dataclasses.fields(TrainSettings)}
    return {"model": model, "train": train}
