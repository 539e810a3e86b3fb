"""A wholly lost plane of a stack: the default fill predicts it from its neighbours with a predictor fitted on the stack.

(issue 21, the lost plane's quality; ``models/lost_planes.py``.)
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy import ndimage

import inpaint_models
from inpaint_models.models import lost_planes as planes
from inpaint_models.models.biharmonic.blocks import biharmonic_fill

LOST = 6


def drifting_stack(depth: int = 12, size: int = 48, seed: int = 0) -> np.ndarray:
    """uint16 (depth, size, size): one smooth random texture moving 1 px along X per plane, plus a slow ramp."""
    rng = np.random.default_rng(seed)
    texture = ndimage.gaussian_filter(rng.standard_normal((size, size + depth)), 1.5)
    texture = (texture - texture.min()) / np.ptp(texture)
    stack = np.stack([texture[:, z:z + size] * 40000 + 1000 * z + 5000 for z in range(depth)])
    return stack.astype(np.uint16)


def plane_psnr(out: np.ndarray, truth: np.ndarray) -> float:
    error = np.mean((out[LOST].astype(np.float64) - truth[LOST].astype(np.float64)) ** 2)
    peak = float(truth.max()) - float(truth.min())
    return 10 * np.log10(peak ** 2 / error)


def fill(stack: np.ndarray, mask: np.ndarray, **options) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return np.asarray(inpaint_models.fill(stack, mask, **options))


def lost_plane_mask(shape: tuple[int, ...]) -> np.ndarray:
    mask = np.zeros(shape, bool)
    mask[LOST] = True
    return mask


def test_a_drifting_lost_plane_is_far_better_than_linear_interpolation_along_z():
    truth = drifting_stack()
    mask = lost_plane_mask(truth.shape)
    stack = truth.copy()
    stack[mask] = 0
    linear = 0.5 * (truth[LOST - 1].astype(np.float64) + truth[LOST + 1])
    linear_db = plane_psnr(np.broadcast_to(linear, truth.shape), truth)
    default_db = plane_psnr(fill(stack, mask, volume_margin=6), truth)  # the default model, the whole stack as context
    biharmonic_db = plane_psnr(fill(stack, mask, model="biharmonic", volume_axis=0, predict_lost_planes=False), truth)
    assert default_db >= linear_db + 6.0, (default_db, linear_db)
    assert default_db >= biharmonic_db + 5.0, (default_db, biharmonic_db)


def test_other_holes_are_the_biharmonic_solution_unchanged():
    truth = drifting_stack()
    mask = lost_plane_mask(truth.shape)
    mask[3, 10:20, 5:17] = True  # a lost tile
    mask[LOST + 1, 30:32, :] = True  # a dead row next to the lost plane
    mask[9, :, 40:42] = True  # a dead column
    stack = truth.copy()
    stack[mask] = 0
    predicted = fill(stack, mask, model="biharmonic", volume_axis=0, volume_margin=6)
    solved = fill(stack, mask, model="biharmonic", volume_axis=0, volume_margin=6, predict_lost_planes=False)
    others = np.ones(truth.shape, bool)
    others[LOST] = False
    np.testing.assert_array_equal(predicted[others], solved[others])
    assert not np.array_equal(predicted[LOST], solved[LOST])
    np.testing.assert_array_equal(predicted[~mask], truth[~mask])
    np.testing.assert_array_equal(fill(stack, mask, model="biharmonic", volume_axis=0, volume_margin=6), predicted)


@pytest.mark.parametrize("lost", [[LOST, LOST + 1], [0], [11]], ids=["two adjacent", "first", "last"])
def test_runs_of_lost_planes_and_end_planes_keep_the_biharmonic_fill(lost):
    truth = drifting_stack()
    mask = np.zeros(truth.shape, bool)
    mask[lost] = True
    assert planes.lost_planes(mask) == []
    image = (truth / 65535.0).astype(np.float32)[..., None]
    np.testing.assert_array_equal(biharmonic_fill(image, mask, predict_lost_planes=True),
                                  biharmonic_fill(image, mask, predict_lost_planes=False))


@pytest.mark.parametrize("depth", [3, 7], ids=["planes +-1 only", "no plane to fit on"])
def test_too_few_known_planes_keep_the_biharmonic_fill(depth):
    truth = drifting_stack(depth=depth)
    mask = np.zeros(truth.shape, bool)
    mask[depth // 2] = True
    image = (truth / 65535.0).astype(np.float32)[..., None]
    assert planes.lost_planes(mask) == [depth // 2]
    np.testing.assert_array_equal(biharmonic_fill(image, mask, predict_lost_planes=True),
                                  biharmonic_fill(image, mask, predict_lost_planes=False))


def test_the_predictor_uses_the_planes_inside_the_stack_and_not_lost():
    whole = np.zeros(10, bool)
    whole[[4, 7]] = True
    assert planes.plane_offsets(whole, 4) == (-2, -1, 1, 2)
    assert planes.plane_offsets(whole, 7) == (-2, -1, 1, 2)
    whole[[2]] = True
    assert planes.plane_offsets(whole, 4) == (-1, 1, 2)
    assert planes.plane_offsets(np.zeros(3, bool), 1) == (-1, 1)


def test_each_channel_gets_its_own_predictor():
    truth = drifting_stack()
    image = np.stack([truth / 65535.0, 1.0 - truth[:, :, ::-1] / 65535.0], axis=-1).astype(np.float32)
    mask = lost_plane_mask(truth.shape)
    filled = biharmonic_fill(image, mask, predict_lost_planes=True)
    solved = biharmonic_fill(image, mask, predict_lost_planes=False)
    for channel in range(2):
        error = np.abs(filled[LOST, ..., channel] - image[LOST, ..., channel]).mean()
        assert error < 0.5 * np.abs(solved[LOST, ..., channel] - image[LOST, ..., channel]).mean()


def test_a_lone_lost_plane_gets_the_predictor_without_asking_for_more_context():
    """biharmonic asks for 8 context planes (ModelInfo.volume_margin): with the general 3, a lone lost plane's crop
    (7 planes) was too thin to fit the predictor on."""
    truth = drifting_stack(depth=20)
    mask = lost_plane_mask(truth.shape)
    stack = truth.copy()
    stack[mask] = 0
    assert inpaint_models.model_info("biharmonic").volume_margin == 8
    default_db = plane_psnr(fill(stack, mask), truth)
    thin_db = plane_psnr(fill(stack, mask, volume_margin=3), truth)
    assert default_db >= thin_db + 3.0, (default_db, thin_db)


def test_a_tall_stack_fits_the_predictor_on_the_planes_near_the_lost_one():
    """The texture drifts one way in the first half of a 60-plane stack and the other way in the second half.

    The predictor of a plane in the second half must learn the second half's
    drift: fitted on the stack's first planes (as it was, its sample cut at
    64 Ki pixels), it moved the texture the wrong way, below linear Z.
    """
    depth, size, lost = 60, 48, 45
    texture = ndimage.gaussian_filter(np.random.default_rng(1).standard_normal((size, size + 40)), 1.5)
    texture = (texture - texture.min()) / np.ptp(texture)
    truth = np.stack([texture[:, abs(z - 30):abs(z - 30) + size] * 40000 + 5000 for z in range(depth)])
    truth = truth.astype(np.uint16)
    mask = np.zeros(truth.shape, bool)
    mask[lost] = True
    stack = truth.copy()
    stack[mask] = 0
    error = np.mean((fill(stack, mask, volume_margin=depth)[lost].astype(np.float64) - truth[lost]) ** 2)
    linear = 0.5 * (truth[lost - 1].astype(np.float64) + truth[lost + 1])
    assert 10 * np.log10(np.mean((linear - truth[lost]) ** 2) / error) >= 3.0


def test_stack_unet_fills_a_wholly_lost_plane_with_the_stacks_predictor(monkeypatch):
    """The fitted network's fill keeps its other holes; the lost plane comes from the predictor (option on)."""
    pytest.importorskip("torch")
    from inpaint_models.models.stack_unet.plugin import StackUNetOptions
    from inpaint_models.models.stack_unet.task import finish_fill

    truth = drifting_stack().astype(np.float32) / 65535.0
    mask = lost_plane_mask(truth.shape)
    mask[2, 10:20, 10:20] = True  # a tile elsewhere: the network's fill is kept there
    image = np.where(mask, 0.0, truth)[..., None].astype(np.float32)
    linear = 0.5 * (truth[LOST - 1] + truth[LOST + 1])
    network = np.full(image.shape, 0.5, np.float32)  # a network whose fill is grey, and linear Z on the lost plane
    network[LOST, ..., 0] = linear
    given = network.copy()
    out = finish_fill(network, image, mask, StackUNetOptions())
    assert np.array_equal(out[2], network[2]) and np.array_equal(out[LOST + 2], network[LOST + 2])
    lost_db = plane_psnr(out[..., 0], truth)  # the plane's 2-px outer band keeps the network's fill
    assert lost_db >= plane_psnr(np.broadcast_to(linear, truth.shape), truth) + 3.0
    assert out.min() >= 0.0 and out.max() <= 1.0
    from inpaint_models.models import lost_planes

    def overshooting(out, holes):  # a linear predictor may overshoot the known range
        out[LOST] = np.where(np.arange(out.shape[2])[None, :, None] % 2, 1.4, -0.3)
        return [LOST]

    monkeypatch.setattr(lost_planes, "fill_lost_planes", overshooting)
    overshoot = finish_fill(network, image, mask, StackUNetOptions())
    assert overshoot.min() >= 0.0 and overshoot.max() <= 1.0  # fill's contract: [0, 1]
    kept = finish_fill(network, image, mask, StackUNetOptions(predict_lost_planes=False))
    assert np.array_equal(kept, network)
    assert np.array_equal(network, given)  # the network's array is not changed
