"""The shared contract, run against every registered model.

Trainable models get a tiny checkpoint from the trainer's quick helper so the
same checks apply to them as to the classical fills.
"""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np
import pytest

import inpaint_models
from inpaint_models.contract.errors import (
    EmptyMaskWarning,
    ImageTooSmallError,
    InpaintError,
    InvalidValuesError,
    MaskCoversImageError,
    ShapeMismatchError,
    UnknownOptionError,
    UnsupportedDtypeError,
)
from inpaint_models.contract.registry import make_registry

REGISTRY = make_registry()
MODELS = REGISTRY.names()


@pytest.fixture(scope="session")
def checkpoints(tmp_path_factory):
    """model name -> weights for trainable models without shipped weights (trained on demand)."""
    cache: dict[str, object] = {}

    def get(name: str):
        info = REGISTRY.info(name)
        if not info.trainable or info.default_weights is not None:
            return None
        if name not in cache:
            from inpaint_models.training import quick_checkpoint

            cache[name] = quick_checkpoint(name, tmp_path_factory.mktemp(name))
        return cache[name]

    return get


def _size(name: str) -> int:
    info = REGISTRY.info(name)
    return max(48, info.min_size * 2, info.native_size or 0)


def _photo(size: int, channels: int = 3) -> np.ndarray:
    """A smooth, deterministic uint8 test image (H, W, C)."""
    y, x = np.mgrid[0:size, 0:size] / size
    planes = [np.sin(3 * x + c) * np.cos(2 * y - c) for c in range(channels)]
    return np.clip((np.stack(planes, -1) + 1) * 127.5, 0, 255).astype(np.uint8)


def _box(size: int) -> np.ndarray:
    mask = np.zeros((size, size), bool)
    mask[size // 3 : size // 2, size // 3 : size // 2 + 3] = True
    return mask


def test_registry_has_the_classical_models():
    assert {"telea", "navier-stokes", "biharmonic"} <= set(MODELS)


@pytest.mark.parametrize("name", MODELS)
def test_model_info_is_complete(name):
    info = REGISTRY.info(name)
    assert info.name == name
    assert info.title and info.description and info.source
    assert dataclasses.is_dataclass(info.options)
    info.options()  # every option has a default
    assert info.channels is None or all(c >= 1 for c in info.channels)
    assert info.min_size >= 1 and info.crop_margin >= 0 and info.size_multiple >= 1


@pytest.mark.parametrize("name", MODELS)
def test_rgb_uint8_contract(name, checkpoints):
    size = _size(name)
    image = _photo(size)
    mask = _box(size)
    before = image.copy()
    mask_before = mask.copy()
    image.flags.writeable = False
    out = inpaint_models.fill(image, mask, model=name, weights=checkpoints(name), device="cpu", registry=REGISTRY)
    assert out.shape == image.shape and out.dtype == np.uint8
    assert np.array_equal(out[~mask], before[~mask]), "pixels outside the mask changed"
    assert np.array_equal(image, before) and np.array_equal(mask, mask_before), "input modified"
    again = inpaint_models.fill(image, mask, model=name, weights=checkpoints(name), device="cpu", registry=REGISTRY)
    assert np.array_equal(out, again), "fill is not deterministic"


@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize("dtype", [np.uint16, np.int16, np.float32, np.float64])
def test_dtypes_and_ranges(name, dtype, checkpoints):
    size = _size(name)
    base = _photo(size, 1)[..., 0].astype(np.float64) / 255.0
    if dtype == np.uint16:
        image = (base * 4000 + 100).astype(np.uint16)
    elif dtype == np.int16:
        image = (base * 2000 - 1000).astype(np.int16)
    else:
        image = (base * 50 - 20).astype(dtype)  # float data of an arbitrary range
    mask = _box(size)
    out = inpaint_models.fill(image, mask, model=name, weights=checkpoints(name), device="cpu", registry=REGISTRY)
    assert out.dtype == image.dtype and out.shape == image.shape
    assert np.array_equal(out[~mask], image[~mask])
    known = image[~mask]
    assert known.min() <= out[mask].min() and out[mask].max() <= known.max(), "fill left the known range"


@pytest.mark.parametrize("name", MODELS)
def test_grey_and_rgba(name, checkpoints):
    size = _size(name)
    mask = _box(size)
    weights = checkpoints(name)
    grey = _photo(size, 1)[..., 0]
    out = inpaint_models.fill(grey, mask, model=name, weights=weights, device="cpu", registry=REGISTRY)
    assert out.shape == grey.shape and np.array_equal(out[~mask], grey[~mask])
    rgba = np.concatenate([_photo(size), np.full((size, size, 1), 200, np.uint8)], axis=-1)
    rgba[mask, 3] = 17
    out = inpaint_models.fill(rgba, mask, model=name, weights=weights, device="cpu", registry=REGISTRY)
    assert out.shape == rgba.shape and np.array_equal(out[~mask], rgba[~mask])
    if REGISTRY.info(name).channels is not None:
        assert np.array_equal(out[..., 3], rgba[..., 3]), "a colour model filled the alpha channel"


@pytest.mark.parametrize("name", MODELS)
def test_bad_inputs_are_rejected_clearly(name, checkpoints):
    size = _size(name)
    weights = checkpoints(name)
    image = _photo(size)
    mask = _box(size)

    def run(img, msk, **kwargs):
        return inpaint_models.fill(img, msk, model=name, weights=weights, device="cpu", registry=REGISTRY, **kwargs)

    with pytest.raises(ShapeMismatchError, match="does not match"):
        run(image, mask[:-1])
    nan_image = image.astype(np.float32)
    nan_image[0, 0, 0] = np.nan
    with pytest.raises(InvalidValuesError, match="NaN or infinite"):
        run(nan_image, mask)
    with pytest.raises(UnsupportedDtypeError, match="complex"):
        run(image.astype(np.complex64), mask)
    with pytest.raises(UnsupportedDtypeError, match="object"):
        run(image.astype(object), mask)
    with pytest.raises(UnknownOptionError, match=rf"model '{name}' has no option 'no_such_option'"):
        run(image, mask, no_such_option=1)
    with pytest.raises(MaskCoversImageError, match="covers the whole image"):
        run(image, np.ones(mask.shape, bool))
    tiny = REGISTRY.info(name).min_size - 1
    if tiny >= 1:
        with pytest.raises(ImageTooSmallError, match="needs at least"):
            run(np.zeros((tiny, tiny, 3), np.uint8), np.eye(tiny, dtype=bool))
    for error in (ShapeMismatchError, InvalidValuesError, UnsupportedDtypeError, UnknownOptionError):
        assert issubclass(error, InpaintError) and issubclass(error, ValueError)


@pytest.mark.parametrize("name", MODELS)
def test_empty_mask_returns_unchanged_copy(name, checkpoints):
    image = _photo(_size(name))
    with pytest.warns(EmptyMaskWarning):
        out = inpaint_models.fill(image, np.zeros(image.shape[:2], bool), model=name, weights=checkpoints(name), registry=REGISTRY)
    assert np.array_equal(out, image) and out is not image


@pytest.mark.parametrize("name", MODELS)
def test_stack_with_broadcast_mask(name, checkpoints):
    size = _size(name)
    stack = np.stack([_photo(size, 1)[..., 0] // (z + 1) for z in range(3)])  # (Z, H, W)
    mask = _box(size)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = inpaint_models.fill(stack, mask, model=name, weights=checkpoints(name), registry=REGISTRY, volume_axis=None)
    assert out.shape == stack.shape
    assert np.array_equal(out[:, ~mask], stack[:, ~mask])
    for z in range(3):  # plane by plane (volume_axis=None): the same as filling each plane alone
        alone = inpaint_models.fill(stack[z], mask, model=name, weights=checkpoints(name), registry=REGISTRY)
        assert np.array_equal(out[z], alone)


def test_one_wording_of_a_mask_covering_everything():
    from inpaint_models.contract.values import mask_covers, require_known_pixels, value_range

    require_known_pixels(np.array([[True, False]]), "the whole image")  # one known pixel is enough
    with pytest.raises(MaskCoversImageError, match=r"^the mask covers the whole of plane 2: there is nothing to "
                                                   r"inpaint from$"):
        require_known_pixels(np.ones((4, 4), bool), "the whole of plane 2")
    assert str(mask_covers("the whole image", "learn from")) == (
        "the mask covers the whole image: there is nothing to learn from")
    with pytest.raises(MaskCoversImageError, match="^the mask covers the whole image: there is nothing to inpaint"):
        value_range(np.zeros((4, 4, 1), np.uint16), np.ones((4, 4), bool))
    image = np.random.default_rng(0).random((3, 16, 16)).astype(np.float32)
    mask = np.zeros(image.shape, bool)
    mask[1] = True
    messages = []
    for lazy in (False, True):  # in memory and chunk by chunk: the same words
        if lazy:
            import dask.array as da

            image = da.from_array(image, chunks=(1, 8, 8))
        with pytest.raises(MaskCoversImageError) as raised:
            inpaint_models.fill(image, mask, model="telea")
        messages.append(str(raised.value))
    assert messages == ["the mask covers the whole of plane 1: there is nothing to inpaint from"] * 2
