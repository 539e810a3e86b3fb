"""GLCIC: completion network table, discriminators, losses, phases, post-processing."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from inpaint_models.contract.errors import OptionError, ShapeMismatchError
from inpaint_models.models.glcic.losses import (
    ALPHA,
    Phase,
    PhaseSchedule,
    completion_loss,
    discriminator_loss,
    masked_mse,
)
from inpaint_models.models.glcic.network import CompletionNetwork, GLCICDiscriminator, hole_centred_boxes
from inpaint_models.models.glcic.postprocess import telea_poisson_blend

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # tests/conftest.py


def _batch(size: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    image = torch.rand(2, 3, size, size, generator=g)
    mask = torch.zeros(2, 1, size, size)
    mask[0, :, size // 4 : size // 2, size // 8 : size // 2] = 1
    mask[1, :, size // 2 :, size // 2 :] = 1
    return image, mask


def _count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def test_completion_network_has_the_papers_parameter_count():
    net = CompletionNetwork(width=1.0)
    assert _count(net) == pytest.approx(6.07e6, rel=2e-3)
    convs = [m for m in net.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d))]
    assert len(convs) == 17
    assert [c.dilation[0] for c in convs[6:10]] == [2, 4, 8, 16]
    assert sum(isinstance(m, torch.nn.BatchNorm2d) for m in net.modules()) == 16
    assert isinstance(list(net.net)[-1], torch.nn.Sigmoid)


def test_width_presets_shrink_the_network_and_reject_nonsense():
    assert _count(CompletionNetwork(width="half")) < _count(CompletionNetwork(width=1.0)) / 3
    with pytest.raises(OptionError):
        CompletionNetwork(width="huge")
    with pytest.raises(OptionError):
        CompletionNetwork(width=0)


@pytest.mark.parametrize("size", [32, 64])
def test_completion_shapes_range_and_hole_content_ignored(size):
    image, mask = _batch(size)
    net = CompletionNetwork(width=0.25).eval()
    out = net(image, mask)
    assert out.shape == image.shape
    assert out.min() >= 0 and out.max() <= 1
    # holes are filled with the mean pixel first: what the hole held does not matter
    scrambled = torch.where(mask.bool(), torch.rand_like(image), image)
    torch.testing.assert_close(net(scrambled, mask), out)


def test_completion_rejects_sizes_off_the_stride():
    image, mask = _batch(32)
    with pytest.raises(ShapeMismatchError):
        CompletionNetwork(width=0.25)(image[..., :30, :30], mask[..., :30, :30])


@pytest.mark.parametrize("size", [32, 64])
def test_discriminator_shapes_and_local_patch_scales(size):
    image, mask = _batch(size)
    disc = GLCICDiscriminator(image_size=size, width=0.25)
    assert disc.local_size == size // 2
    assert disc.head.in_features == 2 * disc.local.out_features == 2 * 256
    assert disc(image, mask).shape == (2, 1)


def test_discriminator_at_256_follows_the_paper():
    disc = GLCICDiscriminator(image_size=256)
    assert disc.local_size == 128
    assert disc.local.fc[1].in_features == 512 * 4 * 4  # 128 / 2^5
    assert disc.global_.fc[1].in_features == 512 * 4 * 4  # 256 / 2^6
    assert disc.head.in_features == 2048 and disc.head.out_features == 1


def test_local_patch_is_centred_on_the_hole_and_kept_inside():
    mask = torch.zeros(3, 1, 64, 64)
    mask[0, :, 20:30, 30:40] = 1  # centre (25, 35)
    mask[1, :, 0:4, 60:64] = 1  # corner: clamped
    assert hole_centred_boxes(mask, 32) == [(25 - 16, 35 - 16), (0, 32), (16, 16)]


def test_masked_mse_counts_hole_values_only():
    pred = torch.zeros(1, 3, 4, 4)
    target = torch.ones(1, 3, 4, 4)
    target[..., :2, :] = 5.0  # known rows, must not count
    mask = torch.zeros(1, 1, 4, 4)
    mask[..., 2:, :] = 1
    assert masked_mse(pred, target, mask).item() == pytest.approx(1.0)
    assert masked_mse(pred, target, torch.zeros_like(mask)).item() == 0.0


def test_completion_and_discriminator_losses():
    pred, target = torch.zeros(2, 3, 8, 8), torch.full((2, 3, 8, 8), 0.5)
    mask = torch.ones(2, 1, 8, 8)
    only_mse = completion_loss(pred, target, mask)
    assert set(only_mse) == {"mse", "total"} and only_mse["total"].item() == pytest.approx(0.25)
    logits = torch.zeros(2, 1)  # D undecided: BCE = log 2
    joint = completion_loss(pred, target, mask, fake_logits=logits)
    assert joint["gan"].item() == pytest.approx(math.log(2))
    assert joint["total"].item() == pytest.approx(0.25 + ALPHA * math.log(2))
    assert ALPHA == 4e-4
    assert discriminator_loss(logits, logits).item() == pytest.approx(2 * math.log(2))
    confident = discriminator_loss(torch.full((2, 1), 20.0), torch.full((2, 1), -20.0))
    assert confident.item() < 1e-6


def test_phase_schedule():
    schedule = PhaseSchedule(t_c=3, t_d=2)
    phases = [schedule.phase(step) for step in range(7)]
    assert phases == ["completion"] * 3 + ["discriminator"] * 2 + ["joint"] * 2
    assert phases[0] is Phase.COMPLETION and phases[-1] is Phase.JOINT
    assert [schedule.trains_completion(s) for s in range(7)] == [True, True, True, False, False, True, True]
    assert [schedule.trains_discriminator(s) for s in range(7)] == [False, False, False, True, True, True, True]
    assert PhaseSchedule(0, 0).phase(0) is Phase.JOINT
    with pytest.raises(OptionError):
        PhaseSchedule(-1, 5)


def _smooth_image(size: int = 48) -> np.ndarray:
    yy, xx = np.mgrid[0:size, 0:size] / size
    rng = np.random.default_rng(0)
    image = np.stack([yy, xx, 0.5 + 0.3 * np.sin(6 * yy)], axis=-1) * 0.8 + 0.1
    return (image + rng.normal(0, 0.01, image.shape)).astype(np.float32)


@pytest.mark.parametrize("box", [(10, 25, 12, 31), (10, 26, 12, 32), (0, 14, 0, 20)])
def test_poisson_blend_removes_a_colour_shift_and_keeps_known_pixels(box):
    original = _smooth_image()
    mask = np.zeros(original.shape[:2], bool)
    mask[box[0] : box[1], box[2] : box[3]] = True
    shifted = np.clip(original + 0.25, 0, 1)  # right gradients, wrong colour
    out = telea_poisson_blend(shifted, original, mask)
    assert out.dtype == np.float32 and out.shape == original.shape
    np.testing.assert_array_equal(out[~mask], original[~mask])
    before = np.abs(shifted - original)[mask].mean()
    after = np.abs(out - original)[mask].mean()
    # interior holes are recovered almost exactly; a hole in the corner has
    # only Telea values on its image-edge side, still far better than before
    assert after < (0.02 if box[0] > 0 else 0.25 * before)


def test_poisson_blend_handles_grey_tiny_and_empty_masks():
    original = _smooth_image()[..., :1]
    mask = np.zeros(original.shape[:2], bool)
    assert np.array_equal(telea_poisson_blend(original + 0.1, original, mask), original)
    mask[20, 20] = True
    out = telea_poisson_blend(np.clip(original + 0.1, 0, 1), original, mask)
    assert out.shape == original.shape and abs(out[20, 20, 0] - original[20, 20, 0]) < 0.05


def test_completion_network_overfits_two_images():
    torch.manual_seed(0)
    image, mask = _batch(32, seed=1)
    net = CompletionNetwork(width=0.25)
    optimiser = torch.optim.Adam(net.parameters(), lr=2e-3)
    losses = []
    for _ in range(30):
        loss = completion_loss(net(image, mask), image, mask)["total"]
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        losses.append(loss.item())
    assert np.mean(losses[-5:]) < 0.6 * losses[0]
    assert losses[-1] < losses[10]  # still falling, not a lucky first step
