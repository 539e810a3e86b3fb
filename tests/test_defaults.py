"""``model="auto"`` reads the hole: thin holes get a diffusion fill, wide holes the content-aware fill."""

from __future__ import annotations

import numpy as np
import pytest

from inpaint_models.api import default_model
from inpaint_models.contract.datatypes import ModelInfo
from inpaint_models.contract.hookspecs import hookimpl
from inpaint_models.contract.registry import make_registry
from inpaint_models.pipeline.defaults import CONTENT_AWARE_SHARE
from inpaint_models.pipeline.hole_shape import THIN_HALF_WIDTH, wide_share
from inpaint_models.pipeline.plan import FillRequest, plan_fill
from inpaint_models.samples import astronaut_mask, astronaut_photo

RGB = (64, 64, 3)
GREY = (64, 64)


def rows(height, *starts, size=64):
    """A (size, size) mask of full-width rows ``height`` px high starting at ``starts``."""
    mask = np.zeros((size, size), bool)
    for start in starts:
        mask[start : start + height] = True
    return mask


def box(side, size=64, top=4, left=4):
    mask = np.zeros((size, size), bool)
    mask[top : top + side, left : left + side] = True
    return mask


# ---------------------------------------------------------------- the hole's width
@pytest.mark.parametrize("height, share", [(1, 0.0), (2, 0.0), (2 * THIN_HALF_WIDTH, 0.0), (2 * THIN_HALF_WIDTH + 1, 1.0)])
def test_rows_up_to_four_px_are_thin(height, share):
    assert wide_share(rows(height, 10, 40)) == share


def test_a_box_is_wide_and_hot_pixels_are_thin():
    assert wide_share(box(20)) > 0.95
    hot = np.zeros((64, 64), bool)
    hot[::7, ::5] = True
    hot[1::14, 1::10] = True  # some 2x2 clusters
    assert wide_share(hot) == 0.0
    assert wide_share(np.zeros((8, 8), bool)) == 0.0


def test_the_wide_share_matches_the_distance_transform():
    """The wide part is the hole within THIN_HALF_WIDTH of a pixel deeper than that (scipy's EDT)."""
    from scipy import ndimage

    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[-THIN_HALF_WIDTH : THIN_HALF_WIDTH + 1, -THIN_HALF_WIDTH : THIN_HALF_WIDTH + 1]
    disc = yy**2 + xx**2 <= THIN_HALF_WIDTH**2
    for _ in range(20):
        mask = ndimage.binary_dilation(rng.random((40, 50)) < 0.02, iterations=int(rng.integers(0, 4)))
        mask[int(rng.integers(0, 38)) :][:2] = True  # a dead row, sometimes at the border
        deep = ndimage.distance_transform_edt(mask) > THIN_HALF_WIDTH
        wide = ndimage.binary_dilation(deep, structure=disc) & mask
        assert wide_share(mask) == pytest.approx(wide.sum() / mask.sum())


def test_the_image_border_is_not_a_known_pixel():
    """A strip along the border is known from one side only: 2 px is thin there, 3 px as wide as 6 px inside."""
    assert wide_share(rows(2, 0)) == wide_share(rows(3, 30)) == 0.0
    assert wide_share(rows(3, 0)) == wide_share(rows(6, 30)) == 1.0


def test_wide_share_refuses_what_it_cannot_read():
    with pytest.raises(ValueError, match="2D mask"):
        wide_share(np.zeros((2, 8, 8), bool))
    with pytest.raises(ValueError, match="half_width"):
        wide_share(np.zeros((8, 8), bool), half_width=-1)


def test_wide_share_leaves_the_mask_alone():
    mask = rows(2, 10) | box(20, top=30)
    mask.flags.writeable = False
    wide_share(mask)
    assert mask.sum() == 2 * 64 + 400


# ---------------------------------------------------------------- the choice
def test_a_thin_hole_gets_a_diffusion_fill():
    line = rows(2, 20)
    assert default_model(RGB, mask=line) == "biharmonic"  # colour: best hole PSNR on photographs
    assert default_model(GREY, mask=line) == "telea"  # one channel: best on noisy fluorescence-like images
    assert default_model((64, 64, 4), mask=line) == "biharmonic"
    assert default_model(RGB, mask=np.repeat(line[..., None], 3, axis=2)) == "biharmonic"  # an RGB mask


def test_a_wide_hole_on_a_photograph_keeps_patchmatch():
    photo, mask = astronaut_photo(), astronaut_mask()
    assert default_model(photo.shape, mask=mask) == "patchmatch"
    assert default_model(RGB, mask=box(30)) == "patchmatch"
    assert default_model(GREY, mask=box(30)) == "patchmatch"


def test_a_mixed_hole_follows_its_wide_share():
    """A box plus thin rows: patchmatch while the box holds at least CONTENT_AWARE_SHARE of the hole."""
    boxed = box(16, top=2)
    mostly_wide = boxed | rows(2, 40)  # 256 box pixels, 128 row pixels
    mostly_thin = boxed | rows(2, 30, 40, 50)  # 256 box pixels, 384 row pixels
    assert wide_share(mostly_wide) >= CONTENT_AWARE_SHARE > wide_share(mostly_thin)
    assert default_model(RGB, mask=mostly_wide) == "patchmatch"
    assert default_model(RGB, mask=mostly_thin) == "biharmonic"
    assert default_model(GREY, mask=mostly_thin) == "telea"


def test_shape_only_calls_are_unchanged():
    assert default_model(astronaut_photo().shape) == "patchmatch"
    assert default_model(RGB) == "patchmatch"
    assert default_model(GREY) == "patchmatch"
    assert default_model(RGB, mask_shape=GREY) == "patchmatch"
    assert default_model(RGB, mask=None) == "patchmatch"


def test_stacks_are_unchanged():
    thin = np.zeros((6, 64, 64), bool)
    thin[2, 20:22] = True
    assert default_model(thin.shape, mask=thin) == "biharmonic"
    assert default_model((6, 64, 64, 3), mask=thin) == "biharmonic"
    assert default_model(thin.shape, mask=thin, volume_axis=None) == "biharmonic"
    assert default_model((6, 64, 64), mask=np.ones((6, 64, 64), bool)) == "biharmonic"  # wide: still a stack


def test_a_mask_that_does_not_fit_the_layout_chooses_by_shape():
    assert default_model(RGB, mask_shape=(64, 64), mask=np.zeros((8,), bool)) == "patchmatch"


def test_a_thin_hole_falls_back_through_the_installed_diffusion_fills():
    def named(name):
        class Plugin:
            @hookimpl
            def model_info(self):
                return ModelInfo(name=name, title=name, description="x", source="x")

            @hookimpl
            def fill(self, image, mask):
                return np.full_like(image, 0.5)

        return Plugin()

    registry = make_registry(load_entry_points=False)
    registry.register(named("patchmatch"))
    assert default_model(RGB, registry, mask=rows(2, 20)) == "patchmatch"  # no diffusion fill installed
    registry.register(named("navier-stokes"))
    assert default_model(RGB, registry, mask=rows(2, 20)) == "navier-stokes"
    assert default_model(GREY, registry, mask=rows(2, 20)) == "navier-stokes"
    assert default_model(RGB, registry, mask=box(30)) == "patchmatch"


# ---------------------------------------------------------------- through the fill's plan
def test_the_fill_reads_the_hole_of_an_in_memory_mask():
    image = np.zeros((64, 64, 3), np.uint8)
    assert plan_fill(image, rows(2, 20), FillRequest()).info.name == "biharmonic"
    assert plan_fill(image, box(30), FillRequest()).info.name == "patchmatch"
    assert plan_fill(image[..., 0], rows(2, 20), FillRequest()).info.name == "telea"
    assert plan_fill(image, rows(2, 20), FillRequest(model="patchmatch")).info.name == "patchmatch"  # named: kept


def test_a_lazy_fill_keeps_the_shape_rule():
    """A dask mask is not read to choose the model: the shape rule, as before."""
    da = pytest.importorskip("dask.array")
    image = da.zeros((64, 64, 3), dtype=np.uint8, chunks=32)
    assert plan_fill(image, da.from_array(rows(2, 20), chunks=32), FillRequest()).info.name == "patchmatch"
