"""The ``autoencoder`` model: network, loss, over-fitting, checkpoint round trip, fills."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import inpaint_models
from inpaint_models.contract.registry import make_registry
from inpaint_models.models.autoencoder.network import Autoencoder
from inpaint_models.models.autoencoder.plugin import AutoencoderOptions
from inpaint_models.models.autoencoder.task import build_task, weighted_loss
from inpaint_models.models.layers import SelfAttention2d
from inpaint_models.models.neural import clear_cache, loaded_model, predict_array
from inpaint_models.training import Trainer, load_config, quick_config

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # tests/conftest.py

MODEL = "autoencoder"


@pytest.fixture(scope="module")
def models():
    return make_registry(allowed=[MODEL])


@pytest.fixture(scope="module")
def overfit(tmp_path_factory, models):
    """40 steps on 4 fixed images; returns the trainer, the checkpoint and the per-step losses."""
    directory = tmp_path_factory.mktemp("overfit")
    losses: list[float] = []
    config = quick_config(MODEL, directory, steps=40, options={"depth": 3, "width": 16, "attention": True},
                          train={"batch_size": 4, "log_every": 1, "crop_scale": [1.0, 1.0], "flip": False,
                                 "learning_rate": 2e-3, "checkpoint_every": 40})
    trainer = Trainer(load_config(config, registry=models), build_task,
                      lambda event: losses.append(event.losses["loss"]) if 0 < event.step and event.losses else None)
    path = trainer.run()
    return trainer, path, losses


def test_loss_falls_when_overfitting_four_images(overfit):
    _trainer, _path, losses = overfit
    assert len(losses) >= 40
    assert np.mean(losses[-5:]) < 0.7 * np.mean(losses[:5])


def test_checkpoint_round_trip_gives_identical_fills(overfit, models):
    trainer, path, _ = overfit
    rng = np.random.default_rng(1)
    image = rng.random((56, 72, 3)).astype(np.float32)
    mask = np.zeros((56, 72), bool)
    mask[20:35, 30:50] = True
    clear_cache()
    first = inpaint_models.fill(image, mask, model=MODEL, weights=path, registry=models)
    clear_cache()
    second = inpaint_models.fill(image, mask, model=MODEL, weights=path, registry=models)
    np.testing.assert_array_equal(first, second)
    assert np.array_equal(first[~mask], image[~mask]) and not np.array_equal(first[mask], image[mask])
    loaded = loaded_model(models.info(MODEL), build_task, path, "cpu")
    for key, value in trainer.task.networks["autoencoder"].state_dict().items():
        assert torch.equal(value, loaded.task.networks["autoencoder"].state_dict()[key]), key
    trainer.task.eval_mode()
    crop, crop_mask = image[:32, :40], mask[:32, :40]
    np.testing.assert_array_equal(predict_array(trainer.task, crop, crop_mask, torch.device("cpu")),
                                  predict_array(loaded.task, crop, crop_mask, torch.device("cpu")))


def test_grey_and_rgba_images_fill_through_an_rgb_checkpoint(overfit, models):
    _trainer, path, _ = overfit
    rng = np.random.default_rng(2)
    mask = np.zeros((40, 40), bool)
    mask[10:20, 10:20] = True
    grey = (rng.random((40, 40)) * 65535).astype(np.uint16)
    out = inpaint_models.fill(grey, mask, model=MODEL, weights=path, registry=models)
    assert out.dtype == np.uint16 and np.array_equal(out[~mask], grey[~mask])
    rgba = rng.random((40, 40, 4)).astype(np.float32)
    out = inpaint_models.fill(rgba, mask, model=MODEL, weights=path, registry=models)
    assert np.array_equal(out[..., 3], rgba[..., 3])  # alpha is never inpainted


def test_attention_block_starts_as_identity():
    block = SelfAttention2d(16)
    assert block.gamma.item() == 0.0
    x = torch.randn(2, 16, 4, 5)
    assert torch.equal(block(x), x)
    block.gamma.data.fill_(1.0)
    assert not torch.allclose(block(x), x)


def test_network_shapes_and_options():
    net = Autoencoder(channels=3, depth=4, width=8, attention=True)
    masked, mask = torch.rand(2, 3, 48, 64), torch.zeros(2, 1, 48, 64)
    out = net(masked, mask)
    assert out.shape == (2, 3, 48, 64) and 0 <= out.min() and out.max() <= 1
    convs = [m for m in net.encoder.modules() if isinstance(m, torch.nn.Conv2d)]
    assert len(convs) == 8 and sum(c.stride == (2, 2) for c in convs) == 4  # report 004: 8 convs, 4 poolings
    assert isinstance(net.attention, SelfAttention2d)
    assert sum(isinstance(m, torch.nn.ConvTranspose2d) for m in net.decoder) == 4
    tanh = Autoencoder(channels=1, depth=2, width=4, mask_input=False, output="tanh")
    assert tanh(torch.rand(1, 1, 16, 16), torch.zeros(1, 1, 16, 16)).shape == (1, 1, 16, 16)
    with pytest.raises(ValueError, match="depth"):
        AutoencoderOptions(depth=0)


def test_weighted_loss():
    prediction, target = torch.rand(2, 3, 8, 8), torch.rand(2, 3, 8, 8)
    mask = (torch.rand(2, 1, 8, 8) > 0.5).float()
    assert torch.allclose(weighted_loss(prediction, target, mask, "mse", 1.0), torch.mean((prediction - target) ** 2))
    assert torch.allclose(weighted_loss(prediction, target, mask, "l1", 1.0), torch.mean((prediction - target).abs()))
    hole_only = weighted_loss(prediction, target, mask, "mse", 1e6)
    expected = (((prediction - target) ** 2) * mask).sum() / (mask.sum() * 3)
    assert torch.allclose(hole_only, expected, rtol=1e-3)
