"""The shared trainer: events, validation, previews, checkpoints, resume, cancel, kill, EMA, weights errors."""

from __future__ import annotations

import json
import os
import pickle
import signal
import subprocess
import sys
import textwrap
import threading
import time

import numpy as np
import pytest
import torch

import inpaint_models
from inpaint_models.contract.datatypes import ProgressEvent
from inpaint_models.contract.errors import ConfigError, MissingWeightsError, OptionError, WeightsError
from inpaint_models.contract.registry import make_registry
from inpaint_models.io.sidecar import read_sidecar
from inpaint_models.models.autoencoder.task import build_task as autoencoder_task
from inpaint_models.models.neural import clear_cache, predict_array
from inpaint_models.training import Trainer, load_config, load_tensors, quick_config
from inpaint_models.training.checkpoints import CheckpointFiles, complete_checkpoints

TRAINABLE = ("autoencoder", "context-encoder", "mlp-gan")
SMALL = {"autoencoder": {"depth": 2, "width": 8}, "context-encoder": {"width": 8, "bottleneck": 32},
         "mlp-gan": {"width": 16, "latent_size": 8}}


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread():
    """One intra-op thread: tiny CPU networks run several times faster than with 2 on a shared machine."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="module")
def models():
    return make_registry(allowed=list(TRAINABLE))


def image_and_mask(size: int = 40):
    rng = np.random.default_rng(5)
    image = rng.random((size, size, 3)).astype(np.float32)
    mask = np.zeros((size, size), bool)
    mask[10:22, 12:25] = True
    return image, mask


def test_a_run_reports_validates_previews_and_checkpoints(tmp_path, models):
    events: list[ProgressEvent] = []
    config = quick_config("autoencoder", tmp_path, steps=6, options=SMALL["autoencoder"], images=6, train={
        "validation_split": 0.3, "validate_every": 3, "preview_every": 3, "checkpoint_every": 2, "keep_last": 2,
        "log_every": 1, "grad_clip": 1.0, "lr_schedule": "cosine", "warmup_steps": 2, "log_format": "csv",
    })
    path = inpaint_models.train(config, report=events.append, registry=models)
    run = tmp_path / "run"
    assert path == run / "checkpoints" / "step_00000006.safetensors"
    # keep_last = 2, plus the best weights
    assert [step for step, _ in complete_checkpoints(run / "checkpoints")] == [4, 6]
    assert (run / "checkpoints" / "best.safetensors").is_file() and (run / "checkpoints" / "best.json").is_file()
    assert sorted(p.name for p in (run / "previews").iterdir()) == ["step_00000003.png", "step_00000006.png"]
    assert json.loads((run / "config.json").read_text())["train"]["steps"] == 6
    steps = [e.step for e in events]
    assert steps[0] == 0 and steps[-1] == 6 and set(range(1, 7)) <= set(steps)
    last = events[-2]
    assert last.phase == "train" and last.total == 6
    assert set(last.losses) >= {"loss", "grad_norm_autoencoder"}
    assert last.images_per_second > 0 and last.eta_seconds is not None and last.learning_rate is not None
    assert last.preview_path == run / "previews" / "step_00000006.png"
    assert last.checkpoint_path == path
    assert events[-1].extra["cancelled"] is False and "psnr_hole" in events[-1].extra["metrics"]
    lrs = [e.learning_rate for e in events[1:-1]]
    assert lrs[0] < max(lrs) and lrs[-1] < max(lrs)  # warm-up then cosine decay
    sidecar = read_sidecar(path, "autoencoder")
    assert sidecar["step"] == 6 and sidecar["options"]["depth"] == 2 and "psnr" in sidecar["metrics"]
    assert {"torch", "numpy", "safetensors", "inpaint_models"} <= set(sidecar["versions"])
    assert sidecar["config"]["train"]["steps"] == 6
    log = (run / "metrics.csv").read_text()
    assert "validation" in log and "psnr_hole" in log and "train_images" in log


def test_resume_continues_the_step_count(tmp_path, models):
    config = quick_config("mlp-gan", tmp_path, steps=4, options=SMALL["mlp-gan"], train={"checkpoint_every": 2,
                                                                                          "log_every": 1})
    first = inpaint_models.train(config, registry=models)
    assert read_sidecar(first)["step"] == 4
    with pytest.raises(ConfigError, match="already holds checkpoints"):
        inpaint_models.train(config, registry=models)
    events: list[ProgressEvent] = []
    final = inpaint_models.train(config, report=events.append, overrides={"train.steps": 7, "train.resume": True},
                                 registry=models)
    assert read_sidecar(final)["step"] == 7 and final.name == "step_00000007.safetensors"
    assert events[0].step == 4 and [e.step for e in events[1:-1]] == [5, 6, 7]
    state = json.loads(CheckpointFiles(final).state_json.read_text())
    assert state["samples_consumed"] == 7 * 2
    with pytest.raises(ConfigError, match="model option width"):
        inpaint_models.train(config, overrides={"train.steps": 8, "train.resume": True, "model.width": 8},
                             registry=models)


def test_cancel_writes_a_checkpoint_first(tmp_path, models):
    stop = threading.Event()

    def report(event: ProgressEvent) -> None:
        if event.step >= 3:
            stop.set()

    config = quick_config("autoencoder", tmp_path, steps=50, options=SMALL["autoencoder"],
                          train={"checkpoint_every": 100, "log_every": 1})
    path = inpaint_models.train(config, report=report, cancel=stop, registry=models)
    assert path.name == "step_00000003.safetensors" and read_sidecar(path)["step"] == 3
    assert CheckpointFiles(path).state.is_file()
    final = inpaint_models.train(config, overrides={"train.steps": 5, "train.resume": True}, registry=models)
    assert read_sidecar(final)["step"] == 5


def test_ema_weights_are_saved_and_used_by_fill(tmp_path, models):
    config = load_config(quick_config("autoencoder", tmp_path, steps=4, options=SMALL["autoencoder"],
                                      train={"ema_decay": 0.9}), registry=models)
    trainer = Trainer(config, autoencoder_task)
    path = trainer.run()
    tensors = load_tensors(path)
    assert any(k.startswith("ema.autoencoder.") for k in tensors)
    assert read_sidecar(path)["ema"] is True
    image, mask = image_and_mask(32)
    with trainer.ema.applied():
        trainer.task.eval_mode()
        expected = predict_array(trainer.task, image, mask, torch.device("cpu"))
    clear_cache()
    filled = inpaint_models.fill(image, mask, model="autoencoder", weights=path, registry=models)
    np.testing.assert_array_equal(filled[mask], expected[mask])
    assert np.array_equal(filled[~mask], image[~mask])


def test_weights_errors_are_clear_and_nothing_is_unpickled(tmp_path, models):
    path = inpaint_models.train(quick_config("autoencoder", tmp_path / "a", steps=1, options=SMALL["autoencoder"]),
                                registry=models)
    image, mask = image_and_mask()
    with pytest.raises(WeightsError, match="checkpoint of model 'autoencoder', not 'mlp-gan'"):
        inpaint_models.fill(image, mask, model="mlp-gan", weights=path, registry=models)
    with pytest.raises(OptionError, match="option 'width' of model 'autoencoder' is fixed by the weights"):
        inpaint_models.fill(image, mask, model="autoencoder", weights=path, width=16, registry=models)
    # a sidecar whose options do not fit the tensors
    files = CheckpointFiles(path)
    sidecar = json.loads(files.sidecar.read_text())
    sidecar["options"]["width"] = 12
    files.sidecar.write_text(json.dumps(sidecar))
    with pytest.raises(WeightsError, match="shape mismatch"):
        inpaint_models.fill(image, mask, model="autoencoder", weights=path, registry=models)
    # no sidecar
    lonely = tmp_path / "lonely.safetensors"
    lonely.write_bytes(path.read_bytes())
    with pytest.raises(WeightsError, match="no sidecar"):
        inpaint_models.fill(image, mask, model="autoencoder", weights=lonely, registry=models)
    # a pickle disguised as a checkpoint is refused without being unpickled
    marker = tmp_path / "unpickled"
    evil = tmp_path / "evil.safetensors"
    evil.write_bytes(pickle.dumps(_Evil(str(marker))))
    sidecar["options"]["width"] = 8
    evil.with_suffix(".json").write_text(json.dumps(sidecar | {"files": {"weights": evil.name}}))
    with pytest.raises(WeightsError, match="not a valid safetensors file"):
        inpaint_models.fill(image, mask, model="autoencoder", weights=evil, registry=models)
    assert not marker.exists()


class _Evil:
    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


@pytest.mark.parametrize("model", TRAINABLE)
def test_trainable_models_without_weights_raise_missing_weights(model, models, monkeypatch):
    import dataclasses

    info = models.info(model)
    if info.default_weights is not None:  # the package ships weights for it: pretend it does not
        monkeypatch.setitem(models._infos, model, dataclasses.replace(info, default_weights=None))
    image, mask = image_and_mask()
    with pytest.raises(MissingWeightsError, match="has no default weights"):
        inpaint_models.fill(image, mask, model=model, registry=models)


def test_bad_files_are_skipped_and_counted_in_the_log(tmp_path, models):
    config = quick_config("autoencoder", tmp_path, steps=2, options=SMALL["autoencoder"])
    (tmp_path / "data" / "broken.png").write_bytes(b"garbage")
    events: list[ProgressEvent] = []
    inpaint_models.train(config, report=events.append, registry=models)
    record = json.loads((tmp_path / "run" / "metrics.jsonl").read_text().splitlines()[0])
    assert record["kind"] == "data" and record["skipped"] == 1 and "broken.png" in next(iter(record["skipped_files"]))
    assert "(1 skipped)" in events[0].message


KILL_SCRIPT = textwrap.dedent("""
    import sys, torch
    torch.set_num_threads(1)
    from inpaint_models import train
    train(sys.argv[1], report=lambda event: print(event.step, flush=True))
""")


def test_a_killed_run_leaves_only_complete_checkpoints_and_resumes(tmp_path, models):
    config = quick_config("autoencoder", tmp_path, steps=10_000, options={"depth": 3, "width": 48},
                          train={"checkpoint_every": 1, "keep_last": 2, "log_every": 1})
    config_path = tmp_path / "run.json"
    config_path.write_text(json.dumps(config))
    env = dict(os.environ, INPAINT_MODELS_PLUGINS=",".join(TRAINABLE), OMP_NUM_THREADS="1")
    checkpoints = tmp_path / "run" / "checkpoints"
    rng = np.random.default_rng(0)
    for attempt in range(2):
        process = subprocess.Popen([sys.executable, "-c", KILL_SCRIPT, str(config_path)], env=env,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.monotonic() + 60
            while len(complete_checkpoints(checkpoints)) < 2 + attempt and time.monotonic() < deadline:
                time.sleep(0.05)
            time.sleep(float(rng.uniform(0.0, 0.3)))  # land anywhere, including inside a checkpoint write
        finally:
            process.send_signal(signal.SIGKILL)
            process.communicate(timeout=30)
        assert process.returncode == -signal.SIGKILL
        complete = complete_checkpoints(checkpoints)
        assert complete, "no checkpoint was written before the kill"
        for path in checkpoints.glob("*.safetensors"):  # every visible file is whole (temp files are hidden)
            load_tensors(path)
        for _step, path in complete:
            assert read_sidecar(path)["step"] == _step
            json.loads(CheckpointFiles(path).state_json.read_text())
        config["train"]["resume"] = True
        config_path.write_text(json.dumps(config))
    last_step = complete_checkpoints(checkpoints)[-1][0]
    events: list[ProgressEvent] = []
    final = inpaint_models.train(config_path, report=events.append, registry=models,
                                 overrides={"train.steps": last_step + 2, "train.checkpoint_every": 100})
    assert events[0].step == last_step and read_sidecar(final)["step"] == last_step + 2
    assert not [p for p in checkpoints.iterdir() if ".tmp-" in p.name]  # stray temp files removed


@pytest.mark.parametrize("model", TRAINABLE)
def test_mixed_precision_path_runs_with_cpu_bf16(tmp_path, models, model):
    events: list[ProgressEvent] = []
    path = inpaint_models.train(quick_config(model, tmp_path, steps=2, options=SMALL[model],
                                             train={"precision": "bf16", "grad_clip": 0.5, "batch_size": 2}),
                                report=events.append, registry=models)
    assert read_sidecar(path)["precision"] == "bf16" and events[-1].extra["precision"] == "bf16"
    assert all(np.isfinite(list(events[-1].losses.values())))


def test_tensorboard_is_used_when_installed(tmp_path, models, monkeypatch):
    import importlib.util
    import types

    calls: list[tuple] = []

    class FakeWriter:
        def __init__(self, log_dir):
            calls.append(("init", log_dir))

        def add_scalar(self, tag, value, step):
            calls.append(("scalar", tag, step))

        def add_image(self, tag, image, step, dataformats):
            calls.append(("image", tag, step, image.shape, dataformats))

        def close(self):
            calls.append(("close",))

    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: object() if name == "tensorboard" else real_find_spec(name, *a))
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", types.SimpleNamespace(SummaryWriter=FakeWriter))
    config = quick_config("autoencoder", tmp_path, steps=2, options=SMALL["autoencoder"], images=5,
                          train={"tensorboard": True, "validation_split": 0.2, "validate_every": 2,
                                 "preview_every": 2, "log_every": 1})
    inpaint_models.train(config, registry=models)
    kinds = {call[0] for call in calls}
    assert calls[0] == ("init", str(tmp_path / "run" / "tensorboard")) and kinds == {"init", "scalar", "image", "close"}
    assert ("scalar", "train/loss", 2) in calls and ("scalar", "validation/psnr_hole", 2) in calls


def test_ema_warms_up_and_copies_integer_buffers():
    from inpaint_models.training.ema import EMA

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.BatchNorm1d(2))
    ema = EMA({"net": net}, decay=0.9)
    expected = None
    for k in range(1, 6):
        with torch.no_grad():
            for p in net.parameters():
                p.add_(torch.randn_like(p))
        net.train()
        net(torch.randn(4, 3))  # moves the BatchNorm statistics and its integer counter
        ema.update()
        current = {key: value.clone() for key, value in net.state_dict().items()}
        if expected is None:  # the first update copies: the random init never counts
            expected = current
        else:
            decay = min(0.9, (1 + k) / (10 + k))
            expected = {key: decay * value + (1 - decay) * current[key] if value.is_floating_point() else current[key]
                        for key, value in expected.items()}
    assert ema.updates == 5
    saved = ema.tensors()
    for key, value in expected.items():
        torch.testing.assert_close(saved[f"net.{key}"], value)
    assert int(saved["net.1.num_batches_tracked"]) == 5
    restored = EMA({"net": net}, decay=0.9)
    restored.load(saved, ema.updates)
    assert restored.updates == 5 and all(torch.equal(saved[k], v) for k, v in restored.tensors().items())
    raw = {key: value.clone() for key, value in net.state_dict().items()}
    with ema.applied():
        assert torch.equal(net.state_dict()["0.weight"], saved["net.0.weight"])
    assert all(torch.equal(raw[k], v) for k, v in net.state_dict().items())


def test_fp16_overflow_steps_are_skipped_not_diverged_until_they_persist():
    """An fp16 gradient scaler skips steps whose gradients overflow (normal while it finds its
    scale: the first CUDA fp16 steps of context-encoder did): no inf grad norm, no divergence
    error; only MAX_OVERFLOWS_IN_A_ROW skipped steps in a row stop the run."""
    import types

    from inpaint_models.training.loop import Trainer as LoopTrainer

    weight = torch.nn.Parameter(torch.ones(3))
    optimizer = torch.optim.SGD([weight], lr=0.1)
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0 ** 16)
    trainer = types.SimpleNamespace(
        optimizers={"generator": optimizer}, precision=types.SimpleNamespace(scaler=lambda name: scaler),
        settings=types.SimpleNamespace(grad_clip=1.0), _overflows={}, step=0, last_checkpoint=None,
        MAX_OVERFLOWS_IN_A_ROW=LoopTrainer.MAX_OVERFLOWS_IN_A_ROW)
    trainer._count_overflow = lambda name, skipped: LoopTrainer._count_overflow(trainer, name, skipped)
    ctx = types.SimpleNamespace(grad_norms={})

    def step(gradient: float) -> None:
        scaler.scale((weight * torch.full((3,), gradient)).sum()).backward()
        LoopTrainer.optimizer_step(trainer, "generator", ctx)

    step(float("inf"))  # overflow: skipped, the scale halves, the weights stay
    assert ctx.grad_norms == {} and scaler.get_scale() == 2.0 ** 15
    assert torch.equal(weight.detach(), torch.ones(3))
    step(1.0)  # a finite step: taken and reported, the count starts again
    assert np.isfinite(ctx.grad_norms["generator"]) and trainer._overflows["generator"] == 0
    assert not torch.equal(weight.detach(), torch.ones(3))
    for _ in range(LoopTrainer.MAX_OVERFLOWS_IN_A_ROW - 1):
        step(float("nan"))
    with pytest.raises(FloatingPointError, match="overflowed fp16 in 30 steps in a row"):
        step(float("nan"))
