"""The ``fill`` and ``train`` hooks of a trained (neural) model, built from its task module; no torch here.

A trainable model is two modules: a torch-free ``plugin.py`` (options
dataclass, ``model_info`` and these hooks) and a ``task.py`` with everything
torch (the networks' :class:`~inpaint_models.training.TrainTask`). The plugin
ends with one line::

    fill, train, build_task = neural_hooks(model_info, "inpaint_models.models.glcic.task")

A model that fills volumes (``ModelInfo.spatial_dims`` holding 3) gets volume
crops through the same ``fill``: float32 (D, H, W, C) with a bool (D, H, W)
mask, passed to its task's ``predict`` as (1, C, D, H, W) tensors
(:func:`~inpaint_models.models.neural.neural_fill`).

The task module is imported only when a fill or a training run needs it,
so listing models and reading their :class:`~inpaint_models.contract.datatypes.ModelInfo`
never imports torch. The task module provides:

``build_task(spec: TaskSpec) -> TrainTask``
    the task factory (required);
``finish_fill(predicted, image, mask, options) -> np.ndarray`` (optional)
    post-processing of the network's float32 prediction in [0, 1] (the crop's
    shape), given the crop as the model got it and the fill options (GLCIC's
    Poisson blend, stack-unet's added noise);
``configure_training(config) -> TrainConfig`` (optional)
    adjusts the run's config before the shared trainer starts (diffusion keeps an EMA).
"""

from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType
from typing import Any, Callable

import numpy as np

from inpaint_models.contract.datatypes import FillContext, ModelInfo, Reporter
from inpaint_models.contract.hookspecs import hookimpl

#: model name -> dotted path of its task module, for every model whose hooks were built here
TASK_MODULES: dict[str, str] = {}


def task_module(dotted: str) -> ModuleType:
    """Import a model's task module (torch and the networks load here, on first use)."""
    return importlib.import_module(dotted)


def task_factory_for(model_name: str) -> Callable[[Any], Any] | None:
    """The task factory of a model whose hooks :func:`neural_hooks` built, or None for other models."""
    dotted = TASK_MODULES.get(model_name)
    return None if dotted is None else task_module(dotted).build_task


def neural_hooks(
    model_info: Callable[[], ModelInfo], task_path: str
) -> tuple[Callable[..., np.ndarray], Callable[..., Path], Callable[[Any], Any]]:
    """The hookimpl-marked ``fill`` and ``train`` of a trainable model, and a lazy ``build_task``.

    Args:
        model_info: the plugin's ``model_info`` function (its ``name`` is read once, here).
        task_path: dotted path of the model's task module (see the module docstring).

    Returns:
        ``(fill, train, build_task)``; assign them as module attributes of the
        plugin so pluggy finds the two hooks (``build_task`` is the task module's
        factory, imported on first call: for scripts that rebuild a checkpoint).
    """
    name = model_info().name
    TASK_MODULES[name] = task_path

    @hookimpl
    def fill(image: np.ndarray, mask: np.ndarray, options: Any, context: FillContext) -> np.ndarray:
        from inpaint_models.models.neural import neural_fill

        module = task_module(task_path)
        predicted = neural_fill(model_info(), module.build_task, image, mask, options, context)
        finish = getattr(module, "finish_fill", None)
        return predicted if finish is None else finish(predicted, image, mask, options)

    @hookimpl
    def train(config: Any, report: Reporter) -> Path:
        from inpaint_models.training.loop import fit

        module = task_module(task_path)
        configure = getattr(module, "configure_training", None)
        return fit(config if configure is None else configure(config), module.build_task, report)

    def build_task(spec: Any) -> Any:
        return task_module(task_path).build_task(spec)

    volumes = 3 in model_info().spatial_dims
    fill.__doc__ = (
        f"Fill with trained {name!r} weights: float32 (H, W, C) in [0, 1] and bool (H, W) mask (True = fill) "
        + ("(or a volume (D, H, W, C) with a (D, H, W) mask) " if volumes else "")
        + "-> float32 of the image's shape in [0, 1]. The crop already fits the weights (channels, size, multiple)."
    )
    train.__doc__ = f"Train {name!r} with the shared trainer; returns the final checkpoint's weights path."
    build_task.__doc__ = f"The task factory of {name!r} (imports {task_path} on first call)."
    for function in (fill, train, build_task):
        function.__qualname__ = function.__name__
        function.__module__ = model_info.__module__
    return fill, train, build_task
