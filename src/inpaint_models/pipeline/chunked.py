"""Fill dask and zarr arrays chunk by chunk: :func:`inpaint_models.fill` on data larger than memory.

``fill`` sends dask arrays (and zarr arrays, through :func:`dask.array.from_zarr`)
here. Each step reads only what it needs:

1. **scan**: every mask chunk is labelled on its own (``scipy.ndimage.label``)
   and summarised as the bounding box and size of each hole region in it, plus
   the labels on its faces. A chunk without holes summarises to None; a chunk
   that is a broadcast constant (``dask.array.zeros``) is read from one element.
2. **merge**: regions that touch across a chunk face, edge or corner are united
   (``scipy.sparse.csgraph.connected_components``), so a hole that crosses a
   chunk border is one region, exactly as in memory.
3. **boxes**: the crop boxes come from the global regions through the same
   functions as the in-memory fill (:func:`inpaint_models.pipeline.layout.boxes_around`,
   :func:`~inpaint_models.pipeline.layout.volume_boxes_around`).
4. **crops**: each box is sliced from the image and the mask (dask reads only the
   chunks it touches) and filled by :func:`inpaint_models.pipeline.crops.fill_region`, the
   step the in-memory fill uses, with the crop's own value range: the result is
   the in-memory fill's, bit for bit. With a ``dask.distributed`` client the
   crops are filled on its workers, each model loaded once per worker process.
5. **output**: a dask array with the image's chunks. A block that a crop touches
   is the image's block with the filled crops pasted in; every other block is an
   alias of the image's block (the same graph key: nothing is computed for it
   until the caller reads it, and then only the image's own task runs).

Steps 1 to 4 run inside ``fill`` (with progress events and cancellation, as for
any fill); step 5 is lazy. Why the merge is written here: dask-image's
``ndmeasure.label`` unites regions across chunks too, but it produces a label
image (every chunk relabelled, and ``find_objects`` on top needs dask.dataframe),
while the fill needs only each region's bounding box and size.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import itertools
import sys
import threading
import time
import uuid
import warnings
from dataclasses import dataclass
from typing import Any, Callable, Optional, Sequence

import dask
import dask.array as da
import numpy as np
from dask.highlevelgraph import HighLevelGraph
from dask.task_spec import Alias, Task, TaskRef

from inpaint_models.contract.datatypes import ProgressEvent, Reporter, ignore_progress
from inpaint_models.contract.errors import ClusterError, EmptyMaskWarning
from inpaint_models.contract.registry import ModelRegistry, default_registry, make_registry
from inpaint_models.contract.values import mask_covers
from inpaint_models.pipeline.crops import fill_region
from inpaint_models.pipeline.layout import Box, Layout, VolumeBox, boxes_around, channel_last, volume_boxes_around
from inpaint_models.pipeline.lazy_inputs import first_element, is_uniform
from inpaint_models.pipeline.plan import FillPlan
from inpaint_models.pipeline.regions import check_plane_size

#: events per phase at most: a mask of a million chunks must not flood a progress bar
_MAX_SCAN_EVENTS = 100


# --------------------------------------------------------------------------- models on workers
_registries: collections.OrderedDict[str, ModelRegistry] = collections.OrderedDict()
_registries_lock = threading.Lock()
#: one plugin call at a time per process: plugins need not be thread-safe, while
#: dask reads and writes chunks in parallel around them
_model_lock = threading.Lock()


class ModelHandle:
    """A picklable reference to one model of a registry, resolved once per process.

    In the process that made it, it is the caller's registry. Elsewhere (a
    ``dask.distributed`` worker) a model installed through entry points comes
    from that process's :func:`~inpaint_models.contract.registry.default_registry`, whose
    neural models cache their networks per process; a plugin registered inline
    travels with the handle and is registered once per process (the handle's
    token keys a process-wide cache). Either way each worker loads a model once,
    not once per crop.
    """

    def __init__(self, registry: ModelRegistry, name: str) -> None:
        self.name = name
        self.token = uuid.uuid4().hex
        installed = registry.origins.get(name) != "registered"  # from an entry point: every process has it
        self.plugin = None if installed else registry.plugin_manager.get_plugin(name)
        self._registry: Optional[ModelRegistry] = registry

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_registry"] = None  # holds locks; rebuilt where it lands
        return state

    def __dask_tokenize__(self) -> tuple[str, str]:
        return ("inpaint-model", self.token)

    def registry(self) -> ModelRegistry:
        """This process's registry holding the model."""
        if self._registry is None:
            with _registries_lock:
                registry = _registries.get(self.token)
                if registry is None:
                    if self.plugin is None:
                        registry = default_registry()
                    else:
                        registry = make_registry(load_entry_points=False)
                        registry.register(self.plugin, name=self.name)
                    _registries[self.token] = registry
                    while len(_registries) > 8:
                        _registries.popitem(last=False)
            self._registry = registry
        return self._registry


# --------------------------------------------------------------------------- scan
@dataclass
class ChunkHoles:
    """The hole regions of one mask chunk, found on their own.

    ``starts``/``stops`` (n, ndim) are the regions' bounding boxes in the whole
    mask's coordinates; ``faces[(axis, side)]`` the chunk's labels (1..n, 0 = no
    hole) on its first (side 0) or last (side 1) slice along each connected axis.
    """

    index: tuple[int, ...]
    starts: np.ndarray
    stops: np.ndarray
    areas: np.ndarray
    faces: dict[tuple[int, int], np.ndarray]


def _structure(ndim: int, connected: Sequence[int]) -> np.ndarray:
    """Full connectivity (8 in 2D, 26 in 3D) along the connected axes, none along the others."""
    structure = np.zeros((3,) * ndim, bool)
    structure[tuple(slice(None) if axis in connected else 1 for axis in range(ndim))] = True
    return structure


def scan_chunk(
    block: np.ndarray, index: tuple[int, ...], offset: tuple[int, ...], connected: tuple[int, ...]
) -> Optional[ChunkHoles]:
    """Label the holes of one bool mask chunk; None when it has none."""
    from scipy import ndimage

    if block.size == 0:
        return None
    if is_uniform(block):
        if not first_element(block)[0]:
            return None
        block = np.ascontiguousarray(block)
    elif not block.any():
        return None
    # Label only inside the bounding box of the chunk's holes: a small hole in a big chunk costs little.
    low, high = [], []
    for axis in range(block.ndim):
        present = np.flatnonzero(block.any(axis=tuple(a for a in range(block.ndim) if a != axis)))
        low.append(int(present[0]))
        high.append(int(present[-1]) + 1)
    inner = tuple(slice(a, b) for a, b in zip(low, high))
    labels, count = ndimage.label(block[inner], structure=_structure(block.ndim, connected))
    found = ndimage.find_objects(labels)
    starts = np.array([[s.start + a + o for s, a, o in zip(slices, low, offset)] for slices in found], np.int64)
    stops = np.array([[s.stop + a + o for s, a, o in zip(slices, low, offset)] for slices in found], np.int64)
    areas = np.bincount(labels.ravel(), minlength=count + 1)[1:].astype(np.int64)
    faces = {}
    for axis in connected:
        for side in (0, 1):
            face = np.zeros(block.shape[:axis] + block.shape[axis + 1 :], labels.dtype)
            if (low[axis] == 0) if side == 0 else (high[axis] == block.shape[axis]):
                face[inner[:axis] + inner[axis + 1 :]] = labels.take(-side, axis=axis)
            faces[(axis, side)] = face
    return ChunkHoles(tuple(index), starts.reshape(-1, block.ndim), stops.reshape(-1, block.ndim), areas, faces)


def _touching(lower: ChunkHoles, upper: ChunkHoles, step: dict[int, int], connected: tuple[int, ...]) -> np.ndarray:
    """Pairs (label in ``lower``, label in ``upper``) of regions that touch across the chunks' shared boundary.

    ``upper`` is ``lower``'s neighbour at chunk offset ``step`` (axis -> +1 or -1,
    connected axes only). Voxels touch when they differ by at most one along
    every connected axis (full connectivity), so on the axes where the chunks
    share a slab the labels are compared shifted by -1, 0 and +1.
    """
    moved = sorted(step)
    first = moved[0]
    # the boundary of each chunk facing the other: its face along the first moved axis, then its
    # edge / corner along the others (positions shift as axes are taken away)
    low = lower.faces[(first, 1 if step[first] > 0 else 0)]
    high = upper.faces[(first, 0 if step[first] > 0 else 1)]
    remaining = [axis for axis in range(lower.starts.shape[1]) if axis != first]
    for axis in moved[1:]:
        position = remaining.index(axis)
        low = low.take(-1 if step[axis] > 0 else 0, axis=position)
        high = high.take(0 if step[axis] > 0 else -1, axis=position)
        remaining.pop(position)
    shifting = [position for position, axis in enumerate(remaining) if axis in connected]
    pairs = []
    for shifts in itertools.product((-1, 0, 1), repeat=len(shifting)):
        low_slices = [slice(None)] * low.ndim
        high_slices = [slice(None)] * high.ndim
        for position, shift in zip(shifting, shifts):
            if shift > 0:
                low_slices[position], high_slices[position] = slice(None, -1), slice(1, None)
            elif shift < 0:
                low_slices[position], high_slices[position] = slice(1, None), slice(None, -1)
        a, b = low[tuple(low_slices)], high[tuple(high_slices)]
        both = (a > 0) & (b > 0)
        if both.any():
            pairs.append(np.stack([a[both], b[both]], axis=1))
    if not pairs:
        return np.zeros((0, 2), np.int64)
    return np.unique(np.concatenate(pairs), axis=0)


@dataclass
class Regions:
    """Hole regions (connected components) of a whole mask: bounding boxes and sizes."""

    starts: np.ndarray  # (n, ndim)
    stops: np.ndarray  # (n, ndim)
    areas: np.ndarray  # (n,)


def merge_chunks(chunks: list[ChunkHoles], connected: tuple[int, ...], ndim: int) -> Regions:
    """Unite the regions of neighbouring chunks that touch into the mask's regions."""
    from scipy import sparse
    from scipy.sparse import csgraph

    if not chunks:
        empty = np.zeros((0, ndim), np.int64)
        return Regions(empty, empty.copy(), np.zeros(0, np.int64))
    first_id: dict[tuple[int, ...], int] = {}  # global id of each chunk's label 1
    by_index = {chunk.index: chunk for chunk in chunks}
    total = 0
    for chunk in chunks:
        first_id[chunk.index] = total
        total += len(chunk.areas)
    edges = []
    for chunk in chunks:
        for offsets in itertools.product((-1, 0, 1), repeat=len(connected)):
            nonzero = [o for o in offsets if o]
            if not nonzero or nonzero[0] < 0:  # each neighbouring pair once
                continue
            neighbour = list(chunk.index)
            for axis, o in zip(connected, offsets):
                neighbour[axis] += o
            other = first_id.get(tuple(neighbour))
            if other is None:
                continue
            step = {axis: o for axis, o in zip(connected, offsets) if o}
            pairs = _touching(chunk, by_index[tuple(neighbour)], step, connected)
            if len(pairs):
                edges.append(np.stack([pairs[:, 0] - 1 + first_id[chunk.index], pairs[:, 1] - 1 + other], axis=1))
    starts = np.concatenate([c.starts for c in chunks])
    stops = np.concatenate([c.stops for c in chunks])
    areas = np.concatenate([c.areas for c in chunks])
    if edges:
        pairs = np.concatenate(edges)
        graph = sparse.coo_matrix((np.ones(len(pairs), np.int8), (pairs[:, 0], pairs[:, 1])), shape=(total, total))
        count, component = csgraph.connected_components(graph, directed=False)
    else:
        count, component = total, np.arange(total)
    merged_starts = np.full((count, ndim), np.iinfo(np.int64).max, np.int64)
    merged_stops = np.zeros((count, ndim), np.int64)
    merged_areas = np.zeros(count, np.int64)
    np.minimum.at(merged_starts, component, starts)
    np.maximum.at(merged_stops, component, stops)
    np.add.at(merged_areas, component, areas)
    return Regions(merged_starts, merged_stops, merged_areas)


def find_regions(mask: da.Array, connected: tuple[int, ...], report: Reporter) -> Regions:
    """Scan every chunk of a bool dask mask (one task each) and merge the regions across chunks."""
    blocks = mask.to_delayed()
    bounds = [np.cumsum((0,) + tuple(sizes)) for sizes in mask.chunks]
    tasks = [
        dask.delayed(scan_chunk, pure=True)(
            blocks[index], index, tuple(int(b[i]) for b, i in zip(bounds, index)), connected
        )
        for index in np.ndindex(blocks.shape)
    ]
    every = max(1, len(tasks) // _MAX_SCAN_EVENTS)

    def scanned(step: int) -> None:
        if step % every == 0 or step == len(tasks):
            report(ProgressEvent("scan", step, len(tasks), message=f"mask chunk {step} of {len(tasks)}"))

    found = compute_with_progress(tasks, scanned, keep=False)
    return merge_chunks([chunk for chunk in found if chunk is not None], connected, mask.ndim)


def _broadcast_regions(found: Regions, shape: tuple[int, ...], volume_index: Optional[int]) -> Regions:
    """Regions of a mask broadcast over leading axes of ``shape``.

    Along the volume axis each region spans the whole depth (every plane is
    alike); along the other broadcast axes it is repeated.
    """
    lead = len(shape) - found.starts.shape[1]
    if lead == 0:
        return found
    count = len(found.areas)
    starts = np.concatenate([np.zeros((count, lead), np.int64), found.starts], axis=1)
    stops = np.concatenate([np.ones((count, lead), np.int64), found.stops], axis=1)
    areas = found.areas.copy()
    if volume_index is not None and volume_index < lead:  # every plane alike: each region spans the depth
        stops[:, volume_index] = shape[volume_index]
        areas *= shape[volume_index]
    repeated = [axis for axis in range(lead) if axis != volume_index]
    if repeated:
        grid = np.array(list(np.ndindex(*(shape[axis] for axis in repeated))), np.int64)
        starts, stops = np.tile(starts, (len(grid), 1)), np.tile(stops, (len(grid), 1))
        areas = np.tile(areas, len(grid))
        for column, axis in enumerate(repeated):
            starts[:, axis] = np.repeat(grid[:, column], count)
            stops[:, axis] = starts[:, axis] + 1
    return Regions(starts, stops, areas)


def _check_cover(regions: Regions, layout: Layout, volume_index: Optional[int]) -> None:
    """MaskCoversImageError as the in-memory fill raises it: a plane (plane by plane) or a volume all hole."""
    stack = layout.stack_shape
    if volume_index is None:
        full = np.flatnonzero(regions.areas == layout.height * layout.width)
        if len(full):
            index = min(
                int(np.ravel_multi_index(tuple(regions.starts[i, : len(stack)]), stack)) if stack else 0 for i in full
            )
            raise mask_covers("the whole image" if layout.planes == 1 else f"the whole of plane {index}")
        return
    full = np.flatnonzero(regions.areas == stack[volume_index] * layout.height * layout.width)
    if len(full):
        outer = min(tuple(int(regions.starts[i, a]) for a in range(len(stack)) if a != volume_index) for i in full)
        raise mask_covers("the whole stack" if not outer else f"the whole of volume {outer}")


def crop_regions(regions: Regions, plan: FillPlan, mask: da.Array) -> list[tuple[slice, ...]]:
    """The crop boxes around the regions, as slices of the mask's (stack..., H, W) axes.

    ``mask`` is bool, broadcast to the (stack..., H, W) shape, True = hole.
    Grouped by plane (plane by plane) or by volume, and computed by the
    in-memory fill's functions with the plan's margins. Whether a box is all
    hole is answered from the regions' sizes where they tell (nearly always),
    else by reading the mask in the box.
    """
    layout, volume_index, info = plan.layout, plan.volume_index, plan.info
    ndim = len(layout.stack_shape) + 2
    if volume_index is None:
        outer_axes, dims = list(range(ndim - 2)), [ndim - 2, ndim - 1]
    else:
        outer_axes, dims = [a for a in range(ndim - 2) if a != volume_index], [volume_index, ndim - 2, ndim - 1]
    groups: dict[tuple[int, ...], list[int]] = collections.defaultdict(list)
    for i, outer in enumerate(map(tuple, regions.starts[:, outer_axes].tolist())):
        groups[outer].append(i)
    shape = layout.stack_shape + (layout.height, layout.width)
    result = []
    for outer in sorted(groups):
        members = np.array(groups[outer])
        starts, stops, areas = regions.starts[members][:, dims], regions.stops[members][:, dims], regions.areas[members]

        def slices_of(start: Sequence[int], stop: Sequence[int], outer: tuple[int, ...] = outer) -> tuple[slice, ...]:
            spans = [slice(None)] * ndim
            for axis, value in zip(outer_axes, outer):
                spans[axis] = slice(value, value + 1)
            for axis, a, b in zip(dims, start, stop):
                spans[axis] = slice(int(a), int(b))
            return tuple(spans)

        def all_hole(
            start: Sequence[int], stop: Sequence[int], starts=starts, stops=stops, areas=areas, slices_of=slices_of
        ) -> bool:
            inside = np.all((starts < np.asarray(stop)) & (stops > np.asarray(start)), axis=1)
            if int(areas[inside].sum()) < int(np.prod(np.subtract(stop, start))):
                return False  # fewer hole voxels in reach than the box holds
            return bool(mask[slices_of(start, stop)].all().compute())

        if volume_index is None:
            components = [Box(int(a[0]), int(a[1]), int(b[0]), int(b[1])) for a, b in zip(starts, stops)]
            boxes = boxes_around(
                components, (layout.height, layout.width), plan.margin, info.min_size, info.native_size is not None,
                lambda box, all_hole=all_hole: all_hole((box.top, box.left), (box.bottom, box.right)),
            )
            result += [slices_of((box.top, box.left), (box.bottom, box.right)) for box in boxes]
        else:
            volume_components = [VolumeBox(tuple(map(int, a)), tuple(map(int, b))) for a, b in zip(starts, stops)]  # type: ignore[arg-type]
            volume_shape = (shape[volume_index], layout.height, layout.width)
            boxes = volume_boxes_around(
                volume_components, volume_shape, plan.margin, plan.depth_margin, info.min_size,
                lambda box, all_hole=all_hole: all_hole(box.start, box.stop),
            )
            result += [slices_of(box.start, box.stop) for box in boxes]
    return result


# --------------------------------------------------------------------------- compute
def active_client() -> Any:
    """The active ``dask.distributed`` client, or None (distributed is not imported unless it is in use)."""
    if "distributed" not in sys.modules:
        return None
    from distributed import default_client

    try:
        return default_client()
    except ValueError:
        return None


def compute_with_progress(collections: list, done: Callable[[int], None], keep: bool) -> list:
    """Compute (``keep=False``: the results) or persist (``keep=True``: collections holding them) dask collections.

    ``done(n)`` is called in the calling thread as the n-th collection finishes;
    an exception it raises (:class:`~inpaint_models.contract.errors.Cancelled`) stops
    the work. With an active distributed client the work runs on its workers
    (:func:`compute_on_cluster`: worker deaths end in a :class:`ClusterError`, never a hang).
    """
    if not collections:
        return []
    client = active_client()
    if client is not None:
        return compute_on_cluster(client, collections, done, keep)

    from dask.callbacks import Callback

    wanted = {collection.key for collection in collections}
    finished = [0]

    def posttask(key: Any, result: Any, dsk: Any, state: Any, worker_id: Any) -> None:
        if key in wanted:
            finished[0] += 1
            done(finished[0])

    with Callback(posttask=posttask):
        return list((dask.persist if keep else dask.compute)(*collections))


# --------------------------------------------------------------------------- a cluster that fails
# (ClusterError: inpaint_models.contract.errors)

#: how long a distributed fill waits while its cluster has no worker at all, when the dask config
#: ``distributed.scheduler.no-workers-timeout`` does not say (an adaptive cluster that takes longer
#: to start workers sets it higher)
NO_WORKERS_SECONDS = 60.0

#: seconds between two looks at the cluster (its workers, the client's connection) while no task finishes
_WATCH_SECONDS = 1.0


def compute_on_cluster(client: Any, collections: list, done: Callable[[int], None], keep: bool) -> list:
    """:func:`compute_with_progress` on the workers of a ``dask.distributed`` ``client``: fails, never hangs.

    Waits for the tasks without ever blocking for good: while none finishes it
    looks at the cluster every second (:class:`_ClusterWatch`). Worker deaths
    that made the scheduler give a task up (``distributed.scheduler.allowed-failures``
    + 1 deaths, ``KilledWorker``), no worker for the no-workers timeout, a lost
    scheduler (tasks cancelled) all end in a :class:`ClusterError`; the task's own
    exceptions are raised as they are. The tasks still running are cancelled on
    any error (a :class:`~inpaint_models.contract.errors.Cancelled` from ``done``
    included).
    """
    from distributed import futures_of

    if keep:
        results = client.persist(collections)
        futures = [futures_of(result)[0] for result in results]
    else:
        futures = results = client.compute(collections)
    try:
        _await_futures(client, futures, done)
        return list(results) if keep else _gathered(client, futures)
    except BaseException:
        with contextlib.suppress(Exception):  # best effort: a lost scheduler cannot be told
            client.cancel(futures)
        raise


def _await_futures(client: Any, futures: list, done: Callable[[int], None]) -> None:
    """Call ``done(n)`` as each future finishes; raise the first error (see :func:`compute_on_cluster`)."""
    from distributed import as_completed

    pending = as_completed(futures)
    watch = _ClusterWatch(client, len(futures))
    step = 0
    while not pending.is_empty():
        batch = pending.next_batch(block=False)
        if not batch:  # as_completed's own wait has no bound: poll, and look at the cluster now and then
            watch.check(step)
            time.sleep(0.02)
            continue
        for future in batch:
            _check_finished(client, future, step, len(futures))
            step += 1
            done(step)


def _check_finished(client: Any, future: Any, step: int, total: int) -> None:
    """Raise when a finished future failed: its task's own error, or a :class:`ClusterError`."""
    if future.status == "error":
        _raise_task_error(future, step, total)
    elif future.status != "finished":  # cancelled or lost: the scheduler dropped it
        raise ClusterError(
            f"the dask cluster dropped a task of the fill ({future.status}; the client is {client.status}): "
            f"the scheduler was lost or restarted after {step} of {total} tasks; check the scheduler and "
            f"fill again"
        )


def _raise_task_error(future: Any, step: int, total: int) -> None:
    """Raise the task's exception; the scheduler's KilledWorker and NoWorkerError as a :class:`ClusterError`."""
    from distributed import KilledWorker
    from distributed.scheduler import NoWorkerError

    try:
        future.result()
    except KilledWorker as error:
        raise ClusterError(_killed_message(error, step, total)) from error
    except NoWorkerError as error:  # the scheduler's own distributed.scheduler.no-workers-timeout
        raise ClusterError(_no_workers_message(float(error.timeout), step, total, float(error.timeout))) from error


def _killed_message(error: Any, step: int, total: int) -> str:
    """What a KilledWorker means for a fill, and what to do about it."""
    failures = int(error.allowed_failures)
    return (
        f"dask workers died while running task {error.task!r} of the fill ({step} of {total} done): it was "
        f"tried on {failures + 1} workers and each one died (KilledWorker; "
        f"distributed.scheduler.allowed-failures = {failures}). The task kills its worker process: out of "
        f"memory (give the workers more memory, or fewer threads each), or a model plugin that crashes or "
        f"exits; the worker logs say which"
    )


def _gathered(client: Any, futures: list) -> list:
    """The futures' results; a KilledWorker met while fetching them (a result lost and recomputed) as a ClusterError."""
    from distributed import KilledWorker

    try:
        return client.gather(futures)
    except KilledWorker as error:
        raise ClusterError(_killed_message(error, len(futures), len(futures))) from error


class _ClusterWatch:
    """Looks at a distributed client's cluster while a fill waits for its tasks: fails instead of waiting forever.

    Distributed retries a task whose worker died and gives it up after
    ``allowed-failures`` deaths, but tasks wait without end while the cluster has
    no worker at all (every worker died and no nanny restarts them), and a client
    whose scheduler is gone waits for its reconnection timeout.
    """

    def __init__(self, client: Any, total: int) -> None:
        self.client = client
        self.total = total
        self.limit = _no_workers_seconds()
        self.last_look = time.monotonic()
        self.without_workers: Optional[float] = None  # monotonic time since which the cluster has had no worker

    def check(self, step: int) -> None:
        """Raise a :class:`ClusterError` when the client is closed, or the cluster has had no worker too long."""
        now = time.monotonic()
        if now - self.last_look < _WATCH_SECONDS:
            return
        self.last_look = now
        client = self.client
        if client.status in ("closing", "closed", "failed"):
            raise ClusterError(f"lost the dask scheduler (the client is {client.status}) after {step} of "
                               f"{self.total} tasks of the fill; check the scheduler and fill again")
        if _worker_count(client) > 0:
            self.without_workers = None
            return
        if self.without_workers is None:
            self.without_workers = now
        elif now - self.without_workers >= self.limit:
            raise ClusterError(_no_workers_message(now - self.without_workers, step, self.total, self.limit))


def _no_workers_message(seconds: float, step: int, total: int, limit: float) -> str:
    """What a cluster without workers means for a fill, and what to do about it."""
    return (
        f"the dask cluster has had no worker for {seconds:.0f} s ({step} of {total} tasks of the fill done): "
        f"its workers died or were stopped, and none was started again. Start workers (dask worker "
        f"SCHEDULER_ADDRESS) and fill again; a cluster that takes longer to start its workers sets "
        f"distributed.scheduler.no-workers-timeout (now {limit:g} s)"
    )


def _no_workers_seconds() -> float:
    """``distributed.scheduler.no-workers-timeout`` in seconds, else :data:`NO_WORKERS_SECONDS`."""
    from dask.utils import parse_timedelta

    value = dask.config.get("distributed.scheduler.no-workers-timeout", None)
    return float(parse_timedelta(value, default="s")) if value not in (None, "") else NO_WORKERS_SECONDS


def _worker_count(client: Any) -> int:
    """The scheduler's number of workers (its identity without the per-worker records)."""
    info = client.scheduler_info(n_workers=0)
    return int(info.get("n_workers", len(info.get("workers", {}))))


# --------------------------------------------------------------------------- fill
def fill_job(model: ModelHandle, spec: FillPlan, crop: np.ndarray, crop_mask: np.ndarray) -> np.ndarray:
    """Fill one crop (the image's axes, the box's extent) with its bool mask (the mask's axes); returns it filled.

    ``spec`` is the fill's plan as its tasks receive it (:meth:`~inpaint_models.pipeline.plan.FillPlan.for_tasks`,
    with its context); the model comes from this process's registry (``model``).
    """
    layout = spec.layout
    image = channel_last(crop, layout)  # (stack..., h, w, C), the stack axes of length 1 but the volume's
    holes = np.asarray(crop_mask, dtype=bool)
    if spec.volume_index is None:
        work, work_mask = image.reshape(image.shape[-3:]), holes.reshape(holes.shape[-2:])
    else:
        depth = len(layout.stack_shape) - 1
        image = np.moveaxis(image, spec.volume_index, depth)
        holes = np.moveaxis(holes, spec.volume_index, depth)
        work, work_mask = image.reshape(image.shape[-4:]), holes.reshape(holes.shape[-3:])
    target = np.array(work, order="C", copy=True)
    with _model_lock:
        plan = dataclasses.replace(spec, registry=model.registry())
        fill_region(plan, work, np.ascontiguousarray(work_mask), target)
    out = target.reshape(image.shape)
    if spec.volume_index is not None:
        out = np.moveaxis(out, len(layout.stack_shape) - 1, spec.volume_index)
    out = out[..., 0] if layout.channel_axis is None else np.moveaxis(out, -1, layout.channel_axis)
    return np.ascontiguousarray(out)


def patch_block(block: np.ndarray, placements: tuple, *crops: np.ndarray) -> np.ndarray:
    """A copy of one image chunk with the overlapping parts of filled crops pasted in."""
    out = np.array(block, copy=True)  # also makes a broadcast or read-only chunk writable
    for (block_slices, crop_slices), crop in zip(placements, crops):
        out[block_slices] = crop[crop_slices]
    return out


def _placements(
    slices: tuple[slice, ...], chunks: tuple[tuple[int, ...], ...]
) -> list[tuple[tuple[int, ...], tuple, tuple]]:
    """The chunks a box (slices of the image's axes) touches: (chunk index, slices in the chunk, slices in the box)."""
    per_axis = []
    for span, sizes in zip(slices, chunks):
        bounds = np.cumsum((0,) + tuple(sizes))
        start, stop, _ = span.indices(int(bounds[-1]))
        first = int(np.searchsorted(bounds, start, side="right")) - 1
        last = int(np.searchsorted(bounds, stop - 1, side="right")) - 1
        per_axis.append([
            (b, slice(max(start, int(bounds[b])) - int(bounds[b]), min(stop, int(bounds[b + 1])) - int(bounds[b])),
             slice(max(start, int(bounds[b])) - start, min(stop, int(bounds[b + 1])) - start))
            for b in range(first, last + 1)
        ])
    return [
        (tuple(p[0] for p in combo), tuple(p[1] for p in combo), tuple(p[2] for p in combo))
        for combo in itertools.product(*per_axis)
    ]


def fill_dask(plan: FillPlan, report: Reporter, stacklevel: int = 2) -> da.Array:
    """The lazy half of :func:`inpaint_models.fill`: a planned fill of a dask image (``plan.lazy``).

    Finds the hole regions chunk by chunk, fills their crops (events
    ``"scan"`` per mask chunk and ``"fill"`` per region through ``report``,
    which raises :class:`~inpaint_models.contract.errors.Cancelled` to stop),
    and returns a dask array with the image's chunks in which only the chunks
    the crops touch differ from the image's. An empty mask returns the image
    with an :class:`EmptyMaskWarning` (``stacklevel`` counted from here).
    """
    layout, volume_index, image = plan.layout, plan.volume_index, plan.image
    shape = layout.stack_shape + (layout.height, layout.width)
    ndim = len(shape)
    connected = (ndim - 2, ndim - 1) if volume_index is None else (volume_index, ndim - 2, ndim - 1)
    lead = ndim - plan.mask.ndim
    found = find_regions(plan.mask, tuple(axis - lead for axis in connected if axis >= lead), report)
    regions = _broadcast_regions(found, shape, volume_index)
    if not len(regions.areas):
        warnings.warn("the mask is empty: returning the image unchanged", EmptyMaskWarning, stacklevel=stacklevel)
        return image
    check_plane_size(plan.info, layout)
    _check_cover(regions, layout, volume_index)
    full_mask = da.broadcast_to(plan.mask, shape) if lead else plan.mask
    boxes = crop_regions(regions, plan, full_mask)
    plan = plan.with_context(ignore_progress)
    crops = _fill_crops(plan, boxes, full_mask, report)
    return _patched(image, [_image_slices(box, layout) for box in boxes], crops)


def _fill_crops(plan: FillPlan, boxes: list[tuple[slice, ...]], full_mask: da.Array, report: Reporter) -> list:
    """Fill the crops in the boxes (slices of the mask's axes), one task each; persisted dask collections."""
    token = uuid.uuid4().hex
    model = dask.delayed(ModelHandle(plan.registry, plan.info.name), name=f"inpaint-model-{token}")
    spec = dask.delayed(plan.for_tasks(), name=f"inpaint-spec-{token}")
    crops = [
        dask.delayed(fill_job)(
            model, spec, plan.image[_image_slices(box, plan.layout)], full_mask[box],
            dask_key_name=f"inpaint-crop-{token}-{i}",
        )
        for i, box in enumerate(boxes)
    ]
    return compute_with_progress(
        crops,
        lambda step: report(ProgressEvent("fill", step, len(crops), message=f"region {step} of {len(crops)}")),
        keep=True,
    )


def _patched(image: da.Array, image_boxes: list[tuple[slice, ...]], crops: list) -> da.Array:
    """A dask array of ``image``'s chunks with the filled crops pasted into the chunks they touch."""
    touched: dict[tuple[int, ...], list] = collections.defaultdict(list)
    for i, image_box in enumerate(image_boxes):
        for index, block_slices, crop_slices in _placements(image_box, image.chunks):
            touched[index].append((i, block_slices, crop_slices))
    name = f"inpaint-fill-{uuid.uuid4().hex}"
    layer: dict[tuple, Any] = {}
    for index in np.ndindex(*image.numblocks):
        key, source = (name,) + index, (image.name,) + index
        pieces = touched.get(index)
        if pieces is None:
            layer[key] = Alias(key, source)  # untouched: the image's own chunk
        else:
            placements = tuple((block_slices, crop_slices) for _, block_slices, crop_slices in pieces)
            refs = (TaskRef(crops[i].key) for i, _, _ in pieces)
            layer[key] = Task(key, patch_block, TaskRef(source), placements, *refs)
    graph = HighLevelGraph.from_collections(name, layer, dependencies=[image, *crops])
    return da.Array(graph, name, chunks=image.chunks, dtype=image.dtype, meta=image._meta)


def _image_slices(box: tuple[slice, ...], layout: Layout) -> tuple[slice, ...]:
    """Slices of the mask's axes as slices of the image's (all of the channel axis)."""
    spans = list(box)
    if layout.channel_axis is not None:
        spans.insert(layout.channel_axis, slice(None))
    return tuple(spans)
