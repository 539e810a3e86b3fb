"""The smooth pre-fill and the ``residual`` option of the trainable models (models/prefill.py)."""

from __future__ import annotations

import importlib

import numpy as np
import pytest
import torch

from inpaint_models.contract.registry import default_registry
from inpaint_models.models.prefill import smooth_fill
from inpaint_models.training import TaskSpec

torch.set_num_threads(1)


def _box_mask(size: int, top: int, left: int, height: int, width: int) -> torch.Tensor:
    mask = torch.zeros(1, 1, size, size)
    mask[..., top : top + height, left : left + width] = 1.0
    return mask


def test_known_pixels_are_kept_and_the_hole_is_filled_within_their_range():
    generator = torch.Generator().manual_seed(0)
    image = torch.rand(2, 3, 40, 56, generator=generator) * 0.5 + 0.25
    mask = torch.zeros(2, 1, 40, 56)
    mask[0, :, 5:30, 10:40] = 1
    mask[1, :, 0:12, 0:56] = 1  # a band along the border
    out = smooth_fill(image * (1 - mask) + 7.0 * mask, mask)  # hole values are ignored
    assert out.shape == image.shape and out.dtype == image.dtype
    assert torch.equal(out * (1 - mask), image * (1 - mask))
    assert out.min() >= 0.25 - 1e-6 and out.max() <= 0.75 + 1e-6


def test_constant_and_linear_images_are_reproduced():
    mask = _box_mask(64, 16, 20, 30, 24)
    flat = torch.full((1, 3, 64, 64), 0.3)
    flat[:, 2] = 0.8
    assert torch.allclose(smooth_fill(flat * (1 - mask), mask), flat, atol=1e-6)
    # a horizontal ramp with a box hole: the fill stays close to the ramp (a smooth interpolation)
    ramp = torch.linspace(0.0, 1.0, 64).view(1, 1, 1, 64).expand(1, 1, 64, 64).contiguous()
    filled = smooth_fill(ramp * (1 - mask), mask)
    error = (filled - ramp).abs()[mask.bool()]
    assert error.max() < 0.12 and error.mean() < 0.05


def test_smooth_fill_beats_a_mean_fill_on_a_photograph():
    from skimage import data

    photo = torch.from_numpy(data.astronaut()[::2, ::2].astype(np.float32) / 255.0).permute(2, 0, 1)[None]
    mask = _box_mask(256, 100, 60, 48, 64)
    filled = smooth_fill(photo * (1 - mask), mask)
    hole = mask.bool().expand_as(photo)
    mean_fill = photo[~hole].mean()
    assert ((filled - photo)[hole] ** 2).mean() < 0.5 * ((mean_fill - photo)[hole] ** 2).mean()


def test_no_known_pixel_and_bad_shapes():
    image = torch.rand(1, 3, 8, 8)
    assert torch.equal(smooth_fill(image, torch.ones(1, 1, 8, 8)), torch.zeros(1, 3, 8, 8))
    with pytest.raises(ValueError, match="mask"):
        smooth_fill(image, torch.ones(1, 3, 8, 8))
    with pytest.raises(ValueError):
        smooth_fill(image[0], torch.ones(1, 8, 8))


def test_each_sample_of_a_batch_is_filled_as_it_would_be_alone():
    """The pyramid of a sample with small holes ends early; a batch-mate with a big hole must not change that."""
    generator = torch.Generator().manual_seed(0)
    image = torch.rand(5, 2, 40, 33, generator=generator)
    mask = torch.zeros(5, 1, 40, 33)
    mask[0, :, 5:30, 3:30] = 1.0  # a big box: a deep pyramid
    mask[1, :, 10:12] = 1.0  # two rows: ends after one level
    mask[2] = (torch.rand(1, 40, 33, generator=generator) > 0.5).float()
    mask[3] = 1.0  # nothing known
    mask[4, :, :39] = 1.0  # one known row
    batched = smooth_fill(image, mask)
    alone = torch.cat([smooth_fill(image[i : i + 1], mask[i : i + 1]) for i in range(5)])
    assert torch.equal(batched, alone)
    volume = torch.rand(2, 1, 5, 20, 24, generator=generator)
    holes = torch.zeros(2, 1, 5, 20, 24)
    holes[0, :, 2] = 1.0  # a lost plane
    holes[1, :, :, 3:17, 2:20] = 1.0
    assert torch.equal(smooth_fill(volume, holes),
                       torch.cat([smooth_fill(volume[i : i + 1], holes[i : i + 1]) for i in range(2)]))


def test_smooth_fill_runs_in_half_precision_shapes_and_odd_sizes():
    image = torch.rand(1, 1, 33, 17)
    mask = _box_mask(33, 4, 0, 10, 10)[..., :17]
    out = smooth_fill(image.half(), mask)
    assert out.dtype == torch.float16 and out.shape == image.shape
    assert torch.isfinite(out.float()).all()


# model, options beyond residual = true, training image size
RESIDUAL_MODELS = [
    ("autoencoder", {"depth": 3, "width": 4}, 32),
    ("context-encoder", {"bottleneck": 16, "width": 4}, 32),
    ("glcic", {"width": "tiny"}, 32),
    ("pconv-unet", {"width": "tiny", "layers": 4}, 32),
    ("deepfill", {"width": "tiny", "variant": "hole_smooth"}, 32),
]


@pytest.mark.parametrize("name,options,size", RESIDUAL_MODELS, ids=[m[0] for m in RESIDUAL_MODELS])
def test_an_untrained_residual_model_returns_the_smooth_fill(name, options, size):
    info = default_registry().info(name)
    plugin = importlib.import_module(f"inpaint_models.models.{name.replace('-', '_')}.plugin")
    task = plugin.build_task(TaskSpec(info.options(residual=True, **options), channels=3, image_size=size))
    for net in task.networks.values():
        net.eval()
    generator = torch.Generator().manual_seed(1)
    image = torch.rand(2, 3, size, size, generator=generator)
    mask = _box_mask(size, 8, 6, 12, 14).expand(2, -1, -1, -1).contiguous()
    with torch.no_grad():
        predicted = task.predict(image * (1 - mask), mask)
    expected = smooth_fill(image * (1 - mask), mask)
    hole = mask.bool().expand_as(image)
    if name == "deepfill":  # its stages start close to, not at, the identity (RESIDUAL_INIT_SCALE)
        assert (predicted[hole] - expected[hole]).abs().mean() < 0.05
    else:
        assert torch.allclose(predicted[hole], expected[hole], atol=1e-5)


@pytest.mark.parametrize("name,options,size", RESIDUAL_MODELS, ids=[m[0] for m in RESIDUAL_MODELS])
def test_residual_models_learn_a_correction(name, options, size):
    """One optimiser step moves the output away from the plain pre-fill (the zero layer gets gradient)."""
    info = default_registry().info(name)
    plugin = importlib.import_module(f"inpaint_models.models.{name.replace('-', '_')}.plugin")
    task = plugin.build_task(TaskSpec(info.options(residual=True, **options), channels=3, image_size=size))
    names = task.inference_names()
    params = [p for n in names for p in task.networks[n].parameters()]
    optimiser = torch.optim.Adam(params, lr=1e-2)
    image = torch.rand(4, 3, size, size, generator=torch.Generator().manual_seed(2))
    mask = _box_mask(size, 8, 6, 12, 14).expand(4, -1, -1, -1).contiguous()
    for net in task.networks.values():
        net.train()
    for _ in range(2):
        out = task.predict(image * (1 - mask), mask)
        loss = ((out - image) ** 2 * mask).mean()
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    for net in task.networks.values():
        net.eval()
    with torch.no_grad():
        after = task.predict(image * (1 - mask), mask)
    base = smooth_fill(image * (1 - mask), mask)
    assert (after - base)[mask.bool().expand_as(image)].abs().max() > 1e-4


def test_push_pull_model_fills_through_the_public_api():
    import inpaint_models

    photo = np.zeros((120, 150, 3), np.uint8)
    photo[..., 0] = np.linspace(0, 250, 150).astype(np.uint8)  # a horizontal ramp in red
    photo[..., 1] = 90
    photo[..., 2] = np.linspace(200, 20, 120).astype(np.uint8)[:, None]  # a vertical ramp in blue
    mask = np.zeros(photo.shape[:2], bool)
    mask[40:80, 50:100] = True
    before = photo.copy()
    out = inpaint_models.fill(photo, mask, model="push-pull")
    assert np.array_equal(photo, before)  # the input is not modified
    assert out.dtype == np.uint8 and np.array_equal(out[~mask], photo[~mask])
    assert np.all(out[mask][:, 1] == 90)  # a constant channel stays constant
    # the margin covers this whole image: the result is smooth_fill's, rounded to uint8
    tensor = torch.from_numpy(photo.transpose(2, 0, 1).astype(np.float32) / 255.0)[None]
    hole = torch.from_numpy(mask.astype(np.float32))[None, None]
    expected = smooth_fill(tensor * (1 - hole), hole)[0].permute(1, 2, 0).numpy() * 255.0
    assert np.abs(out.astype(np.float64) - expected).max() <= 1.0
    error = np.abs(out.astype(np.float64) - photo)[mask][:, [0, 2]]
    assert error.mean() < 12  # ramps are interpolated, not flattened
    assert inpaint_models.model_info("push-pull").trainable is False
