"""How long a fill will take, estimated before it starts: one network call timed, times the count.

:func:`estimate_fill` takes the fill's plan (:func:`inpaint_models.pipeline.plan.plan_fill`,
made by :func:`estimate_fill_seconds` as :func:`inpaint_models.fill`
makes it: the same model, options, hole regions and crop boxes), then runs the
model on its **largest crop** through the pipeline's own crop code
(:func:`inpaint_models.pipeline.crops.fill_region`: value conversion, channels,
resize and pad to the weights' geometry) and stops it early:

* a model that reports each network call (``ProgressEvent("sample", i, n)``:
  the diffusion sampler, one event per denoising step; stack-unet, one per
  plane) is stopped after its second call; the second call is timed (the first
  also pays for loading the weights and warming the device up) and ``n`` is the
  number of calls the region needs (steps, × RePaint's resampling, × strength);
* a one-pass neural model is run on the crop twice; the second (warm) run is timed.

The estimate is then ``seconds per call × calls per region × regions``, each
region counted by its pixels as sent to the model relative to the crop timed
(``regions`` below is that weighted count). It is a measurement times a count:
it does not know the machine will be busier later. Classical models (no
network, no ``steps`` option) are not measured: they take seconds.

Measured seconds per call are remembered per (model, weights, device, crop
geometry, options, machine) in a small JSON file in the user's cache folder
(``$INPAINT_MODELS_CACHE``, else platformdirs' user cache folder,
``~/.cache/napari-inpaint`` on Linux), so a second estimate of the same fill costs
nothing. No torch import here at module level.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import platform
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, Optional, Union

import numpy as np

from inpaint_models.contract.datatypes import ModelInfo, ProgressEvent, ignore_progress
from inpaint_models.contract.errors import Cancelled
from inpaint_models.contract.options import FILL, fields_of_kind
from inpaint_models.io.atomic import atomic_write_text
from inpaint_models.io.sidecar import checkpoint_stamp
from inpaint_models.io.user_folders import cache_folder
from inpaint_models.pipeline.crops import fill_region, sent_shape
from inpaint_models.pipeline.plan import FillPlan, FillRequest, plan_fill
from inpaint_models.pipeline.progress import CancelCheck, cancel_requested

#: a fill expected to take longer than this many seconds is announced (CLI) or asked about (napari)
LONG_FILL_SECONDS = 30.0
#: cache entries older than this are measured again (drivers, torch and the machine's load change)
CACHE_MAX_AGE_SECONDS = 30 * 24 * 3600
CACHE_FILE = "fill-timings.json"
_CACHE_ENTRIES = 200
_cache_lock = threading.Lock()


@dataclass(frozen=True)
class FillEstimate:
    """An estimate of a fill's duration, and how it was obtained.

    Attributes:
        seconds: the estimated seconds (``seconds_per_call × calls × regions``), or None when
            not measured (a classical model: no network, usually seconds; nothing to fill).
        method: ``"measured"`` (timed just now), ``"cached"`` (timed earlier on this machine,
            same model, weights, device, crop geometry and options) or ``"not measured"``.
        model: the model name (``"auto"`` resolved).
        device: the concrete device (``"cpu"``, ``"cuda:0"``...).
        regions: hole regions, each weighted by its pixels as sent to the model relative to
            the crop timed (the largest), so 2 equal regions count 2 and a quarter-size one 0.25.
        region_count: the number of hole regions (crops) of the fill.
        calls: network calls per region (as the model reported them: diffusion's DDIM steps
            after ``strength``, × RePaint resampling); 1 for a one-pass model.
        seconds_per_call: the time of one call on the crop timed.
        crop_shape: the crop timed, as sent to the model ((h, w) or (d, h, w)).
        steps_option: the model's fill option that sets the number of calls (``"steps"``), or None.
        steps: its value in this fill.
    """

    seconds: Optional[float]
    method: str
    model: str
    device: str
    regions: float = 0.0
    region_count: int = 0
    calls: int = 0
    seconds_per_call: Optional[float] = None
    crop_shape: tuple[int, ...] = ()
    steps_option: Optional[str] = None
    steps: Optional[int] = None

    @property
    def measured(self) -> bool:
        """Whether there is a figure (measured now or earlier)."""
        return self.seconds is not None

    def seconds_with_steps(self, steps: int) -> Optional[float]:
        """The estimate with the steps option at ``steps`` (calls scale with steps); None without one."""
        if self.seconds is None or self.steps_option is None or not self.steps:
            return None
        calls = max(1, math.ceil(self.calls * int(steps) / self.steps))
        return float(self.seconds_per_call or 0.0) * calls * self.regions

    def steps_within(self, seconds: float) -> Optional[int]:
        """The most steps (at least 1) whose estimate fits in ``seconds``; None when no fewer steps than now.

        For "lower the steps to N": None when the model has no steps option or 1 step is already set.
        """
        if self.seconds is None or self.steps_option is None or not self.steps or self.steps <= 1:
            return None
        per_step = self.seconds / self.steps
        best = int(seconds // per_step) if per_step > 0 else self.steps
        while best > 1 and (self.seconds_with_steps(best) or 0.0) > seconds:
            best -= 1
        best = max(1, min(best, self.steps - 1))
        return best

    def describe(self) -> str:
        """One line saying the estimate and what it is: e.g. ``about 5 min 35 s (estimate: 0.27 s per
        network call measured on cpu at 96x96 × 25 calls × 2 regions)``."""
        if self.seconds is None:
            return f"not estimated ({self.how()})"
        return f"about {format_duration(self.seconds)} ({self.how()})"

    def how(self) -> str:
        """How the figure was obtained, in words."""
        if self.seconds is None:
            return self.method if self.method != "not measured" else "a classical fill, no network: usually seconds"
        shape = "x".join(str(n) for n in self.crop_shape)
        when = "measured" if self.method == "measured" else "measured earlier"
        calls = f"{self.calls} call{'s' if self.calls != 1 else ''}"
        regions = f"{self.region_count} region{'s' if self.region_count != 1 else ''}"
        if self.region_count > 1 and abs(self.regions - self.region_count) > 0.05:
            regions += f" (as {self.regions:.2f} of that size)"
        return (f"estimate: {_seconds(self.seconds_per_call or 0.0)} per network call {when} on {self.device} at "
                f"{shape} × {calls} × {regions}")


def format_duration(seconds: float) -> str:
    """``"45 s"``, ``"5 min 30 s"``, ``"1 h 05 min"``: a duration as a person reads it."""
    seconds = max(0, int(math.ceil(seconds)))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


def _seconds(value: float) -> str:
    return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.2f} s"


def steps_option(info: ModelInfo) -> Optional[str]:
    """The fill option setting how many network calls a fill makes (``steps``), or None."""
    names = list(fields_of_kind(info, FILL))
    if "steps" in names:
        return "steps"
    return next((name for name in names if "steps" in name), None)


def measures(info: ModelInfo) -> bool:
    """Whether :func:`estimate_fill` times this model: a neural model, or one with a steps option."""
    return info.trainable or steps_option(info) is not None


class _Enough(Exception):
    """Raised from the progress callback once the calls needed are timed (stops the calibration fill)."""


def estimate_fill_seconds(
    image: Any,
    mask: Any,
    model: str = "auto",
    weights: Optional[Union[str, Path]] = None,
    device: str = "auto",
    *,
    channel_axis: Any = "auto",
    volume_axis: Any = "auto",
    margin: Optional[int] = None,
    volume_margin: Optional[int] = None,
    cancel: Any = None,
    use_cache: bool = True,
    registry: Any = None,
    **options: Any,
) -> FillEstimate:
    """Estimate how long ``fill(image, mask, model, weights, device, ..., **options)`` will take, before it runs.

    Times one network call on the fill's largest crop on ``device`` and
    multiplies by the calls per region and the regions (see the module
    docstring, and :func:`estimate_fill` for a planned fill). Costs about two network calls and
    the model's loading (which the fill then finds cached); nothing for a
    classical model, or when the same estimate was measured before on this
    machine (``use_cache``).

    Args:
        image: as :func:`inpaint_models.fill`: (H, W), (H, W, C) or a stack, any supported dtype.
        mask: True / non-zero = pixel to fill; the image's spatial shape or (H, W).
        model, weights, device, channel_axis, volume_axis, margin, volume_margin, registry,
            **options: exactly as :func:`inpaint_models.fill` takes them.
        cancel: a ``threading.Event`` or callable; when set the calibration stops
            with :class:`~inpaint_models.contract.errors.Cancelled`.
        use_cache: read and write the timings cache (in the user's cache folder).

    Returns:
        A :class:`FillEstimate` (``seconds`` None for a classical model, a lazy
        dask/zarr image, or an empty mask).

    Raises:
        InpaintError: what :func:`inpaint_models.fill` raises for these arguments.
        Cancelled: ``cancel`` was set.
    """
    request = FillRequest(model=model, weights=weights, device=device, channel_axis=channel_axis,
                          volume_axis=volume_axis, margin=margin, volume_margin=volume_margin, registry=registry,
                          options=options)
    return estimate_fill(plan_fill(image, mask, request, stacklevel=3), cancel, use_cache)


def estimate_fill(plan: FillPlan, cancel: Optional[CancelCheck] = None, use_cache: bool = True) -> FillEstimate:
    """Estimate how long the planned fill will take, before it runs (see the module docstring).

    Times one network call on the fill's largest crop on the plan's device and
    multiplies by the calls per region and the regions. Costs about two network
    calls and the model's loading (which the fill then finds cached); nothing
    for a classical model, or when the same estimate was measured before on
    this machine (``use_cache``: read and write the timings cache).

    Args:
        plan: the fill's plan (:func:`~inpaint_models.pipeline.plan.plan_fill`), without its context.
        cancel: a ``threading.Event`` or callable; when set the calibration stops
            with :class:`~inpaint_models.contract.errors.Cancelled`.
        use_cache: read and write the timings cache.

    Returns:
        A :class:`FillEstimate` (``seconds`` None for a classical model, a lazy
        dask/zarr image, or an empty mask).

    Raises:
        InpaintError: what :func:`inpaint_models.fill` raises for this plan.
        Cancelled: ``cancel`` was set.
    """
    info = plan.info
    step_name = steps_option(info)
    steps = int(getattr(plan.options, step_name)) if step_name is not None else None
    if not measures(info):
        return FillEstimate(None, "not measured", info.name, "cpu", steps_option=None)
    if plan.lazy:
        return FillEstimate(None, "a dask or zarr image: not estimated", info.name, plan.device,
                            steps_option=step_name, steps=steps)
    crops = plan.crops()
    plan = plan.with_context(ignore_progress)
    if not crops:
        return FillEstimate(None, "the mask is empty: nothing to fill", info.name, plan.context.device,
                            steps_option=step_name, steps=steps)
    shapes = [sent_shape(plan, crop.shape) for crop, _ in crops]
    sizes = [int(np.prod(shape)) for shape in shapes]
    largest = int(np.argmax(sizes))
    per_call, calls, method = _timing(plan, crops[largest], shapes[largest], cancel, use_cache)
    regions = sum(size / sizes[largest] for size in sizes)
    return FillEstimate(
        seconds=per_call * calls * regions, method=method, model=info.name, device=plan.context.device,
        regions=regions, region_count=len(crops), calls=calls, seconds_per_call=per_call,
        crop_shape=tuple(shapes[largest]), steps_option=step_name, steps=steps,
    )


def _timing(plan: FillPlan, crop: tuple[np.ndarray, np.ndarray], shape: tuple[int, ...],
            cancel: Optional[CancelCheck], use_cache: bool) -> tuple[float, int, str]:
    """``(seconds per call, calls per region, "cached" or "measured")`` of one ``(crop, crop_mask)`` sent at ``shape``.

    ``plan`` has its context (device, weights: part of the cache key).
    """
    key = _cache_key(plan, shape, crop[0].shape[-1])
    timing = _cache_read(key) if use_cache else None
    if timing is not None:
        return (*timing, "cached")
    timing = _time_calls(plan, crop[0], crop[1], cancel)
    if use_cache:
        _cache_write(key, timing)
    return (*timing, "measured")


def _time_calls(plan: FillPlan, crop: np.ndarray, crop_mask: np.ndarray,
                cancel: Optional[CancelCheck]) -> tuple[float, int]:
    """``(seconds per call, calls per region)`` of the model on one crop, through the pipeline's crop code."""
    calls: list[tuple[float, int, int]] = []  # (time, step, total) of each "sample" event

    def report(event: ProgressEvent) -> None:
        if cancel_requested(cancel):
            raise Cancelled("estimate cancelled")
        if event.phase == "sample" and event.total > 1:
            calls.append((time.perf_counter(), int(event.step), int(event.total)))
            if len(calls) >= 2:
                raise _Enough

    def run_once() -> float:
        timed = dataclasses.replace(plan, context=dataclasses.replace(plan.context, report=report))
        target = np.array(crop, copy=True)
        start = time.perf_counter()
        try:
            fill_region(timed, crop, crop_mask, target)
        except _Enough:
            pass
        return time.perf_counter() - start

    run_once()  # loads the weights (the fill finds them cached) and warms the device up
    if len(calls) >= 2:
        (first, step_a, total), (second, step_b, _) = calls[0], calls[1]
        return max(second - first, 1e-6) / max(step_b - step_a, 1), total
    calls.clear()
    return max(run_once(), 1e-6), 1  # a one-pass model: its second, warm run


# -- the timings cache --------------------------------------------------------------------------------
def cache_path() -> Path:
    """The timings cache file (:func:`inpaint_models.io.user_folders.cache_folder`)."""
    return cache_folder() / CACHE_FILE


def _cache_key(plan: FillPlan, shape: tuple[int, ...], channels: int) -> str:
    """The timings cache's key: model, weights, device, crop geometry, options and machine (a started plan)."""
    info, weights, device, options = plan.info, plan.context.weights, plan.context.device, plan.options
    stamp: Any = None
    if weights is not None:
        stamp = list(checkpoint_stamp(weights))
    machine = [platform.node(), os.cpu_count(), _torch_threads() if device == "cpu" else None]
    return json.dumps([info.name, stamp, device, list(shape), int(channels), repr(options), machine], default=str)


def _torch_threads() -> Optional[int]:
    import sys

    torch = sys.modules.get("torch")
    return int(torch.get_num_threads()) if torch is not None else None


def _cache_load() -> dict[str, Any]:
    try:
        data = json.loads(cache_path().read_text())
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def _cache_read(key: str) -> Optional[tuple[float, int]]:
    with _cache_lock:
        entry = _cache_load().get(key)
    try:
        if entry is None or time.time() - float(entry["when"]) > CACHE_MAX_AGE_SECONDS:
            return None
        per_call, calls = float(entry["seconds_per_call"]), int(entry["calls"])
    except (KeyError, TypeError, ValueError):
        return None
    return (per_call, calls) if per_call > 0 and calls >= 1 else None


def _cache_write(key: str, timing: tuple[float, int]) -> None:
    with _cache_lock:
        data = _cache_load()
        data[key] = {"seconds_per_call": float(timing[0]), "calls": int(timing[1]), "when": time.time()}
        if len(data) > _CACHE_ENTRIES:  # the oldest go first
            for old in sorted(data, key=lambda k: float(data[k].get("when", 0)))[: len(data) - _CACHE_ENTRIES]:
                del data[old]
        try:
            path = cache_path()
            path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_text(path, json.dumps(data))
        except OSError:
            pass  # a cache that cannot be written only costs the next estimate its measurement


def with_steps(estimate: FillEstimate, steps: int) -> FillEstimate:
    """The estimate for the same fill with the steps option at ``steps`` (no new measurement)."""
    seconds = estimate.seconds_with_steps(steps)
    if seconds is None:
        return estimate
    calls = max(1, math.ceil(estimate.calls * int(steps) / (estimate.steps or 1)))
    return replace(estimate, seconds=seconds, calls=calls, steps=int(steps))


class FillClock:
    """How long the rest of a fill will take, from its progress events.

    A fill reports ``("fill", k, N)`` after each of its N hole regions and, for
    models that call a network many times per region (a diffusion sampler),
    ``("sample", i, n)`` after each call. The time per call is measured between
    calls (so loading torch and the weights does not count), the time per region
    between regions. :meth:`update` returns the seconds left, or None until
    there is a measurement. Before the first region ends the number of regions
    is unknown (unless the fill announces it with ``("fill", 0, N)``):
    :attr:`regions_known` then is False and the estimate covers the current
    region only.
    """

    def __init__(self, now: Callable[[], float] = time.monotonic) -> None:
        self._now = now
        self._region_start = now()
        self._region_times: list[float] = []
        self._regions: Optional[int] = None
        self._regions_done = 0
        self._first_call: Optional[tuple[float, int]] = None
        self.remaining: Optional[float] = None

    @property
    def regions_known(self) -> bool:
        """Whether the number of hole regions is known yet."""
        return self._regions is not None

    def update(self, event: ProgressEvent) -> Optional[float]:
        """Take one progress event; returns the estimated seconds left (None: not measurable yet)."""
        now = self._now()
        if event.phase == "fill":
            self._regions = max(int(event.total), 1)
            if event.step > self._regions_done:
                self._region_times.append(now - self._region_start)
                self._regions_done = int(event.step)
                self._region_start = now
                self._first_call = None
            left = self._regions - self._regions_done
            if left <= 0:
                self.remaining = 0.0
            elif self._region_times:
                # the first region also paid for loading the model: leave it out once others are measured
                times = self._region_times[1:] or self._region_times
                self.remaining = left * sum(times) / len(times)
            return self.remaining
        if event.total <= 1:
            return self.remaining
        if self._first_call is None or event.step <= self._first_call[1]:
            self._first_call = (now, int(event.step))
            return self.remaining
        start, first_step = self._first_call
        per_call = (now - start) / (event.step - first_step)
        regions_after = (self._regions - self._regions_done - 1) if self._regions is not None else 0
        self.remaining = per_call * (event.total - event.step) + max(regions_after, 0) * per_call * event.total
        return self.remaining
