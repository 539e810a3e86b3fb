"""The ``glcic`` model on the shared trainer: three phases, who is updated when, over-fitting, fills."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import pytest
import torch

import inpaint_models
from inpaint_models.contract.errors import ConfigError
from inpaint_models.contract.registry import make_registry
from inpaint_models.io.examples import example_path
from inpaint_models.io.sidecar import read_sidecar
from inpaint_models.models.glcic.plugin import GLCICOptions
from inpaint_models.models.glcic.task import GLCICTask, build_task
from inpaint_models.models.neural import clear_cache
from inpaint_models.training import TaskSpec, Trainer, TrainSettings, load_config, quick_config

torch.set_num_threads(1)
MODEL = "glcic"
T_C, T_D, STEPS = 24, 3, 30


@pytest.fixture(scope="module")
def models():
    return make_registry(allowed=[MODEL])


class SpyTask(GLCICTask):
    """Records, per step, the phase and which networks' parameters / BatchNorm statistics changed."""

    def train_step(self, batch, ctx):
        before = {name: {k: v.detach().clone() for k, v in net.state_dict().items()}
                  for name, net in self.networks.items()}
        losses = super().train_step(batch, ctx)
        changed = {}
        for name, net in self.networks.items():
            state = net.state_dict()
            params = {k for k, _ in net.named_parameters()}
            changed[name] = any(not torch.equal(before[name][k], state[k]) for k in params)
            changed[f"{name}_stats"] = any(not torch.equal(before[name][k], state[k])
                                           for k in state if "running" in k)
        self.record.append((ctx.step, ctx.phase, changed))
        return losses

    record: ClassVar[list] = []


@pytest.fixture(scope="module")
def run(tmp_path_factory, models):
    """T_C = 24 completion steps, T_D = 3 discriminator steps, then 3 joint steps, on 4 images."""
    directory = tmp_path_factory.mktemp("glcic")
    config = quick_config(MODEL, directory, steps=STEPS,
                          options={"width": "quarter", "completion_steps": T_C, "discriminator_steps": T_D},
                          train={"batch_size": 4, "log_every": 1, "crop_scale": [1.0, 1.0], "flip": False,
                                 "learning_rate": 3e-3, "checkpoint_every": STEPS})
    events = []
    SpyTask.record = []
    trainer = Trainer(load_config(config, registry=models), SpyTask, events.append)
    path = trainer.run()
    return trainer, path, [e for e in events if e.step > 0 and e.losses]


def test_phases_show_up_in_progress_events_and_the_sidecar(run):
    _trainer, path, events = run
    stages: dict[int, str] = {}
    for event in events:  # the first event of each step (the trainer's final "finished" event says "train")
        stages.setdefault(event.step, event.extra["stage"])
    assert [stages[s] for s in (1, T_C)] == ["completion"] * 2
    assert [stages[s] for s in range(T_C + 1, T_C + T_D + 1)] == ["discriminator"] * T_D
    assert [stages[s] for s in range(T_C + T_D + 1, STEPS + 1)] == ["joint"] * (STEPS - T_C - T_D)
    assert set(events[-1].losses) >= {"loss_d", "gan", "mse", "loss_c"}
    sidecar = read_sidecar(path, MODEL)
    assert sidecar["phase"] == "joint" and sidecar["options"]["completion_steps"] == T_C


def test_each_phase_updates_only_its_networks(run):
    record = SpyTask.record
    assert len(record) == STEPS
    for step, phase, changed in record:
        if phase == "completion":
            assert changed["completion"] and not changed["discriminator"], step
            assert not changed["discriminator_stats"], step
        elif phase == "discriminator":
            # C frozen: neither its weights nor its BatchNorm statistics move
            assert changed["discriminator"] and not changed["completion"], step
            assert not changed["completion_stats"], step
        else:
            assert changed["completion"] and changed["discriminator"], step


def test_masked_mse_falls_when_overfitting_four_images(run):
    _trainer, _path, events = run
    mse = [event.losses["mse"] for event in events if event.extra["stage"] == "completion"]
    assert len(mse) == T_C
    assert np.mean(mse[-4:]) < 0.7 * np.mean(mse[:4])  # measured about 0.5 (a new random hole every step)


def test_mean_pixel_fill_and_fills_at_odd_sizes(run, models):
    trainer, path, _ = run
    mean = trainer.task.networks["completion"].mean_pixel
    assert not torch.allclose(mean, torch.full((3,), 0.5))  # the dataset mean, saved with the weights
    rng = np.random.default_rng(0)
    image = rng.random((45, 51, 3)).astype(np.float32)  # neither side a multiple of 4
    mask = np.zeros((45, 51), bool)
    mask[12:25, 20:37] = True
    clear_cache()
    plain = inpaint_models.fill(image, mask, model=MODEL, weights=path, registry=models)
    blended = inpaint_models.fill(image, mask, model=MODEL, weights=path, registry=models, postprocess=True)
    for out in (plain, blended):
        assert out.shape == image.shape and np.array_equal(out[~mask], image[~mask])
        assert np.isfinite(out).all() and 0 <= out.min() and out.max() <= 1
    assert not np.array_equal(plain[mask], blended[mask])  # Telea + Poisson blending changed the hole
    grey = (image[..., 0] * 65535).astype(np.uint16)
    out = inpaint_models.fill(grey, mask, model=MODEL, weights=path, registry=models, postprocess=True)
    assert out.dtype == np.uint16 and np.array_equal(out[~mask], grey[~mask])


def test_discriminator_is_built_only_when_the_run_reaches_it():
    settings = TrainSettings(steps=5, image_size=32, batch_size=1)
    task = build_task(TaskSpec(GLCICOptions(width="tiny", completion_steps=5), 3, 32, settings))
    assert set(task.networks) == {"completion"} and set(task.configure_optimizers(settings)) == {"completion"}
    with pytest.raises(ConfigError, match="batch_size of at least 2"):
        build_task(TaskSpec(GLCICOptions(width="tiny", completion_steps=2), 3, 32, settings))
    with pytest.raises(ConfigError, match="multiple of 4"):
        build_task(TaskSpec(GLCICOptions(width="tiny"), 3, 30, TrainSettings(image_size=30)))
    fill_task = build_task(TaskSpec(GLCICOptions(), 3, 256))  # fill: the completion network only
    assert set(fill_task.networks) == {"completion"}
    assert sum(p.numel() for p in fill_task.networks["completion"].parameters()) == pytest.approx(6.07e6, rel=2e-3)
    assert fill_task.phase(1) == "completion" and fill_task.phase(90001) == "discriminator"
    assert fill_task.phase(100001) == "joint"


def test_gpu_config_follows_the_paper():
    config = load_config(example_path("glcic-gpu"), overrides={"train.data": ["."]})
    o = config.model
    assert (o.width, o.completion_steps, o.discriminator_steps, o.alpha) == ("paper", 90000, 10000, 4e-4)
    assert config.train.steps == 500000 and config.train.image_size == 256
    cpu = load_config(example_path("glcic-cpu"), overrides={"train.data": ["."]})
    assert cpu.train.device == "cpu" and cpu.model.completion_steps + cpu.model.discriminator_steps < cpu.train.steps
