"""DeepFill: contextual attention, generator / critics, WGAN-GP, discounted L1, inputs."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from inpaint_models.contract.errors import OptionError, ShapeMismatchError
from inpaint_models.models.deepfill.contextual_attention import contextual_attention
from inpaint_models.models.deepfill.inputs import VARIANTS, mosaic, network_input
from inpaint_models.models.deepfill.losses import (
    CriticSchedule,
    critic_loss,
    discounted_l1,
    generator_loss,
    gradient_penalty,
    spatial_discount,
)
from inpaint_models.models.deepfill.network import Critic, DeepFillCritics, DeepFillGenerator

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # tests/conftest.py


def _batch(size: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    image = torch.rand(2, 3, size, size, generator=g)
    mask = torch.zeros(2, 1, size, size)
    mask[0, :, size // 4 : size // 2, size // 8 : size // 2] = 1
    mask[1, :, size // 2 :, size // 2 :] = 1
    return image, mask


# --------------------------------------------------------------------------- networks


def test_generator_layout_and_parameter_count():
    gen = DeepFillGenerator(width=1.0)
    convs = [m for m in gen.coarse.modules() if isinstance(m, torch.nn.Conv2d)]
    assert convs[0].in_channels == 5 and convs[0].out_channels == 32 and convs[0].kernel_size == (5, 5)
    assert [c.dilation[0] for c in convs[6:10]] == [2, 4, 8, 16]
    assert convs[-1].out_channels == 3
    assert not any(isinstance(m, (torch.nn.BatchNorm2d, torch.nn.InstanceNorm2d)) for m in gen.modules())
    assert sum(p.numel() for p in gen.parameters()) == pytest.approx(3.60e6, rel=5e-3)


@pytest.mark.parametrize("size", [32, 64])
def test_generator_and_critic_shapes(size):
    image, mask = _batch(size)
    x = network_input(image, mask)
    out = DeepFillGenerator(width=0.25)(x, mask)
    assert out.coarse.shape == out.refined.shape == image.shape
    assert out.flow.shape == (2, 2, size // 4, size // 4)
    assert out.refined.abs().max() <= 1 and out.coarse.abs().max() <= 1
    critics = DeepFillCritics(image_size=size, width=0.25)
    assert critics.local_size == size // 2
    local, global_ = critics(x, mask)
    assert local.shape == global_.shape == (2, 1)
    with pytest.raises(ShapeMismatchError):
        DeepFillGenerator(width=0.25)(x[..., : size - 4, : size - 4], mask[..., : size - 4, : size - 4])


def test_critics_at_256_follow_the_paper():
    critics = DeepFillCritics(image_size=256)
    local = [m.out_channels for m in critics.local.modules() if isinstance(m, torch.nn.Conv2d)]
    global_ = [m.out_channels for m in critics.global_.modules() if isinstance(m, torch.nn.Conv2d)]
    assert local == [64, 128, 256, 512] and global_ == [64, 128, 256, 256]
    assert critics.local_size == 128
    assert critics.local.score[1].in_features == 512 * 8 * 8
    assert critics.global_.score[1].in_features == 256 * 16 * 16


# --------------------------------------------------------------------------- contextual attention


def _touches_hole(mask: torch.Tensor, by: int, bx: int, rate: int = 2) -> bool:
    """Whether background patch (by, bx) (3x3 at 1/rate) covers a hole pixel at full resolution."""
    top, left = (by - 1) * rate, (bx - 1) * rate
    window = mask[0, 0, max(top, 0) : top + 3 * rate, max(left, 0) : left + 3 * rate]
    return bool(window.any())


def test_attention_on_patches_touching_the_hole_is_exactly_zero():
    g = torch.Generator().manual_seed(0)
    features = torch.randn(1, 4, 24, 24, generator=g)
    mask = torch.zeros(1, 1, 24, 24)
    mask[..., 7:14, 9:17] = 1
    mask[..., 20, 3] = 1  # a lone hole pixel
    result = contextual_attention(features, features, mask, return_weights=True)
    weights = result.weights[0]  # (L, 12, 12)
    side = 12
    touched = [l for l in range(side * side) if _touches_hole(mask, l // side, l % side)]
    assert len(touched) > 20
    assert (weights[touched] == 0).all()
    free = [l for l in range(side * side) if l not in touched]
    assert (weights[free].sum(dim=0) > 0).all()
    torch.testing.assert_close(weights.sum(dim=0), torch.ones(side, side))


def test_attention_without_any_valid_patch_gives_zeros_not_nan():
    features = torch.randn(1, 4, 8, 8)
    result = contextual_attention(features, features, torch.ones(1, 1, 8, 8), return_weights=True)
    assert torch.equal(result.features, torch.zeros_like(features))
    assert torch.equal(result.flow, torch.zeros_like(result.flow))


def _repeated_texture() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """A noise image whose hole region is a copy of a patch 20 px up-left of it."""
    g = torch.Generator().manual_seed(0)
    truth = torch.randn(1, 8, 48, 48, generator=g)
    texture = torch.randn(1, 8, 20, 20, generator=g)
    truth[..., 4:24, 4:24] = texture
    truth[..., 24:44, 24:44] = texture
    mask = torch.zeros(1, 1, 48, 48)
    mask[..., 30:38, 30:38] = 1
    # the "coarse" features in the hole: the truth, badly corrupted
    coarse = truth.clone()
    coarse[..., 30:38, 30:38] += 0.7 * torch.randn(1, 8, 8, 8, generator=g)
    return truth, coarse, mask


def test_attention_copies_from_the_repetition():
    truth, coarse, mask = _repeated_texture()
    result = contextual_attention(coarse, coarse, mask, return_weights=True)
    side = 24
    for fy in range(15, 19):  # hole rows 30..37 at 1/2 resolution
        for fx in range(15, 19):
            best = int(result.weights[0, :, fy, fx].argmax())
            assert divmod(best, side) == (fy - 10, fx - 10)  # 20 px up-left
    hole = mask[0, 0].bool()
    assert torch.equal(result.flow[0, :, hole], torch.full((2, int(hole.sum())), -20.0))

    def hole_mse(x: torch.Tensor) -> float:
        return (x - truth)[..., 30:38, 30:38].pow(2).mean().item()

    mean_fill = truth[..., ~hole].mean(dim=-1)[..., None, None].expand_as(truth)
    attended = hole_mse(result.features)
    assert attended < 0.1 * hole_mse(mean_fill)
    assert attended < 0.1 * hole_mse(coarse)  # the copy beats the corrupted estimate too


# --------------------------------------------------------------------------- losses


def test_spatial_discount_is_one_at_the_border_and_gamma_d_inside():
    mask = torch.zeros(1, 1, 12, 12)
    mask[..., 2:10, 3:9] = 1  # 8 x 6 box
    w = spatial_discount(mask, gamma=0.9)[0, 0]
    assert (w[mask[0, 0] == 0] == 0).all()
    assert (w[2, 3:9] == 1).all() and (w[9, 3:9] == 1).all() and (w[2:10, 3] == 1).all()
    assert w[3, 4].item() == pytest.approx(0.9)
    assert w[4, 5].item() == pytest.approx(0.9**2)
    assert w[5, 5].item() == pytest.approx(0.9**2)  # 2 from the left and right sides
    assert w.max().item() == 1.0 and w[mask[0, 0] > 0].min().item() == pytest.approx(0.9**2)
    # a free-form hole: distance to the nearest known pixel, any shape
    stroke = torch.zeros(1, 1, 9, 9)
    stroke[..., 1:8, 1:8] = 1
    stroke[..., 4, 4] = 0  # a known pixel inside
    ws = spatial_discount(stroke, gamma=0.5)[0, 0]
    assert ws[3, 3].item() == 1.0 and ws[2, 2].item() == pytest.approx(0.5)
    # no known pixel at all: finite, tiny
    assert torch.isfinite(spatial_discount(torch.ones(1, 1, 4, 4))).all()


def test_discounted_l1_hand_value():
    pred, target = torch.zeros(1, 1, 5, 5), torch.ones(1, 1, 5, 5)
    mask = torch.zeros(1, 1, 5, 5)
    mask[..., 1:4, 1:4] = 1  # ring of 8 weighted 1, centre weighted gamma
    assert discounted_l1(pred, target, mask, gamma=0.5).item() == pytest.approx((8 + 0.5) / 9)


def test_gradient_penalty_uses_hole_pixels_only():
    g = torch.Generator().manual_seed(0)
    real = torch.randn(2, 3, 8, 8, generator=g)
    fake = torch.randn(2, 3, 8, 8, generator=g)
    mask = torch.zeros(2, 1, 8, 8)
    mask[..., 2:5, 3:7] = 1
    alpha = torch.rand(2, 1, 1, 1, generator=g)
    # a linear critic: its gradient is w everywhere, the penalty sees w on the hole only
    w = torch.randn(1, 3, 8, 8, generator=g)

    def linear(x: torch.Tensor, weights: torch.Tensor = w) -> torch.Tensor:
        return (x * weights).sum(dim=(1, 2, 3)).unsqueeze(1)

    expected = ((w * mask[:1]).pow(2).sum().sqrt() - 1) ** 2
    penalty = gradient_penalty(linear, real, fake, mask, alpha)
    assert penalty.item() == pytest.approx(expected.item(), rel=1e-5)
    w_outside = torch.where(mask[:1].bool(), w, 100 * torch.randn_like(w))
    assert gradient_penalty(lambda x: linear(x, w_outside), real, fake, mask, alpha).item() == pytest.approx(
        penalty.item(), rel=1e-5
    )
    # a non-linear critic: changing the completed image outside the hole changes nothing
    torch.manual_seed(0)  # the critic's initial weights must not depend on the tests run before
    critic = Critic(8, (4, 8), width=1.0)
    base = gradient_penalty(critic, real, fake, mask, alpha)
    fake_outside = torch.where(mask.bool(), fake, torch.randn(fake.shape, generator=g))
    assert gradient_penalty(critic, real, fake_outside, mask, alpha).item() == pytest.approx(base.item(), rel=1e-5)
    fake_inside = torch.where(mask.bool(), torch.randn(fake.shape, generator=g), fake)
    assert gradient_penalty(critic, real, fake_inside, mask, alpha).item() != pytest.approx(base.item(), rel=1e-3)


def test_critic_schedule_five_critic_steps_per_generator_step():
    schedule = CriticSchedule()
    assert schedule.critic_steps == 5
    roles = [schedule.role(i) for i in range(12)]
    assert roles == ["critic"] * 5 + ["generator"] + ["critic"] * 5 + ["generator"]
    assert [schedule.generator_steps(i) for i in (0, 5, 6, 12)] == [0, 0, 1, 2]
    assert schedule.iterations(3) == 18
    assert [CriticSchedule(0).role(i) for i in range(2)] == ["generator", "generator"]
    with pytest.raises(OptionError):
        CriticSchedule(-1)


def test_one_wgan_gp_iteration_gives_finite_gradients():
    torch.manual_seed(0)
    image, mask = _batch(32)
    target = image * 2 - 1
    gen = DeepFillGenerator(width=0.25)
    critics = DeepFillCritics(image_size=32, width=0.25)
    out = gen(network_input(image, mask), mask)
    d_terms = critic_loss(critics, target, out.refined, mask)
    assert set(d_terms) == {"wgan", "gradient_penalty", "total"}
    d_terms["total"].backward()
    assert all(torch.isfinite(p.grad).all() for p in critics.parameters())
    assert all(p.grad is None for p in gen.parameters())  # the fake is detached
    g_terms = generator_loss(out, target, mask, critics)
    assert {"coarse_l1", "refine_l1", "known_l1", "adversarial", "total"} == set(g_terms)
    recon = g_terms["total"] - 0.001 * g_terms["adversarial"]
    expected = 1.2 * g_terms["coarse_l1"] + g_terms["refine_l1"] + 1.2 * g_terms["known_l1"]
    torch.testing.assert_close(recon, expected)
    g_terms["total"].backward()
    assert all(torch.isfinite(p.grad).all() for p in gen.parameters() if p.grad is not None)


# --------------------------------------------------------------------------- inputs


def test_input_variants():
    image, mask = _batch(32)
    hole = mask.bool().expand_as(image)
    for variant in VARIANTS:
        x = network_input(image, mask, variant)
        assert x.shape == image.shape
        torch.testing.assert_close(x[~hole], (image * 2 - 1)[~hole])
    assert (network_input(image, mask, "hole")[hole] == 0).all()
    torch.testing.assert_close(network_input(image, mask, "mosaic")[hole], (mosaic(image, 12) * 2 - 1)[hole])
    # Navier-Stokes on a flat image fills the hole with that value
    flat = torch.full_like(image, 0.25)
    torch.testing.assert_close(network_input(flat, mask, "hole_ns"), flat * 2 - 1, atol=1e-3, rtol=0)
    with pytest.raises(OptionError):
        network_input(image, mask, "blur")


def test_mosaic_is_a_low_resolution_copy():
    g = torch.Generator().manual_seed(0)
    small = torch.rand(1, 3, 4, 4, generator=g)
    image = F.interpolate(small, size=(48, 48), mode="bilinear", align_corners=False)
    blurred = mosaic(image, 12)
    assert (blurred - image).abs().mean() < 0.1  # smooth content survives
    noise = torch.rand(1, 3, 48, 48, generator=g)
    assert mosaic(noise, 12).std() < 0.3 * noise.std()  # fine detail does not


# --------------------------------------------------------------------------- over-fitting


def test_generator_overfits_two_images():
    torch.manual_seed(0)
    _, mask = _batch(32, seed=1)
    # smooth images: without skip connections the 1/4-resolution generator cannot
    # reproduce pixel noise in the known region, so noise would hide the learning
    g = torch.Generator().manual_seed(1)
    image = F.interpolate(torch.rand(2, 3, 6, 6, generator=g), size=(32, 32), mode="bicubic").clamp(0, 1)
    target = image * 2 - 1
    x = network_input(image, mask)
    gen = DeepFillGenerator(width=0.5)
    optimiser = torch.optim.Adam(gen.parameters(), lr=1e-3, betas=(0.5, 0.9))
    losses = []
    for _ in range(30):
        loss = generator_loss(gen(x, mask), target, mask)["total"]
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        losses.append(loss.item())
    assert np.mean(losses[-5:]) < 0.6 * losses[0]
    assert losses[-1] < losses[10]  # still falling, not a lucky first step
