"""The biharmonic fill at any size (models/biharmonic/blocks.py, system.py): scikit-image's solution on small
holes of every shape, in 2D and 3D; the same solution when big holes are split at gaps or solved in tiles; and a
lost plane of a size scikit-image's one sparse LU would take long over, filled well."""

from __future__ import annotations

import numpy as np
import pytest
from skimage.restoration import inpaint_biharmonic

import inpaint_models
from inpaint_models.models.biharmonic import blocks
from inpaint_models.models.biharmonic.blocks import biharmonic_fill


def field(shape, channels=1, noise=0.03, seed=0):
    """float32 (*shape, channels) in about [0.2, 0.8]: smooth along every axis, plus a little noise."""
    rng = np.random.default_rng(seed)
    grids = np.meshgrid(*[np.linspace(0.0, 1.0, n) for n in shape], indexing="ij")
    smooth = 0.5 + 0.15 * np.sin(5 * grids[-1] + 3 * grids[-2]) * np.cos(3 * grids[0] + 1.0)
    stack = [smooth + noise * rng.standard_normal(shape) + 0.05 * c for c in range(channels)]
    return np.stack(stack, axis=-1).astype(np.float32)


def holes(kind, shape):
    """bool mask, True = fill: the hole shapes of a stack's acquisition faults."""
    mask = np.zeros(shape, bool)
    if kind == "plane":
        mask[shape[0] // 2] = True
    elif kind == "rows and columns":
        mask[..., shape[-2] // 3: shape[-2] // 3 + 2, :] = True  # full width, 2 px
        mask[..., :, 5] = True  # full height, next to the border
        mask[..., shape[-2] - 1, :] = True  # on the border
    elif kind == "tile":
        mask[..., 10:40, 12:50] = True
    elif kind == "mix":
        mask[..., 4:9, 30:44] = True
        mask[..., 20, :] = True
        mask[..., 50:53, 3:6] = True
    return mask


CASES = [
    ("2D", (64, 72), "rows and columns"),
    ("2D", (64, 72), "tile"),
    ("2D", (64, 72), "mix"),
    ("3D", (7, 64, 56), "plane"),
    ("3D", (7, 64, 56), "rows and columns"),
    ("3D", (7, 64, 56), "tile"),
    ("3D", (7, 64, 56), "mix"),
]


@pytest.mark.parametrize("dims, shape, kind", CASES, ids=[f"{d}-{k}" for d, _, k in CASES])
def test_scikit_image_solution(dims, shape, kind):
    image = field(shape, channels=2)
    mask = holes(kind, shape)
    expected = inpaint_biharmonic(image.astype(np.float64), mask, channel_axis=-1)  # one exact solve
    before = image.copy()
    out = biharmonic_fill(image, mask)
    assert out.dtype == np.float32 and out.shape == image.shape
    assert np.array_equal(image, before), "the input is never modified"
    assert np.array_equal(out[~mask], image[~mask])
    assert np.abs(out - expected).max() < 1e-4


@pytest.mark.parametrize("kind", ["plane", "rows and columns", "mix"])
def test_tiles_and_gaps_give_the_whole_solution(monkeypatch, kind):
    """A budget far below the holes forces the gap splits and the overlapping tiles: the same solution."""
    shape = (7, 96, 120)
    image = field(shape)
    mask = holes(kind, shape)
    whole = biharmonic_fill(image, mask)
    monkeypatch.setattr(blocks, "MAX_UNKNOWNS", 9000)
    cut = biharmonic_fill(image, mask)
    assert np.abs(cut - whole).max() < 1e-5


def test_thick_hole_over_the_budget_is_one_system(monkeypatch):
    """A thick hole is never tiled (its cut sides would need its derivatives): still scikit-image's solution."""
    image = field((80, 90), noise=0.05)
    mask = holes("tile", (80, 90))
    monkeypatch.setattr(blocks, "MAX_UNKNOWNS", 300)
    expected = inpaint_biharmonic(image.astype(np.float64), mask, channel_axis=-1)
    assert np.abs(biharmonic_fill(image, mask) - expected).max() < 1e-4


def test_the_fill_and_the_plugin_agree_with_scikit_image_through_the_pipeline():
    image = (field((6, 48, 40))[..., 0] * 60000).astype(np.uint16)
    mask = holes("mix", (6, 48, 40))
    mask[3] = True
    out = inpaint_models.fill(image, mask, model="biharmonic", volume_axis=0)
    old = inpaint_models.fill(image, mask, model="biharmonic", volume_axis=0, split_into_regions=False)
    assert out.dtype == np.uint16 and np.array_equal(out[~mask], image[~mask])
    assert np.abs(out.astype(np.int64) - old.astype(np.int64)).max() <= 2  # uint16 steps: rounding only


def test_a_big_lost_plane_is_filled_well():
    """A lost 640 x 640 plane (410 000 unknowns: tiled), between smooth planes: close to the truth, above linear-Z."""
    depth, size = 7, 640
    z = np.arange(depth, dtype=np.float32)[:, None, None]
    y = np.linspace(0, 1, size, dtype=np.float32)[None, :, None]
    x = np.linspace(0, 1, size, dtype=np.float32)[None, None, :]
    truth = (0.5 + 0.2 * np.sin(4 * x + 3 * y) * np.cos(0.35 * z) + 0.1 * (z / depth) ** 2)[..., None]
    mask = np.zeros((depth, size, size), bool)
    mask[3] = True
    mask[1, 100:300, 50:600] = True  # a big tile on another plane
    image = truth.copy()
    image[mask] = 0.0
    out = biharmonic_fill(image, mask)

    def psnr(filled, reference):
        return 10 * np.log10(1.0 / np.mean((filled - reference) ** 2))

    linear = (truth[2] + truth[4]) / 2
    assert psnr(out[mask], truth[mask]) > 50
    assert psnr(out[3], truth[3]) > psnr(linear, truth[3]) + 3


def test_bad_input_is_named():
    image = field((8, 8))
    with pytest.raises(ValueError, match="do not match"):
        biharmonic_fill(image, np.zeros((8, 9), bool))
    with pytest.raises(ValueError, match="whole image"):
        biharmonic_fill(image, np.ones((8, 8), bool))


def test_a_big_hole_reports_its_progress_and_stops_when_cancelled():
    """A lost plane too big for one system reports "solve" events up to every hole voxel, and the fill's
    cancel stops it between two systems."""
    import threading

    import inpaint_models
    from inpaint_models.contract.errors import Cancelled

    rng = np.random.default_rng(0)
    stack = rng.integers(1000, 3000, (3, 640, 640)).astype(np.uint16)
    mask = np.zeros(stack.shape, bool)
    mask[1] = True
    events = []
    inpaint_models.fill(stack, mask, progress=events.append)
    solves = [event for event in events if event.phase == "solve"]
    assert len(solves) > 1 and solves[-1].step == solves[-1].total  # every tile counted
    assert [event.step for event in solves] == sorted(event.step for event in solves)
    assert solves[-1].message == "409,600 of 409,600 hole voxels solved"

    stop = threading.Event()
    seen = []

    def progress(event):
        seen.append(event)
        if event.phase == "solve":
            stop.set()  # cancel once the first system is solved

    before = stack.copy()
    with pytest.raises(Cancelled):
        inpaint_models.fill(stack, mask, progress=progress, cancel=stop)
    assert sum(event.phase == "solve" for event in seen) == 1
    assert np.array_equal(stack, before)
