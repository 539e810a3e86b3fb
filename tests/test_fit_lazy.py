"""Fitting at any size: ``fit`` reads dask, zarr and memory-mapped arrays window by window, never whole.

The arrays here are guarded: every read is counted, and reading the whole
array at once, or more than a bounded number of elements in total, fails the
test. The dask images are far larger than what is read (their values are
computed from the coordinates when a window is read: nothing of them exists
in memory); the zarr store is mostly unwritten chunks. On arrays small enough
to compare, a fit on a lazy array trains exactly as on the same array in memory.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

import inpaint_models
from inpaint_models.contract.registry import make_registry
from inpaint_models.training import array_data, volumes
from inpaint_models.training.volumes import StackVolumes

da = pytest.importorskip("dask.array")

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # tests/conftest.py

REGISTRY = make_registry()
TINY_OPTIONS = {"width": 4, "levels": 2}
TINY_TRAIN = {"batch_size": 2, "preview_every": 0, "validate_every": 2, "checkpoint_every": 1000, "log_every": 1,
              "validation_images": 4}


class Guarded:
    """An array-like (for ``dask.array.from_array``) computing its values from the coordinates when read.

    Every read is counted (``elements``); a read of the whole array, or reads of more than ``limit``
    elements in total, are recorded in ``violations`` and raise.
    """

    def __init__(self, shape, dtype, values, limit):
        self.shape, self.dtype, self.ndim = tuple(shape), np.dtype(dtype), len(shape)
        self.values = values  # f(z, y, x) of broadcastable index grids -> values
        self.limit = limit
        self.elements = 0
        self.violations: list[str] = []

    def _fail(self, message):
        self.violations.append(message)
        raise AssertionError(message)

    def __getitem__(self, key):
        key = key if isinstance(key, tuple) else (key,)
        key = key + (slice(None),) * (self.ndim - len(key))
        ranges = [range(n)[k] if isinstance(k, slice) else range(n)[k : k + 1] for k, n in zip(key, self.shape)]
        if all(len(r) == n for r, n in zip(ranges, self.shape)) and math.prod(self.shape) > 1:
            self._fail(f"the whole array {self.shape} was read at once")
        self.elements += math.prod(len(r) for r in ranges)
        if self.elements > self.limit:
            self._fail(f"{self.elements} elements read, more than {self.limit}")
        grids = np.ix_(*[np.asarray(r) for r in ranges])
        out = np.broadcast_to(self.values(*grids), tuple(len(r) for r in ranges)).astype(self.dtype)
        return out[tuple(0 if not isinstance(k, slice) else slice(None) for k in key)]

    def __array__(self, *args, **kwargs):
        self._fail("the whole array was converted with np.asarray")


def smooth_values(z, y, x):
    """uint16-range values with structure and noise-like texture, from the coordinates."""
    return 1000 + 400 * np.sin(x / 7.0 + z / 3.0) * np.cos(y / 9.0) + 50 * np.sin(x * 1.7 + y * 2.3 + z)


def box_holes(z, y, x):
    """Holes: a 24 x 30 box in every 96-px block of even planes, two dead rows in every eighth plane."""
    boxes = ((y % 96) < 24) & ((x % 96) < 30) & (z % 2 == 0)
    return boxes | ((z % 8 == 3) & ((y == 50) | (y == 51)) & (x >= 0))


def quick_fit(tmp_path, image, mask, name="run", **kwargs):
    kwargs.setdefault("steps", 2)
    kwargs.setdefault("options", TINY_OPTIONS)
    kwargs.setdefault("train", TINY_TRAIN)
    return inpaint_models.fit(image, mask, output=tmp_path / name, device="cpu", registry=REGISTRY, **kwargs)


def same_weights(first, second) -> bool:
    from safetensors.numpy import load_file

    a, b = load_file(str(first)), load_file(str(second))
    return a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)


@pytest.fixture
def small_budget(monkeypatch):
    """The mask survey reads 4 planes of 256 x 256 at most: setup samples planes and draws validation cells
    as on an array too large to survey whole."""
    monkeypatch.setattr(volumes, "MASK_BUDGET", 4 * 256 * 256)


# --------------------------------------------------------------------------- dask and zarr, never whole
def test_fit_reads_a_large_dask_array_window_by_window(tmp_path, monkeypatch):
    monkeypatch.setattr(volumes, "MASK_BUDGET", 4 << 20)  # the survey reads 4 mask planes
    shape, limit = (256, 1024, 1024), 16_000_000  # 256 Mi pixels (512 MiB as uint16); reads bounded by 16 M
    image = Guarded(shape, np.uint16, smooth_values, limit)
    mask = Guarded(shape, bool, box_holes, limit)
    events = []
    weights = quick_fit(tmp_path, da.from_array(image, chunks=(1, 256, 256)),
                        da.from_array(mask, chunks=(4, 512, 512)), progress=events.append)
    assert not image.violations and not mask.violations
    assert 0 < image.elements <= limit and 0 < mask.elements <= limit
    assert weights.is_file() and events[-1].step == 2
    summary = next(event.message for event in events if event.message.startswith("array data"))
    assert "in the 4 plane(s) surveyed" in summary, summary  # the holes' shapes come from a sample of planes


def test_fit_reads_a_zarr_store_window_by_window(tmp_path, monkeypatch):
    zarr = pytest.importorskip("zarr")
    monkeypatch.setattr(volumes, "MASK_BUDGET", 4 << 20)  # the survey reads 4 mask planes
    shape, chunks = (128, 1024, 1024), (1, 256, 256)
    image = zarr.create_array(store=zarr.storage.LocalStore(tmp_path / "image.zarr"), shape=shape, chunks=chunks,
                              dtype=np.uint16, fill_value=1000)
    image[:, :256, :256] = smooth_values(*np.ogrid[0:128, 0:256, 0:256]).astype(np.uint16)  # the rest: unwritten
    mask = zarr.create_array(store=zarr.storage.LocalStore(tmp_path / "mask.zarr"), shape=shape, chunks=chunks,
                             dtype=bool, fill_value=False)
    mask[::2, 100:124, 100:130] = True
    mask[3::8, 50:52, :] = True
    reads: dict[str, int] = {}
    read = zarr.Array.__getitem__

    def counted(self, selection):
        out = read(self, selection)
        key = str(self.store_path)
        reads[key] = reads.get(key, 0) + int(np.size(out))
        assert np.shape(out) != tuple(self.shape), "a zarr array was read whole"
        return out

    def whole(self, *args, **kwargs):
        raise AssertionError("a zarr array was converted whole")

    monkeypatch.setattr(zarr.Array, "__getitem__", counted)
    monkeypatch.setattr(zarr.Array, "__array__", whole)
    weights = quick_fit(tmp_path, image, mask)
    assert weights.is_file()
    assert len(reads) == 2 and all(0 < count <= 16_000_000 for count in reads.values()), reads  # of 128 Mi each


# --------------------------------------------------------------------------- the same fit as in memory
def test_a_memory_mapped_stack_fits_as_the_same_stack_in_memory(tmp_path, monkeypatch):
    """A memory map is read in place (never copied); the fit is the one the in-memory stack gets."""
    stack = smooth_values(*np.ogrid[0:12, 0:64, 0:64]).astype(np.uint16)
    mask = box_holes(*np.ogrid[0:12, 0:64, 0:64])
    np.save(tmp_path / "stack.npy", stack)
    mapped = np.load(tmp_path / "stack.npy", mmap_mode="r")
    in_memory = quick_fit(tmp_path, stack, mask, name="memory")

    def no_copy(_volumes):
        raise AssertionError("a memory-mapped array was copied")

    monkeypatch.setattr(array_data, "clean_copy", no_copy)
    assert same_weights(quick_fit(tmp_path, mapped, mask, name="mapped"), in_memory)
    assert np.array_equal(np.load(tmp_path / "stack.npy"), stack), "the file was modified"


def test_a_two_channel_dask_stack_fits_as_in_memory(tmp_path, small_budget):
    """Channels the model does not take together are read one channel at a time, as fit_volumes splits them;
    setup samples mask planes (the survey budget is small here) the same way for both arrays."""
    stack = smooth_values(*np.ogrid[0:10, 0:256, 0:256])
    two = np.stack([stack / 10, stack], axis=-1).astype(np.uint16)  # (Z, Y, X, 2)
    mask = box_holes(*np.ogrid[0:10, 0:256, 0:256])
    in_memory = quick_fit(tmp_path, two, mask, name="memory", volume_axis=0)
    lazy = quick_fit(tmp_path, da.from_array(two, chunks=(2, 100, 100, 1)), da.from_array(mask, chunks=(3, 128, 128)),
                     name="dask", volume_axis=0)
    assert same_weights(lazy, in_memory)


def test_a_lazy_fit_resumes_where_it_stopped(tmp_path, small_budget):
    stack = smooth_values(*np.ogrid[0:8, 0:256, 0:256]).astype(np.float32)
    mask = box_holes(*np.ogrid[0:8, 0:256, 0:256])
    stack[mask] = np.nan  # never read as truth
    image, holes = da.from_array(stack, chunks=(1, 128, 128)), da.from_array(mask, chunks=(8, 64, 64))
    train = {**TINY_TRAIN, "checkpoint_every": 1}
    quick_fit(tmp_path, image, holes, steps=2, train=train)
    events = []
    weights = quick_fit(tmp_path, image, holes, steps=4, resume=True, progress=events.append, train=train)
    assert events[-1].step == 4 and not events[-1].extra["cancelled"]
    log = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log if r["kind"] == "train"] == [1, 2, 3, 4]
    assert weights.is_file() and not (tmp_path / "run" / "data").exists()


# --------------------------------------------------------------------------- bad lazy input
def test_lazy_input_is_checked_where_it_is_read(tmp_path):
    shape = (6, 64, 64)
    covered = da.ones(shape, dtype=bool, chunks=(1, 64, 64))
    with pytest.raises(inpaint_models.MaskCoversImageError, match="nothing to learn from"):
        quick_fit(tmp_path, da.zeros(shape, dtype=np.uint16, chunks=(1, 64, 64)), covered, name="covered")
    broken = da.full(shape, np.nan, dtype=np.float32, chunks=(1, 32, 32))  # NaN outside the mask
    with pytest.raises(inpaint_models.InvalidValuesError, match="outside the mask"), \
            pytest.warns(inpaint_models.EmptyMaskWarning, match="the mask is empty"):
        quick_fit(tmp_path, broken, np.zeros(shape, bool), name="nan")
    unknown = da.zeros(shape, dtype=np.uint16, chunks=(1, 64, 64))[da.zeros(6, dtype=bool, chunks=2) == 0]
    with pytest.raises(inpaint_models.ShapeMismatchError, match="compute_chunk_sizes"):
        quick_fit(tmp_path, unknown, np.zeros(shape, bool), name="unknown")


# --------------------------------------------------------------------------- the reader
@pytest.mark.parametrize("layout", ["tzyxc, volume z", "tzyxc, volume t, 2D mask", "cyx", "zcyx"])
def test_stack_volumes_read_the_windows_of_any_layout(layout):
    """StackVolumes reads of one window equal the same window of the volumes built with numpy."""
    from inpaint_models.api_fit import fit_volumes

    rng = np.random.default_rng(0)
    if layout.startswith("tzyxc"):
        image = rng.integers(1, 1000, (3, 5, 20, 24, 2)).astype(np.uint16)
        mask = rng.random((20, 24) if "2D" in layout else (3, 5, 20, 24)) < 0.3
        axis = 1 if "volume z" in layout else 0
        expected = np.moveaxis(image, axis, 1).reshape(-1, image.shape[axis], 20, 24, 2)
        holes = np.moveaxis(np.broadcast_to(mask, image.shape[:4]), axis, 1).reshape(expected.shape[:4])
        found, _ = fit_volumes(image, da.from_array(mask), None, volume_axis=axis)
    else:
        image = rng.integers(1, 1000, (2, 20, 24) if layout == "cyx" else (4, 2, 20, 24)).astype(np.uint16)
        mask = rng.random((20, 24) if layout == "cyx" else (4, 20, 24)) < 0.3
        channel_axis = 0 if layout == "cyx" else 1
        found, _ = fit_volumes(da.from_array(image, chunks=7), mask, None, channel_axis=channel_axis, volume_axis=None)
        expected = np.moveaxis(image, channel_axis, -1).reshape(-1, 1, 20, 24, 2)
        holes = np.broadcast_to(mask, expected.shape[:1] + (20, 24)).reshape(expected.shape[:4])
    assert isinstance(found, StackVolumes) and found.shape == expected.shape
    window = (slice(0, expected.shape[1]), slice(3, 17), slice(5, 21))
    for n in range(expected.shape[0]):
        values, unknown = found.read(n, *window)
        assert np.array_equal(unknown, holes[n][window])
        assert np.array_equal(values, np.where(unknown[..., None], 0, expected[n][window]))
