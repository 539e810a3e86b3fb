"""Shared ``fill`` of the trained (neural) models: cached checkpoint loading and crop prediction.

A plugin built with :func:`~inpaint_models.models.neural_hooks.neural_hooks`
calls :func:`neural_fill`. The checkpoint is loaded once per (weights file,
the modification times and sizes of it and its sidecar, device) and kept in a small cache, so filling
many regions or planes, or filling again with another seed or step count,
does not reload it: the fill's options reach the cached task through
``task.use_options`` before each prediction.

The crop arrives already fitted to the weights by :mod:`inpaint_models.pipeline.crops`
(the one owner of crop geometry and channel adaptation): the channel count the
checkpoint was trained with, its native size for fixed-size networks, a
multiple of its size multiple. It is a plane (H, W, C), or for a model that
fills volumes (``ModelInfo.spatial_dims`` holding 3, e.g. ``stack-unet``) also
a volume (D, H, W, C). This module only checks that, runs ``task.predict``
under ``torch.inference_mode`` and returns float32 of the crop's shape.
"""

from __future__ import annotations

import collections
import threading
from pathlib import Path
from typing import Any, Callable, Optional, Union

import numpy as np
import torch

from inpaint_models.contract.datatypes import FillContext, ModelInfo, ProgressEvent
from inpaint_models.contract.errors import MissingWeightsError, ShapeMismatchError
from inpaint_models.io.sidecar import SHIPPED_WEIGHTS_NAME, checkpoint_stamp, shipped_weights  # noqa: F401 (re-exported)
from inpaint_models.training.inference import LoadedModel, load_task, merge_options
from inpaint_models.training.task import TaskFactory, TrainTask

_CACHE_SIZE = 4
_cache: "collections.OrderedDict[tuple, LoadedModel]" = collections.OrderedDict()
_cache_lock = threading.Lock()
_predict_locks: dict[int, threading.Lock] = {}


def clear_cache() -> None:
    """Forget every loaded checkpoint (tests; freeing GPU memory)."""
    with _cache_lock:
        _cache.clear()
        _predict_locks.clear()


def _cache_key(info: ModelInfo, weights: Union[str, Path], device: str) -> tuple:
    path, stamp = checkpoint_stamp(weights)
    return info.name, path, stamp, str(device)


def loaded_model(info: ModelInfo, factory: TaskFactory, weights: Union[str, Path], device: str,
                 options: Any = None) -> LoadedModel:
    """The checkpoint ``weights`` rebuilt for ``device``, from the cache when possible.

    The cache key is the checkpoint (path; modification times and sizes of the
    weights and the sidecar) and the device only: the networks are fixed by the checkpoint. ``options`` (a fill's
    options instance, or None) is applied to the task with ``use_options``.
    """
    key = _cache_key(info, weights, device)
    with _cache_lock:
        model = _cache.get(key)
        if model is not None:
            _cache.move_to_end(key)
    if model is None:
        model = load_task(key[1], info, factory, device=device)
        with _cache_lock:
            _cache[key] = model
            _predict_locks[id(model)] = threading.Lock()
            while len(_cache) > _CACHE_SIZE:
                _cache.popitem(last=False)
    if options is not None:
        merged = merge_options(info, model.sidecar.get("options", {}), options)
        with _predict_locks.get(id(model)) or threading.Lock():
            model.task.use_options(merged)
    return model


def neural_fill(info: ModelInfo, factory: TaskFactory, image: np.ndarray, mask: np.ndarray, options: Any,
                context: FillContext) -> np.ndarray:
    """The ``fill`` of a trained model: a plane, or a volume for a model that fills volumes.

    Args:
        info: the model's ModelInfo.
        factory: the model's task factory.
        image: float32 (H, W, C) in [0, 1] (hole pixels zeroed by the backend), already
            fitted to the weights by :mod:`inpaint_models.pipeline.crops`; for a model
            whose ``spatial_dims`` hold 3, also a volume crop float32 (D, H, W, C).
        mask: bool (H, W), or (D, H, W) with a volume; True = fill.
        options: the model's options instance (its fill options are used).
        context: weights path (always set for trainable models), device, reporter.

    Returns:
        float32 of the image's shape, in [0, 1].

    Raises:
        MissingWeightsError: no weights in ``context``.
        WeightsError: the checkpoint cannot be loaded, or a fill option does not fit it.
        ShapeMismatchError: the crop does not fit the weights (see :func:`predict_array`).
    """
    if context.weights is None:  # the backend raises MissingWeightsError before this
        raise MissingWeightsError(f"model {info.name!r} needs weights=PATH of a trained checkpoint")
    model = loaded_model(info, factory, context.weights, context.device)
    merged = merge_options(info, model.sidecar.get("options", {}), options)
    unit = model.task.progress_unit

    def progress(i: int, n: int) -> None:
        context.report(ProgressEvent("sample", i, n, message=f"{i} of {n} {unit}" if unit else ""))

    lock = _predict_locks.get(id(model)) or threading.Lock()
    with lock:  # use_options + predict on the one cached task: one fill at a time
        model.task.use_options(merged)
        return predict_array(model.task, image, mask, model.device, progress=progress)


def predict_array(task: TrainTask, image: np.ndarray, mask: np.ndarray, device: torch.device,
                  progress: Optional[Callable[[int, int], None]] = None, seed: int = 0) -> np.ndarray:
    """Run ``task.predict`` on one crop in [0, 1]: a plane or a volume, with its bool mask (True = fill).

    Args:
        task: a task loaded for inference (:func:`loaded_model`).
        image: float32 (H, W, C), or a volume (D, H, W, C) for a task that fills
            volumes. It must already fit the task: C = the checkpoint's channel
            count, a square of ``task.native_size`` for fixed-size networks, sides
            multiple of ``task.size_multiple``.
        mask: bool (H, W), or (D, H, W) with a volume.
        device: the task's device.
        progress: ``progress(i, n)`` between long steps of the prediction.
        seed: a stochastic sampler's seed.

    Returns:
        float32 of the image's shape, in [0, 1].

    Raises:
        ShapeMismatchError: the crop does not fit (a caller bypassing
            :mod:`inpaint_models.pipeline.crops`) or its mask does not match it.
    """
    if image.ndim not in (3, 4) or mask.shape != image.shape[:-1]:
        raise ShapeMismatchError(f"expected a plane (H, W, C) or a volume (D, H, W, C) with a matching mask; "
                                 f"got {image.shape} and {mask.shape}")
    height, width, channels = image.shape[-3:]
    expected = task.spec.channels
    native = task.native_size
    multiple = max(1, int(task.size_multiple))
    if channels != expected or (native is not None and (height, width) != (native, native)) or (
            height % multiple or width % multiple):
        size = f"{native}x{native}" if native is not None else f"sides multiple of {multiple}"
        raise ShapeMismatchError(
            f"crop {height}x{width}x{channels} does not fit these weights ({expected} channel(s), {size}); "
            f"inpaint_models.pipeline.crops fits crops to a checkpoint's geometry"
        )
    # (B, C, H, W) or (B, C, D, H, W) tensors, the masks with one channel
    image_t = torch.from_numpy(np.ascontiguousarray(np.moveaxis(image, -1, 0), dtype=np.float32))[None].to(device)
    mask_t = torch.from_numpy(np.ascontiguousarray(mask, dtype=np.float32))[None, None].to(device)
    with torch.inference_mode():
        predicted = task.predict(image_t * (1.0 - mask_t), mask_t, seed=seed, progress=progress)
    out = np.moveaxis(predicted[0].float().clamp(0.0, 1.0).cpu().numpy(), 0, -1)
    return np.ascontiguousarray(out, dtype=np.float32)
