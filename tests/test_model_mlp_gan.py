"""The ``mlp-gan`` model (report 002): fully connected networks, three losses, over-fitting, round trip."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import inpaint_models
from inpaint_models.contract.registry import make_registry
from inpaint_models.models.mlp_gan.network import MLPDiscriminator, MLPGenerator, RepairGenerator
from inpaint_models.models.mlp_gan.task import build_task
from inpaint_models.models.neural import clear_cache, loaded_model, predict_array
from inpaint_models.training import Trainer, load_config, quick_config

MODEL = "mlp-gan"


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread():
    """One intra-op thread: tiny CPU networks run several times faster than with 2 on a shared machine."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="module")
def models():
    return make_registry(allowed=[MODEL])


@pytest.fixture(scope="module")
def overfit(tmp_path_factory, models):
    losses: list[dict] = []
    config = quick_config(MODEL, tmp_path_factory.mktemp("overfit"), steps=40, options={"width": 64},
                          train={"batch_size": 4, "log_every": 1, "crop_scale": [1.0, 1.0], "flip": False,
                                 "learning_rate": 1e-3, "checkpoint_every": 40})
    trainer = Trainer(load_config(config, registry=models), build_task,
                      lambda event: losses.append(event.losses) if event.step > 0 and event.losses else None)
    return trainer, trainer.run(), losses


def test_repair_loss_falls_when_overfitting_four_images(overfit):
    _trainer, _path, losses = overfit
    assert {"loss_d", "loss_g", "loss_repair"} <= set(losses[-1])
    repair = [entry["loss_repair"] for entry in losses]
    assert np.mean(repair[-5:]) < 0.7 * np.mean(repair[:5])


def test_checkpoint_round_trip_gives_identical_fills(overfit, models):
    trainer, path, _ = overfit
    rng = np.random.default_rng(4)
    image = rng.random((64, 64, 3)).astype(np.float32)
    mask = np.zeros((64, 64), bool)
    mask[20:30, 25:40] = True
    clear_cache()
    first = inpaint_models.fill(image, mask, model=MODEL, weights=path, registry=models)
    clear_cache()
    second = inpaint_models.fill(image, mask, model=MODEL, weights=path, registry=models)
    np.testing.assert_array_equal(first, second)
    assert np.array_equal(first[~mask], image[~mask])
    loaded = loaded_model(models.info(MODEL), build_task, path, "cpu")
    assert set(loaded.task.networks) == {"repair"}
    for key, value in trainer.task.networks["repair"].state_dict().items():
        assert torch.equal(value, loaded.task.networks["repair"].state_dict()[key]), key
    trainer.task.eval_mode()
    crop, crop_mask = image[10:42, 15:47], mask[10:42, 15:47]
    np.testing.assert_array_equal(predict_array(trainer.task, crop, crop_mask, torch.device("cpu")),
                                  predict_array(loaded.task, crop, crop_mask, torch.device("cpu")))


def test_networks_are_fully_connected_as_in_report_002():
    generator = MLPGenerator(latent_size=100, channels=3, size=32, width=256)
    linear = [m for m in generator.modules() if isinstance(m, torch.nn.Linear)]
    assert [m.out_features for m in linear] == [256, 512, 1024, 3 * 32 * 32]  # increasing, then the image
    assert sum(isinstance(m, torch.nn.LeakyReLU) for m in generator.modules()) == 3
    assert sum(isinstance(m, torch.nn.BatchNorm1d) for m in generator.modules()) == 3
    assert isinstance(generator.layers[-1], torch.nn.Tanh)
    generator.eval()
    assert generator(torch.randn(2, 100)).shape == (2, 3, 32, 32)
    discriminator = MLPDiscriminator(channels=3, size=32, width=256)
    discriminator.eval()
    probability = discriminator.probability(torch.rand(2, 3, 32, 32) * 2 - 1)
    assert probability.shape == (2,) and torch.all((0 < probability) & (probability < 1))
    repair = RepairGenerator(channels=3, size=32, width=256)
    assert repair.layers[0].in_features == 4 * 32 * 32  # damaged image + mask
    for network in (generator, discriminator, repair):
        assert not any(isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d)) for m in network.modules())


def test_batch_norm_needs_two_images_per_batch(tmp_path, models):
    from inpaint_models.contract.errors import ConfigError

    with pytest.raises(ConfigError, match="batch_size of at least 2"):
        inpaint_models.train(quick_config(MODEL, tmp_path, steps=1, train={"batch_size": 1}), registry=models)


def test_native_size_is_small(models):
    assert models.info(MODEL).native_size == 32
