"""The in-memory fill of a planned fill: every hole region cropped, filled and composited into a copy.

Plane by plane, each 2D hole region is one crop; as a volume, each 3D region
(:mod:`inpaint_models.pipeline.regions`). Every crop's values are checked (and
its value range chosen) before any model runs, so bad values are named before
minutes of work; one ``"fill"`` progress event follows each region.
"""

from __future__ import annotations

import warnings
from typing import Callable

import numpy as np

from inpaint_models.contract.datatypes import ProgressEvent, Reporter
from inpaint_models.contract.errors import EmptyMaskWarning
from inpaint_models.contract.values import value_range as measure_value_range
from inpaint_models.pipeline.crops import fill_region
from inpaint_models.pipeline.layout import Layout
from inpaint_models.pipeline.plan import FillPlan, Job


def fill_in_memory(plan: FillPlan, report: Reporter, stacklevel: int = 2) -> np.ndarray:
    """Fill a planned in-memory fill (``plan.lazy`` False); returns a new array of the image's shape and dtype.

    ``report`` receives one ``"fill"`` event per region (and the model's own) and
    raises :class:`~inpaint_models.contract.errors.Cancelled` to stop. An empty
    mask returns an unchanged copy with an :class:`EmptyMaskWarning` (``stacklevel``
    counted from here).

    Raises:
        InpaintError: the checks of the plan's mask and crops, the weights and the device.
    """
    holes = plan.holes()
    if holes is None:
        warnings.warn("the mask is empty: returning an unchanged copy of the image", EmptyMaskWarning,
                      stacklevel=stacklevel)
        return plan.image.copy()
    plan = plan.with_context(report)
    work = output_buffer(plan.image, plan.layout)
    jobs, message = plan.jobs(holes, work)
    run_jobs(plan, jobs, message)
    if plan.layout.channel_axis is None or plan.layout.channel_axis == plan.image.ndim - 1:
        return work
    return np.ascontiguousarray(np.moveaxis(work, -1, plan.layout.channel_axis))


def run_jobs(plan: FillPlan, jobs: list[Job], message: Callable[[int], str]) -> None:
    """Fill the jobs in order, one ``"fill"`` event each after an announcing ``("fill", 0, N)``; every crop's
    values are checked first.

    The announcement gives the count of regions before a model's own step events arrive, so a front end's
    share done and time left cover the whole fill from the start (not the first region as if it were all).
    """
    ranges = [measure_value_range(crop, crop_mask) for crop, crop_mask, _ in jobs]
    plan.context.report(ProgressEvent("fill", 0, len(jobs)))
    for step, ((crop, crop_mask, target), value_range) in enumerate(zip(jobs, ranges), start=1):
        fill_region(plan, crop, crop_mask, target, value_range)
        plan.context.report(ProgressEvent("fill", step, len(jobs), message=message(step)))


def output_buffer(image: np.ndarray, layout: Layout) -> np.ndarray:
    """A C-contiguous copy of ``image`` with the channel axis (if any) last."""
    if layout.channel_axis is None:
        return np.array(image, order="C", copy=True)
    return np.array(np.moveaxis(image, layout.channel_axis, -1), order="C", copy=True)
