"""Fits lose at most seconds: checkpoints by time, a resume that continues the budget, nothing to resume said.

A fit killed (SIGKILL) after its first time checkpoint resumes from it: its
step count continues, its progress starts at the seconds already spent, and it
trains only for the rest of its budget. ``resume`` with nothing to resume is an
error naming the folder, and never starts over or overwrites ``best``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import inpaint_models
from inpaint_models.contract.errors import ConfigError
from inpaint_models.training.checkpoints import complete_checkpoints
from inpaint_models.training.config import TrainSettings

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # tests/conftest.py

#: a tiny fit: two-level U-Net of 4 channels, batches of 2, no previews; checkpoints by time only
TINY_OPTIONS = {"width": 4, "levels": 2}
TINY_TRAIN = {"batch_size": 2, "preview_every": 0, "validate_every": 2, "checkpoint_every": 100_000, "log_every": 1}


def small_stack() -> tuple[np.ndarray, np.ndarray]:
    """A (6, 32, 32) uint16 stack of smooth values and its mask (a box in every other plane)."""
    z, y, x = np.mgrid[0:6, 0:32, 0:32].astype(np.float64)
    stack = (1000 + 500 * np.sin(x / 5.0 + z / 3.0) * np.cos(y / 6.0)).astype(np.uint16)
    mask = np.zeros(stack.shape, bool)
    mask[::2, 10:18, 12:20] = True
    stack[mask] = 0
    return stack, mask


FIT_SCRIPT = textwrap.dedent("""
    import sys, json, torch
    torch.set_num_threads(1)
    sys.path.insert(0, sys.argv[2])
    from test_fit_resume import small_stack, TINY_OPTIONS, TINY_TRAIN
    import inpaint_models
    stack, mask = small_stack()
    inpaint_models.fit(stack, mask, output=sys.argv[1], seconds=float(sys.argv[3]), device="cpu",
                       options=TINY_OPTIONS, train=json.loads(sys.argv[4]),
                       progress=lambda event: print(event.step, flush=True))
""")


def test_time_checkpoints_are_on_by_default():
    assert 0 < TrainSettings().checkpoint_seconds <= 15  # a fit of a minute killed at 20 s keeps 15 s or more


@pytest.mark.slow  # a fit in a subprocess, killed, then resumed: about 10 s
def test_a_killed_fit_resumes_from_its_time_checkpoint_with_the_rest_of_its_budget(tmp_path):
    budget = 4.0
    run = tmp_path / "run"
    train = {**TINY_TRAIN, "checkpoint_seconds": 1.0}
    env = dict(os.environ, OMP_NUM_THREADS="1")
    process = subprocess.Popen(
        [sys.executable, "-c", FIT_SCRIPT, str(run), os.path.dirname(__file__), str(budget), json.dumps(train)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not complete_checkpoints(run / "checkpoints") and time.monotonic() < deadline:
            assert process.poll() is None, process.communicate()[1]
            time.sleep(0.02)
    finally:
        process.send_signal(signal.SIGKILL)
        process.communicate(timeout=30)
    assert process.returncode == -signal.SIGKILL
    (step, weights), = complete_checkpoints(run / "checkpoints")  # written by time: 100 000 steps never came
    state = json.loads(weights.with_name(weights.name.replace(".safetensors", ".state.json")).read_text())
    spent = state["seconds_spent"]
    assert step >= 1 and 1.0 <= spent < budget

    events = []
    stack, mask = small_stack()
    started = time.monotonic()
    inpaint_models.fit(stack, mask, output=run, seconds=budget, resume=True, device="cpu", options=TINY_OPTIONS,
                       train=train, progress=events.append)
    took = time.monotonic() - started
    train_events = [event for event in events if event.extra.get("stage") != "verdict"]
    assert train_events[0].step == step  # the step count continues
    assert train_events[0].elapsed_seconds == pytest.approx(spent, abs=0.5)  # the progress starts at the seconds spent
    assert "resumed at step" in train_events[0].message
    assert [event.elapsed_seconds for event in train_events] == sorted(event.elapsed_seconds for event in train_events)
    final = json.loads(sorted((run / "checkpoints").glob("step_*.state.json"))[-1].read_text())
    assert budget <= final["seconds_spent"] < budget + 1.0  # the whole budget, spent once
    assert final["step"] > step
    assert took < budget + 10  # the rest of the budget (setup and the verdict on top), not a whole one again
    log = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    steps = [record["step"] for record in log if record["kind"] == "train"]
    assert steps == list(range(1, final["step"] + 1))  # the killed run's steps up to its checkpoint, then on


def test_resume_with_nothing_to_resume_is_an_error_naming_the_folder(tmp_path):
    stack, mask = small_stack()
    run = tmp_path / "empty"
    with pytest.raises(ConfigError, match=f"nothing to resume in {run}"):
        inpaint_models.fit(stack, mask, output=run, steps=2, resume=True, device="cpu", options=TINY_OPTIONS,
                           train=TINY_TRAIN)
    assert not run.exists(), "a refused resume wrote files"


def test_resume_never_overwrites_best_when_no_step_checkpoint_is_left(tmp_path):
    """A fit killed after writing ``best`` but before its first step checkpoint: neither a resume nor a fresh
    run into the folder touches ``best``."""
    stack, mask = small_stack()
    run = tmp_path / "run"
    inpaint_models.fit(stack, mask, output=run, steps=2, device="cpu", options=TINY_OPTIONS, train=TINY_TRAIN)
    checkpoints = run / "checkpoints"
    for path in checkpoints.glob("step_*"):
        path.unlink()  # as a kill before the first step checkpoint leaves it
    best = {path.name: path.read_bytes() for path in checkpoints.glob("best*")}
    assert "best.safetensors" in best
    with pytest.raises(ConfigError, match="nothing to resume .* keeps its best"):
        inpaint_models.fit(stack, mask, output=run, steps=2, resume=True, device="cpu", options=TINY_OPTIONS,
                           train=TINY_TRAIN)
    with pytest.raises(ConfigError, match="already holds"):
        inpaint_models.fit(stack, mask, output=run, steps=2, device="cpu", options=TINY_OPTIONS, train=TINY_TRAIN)
    assert {path.name: path.read_bytes() for path in checkpoints.glob("best*")} == best


def test_a_resumed_run_keeps_a_better_best_written_after_its_checkpoint(tmp_path):
    """``best`` written after the step checkpoint a run resumes from is replaced only by a better one."""
    stack, mask = small_stack()
    run = tmp_path / "run"
    inpaint_models.fit(stack, mask, output=run, steps=2, device="cpu", options=TINY_OPTIONS,
                       train={**TINY_TRAIN, "checkpoint_every": 2})
    sidecar, state = run / "checkpoints" / "best.json", run / "checkpoints" / "step_00000002.state.json"
    record = json.loads(sidecar.read_text())
    record["best"] = {**record["best"], "value": 1000.0}  # a best no later validation beats (psnr_hole: higher)
    sidecar.write_text(json.dumps(record))
    resumed = json.loads(state.read_text())
    resumed["best"] = {**resumed["best"], "value": -1000.0}  # the checkpoint saw a worse one: best came after it
    state.write_text(json.dumps(resumed))
    kept = (run / "checkpoints" / "best.safetensors").read_bytes()
    inpaint_models.fit(stack, mask, output=run, steps=4, resume=True, device="cpu", options=TINY_OPTIONS,
                       train={**TINY_TRAIN, "checkpoint_every": 2})
    assert (run / "checkpoints" / "best.safetensors").read_bytes() == kept
    assert json.loads(sidecar.read_text())["best"]["value"] == 1000.0


def test_cli_resume_with_nothing_to_resume_says_so_on_one_line(tmp_path, capsys):
    import tifffile

    from inpaint_models.cli import main

    stack, mask = small_stack()
    tifffile.imwrite(tmp_path / "stack.tif", stack)
    tifffile.imwrite(tmp_path / "mask.tif", mask.astype(np.uint8) * 255)
    status = main(["fit", str(tmp_path / "stack.tif"), str(tmp_path / "mask.tif"), "-o", str(tmp_path / "run"),
                   "--resume", "--steps", "2", "--device", "cpu", "-q"])
    err = capsys.readouterr().err
    assert status == 2 and err.count("\n") == 1 and f"nothing to resume in {tmp_path / 'run'}" in err
    assert not (tmp_path / "run").exists()


def test_train_resume_with_nothing_to_resume_is_an_error(tmp_path):
    (tmp_path / "images").mkdir()
    config = {"model": {"name": "autoencoder"},
              "train": {"data": [str(tmp_path / "images")], "output": str(tmp_path / "run"), "device": "cpu",
                        "resume": True, "steps": 2}}
    with pytest.raises(ConfigError, match=f"nothing to resume in {tmp_path / 'run'}"):
        inpaint_models.train(config)
    assert not (tmp_path / "run").exists()


def test_inpaint_fit_bar_of_a_resumed_fit_starts_at_the_seconds_spent(capsys):
    from inpaint_models.cli.fit import FitProgress
    from inpaint_models.contract.datatypes import ProgressEvent

    progress = FitProgress(quiet=False, seconds=60.0)
    progress(ProgressEvent("train", 44, 1_000_000, elapsed_seconds=15.9))  # a fit resumed 15.9 s into its budget
    progress.close()
    first = capsys.readouterr().err.replace("\r", "\n").strip().splitlines()[0]
    assert "16/60 s" in first, first
