"""The ``diffusion`` plugin: training through the shared trainer, EMA weights, fills, progress, cancel, seeds.

The core (schedule, network, loss, samplers) is tested in test_diffusion_core.py; here everything
goes through the public API (``inpaint_models.train`` / ``inpaint_models.fill``).
"""

from __future__ import annotations

import dataclasses
import math
import threading

import numpy as np
import pytest
import torch

import inpaint_models
from inpaint_models.contract.errors import Cancelled, ConfigError, OptionError, WeightsError
from inpaint_models.contract.options import FILL, declared_kind
from inpaint_models.contract.registry import make_registry
from inpaint_models.io.sidecar import read_sidecar
from inpaint_models.models.diffusion.plugin import DiffusionOptions
from inpaint_models.models.diffusion.task import DEFAULT_EMA_DECAY, build_task, with_default_ema
from inpaint_models.models.neural import clear_cache, loaded_model
from inpaint_models.training import TaskSpec, TrainSettings, load_config, quick_config
from inpaint_models.training.checkpoints import load_tensors

MODEL = "diffusion"


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    # the CPU is shared: keep these tests on one core
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="module")
def models():
    return make_registry(allowed=[MODEL])


@pytest.fixture(scope="module")
def run(tmp_path_factory, models):
    """A tiny model trained 6 steps at 32 px by ``inpaint_models.train`` (ema_decay left at 0), with a
    validation and a preview at the end (sampled with 4 DDIM steps)."""
    directory = tmp_path_factory.mktemp("diffusion")
    events = []
    config = quick_config(MODEL, directory, steps=6, options={"steps": 4},
                          train={"log_every": 1, "learning_rate": 2e-4, "validation_split": 0.25,
                                 "validate_every": 6, "preview_every": 6, "preview_images": 2})
    assert config["train"].get("ema_decay", 0.0) == 0.0
    path = inpaint_models.train(config, report=events.append, registry=models)
    return path, events


def _image(size: int = 32, channels: int = 3) -> np.ndarray:
    y, x = np.mgrid[0:size, 0:size] / size
    planes = [np.sin(3 * x + c) * np.cos(2 * y - c) for c in range(channels)]
    return ((np.stack(planes, -1) + 1) / 2).astype(np.float32)


def _mask(size: int = 32) -> np.ndarray:
    mask = np.zeros((size, size), bool)
    mask[12:20, 10:21] = True
    return mask


def _fill(models, path, image=None, mask=None, **kwargs):
    image = _image() if image is None else image
    mask = _mask() if mask is None else mask
    return inpaint_models.fill(image, mask, model=MODEL, weights=path, device="cpu", registry=models, **kwargs)


# --- training and EMA ----------------------------------------------------------------------------


def test_training_reports_finite_losses(run):
    _path, events = run
    losses = [e.losses["loss"] for e in events if e.phase == "train" and e.step > 0 and e.losses]
    assert losses and all(math.isfinite(v) for v in losses)
    assert events[-1].extra.get("cancelled") is False
    # validation and previews sample with the EMA weights through predict
    metrics = events[-1].extra["metrics"]
    assert math.isfinite(metrics["psnr_hole"]) and math.isfinite(metrics["ssim"])
    assert events[-1].preview_path is not None and events[-1].preview_path.is_file()


def test_the_run_keeps_an_ema_and_fill_samples_with_it(run, models):
    path, _ = run
    sidecar = read_sidecar(path, MODEL)
    assert sidecar["ema"] is True
    assert sidecar["config"]["train"]["ema_decay"] == DEFAULT_EMA_DECAY  # 0 (off) became the model's default
    assert sidecar["extra"]["unet"]["image_size"] == 32 and sidecar["extra"]["unet"]["base_channels"] == 32
    tensors = load_tensors(path)
    raw = {k[len("unet."):]: v for k, v in tensors.items() if k.startswith("unet.")}
    ema = {k[len("ema.unet."):]: v for k, v in tensors.items() if k.startswith("ema.unet.")}
    assert raw and raw.keys() == ema.keys()
    assert any(not torch.equal(raw[k], ema[k]) for k in raw), "the EMA never moved away from the raw weights"
    clear_cache()
    loaded = loaded_model(models.info(MODEL), build_task, path, "cpu", DiffusionOptions()).task.networks["unet"]
    state = loaded.state_dict()
    assert all(torch.equal(state[k], ema[k]) for k in ema)
    assert not all(torch.equal(state[k], raw[k]) for k in raw)


def test_an_explicit_ema_decay_is_kept(tmp_path, models):
    config = load_config(quick_config(MODEL, tmp_path, train={"ema_decay": 0.99}), registry=models)
    assert with_default_ema(config) is config
    off = dataclasses.replace(config, train=dataclasses.replace(config.train, ema_decay=0.0))
    assert with_default_ema(off).train.ema_decay == DEFAULT_EMA_DECAY and off.train.ema_decay == 0.0


def test_image_size_must_fit_the_preset():
    with pytest.raises(ConfigError, match="multiple of 4"):
        build_task(TaskSpec(options=DiffusionOptions(), channels=3, image_size=30, train=TrainSettings()))
    with pytest.raises(ConfigError, match="uncond_prob"):
        build_task(TaskSpec(options=DiffusionOptions(conditional=False), channels=3, image_size=32,
                            train=TrainSettings()))
    task = build_task(TaskSpec(options=DiffusionOptions(preset="base"), channels=1, image_size=64))
    assert task.size_multiple == 8 and task.networks["unet"].input_conv.in_channels == 3  # grey: 1 + 1 + 1


# --- fill ------------------------------------------------------------------------------------------


def test_model_info_and_fill_options(models):
    info = models.info(MODEL)
    assert info.trainable and info.channels == (1, 3) and info.size_multiple == 8 and info.min_size == 16
    fill_options = {f.name for f in dataclasses.fields(DiffusionOptions) if declared_kind(f) == FILL}
    assert fill_options == {"steps", "eta", "seed", "repaint", "jump_length", "resample_count", "conditional",
                            "strength"}
    assert DiffusionOptions().steps == 50 and DiffusionOptions().eta == 0.0 and DiffusionOptions().strength == 0.5


def test_trained_model_fills_without_nan(run, models):
    path, _ = run
    image, mask = _image(), _mask()
    out = _fill(models, path, image, mask, steps=5)
    assert out.dtype == np.float32 and np.isfinite(out).all()
    assert np.array_equal(out[~mask], image[~mask]) and not np.array_equal(out[mask], image[mask])
    assert 0.0 <= out.min() and out.max() <= 1.0
    grey = (_image(channels=1)[..., 0] * 65535).astype(np.uint16)
    out = _fill(models, path, grey, mask, steps=3, repaint=True, jump_length=1, resample_count=2)
    assert out.dtype == np.uint16 and np.array_equal(out[~mask], grey[~mask])


def test_one_progress_event_per_denoising_step(run, models):
    path, _ = run
    events = []
    _fill(models, path, steps=5, strength=1.0, progress=events.append)
    assert [(e.phase, e.step, e.total) for e in events] == [("fill", 0, 1)] + [("sample", i, 5) for i in range(1, 6)] + [("fill", 1, 1)]
    events.clear()
    _fill(models, path, steps=6, strength=1.0, repaint=True, jump_length=2, resample_count=2, progress=events.append)
    sample = [(e.step, e.total) for e in events if e.phase == "sample"]
    assert sample == [(i, 10) for i in range(1, 11)]  # 6 steps + 2 jumps of 2 re-denoised steps


def test_strength_starts_from_the_noised_smooth_fill(run, models):
    """SDEdit start: ceil(strength * steps) network calls, and at a tiny noise level the fill is the pre-fill."""
    from inpaint_models.models.prefill import smooth_fill

    path, _ = run
    events = []
    image, mask = _image(), _mask()
    out = _fill(models, path, image, mask, steps=10, strength=0.35, progress=events.append)
    assert [(e.step, e.total) for e in events if e.phase == "sample"] == [(i, 4) for i in range(1, 5)]
    assert np.array_equal(out[~mask], image[~mask]) and np.isfinite(out).all()
    # one step from t ~ 0: the untrained-ish network can barely move the (clipped) pre-fill
    low = _fill(models, path, image, mask, steps=1000, strength=0.001)
    hole = torch.from_numpy(mask.astype(np.float32))[None, None]
    tensor = torch.from_numpy(image.transpose(2, 0, 1))[None]
    expected = smooth_fill(tensor * (1 - hole), hole)[0].permute(1, 2, 0).numpy()
    assert np.abs(low[mask] - expected[mask]).max() < 0.05
    full = _fill(models, path, image, mask, steps=4, strength=1.0)
    assert np.abs(full[mask] - expected[mask]).mean() > np.abs(low[mask] - expected[mask]).mean()
    with pytest.raises(OptionError, match="strength"):
        _fill(models, path, strength=0.0)
    with pytest.raises(OptionError, match="strength"):
        _fill(models, path, strength=1.5)


@pytest.mark.parametrize("kind", ["callable", "event"])
def test_cancel_stops_sampling_between_steps(run, models, kind):
    path, _ = run
    steps = []
    stop = threading.Event()

    def progress(event):
        if event.phase == "sample":
            steps.append(event.step)
            if event.step == 3:
                stop.set()

    cancel = stop if kind == "event" else (lambda: len(steps) >= 3)
    with pytest.raises(Cancelled):
        _fill(models, path, steps=40, progress=progress, cancel=cancel)
    assert steps == [1, 2, 3]  # no network call after the cancel was seen


def test_same_seed_same_fill_other_seed_other_fill(run, models):
    path, _ = run
    mask = _mask()
    for options in ({}, {"eta": 1.0}):
        first = _fill(models, path, steps=4, seed=7, **options)
        clear_cache()  # reloaded from disk: still the same fill
        assert np.array_equal(first, _fill(models, path, steps=4, seed=7, **options))
        other = _fill(models, path, steps=4, seed=8, **options)
        assert np.abs(first[mask] - other[mask]).max() > 1e-3
        assert np.array_equal(first[~mask], other[~mask])


def test_bad_options_are_rejected_clearly(run, models):
    path, _ = run
    with pytest.raises(OptionError, match="steps must be between 1 and 1000"):
        _fill(models, path, steps=0)
    with pytest.raises(OptionError, match="eta"):
        _fill(models, path, eta=-0.5)
    # the weights fix the architecture: a fill may not set it, to any value (the checkpoint's is used)
    for preset in ("huge", "base", "tiny"):
        with pytest.raises(OptionError, match="option 'preset' of model 'diffusion' is fixed by the weights"):
            _fill(models, path, preset=preset)
    with pytest.raises(OptionError, match="option 'uncond_prob' of model 'diffusion' is used only in training"):
        _fill(models, path, uncond_prob=0.1)
    with pytest.raises(OptionError, match="its fill options are: steps, eta, seed"):
        _fill(models, path, hole_weight=2.0)
    with pytest.raises(WeightsError, match="uncond_prob"):
        _fill(models, path, conditional=False)
