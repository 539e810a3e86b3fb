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
from inpaint_models.pipeline.layout import Layout, as_volumes, channel_last
from inpaint_models.pipeline.plan import FillPlan
from inpaint_models.pipeline.regions import Holes, plane_regions, volume_regions

#: ``(crop, crop_mask, target)``: a view of the image, its bool mask (True = fill), a view of the output
Job = tuple[np.ndarray, np.ndarray, np.ndarray]


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
    if plan.volume_index is None:
        jobs, message = plane_jobs(plan, holes, work)
    else:
        jobs, message = volume_jobs(plan, holes, work)
    run_jobs(plan, jobs, message)
    if plan.layout.channel_axis is None or plan.layout.channel_axis == plan.image.ndim - 1:
        return work
    return np.ascontiguousarray(np.moveaxis(work, -1, plan.layout.channel_axis))


def plane_jobs(plan: FillPlan, holes: Holes, work: np.ndarray) -> tuple[list[Job], Callable[[int], str]]:
    """One job per 2D hole region of every plane, into ``work`` (channel-last), and the message of each step."""
    layout = plan.layout
    work_planes = work.reshape((layout.planes, layout.height, layout.width, layout.channels))
    regions = plane_regions(plan.info, holes.mask_planes, holes.plane_indices, plan.margin)
    jobs = [
        (holes.planes[index][box.slices], np.ascontiguousarray(holes.mask_planes[index][box.slices]),
         work_planes[index][box.slices])
        for index, box in regions
    ]
    return jobs, lambda step: f"plane {regions[step - 1][0] + 1} of {layout.planes}"


def volume_jobs(plan: FillPlan, holes: Holes, work: np.ndarray) -> tuple[list[Job], Callable[[int], str]]:
    """One job per 3D hole region of every volume, into ``work`` (channel-last), and the message of each step.

    The volume axis is moved next to H by views, so nothing is copied but the
    crops. A region whose box spans a single plane goes to the model as a 2D crop.
    """
    layout, volume_index = plan.layout, plan.volume_index
    volumes, mask_volumes = as_volumes(channel_last(plan.image, layout), holes.mask, layout, volume_index)
    work_volumes, _ = as_volumes(
        work.reshape(layout.stack_shape + (layout.height, layout.width, layout.channels)), holes.mask, layout,
        volume_index,
    )
    regions = volume_regions(plan.info, mask_volumes, plan.margin, plan.depth_margin)
    jobs = [
        (volumes[outer][box.slices], np.ascontiguousarray(mask_volumes[outer][box.slices]),
         work_volumes[outer][box.slices])
        for outer, box in regions
    ]
    count = int(np.prod(mask_volumes.shape[:-3], dtype=np.int64))

    def message(step: int) -> str:
        where = f" of volume {regions[step - 1][0]} ({count} volumes)" if count > 1 else ""
        return f"region {step} of {len(jobs)}" + where

    return jobs, message


def run_jobs(plan: FillPlan, jobs: list[Job], message: Callable[[int], str]) -> None:
    """Fill the jobs in order, one ``"fill"`` event each; every crop's values are checked first."""
    ranges = [measure_value_range(crop, crop_mask) for crop, crop_mask, _ in jobs]
    for step, ((crop, crop_mask, target), value_range) in enumerate(zip(jobs, ranges), start=1):
        fill_region(plan, crop, crop_mask, target, value_range)
        plan.context.report(ProgressEvent("fill", step, len(jobs), message=message(step)))


def output_buffer(image: np.ndarray, layout: Layout) -> np.ndarray:
    """A C-contiguous copy of ``image`` with the channel axis (if any) last."""
    if layout.channel_axis is None:
        return np.array(image, order="C", copy=True)
    return np.array(np.moveaxis(image, layout.channel_axis, -1), order="C", copy=True)
