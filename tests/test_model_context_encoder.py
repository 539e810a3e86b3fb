"""The ``context-encoder`` model: paper architecture, GAN variants, over-fitting, round trip, 128 px fills."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import inpaint_models
from inpaint_models.contract.registry import make_registry
from inpaint_models.models.context_encoder.network import ContextEncoder, Discriminator
from inpaint_models.models.context_encoder.plugin import ContextEncoderOptions
from inpaint_models.models.context_encoder.task import build_task
from inpaint_models.models.layers import SelfAttention2d
from inpaint_models.models.neural import clear_cache, loaded_model, predict_array
from inpaint_models.training import TaskSpec, Trainer, TrainSettings, load_config, quick_config

MODEL = "context-encoder"
SMALL = {"width": 16, "bottleneck": 64}


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


def run(directory, models, steps, options, **train):
    losses: list[dict] = []
    config = quick_config(MODEL, directory, steps=steps, options=options,
                          train={"batch_size": 4, "log_every": 1, "crop_scale": [1.0, 1.0], "flip": False,
                                 "checkpoint_every": steps, **train})
    trainer = Trainer(load_config(config, registry=models), build_task,
                      lambda event: losses.append(event.losses) if event.step > 0 and event.losses else None)
    return trainer, trainer.run(), losses


@pytest.fixture(scope="module")
def overfit(tmp_path_factory, models):
    return run(tmp_path_factory.mktemp("overfit"), models, 40, {**SMALL, "attention": True},
               learning_rate=2e-3, discriminator_learning_rate=2e-4)


def test_reconstruction_loss_falls_when_overfitting_four_images(overfit):
    _trainer, _path, losses = overfit
    reconstruction = [entry["reconstruction"] for entry in losses]
    assert len(reconstruction) >= 40 and {"loss_d", "loss_adv", "loss_g"} <= set(losses[-1])
    assert np.mean(reconstruction[-5:]) < 0.7 * np.mean(reconstruction[:5])


def test_checkpoint_round_trip_gives_identical_fills(overfit, models):
    trainer, path, _ = overfit
    rng = np.random.default_rng(3)
    image = rng.random((200, 150, 3)).astype(np.float32)
    mask = np.zeros((200, 150), bool)
    mask[80:120, 60:100] = True
    clear_cache()
    first = inpaint_models.fill(image, mask, model=MODEL, weights=path, registry=models)
    clear_cache()
    second = inpaint_models.fill(image, mask, model=MODEL, weights=path, registry=models)
    np.testing.assert_array_equal(first, second)
    assert np.array_equal(first[~mask], image[~mask])
    loaded = loaded_model(models.info(MODEL), build_task, path, "cpu")
    assert set(loaded.task.networks) == {"generator"}  # fill needs no discriminator
    generator = trainer.task.networks["generator"]
    for key, value in generator.state_dict().items():
        assert torch.equal(value, loaded.task.networks["generator"].state_dict()[key]), key
    trainer.task.eval_mode()
    crop, crop_mask = image[60:92, 50:82], mask[60:92, 50:82]
    np.testing.assert_array_equal(predict_array(trainer.task, crop, crop_mask, torch.device("cpu")),
                                  predict_array(loaded.task, crop, crop_mask, torch.device("cpu")))


def test_the_hole_is_prefilled_with_the_dataset_mean(overfit):
    trainer, _path, _ = overfit
    fill_value = trainer.task.networks["generator"].fill_value
    assert fill_value.shape == (3,) and not torch.allclose(fill_value, torch.full((3,), 0.5))
    image, mask = torch.zeros(1, 3, 32, 32), torch.zeros(1, 1, 32, 32)
    mask[..., 8:16, 8:16] = 1
    given = trainer.task._input(image, mask)
    assert torch.allclose(given[0, :, 10, 10], fill_value * 2 - 1) and torch.all(given[0, :, 0, 0] == -1)


def test_paper_architecture_at_128():
    generator = ContextEncoder(channels=3, size=128)  # width 64, bottleneck 4000
    x = torch.randn(2, 3, 128, 128)
    code = generator.encoder(x)
    assert code.shape == (2, 4000, 1, 1)
    encoder_convs = [m for m in generator.encoder if isinstance(m, torch.nn.Conv2d)]
    assert [c.out_channels for c in encoder_convs] == [64, 64, 128, 256, 512, 4000]
    assert not isinstance(generator.encoder[1], torch.nn.BatchNorm2d)  # no BN after the first conv
    generator.eval()
    out = generator(x)
    assert out.shape == (2, 3, 128, 128) and out.abs().max() <= 1
    discriminator = Discriminator(channels=3, size=128)
    assert discriminator(x).shape == (2,)
    weights = encoder_convs[2].weight
    assert abs(weights.std().item() - 0.02) < 0.003  # N(0, 0.02) init
    attention = ContextEncoder(channels=3, size=128, width=8, bottleneck=16, attention=True)
    blocks = [m for m in attention.decoder if isinstance(m, SelfAttention2d)]
    assert len(blocks) == 1


def test_variants_ddg_and_plain_l2(tmp_path, models):
    spec = TaskSpec(ContextEncoderOptions(adversarial_weight=0.0, **SMALL), 3, 32, TrainSettings())
    task = build_task(spec)
    assert set(task.networks) == {"generator"} and set(task.configure_optimizers(TrainSettings())) == {"generator"}
    _trainer, _path, losses = run(tmp_path, models, 3, {**SMALL, "reconstruction_weight": 0.0})  # GAN-DDG
    assert losses[-1]["loss_g"] == pytest.approx(0.001 * losses[-1]["loss_adv"], rel=1e-5)


def test_batch_norm_needs_two_images_per_batch(tmp_path, models):
    from inpaint_models.contract.errors import ConfigError

    with pytest.raises(ConfigError, match="batch_size of at least 2"):
        run(tmp_path, models, 1, SMALL, batch_size=1)


def test_native_size_is_128(models):
    assert models.info(MODEL).native_size == 128
