"""``inpaint train``: short runs and config errors in-process; Ctrl-C in a real process group.

Ctrl-C in a terminal sends SIGINT to every process of the foreground group —
the trainer and its data-loader workers — so the signal tests start the command
in a new session and signal the whole group, as a terminal would.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from inpaint_models.cli import main
from inpaint_models.cli.train import StopRequest, resume_command, stop_on_signals
from inpaint_models.api_train import example_names, example_path
from inpaint_models.io.sidecar import read_sidecar
from inpaint_models.training import quick_config
from inpaint_models.training.checkpoints import complete_checkpoints

TRAINABLE = ("autoencoder", "context-encoder", "mlp-gan")
STOP_MESSAGE = "stopping after this step"


def toml_config(tmp_path: Path, steps: int) -> Path:
    config = quick_config("autoencoder", tmp_path, steps=steps, options={"depth": 2, "width": 8})
    lines = ['[model]', 'name = "autoencoder"', "depth = 2", "width = 8", "", "[train]"]
    for key, value in config["train"].items():
        lines.append(f"{key} = {json.dumps(value)}")
    path = tmp_path / "run.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_trains_with_overrides_and_prints_the_checkpoint(tmp_path, capsys):
    config = toml_config(tmp_path, steps=100)
    status = main(["train", str(config), "--set", "train.steps=3", "--set", f"train.output={tmp_path / 'cli'}"])
    out, err = capsys.readouterr()
    assert status == 0, err
    path = Path(out.strip().splitlines()[-1])
    assert path == tmp_path / "cli" / "checkpoints" / "step_00000003.safetensors" and path.is_file()
    assert read_sidecar(path)["step"] == 3
    assert "3/3" in err and "loss=" in err  # the progress bar on stderr


def test_bad_config_is_one_line(tmp_path, capsys):
    config = toml_config(tmp_path, steps=3)
    assert main(["train", str(config), "--set", "train.stepz=3"]) == 2
    err = capsys.readouterr().err
    assert err.strip().count("\n") == 0 and "unknown key 'stepz'" in err and "Traceback" not in err


def test_examples_ship_in_the_package_and_train(tmp_path, capsys, monkeypatch):
    names = example_names()
    assert "autoencoder-cpu" in names and all(name.endswith(("-cpu", "-gpu")) for name in names)
    assert example_path("autoencoder-cpu").parent.name == "configs"
    assert main(["train", "--list-examples"]) == 0
    listing = capsys.readouterr().out
    assert all(name in listing for name in names)

    # no data folder here: the error says how to give one, before anything is loaded
    monkeypatch.chdir(tmp_path)
    assert main(["train", "--example", "autoencoder-cpu"]) == 2
    assert "--set train.data=DIR" in capsys.readouterr().err
    assert main(["train", "--example", "autoencoder-cpu2"]) == 2
    assert "autoencoder-cpu" in capsys.readouterr().err

    data = Path(quick_config("autoencoder", tmp_path, size=64)["train"]["data"][0])
    status = main(["train", "--example", "autoencoder-cpu", "--set", f"train.data={data}", "--set", "train.steps=1",
                   "--set", "train.batch_size=2", "--set", "train.validation_split=0", "--set",
                   f"train.output={tmp_path / 'ae'}", "-q"])
    out, err = capsys.readouterr()
    assert status == 0, err
    assert read_sidecar(out.strip())["model"] == "autoencoder"


def test_resume_command_keeps_every_set_option():
    from argparse import Namespace

    args = Namespace(config="my run.toml", example=None, overrides=["train.data=my photos/", "train.steps=9"],
                     quiet=False)
    assert shlex.split(resume_command(args)) == [
        "inpaint", "train", "my run.toml", "--resume", "--set", "train.data=my photos/", "--set", "train.steps=9",
    ]
    args = Namespace(config=None, example="glcic-cpu", overrides=[], quiet=True)
    assert resume_command(args) == "inpaint train --example glcic-cpu --resume -q"


def test_only_the_main_process_handles_ctrl_c(monkeypatch, capsys):
    """A forked data-loader worker inherits the handler: it must neither print nor stop anything."""
    stop = StopRequest()
    with stop_on_signals(stop):
        handler = signal.getsignal(signal.SIGINT)
        main_pid = os.getpid()
        monkeypatch.setattr(os, "getpid", lambda: main_pid + 1)  # as seen from a worker
        handler(signal.SIGINT, None)
        handler(signal.SIGINT, None)
        assert not stop.requested and capsys.readouterr().err == ""
        monkeypatch.setattr(os, "getpid", lambda: main_pid)
        handler(signal.SIGINT, None)
        assert stop.requested and capsys.readouterr().err.count(STOP_MESSAGE) == 1
        handler(signal.SIGTERM, None)  # a repeated SIGTERM is not a second Ctrl-C
        with pytest.raises(KeyboardInterrupt):  # mid-step: stop at once
            handler(signal.SIGINT, None)
    assert signal.getsignal(signal.SIGINT) is not handler  # restored


def test_a_second_ctrl_c_lets_the_final_checkpoint_finish(capsys):
    stop = StopRequest()
    with stop_on_signals(stop):
        handler = signal.getsignal(signal.SIGINT)
        handler(signal.SIGINT, None)
        assert stop.is_set() and stop.seen  # the trainer polled it: only the checkpoint is left
        handler(signal.SIGINT, None)
        assert "writing its checkpoint" in capsys.readouterr().err
        with pytest.raises(KeyboardInterrupt):  # a third one abandons it
            handler(signal.SIGINT, None)


def test_ctrl_c_after_the_run_returned_changes_nothing(capsys):
    stop = StopRequest()
    with stop_on_signals(stop):
        stop.finished = True  # run() sets it when train() returns, before its last messages
        signal.getsignal(signal.SIGINT)(signal.SIGINT, None)
    assert not stop.requested and capsys.readouterr().err == ""


# --------------------------------------------------------------------------- real signals
def start(*args: str) -> subprocess.Popen:
    env = dict(os.environ, INPAINT_MODELS_PLUGINS=",".join(TRAINABLE), OMP_NUM_THREADS="1")
    env.pop("INPAINT_DEBUG", None)
    return subprocess.Popen([sys.executable, "-m", "inpaint_models.cli", *args], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)


def wait_for_a_step(process: subprocess.Popen, total: int) -> str:
    """Read stderr until the bar shows a finished step (tqdm prints "0/N ?step/s" before the first one)."""
    deadline = time.monotonic() + 90
    seen = ""
    while time.monotonic() < deadline and not re.search(rf"\b[1-9]\d*/{total}\b", seen):
        chunk = os.read(process.stderr.fileno(), 4096).decode(errors="replace")
        if not chunk:
            break
        seen += chunk
    return seen


def ctrl_c(process: subprocess.Popen) -> None:
    """SIGINT to the whole process group, as a terminal's Ctrl-C."""
    try:
        os.killpg(process.pid, signal.SIGINT)
    except ProcessLookupError:
        pass


@pytest.mark.slow
@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_ctrl_c_with_workers_stops_once_and_the_printed_command_resumes(tmp_path):
    config = toml_config(tmp_path, steps=100_000)
    output = tmp_path / "my run"  # a space: the printed command must quote it
    sets = ["--set", "train.checkpoint_every=100000", "--set", "train.workers=2", "--set", f"train.output={output}"]
    process = start("train", str(config), *sets)
    try:
        seen = wait_for_a_step(process, 100_000)
        ctrl_c(process)
        out, err = process.communicate(timeout=90)
    finally:
        if process.poll() is None:
            process.kill()
    err = seen + err
    assert process.returncode == 130, err
    assert err.count(STOP_MESSAGE) == 1, err  # not once per data-loader worker
    assert "Traceback" not in err
    complete = complete_checkpoints(output / "checkpoints")
    assert len(complete) == 1 and Path(out.strip()) == complete[0][1]
    stopped_at = complete[0][0]
    assert 0 < stopped_at < 100_000

    printed = err.strip().splitlines()[-1]
    assert printed.startswith("inpaint: stopped early; continue with: inpaint train ")
    command = shlex.split(printed.split("continue with: ", 1)[1])
    assert command[:4] == ["inpaint", "train", str(config), "--resume"] and command[4:] == sets
    # run it as printed (only stopping sooner than 100000 steps)
    process = start(*command[1:], "--set", f"train.steps={stopped_at + 2}", "-q")
    out, err = process.communicate(timeout=120)
    assert process.returncode == 0, err
    assert read_sidecar(out.strip())["step"] == stopped_at + 2


@pytest.mark.slow
@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_a_second_ctrl_c_stops_at_once_without_a_traceback(tmp_path):
    config = toml_config(tmp_path, steps=100_000)
    process = start("train", str(config), "--set", "train.checkpoint_every=100000", "--set", "train.workers=2")
    try:
        seen = wait_for_a_step(process, 100_000)
        ctrl_c(process)
        time.sleep(0.01)
        ctrl_c(process)
        _out, err = process.communicate(timeout=90)
    finally:
        if process.poll() is None:
            process.kill()
    err = seen + err
    assert process.returncode == 130, err
    assert "Traceback" not in err and err.count(STOP_MESSAGE) == 1, err
    assert "continue with: inpaint train" in err.strip().splitlines()[-1]
    assert complete_checkpoints(tmp_path / "run" / "checkpoints")  # the work so far is kept
