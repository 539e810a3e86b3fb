"""The end of a fit: its fill and the classical fill, compared on the held-back holes (the verdict's measure).

:func:`judge_fit` fills each held-back validation cell's artificial hole twice
through this pipeline, as ``fill`` would fill it in the caller's array: with
the fitted checkpoint and with the classical fill ``fill(model="auto")`` uses
for the array, the volume axis as in the fit; only the window around each cell
is read. The hole PSNR of both on the same pixels makes the verdict
(:func:`inpaint_models.pipeline.fit_verdict.verdict_record`), which
:func:`inpaint_models.fit` keeps in the checkpoint's sidecar.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any, Optional, Sequence, Union

import numpy as np

from inpaint_models.contract.datatypes import DEFAULT_VOLUME_MARGIN, ignore_progress
from inpaint_models.contract.registry import ModelRegistry
from inpaint_models.contract.values import value_range
from inpaint_models.io.sidecar import read_sidecar
from inpaint_models.pipeline.fit_verdict import verdict_record
from inpaint_models.pipeline.plan import FillRequest, plan_fill
from inpaint_models.pipeline.run import fill_in_memory
from inpaint_models.training.metrics import psnr


def judge_fit(volumes: Any, holes: Sequence[tuple[Any, np.ndarray]], weights: Union[str, Path], classical: str, *,
              volume: bool, device: str = "auto", registry: ModelRegistry) -> Optional[dict[str, Any]]:
    """Fill the held-back holes with the fitted weights and with the classical fill; the verdict.

    Args:
        volumes: the fit's :class:`~inpaint_models.training.volumes.StackVolumes`
            (the caller's array read window by window: only each cell's window is read).
        holes: ``(cell, hole)`` of every held-back validation cell
            (:meth:`inpaint_models.training.array_data.ArraySource.held_back_holes`):
            the :class:`~inpaint_models.training.array_data.Cell` (volume ``n``,
            plane ``z``, corner ``y``, ``x``, side ``size``) and its artificial
            hole, bool (size, size), True = a hole pixel whose truth is known.
        weights: the fitted checkpoint (its sidecar names its model).
        classical: the classical model it is compared with.
        volume: whether the fit read a volume axis (the windows are filled as volumes).
        device, registry: as for ``fill``.

    Returns:
        :func:`verdict_record` over every hole pixel (errors pooled over the
        holes, each window's values mapped to [0, 1] by its known pixels as a
        fill maps its crop), or None without a hole pixel to score.
    """
    model = read_sidecar(weights)["model"]
    pad = max(registry.info(model).crop_margin, registry.info(classical).crop_margin)
    scores: dict[str, list[np.ndarray]] = {"truth": [], model: [], classical: []}
    for cell, hole in holes:
        image, mask, target, where = _window(volumes, cell, hole, pad, volume)
        if not where.any():
            continue
        scale = value_range(image, mask).to_unit
        scores["truth"].append(scale(image[target][where]))
        for name, path in ((model, weights), (classical, None)):
            filled = _fill_window(image, mask, name, path, volume, device, registry)
            scores[name].append(scale(filled[target][where]))
    if not scores["truth"]:
        return None
    truth = np.concatenate(scores["truth"]).reshape(-1, 1)
    fitted, kept = (psnr(np.concatenate(scores[name]).reshape(-1, 1), truth) for name in (model, classical))
    return verdict_record(classical, fitted, kept, len(scores["truth"]), truth.size, volume)


def _window(volumes: Any, held: Any, hole: np.ndarray, pad: int, volume: bool):
    """``(image, mask, target, where)`` of one held-back hole: the window around its cell as a fill would crop it.

    The cell grown by ``pad`` pixels (the models' context margins) in H and W
    and by the default volume margin in planes (``volume``), clipped to the
    array: values (k, h, w, C) in the caller's dtype (0 where unknown), its
    unknown pixels with the artificial hole added (bool (k, h, w)), the target
    plane's index and the hole in window coordinates (bool (h, w)).
    """
    _, depth, height, width, _ = volumes.shape
    margin = DEFAULT_VOLUME_MARGIN if volume else 0
    planes = slice(max(0, held.z - margin), min(depth, held.z + margin + 1))
    rows = slice(max(0, held.y - pad), min(height, held.y + held.size + pad))
    cols = slice(max(0, held.x - pad), min(width, held.x + held.size + pad))
    image, unknown = volumes.read(held.n, planes, rows, cols)
    target = held.z - planes.start
    where = np.zeros(unknown.shape[1:], dtype=bool)
    top, left = held.y - rows.start, held.x - cols.start
    where[top : top + held.size, left : left + held.size] = hole
    where &= ~unknown[target]
    mask = unknown.copy()
    mask[target] |= where
    return image, mask, target, where


def _fill_window(image: np.ndarray, mask: np.ndarray, model: str, weights: Optional[Union[str, Path]], volume: bool,
                 device: str, registry: ModelRegistry) -> np.ndarray:
    """One window filled by ``model`` through the pipeline (the verdict of ``weights`` not applied): (k, h, w, C)."""
    grey = image.shape[-1] == 1
    data = image[..., 0] if grey else image
    if not volume:
        data, mask = data[0], mask[0]
    request = FillRequest(model=model, weights=weights, device=device, channel_axis=None if grey else -1,
                          volume_axis=0 if volume else None, registry=registry, use_verdict=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # an empty window or a plane-by-plane note: not the caller's fill
        filled = fill_in_memory(plan_fill(data, mask, request), ignore_progress)
    if not volume:
        filled = filled[np.newaxis]
    return filled[..., np.newaxis] if grey else filled
