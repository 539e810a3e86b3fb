"""The ``pconv-unet`` model on the shared trainer: levels, losses, the fine-tune stage, fills."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import pytest
import torch

import inpaint_models
from inpaint_models.contract.errors import ConfigError, OptionError
from inpaint_models.contract.registry import make_registry
from inpaint_models.io.sidecar import read_sidecar
from inpaint_models.models.neural import clear_cache
from inpaint_models.models.pconv_unet.plugin import PConvUNetOptions
from inpaint_models.models.pconv_unet.task import PConvUNetTask, build_task
from inpaint_models.training import TaskSpec, Trainer, TrainSettings, load_config, quick_config

torch.set_num_threads(1)
MODEL = "pconv-unet"
STAGE_1, STEPS = 24, 30


@pytest.fixture(scope="module")
def models():
    return make_registry(allowed=[MODEL])


class SpyTask(PConvUNetTask):
    """Records, per step, the stage and whether encoder BatchNorm / other weights changed."""

    record: ClassVar[list] = []

    def train_step(self, batch, ctx):
        unet = self.networks["unet"]
        bn_keys = [k for k in unet.state_dict() if k.startswith("encoder.") and ".bn." in k]
        before = {k: v.detach().clone() for k, v in unet.state_dict().items()}
        losses = super().train_step(batch, ctx)
        state = unet.state_dict()
        others = [k for k, _ in unet.named_parameters() if k not in bn_keys]
        self.record.append((ctx.step, ctx.phase,
                            any(not torch.equal(before[k], state[k]) for k in bn_keys),
                            any(not torch.equal(before[k], state[k]) for k in others)))
        return losses


@pytest.fixture(scope="module")
def run(tmp_path_factory, models):
    """24 steps at lr 2e-3, then 6 fine-tune steps at 5e-5 with encoder BatchNorm frozen, 4 images at 32 px."""
    directory = tmp_path_factory.mktemp("pconv")
    config = quick_config(MODEL, directory, steps=STEPS,
                          options={"width": "quarter", "finetune_after": STAGE_1},
                          train={"batch_size": 4, "log_every": 1, "crop_scale": [1.0, 1.0], "flip": False,
                                 "learning_rate": 2e-3, "checkpoint_every": STEPS, "mask": "strokes"})
    events = []
    SpyTask.record = []
    trainer = Trainer(load_config(config, registry=models), SpyTask, events.append)
    path = trainer.run()
    first: dict = {}
    for event in events:  # one event per step (the trainer's final "finished" event says stage "train")
        if event.step > 0 and event.losses:
            first.setdefault(event.step, event)
    return trainer, path, [first[step] for step in sorted(first)]


def test_loss_falls_when_overfitting_four_images(run):
    _trainer, _path, events = run
    losses = [e.losses["loss"] for e in events if e.extra["stage"] == "train"]
    assert len(losses) == STAGE_1 and {"valid", "hole", "tv"} <= set(events[-1].losses)
    assert "perceptual" not in events[-1].losses  # no VGG16 weights: not computed, not faked
    assert np.mean(losses[-4:]) < 0.6 * np.mean(losses[:4])


def test_finetune_stage_freezes_encoder_batchnorm_at_5e_5(run):
    trainer, path, events = run
    first = {event.step: event for event in events}
    assert [first[s].extra["stage"] for s in (STAGE_1, STAGE_1 + 1, STEPS)] == ["train", "finetune", "finetune"]
    assert first[STAGE_1].learning_rate == pytest.approx(2e-3)
    assert first[STAGE_1 + 1].learning_rate == pytest.approx(5e-5)
    for step, stage, bn_changed, others_changed in SpyTask.record:
        assert others_changed, step
        assert bn_changed == (stage == "train"), step  # frozen: neither statistics nor affine weights move
    unet = trainer.task.networks["unet"]
    assert unet.encoder_bn_frozen and unet.training
    assert all(not block.bn.training for block in unet.encoder if block.bn is not None)
    assert all(block.bn.training for block in unet.decoder if block.bn is not None)
    sidecar = read_sidecar(path, MODEL)
    assert sidecar["phase"] == "finetune" and sidecar["extra"]["encoder_bn_frozen"]
    assert set(sidecar["extra"]["unavailable_loss_terms"]) == {"perceptual", "style"}


def test_fills_at_odd_sizes_through_the_checkpoints_level_count(run, models):
    _trainer, path, _ = run
    rng = np.random.default_rng(0)
    image = rng.random((37, 53, 3)).astype(np.float32)  # 4 levels: padded to multiples of 16 inside
    mask = np.zeros((37, 53), bool)
    mask[10:20, 5:30] = True
    mask[30, :] = True  # a free-form line
    clear_cache()
    out = inpaint_models.fill(image, mask, model=MODEL, weights=path, registry=models)
    assert out.shape == image.shape and np.array_equal(out[~mask], image[~mask])
    assert np.isfinite(out).all() and not np.array_equal(out[mask], image[mask])
    grey = (image[..., 1] * 255).astype(np.uint8)
    out = inpaint_models.fill(grey, mask, model=MODEL, weights=path, registry=models)
    assert out.shape == grey.shape and np.array_equal(out[~mask], grey[~mask])


def test_levels_follow_the_image_size():
    for size, levels in ((32, 4), (64, 5), (256, 7), (512, 8)):
        task = build_task(TaskSpec(PConvUNetOptions(width="tiny"), 3, size))
        assert task.networks["unet"].layers == levels and task.size_multiple == 2**levels
    assert build_task(TaskSpec(PConvUNetOptions(width="tiny", layers=3), 3, 256)).size_multiple == 8
    with pytest.raises(ConfigError, match="power of two"):
        build_task(TaskSpec(PConvUNetOptions(width="tiny"), 3, 96))


def test_mse_option_and_vgg_weights(tmp_path):
    settings = TrainSettings(image_size=32)
    mse = build_task(TaskSpec(PConvUNetOptions(width="tiny", loss="mse"), 3, 32, settings))
    output, target = torch.rand(2, 3, 32, 32), torch.rand(2, 3, 32, 32)
    mask = torch.zeros(2, 1, 32, 32)
    mask[..., 4:12, 4:20] = 1
    torch.testing.assert_close(mse.loss(output, target, mask)["total"], ((output - target) ** 2).mean())
    with pytest.raises(ValueError, match="mse"):
        PConvUNetOptions(loss="mse", vgg_weights=tmp_path / "vgg16.pth")
    with pytest.raises(ConfigError, match="not found"):
        build_task(TaskSpec(PConvUNetOptions(width="tiny", vgg_weights=tmp_path / "missing.pth"), 3, 32, settings))
    # a VGG16-shaped state_dict (random weights) switches the perceptual and style terms on
    generator = torch.Generator().manual_seed(0)
    state, c_in = {}, 3
    for index, c_out in ((0, 64), (2, 64), (5, 128), (7, 128), (10, 256), (12, 256), (14, 256)):
        state[f"features.{index}.weight"] = torch.randn(c_out, c_in, 3, 3, generator=generator) * 0.05
        state[f"features.{index}.bias"] = torch.zeros(c_out)
        c_in = c_out
    torch.save(state, tmp_path / "vgg16.pth")
    task = build_task(TaskSpec(PConvUNetOptions(width="tiny", vgg_weights=tmp_path / "vgg16.pth"), 3, 32, settings))
    assert task.unavailable == {} and task.extra_state()["unavailable_loss_terms"] == {}
    terms = task.loss(output, target, mask)
    assert terms["perceptual"] > 0 and terms["style"] > 0


def test_fill_options_that_contradict_the_checkpoint_are_refused(run, models):
    _trainer, path, _ = run
    image = np.zeros((32, 32, 3), np.float32)
    mask = np.zeros((32, 32), bool)
    mask[8:16, 8:16] = True
    with pytest.raises(OptionError, match="option 'width' of model 'pconv-unet' is fixed by the weights"):
        inpaint_models.fill(image, mask, model=MODEL, weights=path, registry=models, width="half")
