"""Numbers (issue 22, item 7): no wrap-around at the extremes of any integer dtype, in memory and lazily."""

from __future__ import annotations

import numpy as np
import pytest

import inpaint_models
from inpaint_models.contract.datatypes import ModelInfo
from inpaint_models.contract.hookspecs import hookimpl
from inpaint_models.contract.registry import make_registry
from inpaint_models.contract.values import value_range

INTEGERS = [np.int8, np.uint8, np.int16, np.uint16, np.int32, np.uint32, np.int64, np.uint64]


def constant_plugin(value: float):
    """An inline model that fills every hole with ``value`` (in the contract's [0, 1])."""

    class Plugin:
        @hookimpl
        def model_info(self) -> ModelInfo:
            return ModelInfo(name="constant", title="constant", description="test", source="tests")

        @hookimpl
        def fill(self, image):
            return np.full(image.shape, value, np.float32)

    registry = make_registry(load_entry_points=False)
    registry.register(Plugin())
    return registry


def near(dtype, end: str, shape=(24, 24)) -> np.ndarray:
    """Values at ``end`` ("max" / "min") of ``dtype``: the extreme itself and its neighbour, in stripes."""
    info = np.iinfo(dtype)
    image = np.full(shape, info.max if end == "max" else info.min, dtype)
    image[::2] = info.max - 1 if end == "max" else info.min + 1
    return image


def hole() -> np.ndarray:
    mask = np.zeros((24, 24), bool)
    mask[8:16, 8:16] = True
    return mask


@pytest.mark.parametrize("dtype", INTEGERS)
@pytest.mark.parametrize("end", ["max", "min"])
@pytest.mark.parametrize("model", ["telea", "biharmonic", "push-pull"])
def test_a_fill_at_the_ends_of_an_integer_dtype_never_wraps_around(dtype, end, model, registry):
    """Issue 22's row: int64 / uint64 images near the dtype's maximum had their holes filled with -2**63 / 0."""
    image, mask = near(dtype, end), hole()
    out = inpaint_models.fill(image, mask, model=model, registry=registry)
    known, filled = image[~mask], out[mask]
    assert np.array_equal(out[~mask], known)
    if dtype == np.uint8:  # mapped 0..255 as is, not stretched: telea may overshoot a little, never wrap
        extreme = float(np.iinfo(dtype).max if end == "max" else 0)
        assert np.abs(filled.astype(np.float64) - extreme).max() <= 8, (filled.min(), filled.max())
    else:  # stretched to the known range and clipped to it
        assert known.min() <= filled.min() and filled.max() <= known.max(), (filled.min(), filled.max())


@pytest.mark.parametrize("dtype", INTEGERS)
@pytest.mark.parametrize("unit", [0.0, 1.0])
def test_the_ends_of_the_unit_range_map_to_the_exact_ends_of_the_known_range(dtype, unit):
    info = np.iinfo(dtype)
    image = np.full((24, 24), info.max, dtype)
    image[:, :12] = info.min
    mask = hole()
    out = inpaint_models.fill(image, mask, model="constant", registry=constant_plugin(unit))
    expected = info.max if unit == 1.0 else info.min
    assert (out[mask] == expected).all(), np.unique(out[mask])


@pytest.mark.parametrize("dtype", [np.int64, np.uint64])
def test_a_range_float64_rounds_keeps_its_exact_integer_ends(dtype):
    """The known ends of a 64-bit range are exact ints, so a fill never steps past them by float64's rounding
    (``float(max - 100)`` is ``2**63`` for int64, past the maximum)."""
    info = np.iinfo(dtype)
    low, high = info.max - 1500, info.max - 100
    planes = np.array([low, high], dtype).reshape(1, 1, 2, 1)
    mapping = value_range(planes, np.zeros((1, 1, 2), bool))
    ends = mapping.from_unit(np.array([0.0, 0.5, 1.0], np.float32))
    assert low <= int(ends.min()) and int(ends.max()) == high, ends.tolist()


@pytest.mark.parametrize("dtype", [np.int64, np.uint64])
def test_a_lazy_fill_at_the_maximum_never_wraps_around(dtype):
    dask_array = pytest.importorskip("dask.array")
    image, mask = near(dtype, "max", (48, 48)), np.zeros((48, 48), bool)
    mask[8:16, 8:16] = True
    mask[30:40, 30:40] = True
    out = inpaint_models.fill(dask_array.from_array(image, chunks=24), mask, model="constant",
                              registry=constant_plugin(1.0))
    out = np.asarray(out)
    assert (out[mask] == np.iinfo(dtype).max).all(), np.unique(out[mask])
    assert np.array_equal(out[~mask], image[~mask])
