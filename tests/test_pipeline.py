"""The model-independent fill pipeline: layouts, dtypes, crops, compositing, progress."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import inpaint_models
from inpaint_models.contract.datatypes import ModelInfo, ProgressEvent
from inpaint_models.contract.errors import (
    Cancelled,
    InvalidValuesError,
    OptionError,
    ShapeMismatchError,
    UnsupportedDtypeError,
)
from inpaint_models.contract.hookspecs import hookimpl
from inpaint_models.contract.registry import default_registry, make_registry
from inpaint_models.pipeline.layout import hole_boxes, resolve_layout

DTYPES = [np.uint8, np.uint16, np.int16, np.int32, np.float32, np.float64, np.bool_]


class SpyPlugin:
    """Records every crop it receives and fills with the crop's mean known value."""

    def __init__(self, name="spy", channels=None, native_size=None, size_multiple=1, min_size=3, margin=4):
        self.info = ModelInfo(
            name=name, title="Spy", description="records crops", source="tests", channels=channels,
            native_size=native_size, size_multiple=size_multiple, min_size=min_size, crop_margin=margin,
        )
        self.crops: list[tuple[tuple[int, ...], int]] = []

    @hookimpl
    def model_info(self):
        return self.info

    @hookimpl
    def fill(self, image, mask, context):
        assert image.dtype == np.float32 and image.ndim == 3 and mask.dtype == np.bool_
        assert image.min() >= 0.0 and image.max() <= 1.0
        assert not image[mask].any(), "hole pixels must be zeroed before the model sees them"
        self.crops.append((image.shape, int(mask.sum())))
        out = image.copy()
        out[mask] = image[~mask].mean(axis=0)
        return out


@pytest.fixture
def spy_registry():
    def build(**kwargs):
        registry = make_registry(load_entry_points=False)
        plugin = SpyPlugin(**kwargs)
        registry.register(plugin)
        return registry, plugin

    return build


# ---------------------------------------------------------------- layouts
@pytest.mark.parametrize(
    "image_shape, mask_shape, channel_axis, expected",
    [
        ((30, 40), (30, 40), "auto", (None, (), 30, 40, 1)),
        ((30, 40, 3), (30, 40), "auto", (2, (), 30, 40, 3)),
        ((30, 40, 4), (30, 40), "auto", (2, (), 30, 40, 4)),
        ((5, 30, 40), (30, 40), "auto", (None, (5,), 30, 40, 1)),
        ((5, 30, 40), (5, 30, 40), "auto", (None, (5,), 30, 40, 1)),
        ((2, 5, 30, 40, 3), (30, 40), "auto", (4, (2, 5), 30, 40, 3)),
        ((2, 5, 30, 40, 3), (5, 30, 40), "auto", (4, (2, 5), 30, 40, 3)),
        ((3, 30, 40), (30, 40), 0, (0, (), 30, 40, 3)),
        ((30, 40, 7), (30, 40), "auto", (2, (), 30, 40, 7)),
        ((30, 30, 30), (30, 30), "auto", (None, (30,), 30, 30, 1)),
        ((30, 30, 30), (30, 30), 2, (2, (), 30, 30, 30)),
        ((4, 4, 4), (4, 4), "auto", (2, (), 4, 4, 4)),  # ambiguous: a trailing axis <= 4 is channels
        ((4, 4, 4), (4, 4), None, (None, (4,), 4, 4, 1)),
    ],
)
def test_layout_resolution(image_shape, mask_shape, channel_axis, expected):
    layout = resolve_layout(image_shape, mask_shape, channel_axis)
    assert (layout.channel_axis, layout.stack_shape, layout.height, layout.width, layout.channels) == expected


@pytest.mark.parametrize("image_shape, mask_shape", [((30, 40), (40, 30)), ((30, 40, 3), (30, 3)), ((30,), (30,))])
def test_layout_mismatch(image_shape, mask_shape):
    with pytest.raises(ShapeMismatchError):
        resolve_layout(image_shape, mask_shape)


def test_channel_first_image_with_explicit_axis():
    image = np.random.default_rng(0).integers(0, 255, (3, 32, 32), dtype=np.uint8)
    mask = np.zeros((32, 32), bool)
    mask[10:20, 10:20] = True
    out = inpaint_models.fill(image, mask, model="telea", channel_axis=0)
    assert out.shape == image.shape
    assert np.array_equal(out[:, ~mask], image[:, ~mask])
    expected = np.moveaxis(inpaint_models.fill(np.moveaxis(image, 0, -1), mask, model="telea"), -1, 0)
    assert np.array_equal(out, expected)


def test_rgb_mask_read_from_a_colour_file():
    image = np.full((32, 32, 3), 100, np.uint8)
    mask = np.zeros((32, 32, 3), np.uint8)
    mask[5:10, 5:10, 1] = 255  # only the green channel marks the hole
    out = inpaint_models.fill(image, mask, model="telea")
    assert out.shape == image.shape
    hole = mask.any(axis=-1)
    assert np.array_equal(out[~hole], image[~hole])
    assert np.abs(out[hole].astype(int) - 100).max() <= 3  # all channels filled (OpenCV's Telea wobbles by +-2)


def test_stack_with_full_mask_and_5d():
    rng = np.random.default_rng(1)
    image = rng.random((2, 3, 24, 24, 3)).astype(np.float32)
    mask = rng.random((3, 24, 24)) > 0.8
    out = inpaint_models.fill(image, mask, model="telea")
    assert out.shape == image.shape
    full = np.broadcast_to(mask, image.shape[:-1])
    assert np.array_equal(out[~full], image[~full])


def test_mask_0_255_uint8_equals_bool():
    image = np.random.default_rng(2).integers(0, 255, (40, 40, 3), dtype=np.uint8)
    mask = np.zeros((40, 40), np.uint8)
    mask[10:20, 15:30] = 255
    assert np.array_equal(inpaint_models.fill(image, mask, model="telea"), inpaint_models.fill(image, mask > 0, model="telea"))


# ---------------------------------------------------------------- never modify, always composite
def test_write_protected_and_non_contiguous_inputs():
    base = np.random.default_rng(3).integers(0, 255, (64, 80, 3), dtype=np.uint8)
    image = base[::2, ::2]  # non-contiguous view
    mask_base = np.zeros((64, 80), bool)
    mask_base[20:30, 20:40] = True
    mask = mask_base[::2, ::2]
    image_copy = image.copy()
    base.flags.writeable = False
    out = inpaint_models.fill(image, mask, model="telea")
    assert out.flags.writeable and out.flags.c_contiguous
    assert np.array_equal(image, image_copy)
    assert np.array_equal(out[~mask], image[~mask])
    assert np.array_equal(out, inpaint_models.fill(np.ascontiguousarray(image), np.ascontiguousarray(mask), model="telea"))


def test_nan_under_the_mask_is_allowed():
    image = np.linspace(0, 1, 32 * 32, dtype=np.float32).reshape(32, 32)
    mask = np.zeros((32, 32), bool)
    mask[10:15, 10:15] = True
    holed = image.copy()
    holed[mask] = np.nan
    out = inpaint_models.fill(holed, mask, model="telea")
    assert np.isfinite(out).all()
    assert np.abs(out[mask] - image[mask]).max() < 0.05


def test_sixteen_bit_is_not_quantised_to_eight_bits():
    # A faint ramp (1000..1300) in an image whose range is 0..65535 (one bright
    # pixel): squeezed through 8 bits every step would be 257 levels, leaving
    # the hole with 2-3 distinct values and errors up to ~128 levels.
    ramp = np.tile(np.linspace(1000, 1300, 64), (64, 1)).astype(np.uint16)
    ramp[0, 0], ramp[63, 63] = 0, 65535
    mask = np.zeros((64, 64), bool)
    mask[24:40, 24:40] = True
    for model in ("telea", "navier-stokes", "biharmonic"):
        out = inpaint_models.fill(ramp, mask, model=model)
        error = np.abs(out[mask].astype(int) - ramp[mask].astype(int))
        assert len(np.unique(out[mask])) > 10, model
        assert error.mean() < 15 and error.max() < 64, (model, error.mean(), error.max())


def test_bool_image():
    image = np.zeros((32, 32), bool)
    image[:, 16:] = True
    mask = np.zeros((32, 32), bool)
    mask[10:20, 4:10] = True
    out = inpaint_models.fill(image, mask, model="telea")
    assert out.dtype == np.bool_ and not out[mask].any()


def test_unsupported_dtypes():
    mask = np.eye(8, dtype=bool)
    with pytest.raises(UnsupportedDtypeError, match="complex128"):
        inpaint_models.fill(np.zeros((8, 8), complex), mask)
    with pytest.raises(UnsupportedDtypeError, match="mask has unsupported dtype"):
        inpaint_models.fill(np.zeros((8, 8)), np.array([["a"] * 8] * 8))


def test_bad_option_values():
    image = np.zeros((16, 16), np.uint8)
    mask = np.eye(16, dtype=bool)
    with pytest.raises(OptionError, match="radius must be at least 1"):
        inpaint_models.fill(image, mask, model="telea", radius=0)
    with pytest.raises(OptionError, match="'radius' must be an integer"):
        inpaint_models.fill(image, mask, model="telea", radius="wide")
    assert inpaint_models.fill(image, mask, model="telea", radius="5").shape == image.shape  # CLI strings are coerced
    with pytest.raises(OptionError, match="margin"):
        inpaint_models.fill(image, mask, model="telea", margin=-1)


# ---------------------------------------------------------------- crop around mask
def test_crops_follow_the_holes(spy_registry):
    registry, spy = spy_registry(margin=4)
    image = np.random.default_rng(4).random((512, 512, 3)).astype(np.float32)
    mask = np.zeros((512, 512), bool)
    mask[10:20, 10:20] = True
    mask[300:310, 400:420] = True
    inpaint_models.fill(image, mask, model="spy", registry=registry)
    assert sorted(spy.crops) == sorted([((18, 18, 3), 100), ((18, 28, 3), 200)])
    spy.crops.clear()
    inpaint_models.fill(image, mask, model="spy", registry=registry, margin=0)
    # no margin: each box is the hole's own bounding box, grown by 1 px because a
    # rectangular hole alone holds no known pixel to fill from
    assert sorted(shape for shape, _ in spy.crops) == [(12, 12, 3), (12, 22, 3)]


def test_overlapping_context_boxes_are_merged(spy_registry):
    registry, spy = spy_registry(margin=4)
    image = np.zeros((100, 100), np.float32)
    mask = np.zeros((100, 100), bool)
    mask[10:20, 10:20] = True
    mask[10:20, 25:30] = True  # 5 px apart: the 4 px margins overlap
    inpaint_models.fill(image, mask, model="spy", registry=registry)
    assert spy.crops == [((18, 28, 1), 150)]


def test_hole_boxes_cover_every_hole_pixel_and_are_disjoint():
    rng = np.random.default_rng(5)
    for _ in range(20):
        mask = rng.random((60, 70)) > 0.97
        boxes = hole_boxes(mask, margin=int(rng.integers(0, 6)), min_size=int(rng.integers(1, 20)))
        covered = np.zeros_like(mask)
        for index, box in enumerate(boxes):
            covered[box.slices] = True
            for other in boxes[index + 1 :]:
                assert not box.overlaps(other)
        assert covered[mask].all()


def test_native_size_models_get_square_resized_crops(spy_registry):
    registry, spy = spy_registry(native_size=32, margin=8)
    image = np.random.default_rng(6).random((200, 300)).astype(np.float32)
    mask = np.zeros((200, 300), bool)
    mask[50:90, 100:120] = True
    out = inpaint_models.fill(image, mask, model="spy", registry=registry)
    assert [shape for shape, _ in spy.crops] == [(32, 32, 1)]
    assert np.array_equal(out[~mask], image[~mask])


def test_size_multiple_padding_and_min_size(spy_registry):
    registry, spy = spy_registry(size_multiple=8, min_size=20, margin=2)
    image = np.random.default_rng(7).random((100, 100, 3)).astype(np.float32)
    mask = np.zeros((100, 100), bool)
    mask[50:53, 50:53] = True
    inpaint_models.fill(image, mask, model="spy", registry=registry)
    assert [shape for shape, _ in spy.crops] == [(24, 24, 3)]  # 20 px minimum, padded to 24


def test_channel_adaptation(spy_registry):
    image = np.random.default_rng(8).random((40, 40, 5)).astype(np.float32)
    mask = np.zeros((40, 40), bool)
    mask[10:20, 10:20] = True
    registry, spy = spy_registry(channels=(3,))
    out = inpaint_models.fill(image, mask, model="spy", registry=registry)
    assert [shape[-1] for shape, _ in spy.crops] == [3] * 5  # each channel replicated to RGB
    assert np.array_equal(out[~mask], image[~mask])
    registry, spy = spy_registry(channels=(1, 3))
    inpaint_models.fill(image[..., :3], mask, model="spy", registry=registry)
    assert [shape[-1] for shape, _ in spy.crops] == [3]
    spy.crops.clear()
    inpaint_models.fill(image, mask, model="spy", registry=registry)
    assert [shape[-1] for shape, _ in spy.crops] == [1] * 5


# ---------------------------------------------------------------- progress and cancel
def test_progress_and_cancel(spy_registry):
    registry, _ = spy_registry(margin=1)
    image = np.zeros((5, 40, 40), np.float32)
    mask = np.zeros((40, 40), bool)
    mask[5:8, 5:8] = True
    mask[30:33, 30:33] = True
    events: list[ProgressEvent] = []
    inpaint_models.fill(image, mask, model="spy", registry=registry, progress=events.append)
    assert [(e.step, e.total) for e in events] == [(i, 10) for i in range(0, 11)]  # ("fill", 0, 10) announces
    cancel = threading.Event()

    def stop_after_three(event):
        if event.step == 3:
            cancel.set()

    with pytest.raises(Cancelled):
        inpaint_models.fill(image, mask, model="spy", registry=registry, progress=stop_after_three, cancel=cancel)


# ---------------------------------------------------------------- properties over random inputs
@st.composite
def fill_cases(draw):
    dtype = draw(st.sampled_from(DTYPES))
    height = draw(st.integers(4, 24))
    width = draw(st.integers(4, 24))
    stack = tuple(draw(st.lists(st.integers(1, 3), max_size=2)))
    channels = draw(st.sampled_from([None, 1, 3, 4]))
    shape = stack + (height, width) + (() if channels is None else (channels,))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    if dtype == np.bool_:
        image = rng.random(shape) > 0.5
    elif np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        low = draw(st.integers(max(info.min, -30000), 0 if info.min < 0 else 100))
        high = draw(st.integers(low, min(info.max, 60000)))
        image = rng.integers(low, high + 1, shape).astype(dtype)
    else:
        scale = draw(st.sampled_from([1.0, 1e-3, 255.0, 1e6]))
        offset = draw(st.sampled_from([0.0, -0.5, 100.0]))
        image = (rng.random(shape) * scale + offset).astype(dtype)
    mask_shape = draw(st.sampled_from([(height, width), stack + (height, width)]))
    mask = rng.random(mask_shape) < draw(st.floats(0.05, 0.6))
    mask.reshape(-1, height, width)[:, 0, 0] = False  # never a fully covered plane
    mask.reshape(-1, height, width)[:, height // 2, width // 2] = True  # never empty
    model = draw(st.sampled_from(["telea", "navier-stokes", "biharmonic"]))
    channel_axis = None if channels is None else -1
    spatial_mask = np.broadcast_to(mask, stack + (height, width))
    return image, mask, model, channel_axis, spatial_mask


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(fill_cases())
def test_fill_properties(case):
    image, mask, model, channel_axis, spatial_mask = case
    image_before, mask_before = image.copy(), mask.copy()
    out = inpaint_models.fill(image, mask, model=model, channel_axis=channel_axis)
    assert out.shape == image.shape and out.dtype == image.dtype
    assert np.array_equal(image, image_before) and np.array_equal(mask, mask_before)
    known = ~spatial_mask
    assert np.array_equal(out[known], image[known]), "pixels outside the mask changed"
    if image.dtype != np.bool_:
        values = image[known].astype(np.float64)
        # OpenCV's 8-bit Telea wobbles by +-2 on flat areas; float data passes through float32
        slack = 3 if image.dtype == np.uint8 else 1e-6 * (1.0 + np.abs(values).max()) if image.dtype.kind == "f" else 0
        checked = out[..., :3] if channel_axis is not None and image.shape[-1] == 4 else out  # alpha keeps its values
        assert checked.min() >= values.min() - slack and checked.max() <= values.max() + slack, "fill left the range"


def test_thousands_of_specks_are_grouped_quickly():
    import time

    rng = np.random.default_rng(9)
    mask = np.zeros((2048, 2048), bool)
    mask[rng.integers(0, 2048, 5000), rng.integers(0, 2048, 5000)] = True
    start = time.perf_counter()
    boxes = hole_boxes(mask, margin=4)
    elapsed = time.perf_counter() - start
    covered = np.zeros_like(mask)
    for index, box in enumerate(boxes):
        covered[box.slices] = True
    assert covered[mask].all()
    ordered = sorted(boxes, key=lambda b: (b.top, b.left))
    for index, box in enumerate(ordered):  # disjoint (sweep over boxes sorted by top)
        for other in ordered[index + 1 :]:
            if other.top >= box.bottom:
                break
            assert not box.overlaps(other)
    assert elapsed < 5.0, f"grouping 5000 specks took {elapsed:.1f} s"


# ---------------------------------------------------------------- bad numeric input (issue 12)
def classical_models() -> list[str]:
    return [info.name for info in default_registry().infos() if not info.trainable]


def test_a_value_beyond_float32_range_is_named_before_any_model_runs(spy_registry):
    ramp = np.tile(np.linspace(0.2, 0.8, 48), (48, 1))
    mask = np.zeros((48, 48), bool)
    mask[18:30, 18:30] = True
    image = ramp.copy()
    # The value range is each crop's own (issue 15: a dask array is filled without reading every chunk),
    # so the extreme value sits next to the hole, inside every model's crop box.
    image[17, 17] = 1e39  # finite in float64, beyond float32
    assert {"telea", "navier-stokes", "biharmonic", "push-pull"} <= set(classical_models())
    for model in classical_models():
        with pytest.raises(InvalidValuesError, match=r"span 0\.[2-5]\d* to 1e\+39.*wider than float32"):
            inpaint_models.fill(image, mask, model=model)
    registry, spy = spy_registry()
    with pytest.raises(InvalidValuesError):
        inpaint_models.fill(image, mask, model="spy", registry=registry)
    assert spy.crops == []  # no model ran
    image[17, 17] = np.nan  # and NaN, inf under the hole are still fine
    mask[17, 17] = True
    inpaint_models.fill(image, mask, model="spy", registry=registry)
    far = ramp.copy()
    far[0, 0] = 1e39  # outside every crop box: it takes no part in the fill, and passes through
    out = inpaint_models.fill(far, mask, model="spy", registry=registry)
    assert out[0, 0] == 1e39 and np.array_equal(out[~mask], far[~mask])


def test_values_beyond_float32_range_with_a_float32_sized_spread_are_filled_exactly():
    ramp = np.tile(np.linspace(0.2, 0.8, 48), (48, 1))
    mask = np.zeros((48, 48), bool)
    mask[18:30, 18:30] = True
    huge = 1e39 + ramp * 1e38  # float64 values float32 cannot hold; conversion runs in float64
    tiny = ramp * 1e-300  # and values it would flush to zero
    for model in classical_models():
        for image, unit in ((huge, 1e38), (tiny, 1e-300)):
            out = inpaint_models.fill(image, mask, model=model)
            assert np.isfinite(out).all() and np.array_equal(out[~mask], image[~mask]), model
            error = np.abs(out[mask] - image[mask]).max() / unit
            assert error < 0.1, (model, error)  # as good as on the same ramp in [0.2, 0.8]


def test_int64_values_keep_their_precision():
    base = np.int64(10**15)
    image = base + np.tile(np.arange(48, dtype=np.int64) * 10, (48, 1))
    mask = np.zeros((48, 48), bool)
    mask[18:30, 18:30] = True
    out = inpaint_models.fill(image, mask, model="biharmonic")
    assert np.abs(out[mask] - image[mask]).max() <= 2  # float32 alone would err by ~6e7


def rgb_only_plugin(calls: list):
    """An inline 3-channel (colour) plugin that fills with mid-grey."""

    class Plugin:
        @hookimpl
        def model_info(self):
            return ModelInfo(name="rgb-only", title="RGB only", description="fills grey", source="tests", channels=(3,))

        @hookimpl
        def fill(self, image, mask):
            assert image.shape[-1] == 3 and np.isfinite(image).all()
            calls.append(image.shape)
            out = image.copy()
            out[mask] = 0.5
            return out

    return Plugin()


@pytest.mark.parametrize("stack", [False, True])
def test_nan_alpha_under_the_hole_comes_back_finite(stack):
    calls: list = []
    registry = make_registry(load_entry_points=False)
    registry.register(rgb_only_plugin(calls))
    rng = np.random.default_rng(10)
    image = rng.random((3, 32, 32, 4)) if stack else rng.random((32, 32, 4))
    image[..., 3] = 0.25
    image[..., 16:, 3] = 0.75  # alpha: two halves
    mask = np.zeros(image.shape[:-1], bool)
    mask[..., 10:20, 5:12] = True  # the hole straddles the alpha edge
    holed = image.copy()
    holed[mask] = np.nan  # every channel, alpha included
    out = inpaint_models.fill(holed, mask, model="rgb-only", registry=registry)
    assert calls and np.isfinite(out).all()
    assert np.array_equal(out[~mask], holed[~mask])
    assert np.allclose(out[mask][:, :3], 0.5)
    assert np.array_equal(out[..., 3][mask], image[..., 3][mask])  # the nearest known alpha
    finite_alpha = image.copy()  # a finite alpha under the hole is the caller's and stays as it is
    finite_alpha[..., :3][mask] = np.nan
    finite_alpha[..., 3][mask] = 0.6
    out = inpaint_models.fill(finite_alpha, mask, model="rgb-only", registry=registry)
    assert np.all(out[..., 3][mask] == 0.6)
