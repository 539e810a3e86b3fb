"""The ``deepfill`` model on the shared trainer: 5 critic steps per generator step, over-fitting,
input variants, fills at odd sizes and the attention map for display."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import pytest
import torch

import inpaint_models
from inpaint_models.contract.errors import ConfigError, OptionError
from inpaint_models.contract.registry import make_registry
from inpaint_models.io.examples import example_path
from inpaint_models.io.sidecar import read_sidecar
from inpaint_models.models.deepfill.plugin import DeepFillOptions
from inpaint_models.models.deepfill.task import DeepFillTask, build_task
from inpaint_models.models.neural import clear_cache
from inpaint_models.training import TaskSpec, Trainer, TrainSettings, load_config, quick_config

torch.set_num_threads(1)
MODEL = "deepfill"


@pytest.fixture(scope="module")
def models():
    return make_registry(allowed=[MODEL])


def _train(directory, models, steps, options, factory=build_task, **train):
    config = quick_config(MODEL, directory, steps=steps, options={"width": "tiny", **options},
                          train={"batch_size": 2, "log_every": 1, "crop_scale": [1.0, 1.0], "flip": False,
                                 "checkpoint_every": steps, **train})
    events = []
    trainer = Trainer(load_config(config, registry=models), factory, events.append)
    path = trainer.run()
    first: dict = {}
    for event in events:
        if event.step > 0 and event.losses:
            first.setdefault(event.step, event)
    return trainer, path, [first[step] for step in sorted(first)]


class CountingTask(DeepFillTask):
    """Counts optimiser steps (in order) and batches drawn."""

    calls: ClassVar[list] = []

    def configure_optimizers(self, settings):
        optimizers = super().configure_optimizers(settings)
        for name, optimizer in optimizers.items():
            optimizer.register_step_post_hook(lambda *_, name=name: CountingTask.calls.append(name))
        return optimizers


@pytest.fixture(scope="module")
def wgan_run(tmp_path_factory, models):
    CountingTask.calls = []
    return _train(tmp_path_factory.mktemp("wgan"), models, 3, {}, factory=CountingTask)


def test_five_critic_steps_per_generator_step(wgan_run):
    trainer, path, events = wgan_run
    assert CountingTask.calls == (["critics"] * 5 + ["generator"]) * 3
    assert trainer._batches_drawn == 3 * 6  # each critic step and each generator step on a fresh batch
    assert {"critic_wgan", "gradient_penalty", "adversarial", "coarse_l1", "refine_l1"} <= set(events[-1].losses)
    assert all(np.isfinite(v) for v in events[-1].losses.values())
    sidecar = read_sidecar(path, MODEL)
    assert sidecar["extra"]["critic_steps_per_generator_step"] == 5 and sidecar["extra"]["task"] == "inpainting"


def test_reconstruction_loss_falls_when_overfitting_four_images(tmp_path, models):
    # L1 terms only (adversarial_weight = 0: no critics) so 50 quick steps show the generator learning
    # (a new random hole every step: measured ratio about 0.5)
    _trainer, _path, events = _train(tmp_path, models, 50, {"width": "quarter", "adversarial_weight": 0.0},
                                     batch_size=4, learning_rate=2e-3)
    losses = [event.losses["loss_g"] for event in events]
    assert len(losses) == 50 and "critic_wgan" not in events[-1].losses
    assert np.mean(losses[-5:]) < 0.7 * np.mean(losses[:5])
    assert np.mean(losses[-10:]) < np.mean(losses[10:20])  # still falling


def test_fill_at_odd_sizes(wgan_run, models):
    _trainer, path, _ = wgan_run
    rng = np.random.default_rng(0)
    image = rng.random((45, 51, 3)).astype(np.float32)  # padded to multiples of 8 inside
    mask = np.zeros((45, 51), bool)
    mask[10:22, 15:33] = True
    clear_cache()
    out = inpaint_models.fill(image, mask, model=MODEL, weights=path, registry=models)
    assert out.shape == image.shape and np.array_equal(out[~mask], image[~mask]) and np.isfinite(out).all()


def test_hole_ns_fills_and_mosaic_is_refused_at_fill(tmp_path, models):
    rng = np.random.default_rng(1)
    image = rng.random((32, 40, 3)).astype(np.float32)
    mask = np.zeros((32, 40), bool)
    mask[8:20, 8:24] = True
    for variant in ("hole_ns", "mosaic"):
        _trainer, path, _ = _train(tmp_path / variant, models, 1, {"variant": variant, "critic_steps": 1})
        if variant == "mosaic":
            assert read_sidecar(path, MODEL)["extra"]["task"].startswith("deblurring")
            with pytest.raises(OptionError, match="deblurring"):
                inpaint_models.fill(image, mask, model=MODEL, weights=path, registry=models)
        else:
            out = inpaint_models.fill(image, mask, model=MODEL, weights=path, registry=models)
            assert np.array_equal(out[~mask], image[~mask])


def test_mosaic_needs_validation_and_previews_off():
    spec = TaskSpec(DeepFillOptions(width="tiny", variant="mosaic"), 3, 32, TrainSettings(image_size=32))
    with pytest.raises(ConfigError, match="validate_every = 0"):
        build_task(spec)
    settings = TrainSettings(image_size=32, validate_every=0, preview_every=0)
    task = build_task(TaskSpec(DeepFillOptions(width="tiny", variant="mosaic"), 3, 32, settings))
    image, mask = torch.rand(1, 3, 32, 32), torch.zeros(1, 1, 32, 32)
    mask[..., 8:24, 8:24] = 1
    assert task.complete(image, mask).shape == (1, 3, 32, 32)  # evaluation with the original pixels
    with pytest.raises(OptionError, match="deblurring"):
        task.predict(image * (1 - mask), mask)


def test_paper_settings_in_the_gpu_config():
    config = load_config(example_path("deepfill-gpu"), overrides={"train.data": ["."]})
    o = config.model
    assert (o.width, o.critic_steps, o.gamma, o.adversarial_weight, o.gradient_penalty) == ("paper", 5, 0.9, 0.001,
                                                                                           10.0)
    assert config.train.learning_rate == 1e-4 and config.train.image_size == 256
    assert load_config(example_path("deepfill-cpu"), overrides={"train.data": ["."]}).train.device == "cpu"
    critics = build_task(TaskSpec(DeepFillOptions(), 3, 256, TrainSettings(image_size=256))).networks["critics"]
    assert critics.local_size == 128 and critics.image_size == 256
