"""Tiny synthetic data and a fast trained checkpoint (for tests and demos)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Optional, Union

import cv2
import numpy as np

from inpaint_models.contract.datatypes import ignore_progress
from inpaint_models.contract.registry import default_registry
from inpaint_models.training.config import load_config


def write_synthetic_images(folder: Union[str, Path], count: int = 4, size: int = 48, seed: int = 0,
                           channels: int = 3) -> list[Path]:
    """Write ``count`` smooth random PNG images (gradients and discs) to ``folder``; returns their paths."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / max(size - 1, 1)
    paths = []
    for index in range(count):
        planes = []
        for _ in range(channels):
            a, b, c = rng.uniform(-1, 1, 3)
            planes.append(0.5 + 0.25 * (a * xx + b * yy) + 0.15 * np.sin(6 * c * (xx + yy)))
        image = np.stack(planes, axis=-1)
        for _ in range(3):
            cy, cx = rng.uniform(0, size, 2)
            radius = rng.uniform(size / 10, size / 4)
            disc = (yy * (size - 1) - cy) ** 2 + (xx * (size - 1) - cx) ** 2 < radius**2
            image[disc] = rng.uniform(0, 1, channels)
        pixels = np.clip(np.rint(image * 255), 0, 255).astype(np.uint8)
        if channels == 3:
            pixels = cv2.cvtColor(pixels, cv2.COLOR_RGB2BGR)
        path = folder / f"synthetic_{index:03d}.png"
        cv2.imwrite(str(path), pixels)
        paths.append(path)
    return paths


def quick_checkpoint(
    model_name: str,
    directory: Union[str, Path],
    steps: int = 2,
    size: int = 32,
    options: Optional[Mapping[str, Any]] = None,
    registry: Any = None,
    train: Optional[Mapping[str, Any]] = None,
) -> Path:
    """Train ``model_name`` for a few steps on synthetic images and return the checkpoint.

    Args:
        model_name: a trainable registered model.
        directory: working folder (``data/`` and ``run/`` are created in it).
        steps: optimisation steps (2 takes a few seconds on a CPU).
        size: training image size.
        options: model options (``[model]`` keys) overriding the defaults.
        registry: the model registry (default: installed plugins).
        train: further ``[train]`` keys (``{"channels": 1}``: grey images and weights).

    Returns:
        The ``.safetensors`` weights file, usable as ``fill(..., weights=path)``.
    """
    directory = Path(directory)
    output = directory / "run"
    number = 1
    while output.exists():  # every call trains a fresh run
        number += 1
        output = directory / f"run-{number}"
    raw = quick_config(model_name, directory, steps=steps, size=size, options=options,
                       train={"output": str(output), **dict(train or {})})
    registry = registry or default_registry()
    config = load_config(raw, registry=registry)
    return registry.call_train(config.model_name, config, ignore_progress)


def quick_config(
    model_name: str,
    directory: Union[str, Path],
    steps: int = 2,
    size: int = 32,
    options: Optional[Mapping[str, Any]] = None,
    train: Optional[Mapping[str, Any]] = None,
    images: int = 4,
) -> dict[str, Any]:
    """A raw config dict for a tiny CPU run on synthetic images written to ``directory/data``.

    Validation, previews and TensorBoard are off unless ``train`` turns them on;
    the run folder is ``directory/run``. The images have ``train["channels"]``
    channels (default 3).
    """
    directory = Path(directory)
    data = directory / "data"
    settings = {
        "data": [str(data)], "image_size": size, "channels": 3, "batch_size": 2, "steps": steps,
        "device": "cpu", "output": str(directory / "run"), "validation_split": 0.0, "validate_every": 0,
        "preview_every": 0, "checkpoint_every": max(steps, 1), "log_every": max(steps, 1), "tensorboard": False,
        "seed": 0, "workers": 0,
    }
    settings.update(dict(train or {}))
    if not any(data.glob("*.png")):
        write_synthetic_images(data, count=images, size=max(size + size // 2, 16), seed=0,
                               channels=int(settings["channels"]))
    return {"model": {"name": model_name, **dict(options or {})}, "train": settings}
