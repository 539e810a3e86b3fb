"""Shared ``fill`` of the trained (neural) models: cached checkpoint loading and crop prediction.

A plugin's ``fill`` hook is one line::

    return neural_fill(model_info(), build_task, image, mask, options, context)

The checkpoint is loaded once per (file, modification time, device, options)
and kept in a small cache, so filling many regions or planes does not reload
it. The crop is adapted to what the checkpoint was trained on: channel count
(grey crops through an RGB model and vice versa), fixed input size (resized),
size multiple (padded by reflection); then ``task.predict`` runs under
``torch.inference_mode`` and the result is returned as float32 (H, W, C).
"""

from __future__ import annotations

import collections
import threading
from pathlib import Path
from typing import Any, Optional, Union

import numpy as np
import torch

from ..arrays import resize_mask, resize_plane
from ..datatypes import FillContext, ModelInfo, ProgressEvent
from ..training.inference import LoadedModel, load_task
from ..training.task import TaskFactory, TrainTask

_CACHE_SIZE = 4
_cache: "collections.OrderedDict[tuple, LoadedModel]" = collections.OrderedDict()
_cache_lock = threading.Lock()
_predict_locks: dict[int, threading.Lock] = {}


#: file name of the default weights a model plugin ships in its ``weights/`` folder (+ ``.json`` sidecar)
SHIPPED_WEIGHTS_NAME = "default.safetensors"


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


def clear_cache() -> None:
    """Forget every loaded checkpoint (tests; freeing GPU memory)."""
    with _cache_lock:
        _cache.clear()
        _predict_locks.clear()


def _options_key(options: Any) -> str:
    return repr(options)


def loaded_model(info: ModelInfo, factory: TaskFactory, weights, device: str, options: Any = None) -> LoadedModel:
    """The checkpoint ``weights`` rebuilt for ``device``, from the cache when possible."""
    from ..training.checkpoints import weights_path_from

    path = weights_path_from(weights).resolve()
    try:
        stat = path.stat()
        stamp = (stat.st_mtime_ns, stat.st_size)
    except OSError:
        stamp = (0, 0)
    key = (info.name, str(path), stamp, device, _options_key(options))
    with _cache_lock:
        model = _cache.get(key)
        if model is not None:
            _cache.move_to_end(key)
            return model
    model = load_task(path, info, factory, device=device, options=options)
    with _cache_lock:
        _cache[key] = model
        _predict_locks[id(model)] = threading.Lock()
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
    return model


def neural_fill(info: ModelInfo, factory: TaskFactory, image: np.ndarray, mask: np.ndarray, options: Any,
                context: FillContext) -> np.ndarray:
    """The ``fill`` hook of a trained model.

    Args:
        info: the model's ModelInfo.
        factory: the model's task factory.
        image: float32 (H, W, C) in [0, 1] (hole pixels zeroed by the backend).
        mask: bool (H, W), True = fill.
        options: the model's options instance.
        context: weights path (always set for trainable models), device, reporter.

    Returns:
        float32 (H, W, C) in [0, 1].
    """
    if context.weights is None:  # the backend raises MissingWeightsError before this
        from ..errors import MissingWeightsError

        raise MissingWeightsError(f"model {info.name!r} needs weights=PATH of a trained checkpoint")
    model = loaded_model(info, factory, context.weights, context.device, options)

    def progress(i: int, n: int) -> None:
        context.report(ProgressEvent("sample", i, n))

    lock = _predict_locks.get(id(model)) or threading.Lock()
    with lock:
        return predict_array(model.task, image, mask, model.device, progress=progress)


def predict_array(task: TrainTask, image: np.ndarray, mask: np.ndarray, device: torch.device,
                  progress: Optional[Any] = None, seed: int = 0) -> np.ndarray:
    """Run ``task.predict`` on one float32 (H, W, C) crop with a bool (H, W) hole mask."""
    channels = task.spec.channels
    count = image.shape[-1]
    if count == channels:
        return _predict_plane(task, image, mask, device, progress, seed)
    if count == 1 and channels == 3:
        rgb = np.repeat(image, 3, axis=-1)
        return _predict_plane(task, rgb, mask, device, progress, seed).mean(axis=-1, keepdims=True)
    if channels == 1:
        planes = [_predict_plane(task, np.ascontiguousarray(image[..., c : c + 1]), mask, device, progress, seed)
                  for c in range(count)]
        return np.concatenate(planes, axis=-1)
    # a colour model and another channel count: each channel as a grey image through the RGB model
    rest = [_predict_plane(task, np.repeat(image[..., c : c + 1], 3, axis=-1), mask, device, progress, seed)
            .mean(axis=-1, keepdims=True) for c in range(count)]
    return np.concatenate(rest, axis=-1)


def _predict_plane(task: TrainTask, image: np.ndarray, mask: np.ndarray, device: torch.device,
                   progress: Optional[Any], seed: int) -> np.ndarray:
    height, width, _channels = image.shape
    work, work_mask = image, mask
    native = task.native_size
    if native is not None and (height, width) != (native, native):
        work = resize_plane(np.ascontiguousarray(image, dtype=np.float32), native, native)
        work_mask = resize_mask(mask, native, native)
    multiple = max(1, int(task.size_multiple))
    pad_h, pad_w = (-work.shape[0]) % multiple, (-work.shape[1]) % multiple
    if pad_h or pad_w:
        work = np.pad(work, ((0, pad_h), (0, pad_w), (0, 0)), mode="symmetric")
        work_mask = np.pad(work_mask, ((0, pad_h), (0, pad_w)), mode="symmetric")
    image_t = torch.from_numpy(np.ascontiguousarray(work.transpose(2, 0, 1), dtype=np.float32))[None].to(device)
    mask_t = torch.from_numpy(np.ascontiguousarray(work_mask, dtype=np.float32))[None, None].to(device)
    with torch.inference_mode():
        predicted = task.predict(image_t * (1.0 - mask_t), mask_t, seed=seed, progress=progress)
    out = predicted[0].float().clamp(0.0, 1.0).permute(1, 2, 0).cpu().numpy()
    out = out[: out.shape[0] - pad_h, : out.shape[1] - pad_w]
    if out.shape[:2] != (height, width):
        out = resize_plane(np.ascontiguousarray(out), height, width)
    return np.ascontiguousarray(np.clip(out, 0.0, 1.0), dtype=np.float32)
