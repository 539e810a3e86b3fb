"""What is specific to ``patchmatch`` (the shared contract in test_contract.py covers the rest).

PatchMatch copies patches, so a periodic pattern continues through a hole where
the smooth fills smear it; every dtype and channel count goes through an 8-bit
guide, with the hole filled from full-precision source pixels.
"""

from __future__ import annotations

import subprocess
import sys
import threading

import numpy as np
import pytest

import inpaint_models
from inpaint_models.contract.errors import InpaintError, OptionError
from inpaint_models.training.metrics import texture_ratio

SIZE = 96


def _stripes(period: int = 8) -> np.ndarray:
    """uint8 (SIZE, SIZE) diagonal stripes, 28 / 228."""
    y, x = np.mgrid[0:SIZE, 0:SIZE]
    return ((((x + y) // (period // 2)) % 2) * 200 + 28).astype(np.uint8)


def _hole() -> np.ndarray:
    mask = np.zeros((SIZE, SIZE), bool)
    mask[30:62, 34:66] = True
    return mask


def _unit(array: np.ndarray) -> np.ndarray:
    array = array.astype(np.float64)
    return (array - array.min()) / (array.max() - array.min())


def _fill(image: np.ndarray, mask: np.ndarray, **options) -> np.ndarray:
    out = inpaint_models.fill(image, mask, model="patchmatch", **options)
    assert out.dtype == image.dtype and out.shape == image.shape
    assert np.array_equal(out[~mask], image[~mask])
    return out


def test_stripes_continue_through_the_hole_and_telea_smears_them():
    image, mask = _stripes(), _hole()
    kept = _fill(image, mask)
    assert texture_ratio(_unit(kept), _unit(image), mask) > 0.7
    smeared = inpaint_models.fill(image, mask, model="telea")
    assert texture_ratio(_unit(smeared), _unit(image), mask) < 0.5


def test_grey_uint8_is_the_fill_of_the_grey_repeated_to_rgb():
    image, mask = _stripes(), _hole()
    grey = _fill(image, mask, seed=3)
    rgb = _fill(np.repeat(image[..., None], 3, axis=-1), mask, seed=3)
    assert np.array_equal(grey, rgb[..., 0])


@pytest.mark.parametrize("dtype", [np.uint16, np.float32, np.float64])
def test_high_precision_data_keeps_the_pattern_and_its_fine_detail(dtype):
    """Stripes plus detail far below an 8-bit step of the range: the hole gets both."""
    rng = np.random.default_rng(0)
    stripes = _stripes().astype(np.float64) / 255.0
    detail = rng.normal(0.0, 0.0008, stripes.shape)  # 0.2 of an 8-bit step
    if dtype == np.uint16:
        image = np.rint((stripes + detail) * 60000).astype(np.uint16)
    else:
        image = ((stripes + detail) * 70.0 - 20.0).astype(dtype)  # an arbitrary float range
    mask = _hole()
    out = _fill(image, mask)
    known = image[~mask]
    assert known.min() <= out[mask].min() and out[mask].max() <= known.max()
    assert texture_ratio(_unit(out), _unit(image), mask) > 0.7
    # an 8-bit fill mapped back to this range holds at most 256 levels; source pixels bring their own
    assert len(np.unique(out[mask])) > 256


def test_uint16_rgb_matches_the_uint8_fill_where_the_range_is_the_same():
    """A uint16 copy of an 8-bit photo spanning 0..255 gets the same 8-bit guide, hence the same fill."""
    image = np.dstack([_stripes(), 255 - _stripes(), _stripes() // 2])
    image[0, 0] = (0, 255, 0)
    image[0, 1] = (255, 0, 255)  # every channel spans 0..255 in the known pixels
    mask = _hole()
    eight = _fill(image, mask)
    sixteen = _fill(image.astype(np.uint16) * 257, mask)
    assert np.array_equal(sixteen, eight.astype(np.uint16) * 257)


def test_five_channels_are_filled_from_one_match():
    """Channels beyond three follow the same source pixels: linear relations between channels hold in the hole."""
    base = _stripes().astype(np.float32) / 255.0
    ramp = np.linspace(0.0, 1.0, SIZE, dtype=np.float32)[None, :].repeat(SIZE, axis=0)
    image = np.stack([base, ramp, 1 - base, 0.5 * base + 0.25 * ramp, 0.3 * ramp], axis=-1)
    mask = _hole()
    out = _fill(image, mask)
    hole = out[mask]
    assert np.allclose(hole[:, 2], 1 - hole[:, 0], atol=1e-4)
    assert np.allclose(hole[:, 3], 0.5 * hole[:, 0] + 0.25 * hole[:, 1], atol=1e-4)
    assert np.allclose(hole[:, 4], 0.3 * hole[:, 1], atol=1e-4)
    assert texture_ratio(out[..., :1], image[..., :1], mask) > 0.7


def test_two_channels_and_rgba_work():
    mask = _hole()
    two = np.dstack([_stripes(), 255 - _stripes()])
    out = _fill(two, mask)
    assert texture_ratio(_unit(out), _unit(two), mask) > 0.7
    rgba = np.dstack([_stripes(), _stripes(), _stripes(), np.full((SIZE, SIZE), 200, np.uint8)])
    _fill(rgba, mask)


def test_seed_gives_the_same_fill_and_another_seed_another():
    rng = np.random.default_rng(1)
    image = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)  # noise: many equally good sources
    mask = np.zeros((64, 64), bool)
    mask[20:44, 20:44] = True
    first = _fill(image, mask, seed=7)
    assert np.array_equal(first, _fill(image, mask, seed=7))
    assert not np.array_equal(first, _fill(image, mask, seed=8))
    wide = image.astype(np.float32) / 255.0
    assert np.array_equal(_fill(wide, mask, seed=7), _fill(wide, mask, seed=7))


def test_concurrent_fills_keep_their_own_seed():
    rng = np.random.default_rng(2)
    image = rng.integers(0, 256, (48, 48, 3), dtype=np.uint8)
    mask = np.zeros((48, 48), bool)
    mask[16:32, 16:32] = True
    expected = {seed: _fill(image, mask, seed=seed) for seed in (1, 2)}
    results: dict[int, list[np.ndarray]] = {1: [], 2: []}

    def work(seed: int) -> None:
        for _ in range(3):
            results[seed].append(inpaint_models.fill(image, mask, model="patchmatch", seed=seed))

    threads = [threading.Thread(target=work, args=(seed,)) for seed in (1, 2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for seed, outs in results.items():
        assert all(np.array_equal(out, expected[seed]) for out in outs)


def test_options_are_validated():
    image, mask = _stripes(), _hole()
    with pytest.raises(OptionError, match="patch_size"):
        inpaint_models.fill(image, mask, model="patchmatch", patch_size=0)
    with pytest.raises(InpaintError, match="seed"):
        inpaint_models.fill(image, mask, model="patchmatch", seed=1.5)
    big = _fill(image, mask, patch_size=5, seed=2**40 + 3)  # seeds are taken modulo 2**32
    assert np.array_equal(big, _fill(image, mask, patch_size=5, seed=3))


def test_a_crop_without_known_pixels_asks_for_a_margin():
    from inpaint_models.contract.datatypes import FillContext
    from inpaint_models.models.patchmatch import plugin

    image, mask = _stripes(), _hole()
    _fill(image, mask, margin=0)  # the pipeline grows a box without context until it has some
    crop = np.zeros((8, 8, 3), np.float32)
    with pytest.raises(InpaintError, match="margin"):
        plugin.fill(crop, np.ones((8, 8), bool), plugin.PatchMatchOptions(), FillContext())


def test_listing_models_does_not_load_pypatchmatch():
    code = (
        "import sys, inpaint_models\n"
        "inpaint_models.available_models(); inpaint_models.model_info('patchmatch')\n"
        "assert 'patchmatch' not in sys.modules, 'PyPatchMatch imported by listing models'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_source_search_on_a_sample_of_a_huge_crop(monkeypatch):
    from inpaint_models.models.patchmatch import plugin

    monkeypatch.setattr(plugin, "_MAX_SOURCES", 500)  # as if the crop were huge
    image = _stripes().astype(np.uint16) * 200
    mask = _hole()
    out = _fill(image, mask, seed=4)
    assert np.array_equal(out, _fill(image, mask, seed=4))
    assert texture_ratio(_unit(out), _unit(image), mask) > 0.7
