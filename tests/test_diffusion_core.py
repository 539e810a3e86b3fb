"""The diffusion model's core: schedule, network, objective and samplers (no plugin)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from inpaint_models.contract.errors import Cancelled
from inpaint_models.models.diffusion import (
    CosineSchedule,
    DiffusionUNet,
    LossSettings,
    SamplerSettings,
    count_parameters,
    ddim_sample,
    ddim_timesteps,
    diffusion_loss,
    inpaint_array,
    preset_config,
    repaint_schedule,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # tests/conftest.py

SIZE = 32


def sample(model, images, mask, *, noise=None, start=None, report=None, **settings) -> torch.Tensor:
    """:func:`ddim_sample` with its :class:`SamplerSettings` given as keywords."""
    return ddim_sample(model, images, mask, SamplerSettings(**settings), noise=noise, start=start, report=report)


@pytest.fixture(scope="module")
def schedule() -> CosineSchedule:
    return CosineSchedule(1000)


def two_images() -> torch.Tensor:
    """(2, 3, 32, 32) smooth images in [-1, 1]."""
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, SIZE), torch.linspace(-1, 1, SIZE), indexing="ij")
    return torch.stack(
        [torch.stack([xx, yy, xx * yy]), torch.stack([torch.sin(3 * xx), torch.cos(3 * yy), -xx])]
    )


def box_mask(batch: int = 2) -> torch.Tensor:
    """(batch, 1, 32, 32) float mask with a central 16x16 hole (1 = hole)."""
    mask = torch.zeros(batch, 1, SIZE, SIZE)
    mask[:, :, 8:24, 8:24] = 1.0
    return mask


@pytest.fixture(scope="module")
def trained():
    """A tiny model trained 30 steps on two 32 px images; its loss on a fixed batch before/after."""
    torch.manual_seed(0)
    model = DiffusionUNet("tiny")
    images, mask = two_images(), box_mask()
    x, m = images.repeat(2, 1, 1, 1), mask.repeat(2, 1, 1, 1)
    generator = torch.Generator().manual_seed(0)
    t_fixed = torch.tensor([10, 250, 500, 900])
    noise_fixed = torch.randn(x.shape, generator=generator)

    def fixed_loss() -> float:
        model.eval()
        with torch.no_grad():
            return diffusion_loss(model, x, m, t_fixed, noise_fixed).item()

    before = fixed_loss()
    optimiser = torch.optim.AdamW(model.parameters(), lr=2e-3)
    for _ in range(30):
        model.train()
        loss = diffusion_loss(model, x, m, generator=generator)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    model.eval()
    return {"model": model, "before": before, "after": fixed_loss(), "images": images, "mask": mask}


class Oracle(nn.Module):
    """The exact noise predictor when the data is the single image ``target``:
    eps = (x_t - sqrt(abar_t) target) / sqrt(1 - abar_t). Any correct sampler must return ``target``."""

    size_multiple = 1

    def __init__(self, target: torch.Tensor, schedule: CosineSchedule) -> None:
        super().__init__()
        self.register_buffer("target", target)
        self.anchor = nn.Parameter(torch.zeros(()))  # gives the sampler a device and dtype
        self.schedule = schedule

    def forward(self, x_t, t, image, mask):
        return self.schedule.predict_eps(x_t, t, self.target)


# --- schedule -------------------------------------------------------------------------------


def test_alpha_bar_strictly_decreasing_in_unit_interval(schedule):
    abar = schedule.alphas_cumprod
    assert abar.shape == (1000,) and schedule.timesteps == 1000
    assert bool((abar > 0).all()) and bool((abar < 1).all())
    assert bool((abar[1:] < abar[:-1]).all())
    assert float(schedule.betas.max()) <= 0.999 + 1e-6 and float(schedule.betas.min()) > 0
    assert torch.allclose(schedule.alphas_cumprod_prev[1:], abar[:-1]) and schedule.alphas_cumprod_prev[0] == 1
    # the cosine schedule's defining shape: abar(T/2) = cos^2(pi/4 * (0.5 + s)/(1 + s)) / cos^2(...) ~ 0.49
    f = lambda u: math.cos((u + 0.008) / 1.008 * math.pi / 2) ** 2  # noqa: E731
    assert float(abar[499]) == pytest.approx(f(0.5) / f(0.0), abs=1e-4)


@pytest.mark.parametrize("t", [0, 300, 999])
def test_q_sample_mean_and_variance(schedule, t):
    generator = torch.Generator().manual_seed(t)
    x0 = torch.rand(1, 3, 4, 4, generator=generator) * 2 - 1
    n = 4000
    noise = torch.randn(n, 3, 4, 4, generator=generator)
    samples = schedule.q_sample(x0.expand(n, -1, -1, -1), torch.full((n,), t), noise)
    abar = float(schedule.alphas_cumprod[t])
    mean, var = samples.mean(0), samples.var(0)
    tolerance = 5 * math.sqrt((1 - abar) / n) + 1e-6
    assert float((mean - math.sqrt(abar) * x0[0]).abs().max()) < tolerance
    assert float((var / (1 - abar) - 1).abs().max()) < 0.15  # 48 pixels, relative std error 2.2 %
    # and the inverse: x0 is recovered exactly from the noise used
    assert torch.allclose(schedule.predict_x0(samples[:4], t, noise[:4]), x0.expand(4, -1, -1, -1), atol=5e-3)


# --- network ----------------------------------------------------------------------------------


def test_base_preset_has_about_20m_parameters():
    model = DiffusionUNet("base")  # built, never run at size
    assert 15e6 <= count_parameters(model) <= 25e6
    assert model.size_multiple == 8 and model.config.attention_levels == (2, 3)  # 16x16 and 8x8 at 64 px
    assert count_parameters(DiffusionUNet("tiny")) < 3e6


def test_any_size_multiple_works_and_others_are_rejected():
    model = DiffusionUNet(preset_config("tiny", num_res_blocks=1)).eval()
    assert model.size_multiple == 4
    x = torch.randn(2, 3, 20, 28)
    with torch.no_grad():
        assert model(x, torch.tensor([0, 999]), x, torch.zeros(2, 20, 28)).shape == (2, 3, 20, 28)
        with pytest.raises(ValueError, match="multiple of 4"):
            model(x[..., :26], 5, x[..., :26], torch.zeros(2, 1, 20, 26))


def test_network_never_sees_the_hole_content(trained):
    model = trained["model"].eval()
    images, mask = trained["images"], trained["mask"]
    other = images + 5.0 * mask  # differs only inside the hole
    x_t = torch.randn(images.shape, generator=torch.Generator().manual_seed(3))
    t = torch.tensor([100, 700])
    with torch.no_grad():
        assert torch.equal(model(x_t, t, images, mask), model(x_t, t, other, mask))
        assert not torch.equal(model(x_t, t, images, mask), model(x_t, t, images, 1 - mask))


# --- objective ---------------------------------------------------------------------------


def test_training_loss_falls_and_samples_have_no_nan(trained):
    assert trained["before"] == pytest.approx(1.0, abs=0.1)  # zero-initialised output predicts eps = 0
    assert trained["after"] < 0.5 * trained["before"]
    out = sample(trained["model"], trained["images"], trained["mask"], steps=10, seed=0)
    assert out.shape == (2, 3, SIZE, SIZE) and out.dtype == torch.float32
    assert bool(torch.isfinite(out).all()) and float(out.abs().max()) <= 1.0


def test_hole_weight_and_fixed_draws(trained):
    model = trained["model"].eval()
    images, mask = trained["images"], trained["mask"]
    t, noise = torch.tensor([50, 600]), torch.randn(images.shape, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        plain = diffusion_loss(model, images, mask, t, noise)
        assert plain == diffusion_loss(model, images, mask.bool()[:, 0], t, noise)  # bool (B, H, W) mask
        pred = model(CosineSchedule().q_sample(images, t, noise), t, images, mask)
        hole_only = ((pred - noise) ** 2 * mask).sum() / (mask.sum() * 3)
        known_only = ((pred - noise) ** 2 * (1 - mask)).sum() / ((1 - mask).sum() * 3)
        assert torch.allclose(plain, F.mse_loss(pred, noise))
        assert torch.allclose(diffusion_loss(model, images, mask, t, noise, LossSettings(hole_weight=0.0)), known_only)
        weighted = diffusion_loss(model, images, mask, t, noise, LossSettings(hole_weight=1e6))
        assert torch.allclose(weighted, hole_only, rtol=1e-3)


# --- sampling ----------------------------------------------------------------------------------


@pytest.mark.parametrize("options", [dict(eta=0.0), dict(eta=1.0), dict(repaint=True, jump_length=3, resample_count=3)])
def test_an_exact_noise_predictor_recovers_the_image(schedule, options):
    target = two_images()
    out = sample(Oracle(target, schedule), target * (1 - box_mask()), box_mask(), steps=20, seed=0, **options)
    assert float((out - target).abs().max()) < 1e-3


class GaussianOracle(nn.Module):
    """The exact noise predictor when every pixel is independent N(mean, std^2):
    E[eps | x_t] = sqrt(1 - a) (x_t - sqrt(a) mean) / (a std^2 + 1 - a)."""

    size_multiple = 1

    def __init__(self, mean: float, std: float, schedule: CosineSchedule) -> None:
        super().__init__()
        self.mean, self.std, self.schedule = mean, std, schedule
        self.anchor = nn.Parameter(torch.zeros(()))

    def forward(self, x_t, t, image, mask):
        a = self.schedule.alphas_cumprod_f64[t].view(-1, 1, 1, 1)
        eps = (1 - a).sqrt() * (x_t - a.sqrt() * self.mean) / (a * self.std**2 + 1 - a)
        return eps.to(x_t.dtype)


@pytest.mark.parametrize("options", [dict(eta=0.0), dict(eta=1.0), dict(repaint=True, jump_length=5, resample_count=3)])
def test_samples_follow_the_data_distribution(schedule, options):
    # All hole, no clipping: the sampler alone decides the marginal, which must be N(0.2, 0.3^2).
    # Fine steps, because with coarse ones ancestral steps (eta > 0, RePaint) are known to
    # under-disperse (they use E[x0 | x_t], not its spread): std 0.27 at 50 steps, 0.296 at 1000.
    images, mask = torch.zeros(8, 3, 32, 32), torch.ones(8, 1, 32, 32)
    out = sample(GaussianOracle(0.2, 0.3, schedule), images, mask, steps=1000, seed=0, clip_denoised=False,
                      **options)
    assert float(out.mean()) == pytest.approx(0.2, abs=0.01)
    assert float(out.std()) == pytest.approx(0.3, rel=0.03)


class ConstantImageOracle(nn.Module):
    """Exact E[eps | x_t] when each image is one constant c ~ N(0, std^2) on every pixel. It only
    sees x_t (no mask), so it can match the known pixels only if the sampler re-imposes them."""

    size_multiple = 1

    def __init__(self, std: float, schedule: CosineSchedule) -> None:
        super().__init__()
        self.var, self.schedule = std**2, schedule
        self.anchor = nn.Parameter(torch.zeros(()))

    def forward(self, x_t, t, image, mask):
        a = self.schedule.alphas_cumprod_f64[t].view(-1, 1, 1, 1).to(x_t.dtype)
        n = x_t[0].numel()
        c = a.sqrt() * self.var * x_t.mean(dim=(1, 2, 3), keepdim=True) / (a * self.var + (1 - a) / n)
        return (x_t - a.sqrt() * c) / (1 - a).sqrt()


@pytest.mark.parametrize("options", [dict(eta=0.0), dict(eta=1.0), dict(repaint=True, jump_length=5, resample_count=3)])
def test_known_pixels_steer_the_hole_at_every_step(schedule, options):
    constants = torch.tensor([0.4, -0.6])
    images = constants.view(2, 1, 1, 1).expand(2, 3, SIZE, SIZE).contiguous()
    out = sample(ConstantImageOracle(0.5, schedule), images, box_mask(), steps=50, seed=0, conditional=False,
                      **options)
    hole = box_mask().bool().expand_as(images)
    assert float((out - images)[hole].abs().max()) < 0.02


def test_ddim_eta0_is_deterministic(trained):
    model, images, mask = trained["model"], trained["images"], trained["mask"]
    first = sample(model, images, mask, steps=8, eta=0.0, seed=1)
    assert torch.equal(first, sample(model, images, mask, steps=8, eta=0.0, seed=1))
    # with eta = 0 the start noise is the only draw: given it, the seed changes nothing
    noise = torch.randn(images.shape, generator=torch.Generator().manual_seed(9))
    fixed = [sample(model, images, mask, steps=8, eta=0.0, seed=s, noise=noise) for s in (1, 2)]
    assert torch.equal(fixed[0], fixed[1])
    # ... and the seed still picks the start noise, hence the fill
    assert not torch.equal(first, sample(model, images, mask, steps=8, eta=0.0, seed=2))


def test_stochastic_sampling_follows_the_seed(trained):
    model, images, mask = trained["model"], trained["images"], trained["mask"]
    noise = torch.randn(images.shape, generator=torch.Generator().manual_seed(9))
    a = sample(model, images, mask, steps=8, eta=1.0, seed=3, noise=noise)
    assert torch.equal(a, sample(model, images, mask, steps=8, eta=1.0, seed=3, noise=noise))
    b = sample(model, images, mask, steps=8, eta=1.0, seed=4, noise=noise)
    assert float((a - b).abs().max()) > 1e-3
    # batch items get their own noise
    assert not torch.equal(a[0] * mask[0], a[1] * mask[1])


@pytest.mark.parametrize("repaint", [False, True])
def test_known_pixels_are_returned_exactly(trained, repaint):
    model, images, mask = trained["model"], trained["images"], trained["mask"]
    out = sample(model, images, mask.bool(), steps=6, seed=0, repaint=repaint, jump_length=2, resample_count=2)
    known = ~mask.bool().expand_as(images)
    assert torch.equal(out[known], images[known])
    assert not torch.equal(out[~known], images[~known])


@pytest.mark.parametrize("channels", [3, 1])
def test_inpaint_array_pads_odd_sizes_and_keeps_known_pixels(trained, channels):
    rng = np.random.default_rng(0)
    image = rng.random((30, 37, channels), dtype=np.float32)
    mask = np.zeros((30, 37), bool)
    mask[10:20, 12:25] = True
    out = inpaint_array(trained["model"], image, mask, SamplerSettings(steps=4, seed=0))
    assert out.shape == image.shape and out.dtype == np.float32
    assert np.array_equal(out[~mask], image[~mask])
    assert np.isfinite(out).all() and out.min() >= 0 and out.max() <= 1


def test_grey_network_samples_under_inference_mode():
    # the trainer's predict runs under torch.inference_mode; a 1-channel network has 3 input channels
    model = DiffusionUNet(preset_config("tiny", image_channels=1))
    assert model.input_conv.in_channels == 3
    image = np.random.default_rng(1).random((16, 20, 1), dtype=np.float32)
    mask = np.zeros((16, 20), bool)
    mask[4:10, 5:12] = True
    with torch.inference_mode():
        out = inpaint_array(model, image, mask, SamplerSettings(steps=3, eta=0.5, seed=0))
    assert out.shape == (16, 20, 1) and np.array_equal(out[~mask], image[~mask]) and model.training
    with pytest.raises(ValueError, match="image must be"):
        inpaint_array(model, np.zeros((16, 20, 3), np.float32), mask, SamplerSettings(steps=1))


def test_report_is_called_per_step_and_can_cancel(trained):
    model, images, mask = trained["model"], trained["images"], trained["mask"]
    calls: list[tuple[int, int]] = []
    sample(model, images, mask, steps=5, seed=0, report=lambda step, total: calls.append((step, total)))
    assert calls == [(i, 5) for i in range(1, 6)]

    calls.clear()

    def cancel_at_three(step: int, total: int) -> None:
        calls.append((step, total))
        if step == 3:
            raise Cancelled("stop")

    model.train()
    with pytest.raises(Cancelled):
        sample(model, images, mask, steps=20, seed=0, report=cancel_at_three)
    assert len(calls) == 3
    assert model.training  # the caller's mode is restored
    model.eval()

    calls.clear()
    sample(model, images, mask, steps=6, seed=0, repaint=True, jump_length=2, resample_count=3,
                report=lambda step, total: calls.append((step, total)))
    assert calls[-1] == (len(calls), len(calls)) and len(calls) == 6 + 2 * 2 * 2  # one per network call


def test_repaint_schedule_length_and_end():
    steps, j, r = 50, 10, 10
    path = repaint_schedule(steps, j, r)
    assert len(path) == steps + 1 + 2 * j * (r - 1) * len(range(0, steps - j, j))  # 771
    assert path[0] == steps and path[-1] == 0 and min(path) == 0 and max(path) == steps
    assert all(abs(a - b) == 1 for a, b in zip(path, path[1:]))
    assert path.count(0) == 1  # it reaches the clean image once, at the end
    assert repaint_schedule(7, 3, 1) == list(range(7, -1, -1))


def test_ddim_timesteps_cover_the_schedule():
    assert ddim_timesteps(50) == sorted(set(ddim_timesteps(50)))
    assert ddim_timesteps(50)[0] == 0 and ddim_timesteps(50)[-1] == 999 and len(ddim_timesteps(50)) == 50
    assert ddim_timesteps(1) == [999] and ddim_timesteps(1000) == list(range(1000))
    with pytest.raises(ValueError):
        ddim_timesteps(0)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_sampling_runs_on_the_models_cuda_device(trained):
    model = DiffusionUNet("tiny").cuda()
    model.load_state_dict(trained["model"].state_dict())
    images, mask = trained["images"], trained["mask"]
    out = sample(model, images, mask, steps=4, eta=1.0, seed=5)
    assert out.device.type == "cuda" and bool(torch.isfinite(out).all())
    cpu = sample(trained["model"], images, mask, steps=4, eta=1.0, seed=5)
    assert float((out.cpu() - cpu).abs().max()) < 1e-2  # same seed, same draws on either device
