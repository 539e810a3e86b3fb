"""Partial-convolution U-Net: the layer's maths, the U-Net layout, the losses."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from inpaint_models.contract.errors import OptionError, ShapeMismatchError, WeightsError
from inpaint_models.models.pconv_unet.losses import PConvLoss, total_variation
from inpaint_models.models.pconv_unet.network import PartialConv2d, PConvUNet, layers_for_size

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # tests/conftest.py


def _batch(size: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    image = torch.rand(2, 3, size, size, generator=g)
    mask = torch.zeros(2, 1, size, size)
    mask[0, :, size // 4 : size // 2, size // 8 : size // 2] = 1
    mask[1, :, :, size // 3] = 1  # a one-pixel line, free-form style
    mask[1, :, size // 2 :, size // 2 :] = 1
    return image, mask


def _hand_partial_conv(
    x: np.ndarray, valid: np.ndarray, weight: np.ndarray, bias: float
) -> tuple[np.ndarray, np.ndarray]:
    """Loop version of the paper's rule, zero padding counted as hole (stride 1)."""
    c, h, w = x.shape
    k = weight.shape[-1]
    p = k // 2
    xp = np.pad(x, ((0, 0), (p, p), (p, p)))
    mp = np.pad(valid, ((0, 0), (p, p), (p, p)))
    out = np.zeros((h, w))
    new = np.zeros((h, w))
    n = c * k * k
    for i in range(h):
        for j in range(w):
            xw, mw = xp[:, i : i + k, j : j + k], mp[:, i : i + k, j : j + k]
            count = mw.sum()
            if count > 0:
                out[i, j] = (weight * xw * mw).sum() * n / count + bias
                new[i, j] = 1
    return out, new


def _layer(c_in: int, k: int, weight: torch.Tensor, bias: float) -> PartialConv2d:
    layer = PartialConv2d(c_in, 1, k)
    with torch.no_grad():
        layer.conv.weight.copy_(weight)
        layer.conv.bias.fill_(bias)
    return layer


def test_partial_conv_scales_by_n_over_k_and_zeroes_empty_windows():
    x = torch.arange(1.0, 26.0).view(1, 1, 5, 5)
    valid = torch.ones(1, 1, 5, 5)
    valid[..., 0:3, 0:3] = 0  # a 3x3 hole in the corner
    valid[..., 2, 4] = 0
    layer = _layer(1, 3, torch.ones(1, 1, 3, 3), bias=0.5)
    out, new = layer(x, valid)
    # window centred at (1, 1): all 9 pixels are hole or padding -> 0 and mask 0
    assert out[0, 0, 1, 1].item() == 0.0 and new[0, 0, 1, 1].item() == 0.0
    # window centred at (2, 2): valid pixels (2,3),(3,1),(3,2),(3,3),(1,3) -> k = 5 of n = 9
    known = [(1, 3), (2, 3), (3, 1), (3, 2), (3, 3)]
    expected = sum(x[0, 0, i, j].item() for i, j in known) * 9 / 5 + 0.5
    assert out[0, 0, 2, 2].item() == pytest.approx(expected)
    assert new[0, 0, 2, 2].item() == 1.0
    # bottom-right corner: 4 image pixels, all valid, 5 padding -> sum scaled by 9 / 4
    corner = (x[0, 0, 3:, 3:]).sum().item() * 9 / 4 + 0.5
    assert out[0, 0, 4, 4].item() == pytest.approx(corner)
    # the whole map against the loop implementation
    hand, hand_mask = _hand_partial_conv(x[0].numpy(), valid[0].numpy(), np.ones((1, 3, 3)), 0.5)
    np.testing.assert_allclose(out[0, 0].detach().numpy(), hand, rtol=1e-6)
    np.testing.assert_array_equal(new[0, 0].numpy(), hand_mask)


def test_partial_conv_with_per_channel_masks_matches_the_loop():
    g = torch.Generator().manual_seed(3)
    x = torch.randn(1, 2, 6, 7, generator=g)
    valid = (torch.rand(1, 2, 6, 7, generator=g) > 0.6).float()
    valid[:, :, :3, :3] = 0  # at least one empty window
    weight = torch.randn(1, 2, 3, 3, generator=g)
    out, new = _layer(2, 3, weight, bias=-0.25)(x, valid)
    hand, hand_mask = _hand_partial_conv(x[0].numpy(), valid[0].numpy(), weight[0].numpy(), -0.25)
    np.testing.assert_allclose(out[0, 0].detach().numpy(), hand, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(new[0, 0].numpy(), hand_mask)
    assert (hand_mask == 0).any()


def test_partial_conv_stride_and_output_mask_channels():
    layer = PartialConv2d(3, 8, 7, stride=2)
    out, new = layer(torch.rand(2, 3, 32, 32), torch.ones(2, 1, 32, 32))
    assert out.shape == new.shape == (2, 8, 16, 16)


def test_levels_follow_the_paper():
    assert layers_for_size(256) == 7 and layers_for_size(512) == 8 and layers_for_size(32) == 4
    with pytest.raises(OptionError):
        layers_for_size(100)
    net = PConvUNet(layers=8)
    assert len(net.encoder) == len(net.decoder) == 8
    kernels = [b.pconv.conv.kernel_size[0] for b in net.encoder]
    widths = [b.pconv.conv.out_channels for b in net.encoder]
    assert kernels == [7, 5, 5, 3, 3, 3, 3, 3]
    assert widths == [64, 128, 256, 512, 512, 512, 512, 512]
    assert net.encoder[0].bn is None and all(b.bn is not None for b in net.encoder[1:])
    assert [b.pconv.conv.out_channels for b in net.decoder] == [512, 512, 512, 512, 256, 128, 64, 3]
    assert [b.pconv.conv.in_channels for b in net.decoder][-4:] == [512 + 256, 256 + 128, 128 + 64, 64 + 3]
    last = net.decoder[-1]
    assert last.bn is None and last.act is None
    assert isinstance(net.decoder[0].act, torch.nn.LeakyReLU) and net.decoder[0].act.negative_slope == 0.2
    # the published 512-px network (≈32.9M parameters in common reimplementations)
    assert sum(p.numel() for p in net.parameters()) == pytest.approx(32.87e6, rel=1e-3)
    assert len(PConvUNet(layers=7).encoder) == 7


@pytest.mark.parametrize("size", [32, 64])
def test_unet_shapes_and_hole_content_ignored(size):
    image, mask = _batch(size)
    net = PConvUNet.for_size(size, width=0.25)
    assert net.layers == layers_for_size(size)
    out = net(image, mask)
    assert out.shape == image.shape
    # partial convolutions never read hole pixels (BatchNorm in training mode too)
    scrambled = torch.where(mask.bool(), torch.rand_like(image), image)
    torch.testing.assert_close(net(scrambled, mask), out)
    with pytest.raises(ShapeMismatchError):
        net(image[..., : size - 2, : size - 2], mask[..., : size - 2, : size - 2])


def test_freeze_encoder_bn_for_fine_tuning():
    image, mask = _batch(32)
    net = PConvUNet.for_size(32, width=0.25)
    net.freeze_encoder_bn()
    net.train()
    encoder_bns = [b.bn for b in net.encoder if b.bn is not None]
    before = [bn.running_mean.clone() for bn in encoder_bns]
    net(image, mask).mean().backward()
    for bn, mean in zip(encoder_bns, before):
        assert not bn.training and torch.equal(bn.running_mean, mean)
        assert bn.weight.grad is None and not bn.weight.requires_grad
    assert all(b.bn.training for b in net.decoder if b.bn is not None)
    assert net.encoder[1].pconv.conv.weight.grad is not None  # the convolutions still train
    net.freeze_encoder_bn(False)
    net.train()
    assert all(bn.training and bn.weight.requires_grad for bn in encoder_bns)


def test_total_variation_on_the_dilated_hole_only():
    comp = torch.zeros(1, 1, 4, 6)
    comp[..., :, 3:] = 1.0  # one vertical edge between columns 2 and 3
    mask = torch.zeros(1, 1, 4, 6)
    mask[..., 1, 3] = 1  # dilated region: rows 0-2, columns 2-4
    # horizontal pairs inside the region crossing the edge: rows 0, 1, 2 -> 3
    assert total_variation(comp, mask).item() == pytest.approx(3 / comp.numel())
    far = torch.zeros_like(mask)
    far[..., 1, 0] = 1  # region columns 0-1: no edge
    assert total_variation(comp, far).item() == 0.0


def test_loss_without_vgg_reports_perceptual_and_style_unavailable():
    g = torch.Generator().manual_seed(0)
    output, target = torch.rand(2, 3, 16, 16, generator=g), torch.rand(2, 3, 16, 16, generator=g)
    mask = torch.zeros(2, 1, 16, 16)
    mask[..., 4:10, 4:12] = 1
    loss = PConvLoss()
    terms = loss(output, target, mask)
    assert set(loss.unavailable) == {"perceptual", "style"} and "VGG16" in loss.unavailable["style"]
    assert "perceptual" not in terms and "style" not in terms
    n = output.numel()
    valid = ((output - target).abs() * (1 - mask)).sum() / n
    hole = ((output - target).abs() * mask).sum() / n
    comp = mask * output + (1 - mask) * target
    expected = valid + 6 * hole + 0.1 * total_variation(comp, mask)
    torch.testing.assert_close(terms["total"], expected)
    torch.testing.assert_close(terms["valid"], valid)


def test_mse_mode_is_report_003s_whole_image_mse():
    g = torch.Generator().manual_seed(1)
    output, target = torch.rand(2, 3, 16, 16, generator=g), torch.rand(2, 3, 16, 16, generator=g)
    mask = torch.zeros(2, 1, 16, 16)
    mask[..., 2:9, 3:7] = 1
    terms = PConvLoss(mode="mse")(output, target, mask)
    torch.testing.assert_close(terms["total"], F.mse_loss(output, target))
    with pytest.raises(OptionError):
        PConvLoss(vgg_weights="vgg16.pth", mode="mse")


def _fake_vgg_file(tmp_path, prefix: str = "features.") -> str:
    """A VGG16-shaped state_dict with random weights (a stand-in for the user's file)."""
    g = torch.Generator().manual_seed(7)
    shapes = {0: (64, 3), 2: (64, 64), 5: (128, 64), 7: (128, 128), 10: (256, 128), 12: (256, 256), 14: (256, 256)}
    state = {}
    for i, (c_out, c_in) in shapes.items():
        state[f"{prefix}{i}.weight"] = torch.randn(c_out, c_in, 3, 3, generator=g) * (2 / (9 * c_in)) ** 0.5
        state[f"{prefix}{i}.bias"] = torch.zeros(c_out)
    path = tmp_path / "vgg16.pth"
    torch.save(state, path)
    return str(path)


def test_loss_with_vgg_weights_adds_perceptual_and_style(tmp_path):
    g = torch.Generator().manual_seed(2)
    target = torch.rand(1, 3, 32, 32, generator=g)
    output = torch.rand(1, 3, 32, 32, generator=g).requires_grad_(True)
    mask = torch.zeros(1, 1, 32, 32)
    mask[..., 8:20, 8:24] = 1
    with_vgg = PConvLoss(vgg_weights=_fake_vgg_file(tmp_path))
    assert with_vgg.unavailable == {}
    terms = with_vgg(output, target, mask)
    base = PConvLoss()(output, target, mask)["total"]
    assert terms["perceptual"].item() > 0 and terms["style"].item() > 0
    torch.testing.assert_close(terms["total"], base + 0.05 * terms["perceptual"] + 120 * terms["style"])
    terms["total"].backward()
    assert torch.isfinite(output.grad).all()
    assert all(not p.requires_grad for p in with_vgg.vgg.parameters())
    # identical images: the perceptual and style terms vanish
    same = with_vgg(target, target, mask)
    assert same["perceptual"].item() == 0.0 and same["style"].item() == 0.0
    # a features-only state_dict is accepted too
    assert PConvLoss(vgg_weights=_fake_vgg_file(tmp_path, prefix="")).vgg is not None


def test_bad_vgg_files_are_clear_errors(tmp_path):
    with pytest.raises(WeightsError, match="not found"):
        PConvLoss(vgg_weights=tmp_path / "missing.pth")
    partial = tmp_path / "partial.pth"
    torch.save({"features.0.weight": torch.zeros(64, 3, 3, 3)}, partial)
    with pytest.raises(WeightsError, match="missing"):
        PConvLoss(vgg_weights=partial)
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(WeightsError):
        PConvLoss(vgg_weights=junk)


def test_pconv_unet_overfits_two_images():
    torch.manual_seed(0)
    image, mask = _batch(32, seed=1)
    net = PConvUNet.for_size(32, width=0.25)
    loss_fn = PConvLoss()
    optimiser = torch.optim.Adam(net.parameters(), lr=2e-3)
    losses = []
    for _ in range(30):
        loss = loss_fn(net(image, mask), image, mask)["total"]
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        losses.append(loss.item())
    assert np.mean(losses[-5:]) < 0.6 * losses[0]
    assert losses[-1] < losses[10]  # still falling, not a lucky first step


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_partial_conv_is_finite_under_half_precision_autocast(dtype):
    # an fp16 count clamped at 1e-8 (which is 0 in fp16) gave inf * 0 = NaN where a window
    # held no valid pixel: the first fp16 training step of pconv-unet on CUDA diverged
    torch.manual_seed(0)
    x = torch.randn(2, 8, 16, 16).to(dtype)
    valid = torch.ones(2, 1, 16, 16)
    valid[..., 2:12, 3:13] = 0  # windows entirely inside the hole
    layer = PartialConv2d(8, 4, 3)
    with torch.autocast("cpu", dtype=dtype):
        out, new = layer(x, valid)
    assert torch.isfinite(out).all()
    assert new[0, 0, 6, 7] == 0 and out[0, :, 6, 7].abs().max() == 0  # empty window: 0, as in fp32
    reference, _ = layer(x.float(), valid)
    torch.testing.assert_close(out.float(), reference, atol=0.05, rtol=0.05)
    image, mask = _batch(64)
    net = PConvUNet.for_size(64, width=0.25)
    with torch.autocast("cpu", dtype=dtype):
        y = net(image, mask)
    assert torch.isfinite(y).all()
