"""``inpaint train`` in a subprocess: a short run, a bad config, and Ctrl-C (checkpoint, exit 130, resume)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from inpaint_models.training import quick_config, read_sidecar
from inpaint_models.training.checkpoints import complete_checkpoints

TRAINABLE = ("autoencoder", "context-encoder", "mlp-gan")


def toml_config(tmp_path: Path, steps: int) -> Path:
    config = quick_config("autoencoder", tmp_path, steps=steps, options={"depth": 2, "width": 8})
    lines = ['[model]', 'name = "autoencoder"', "depth = 2", "width = 8", "", "[train]"]
    for key, value in config["train"].items():
        lines.append(f"{key} = {json.dumps(value)}")
    path = tmp_path / "run.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def inpaint(*args: str, **kwargs) -> subprocess.Popen:
    env = dict(os.environ, INPAINT_MODELS_PLUGINS=",".join(TRAINABLE), OMP_NUM_THREADS="1")
    return subprocess.Popen([sys.executable, "-m", "inpaint_models.cli", *args], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kwargs)


def test_cli_trains_with_overrides_and_prints_the_checkpoint(tmp_path):
    config = toml_config(tmp_path, steps=100)
    process = inpaint("train", str(config), "--set", "train.steps=3", "--set", f"train.output={tmp_path / 'cli'}")
    out, err = process.communicate(timeout=120)
    assert process.returncode == 0, err
    path = Path(out.strip().splitlines()[-1])
    assert path == tmp_path / "cli" / "checkpoints" / "step_00000003.safetensors" and path.is_file()
    assert read_sidecar(path)["step"] == 3
    assert "3/3" in err and "loss=" in err  # the progress bar on stderr


def test_cli_bad_config_is_one_line(tmp_path):
    config = toml_config(tmp_path, steps=3)
    process = inpaint("train", str(config), "--set", "train.stepz=3")
    _out, err = process.communicate(timeout=60)
    assert process.returncode == 2
    assert err.strip().count("\n") == 0 and "unknown key 'stepz'" in err and "Traceback" not in err


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_ctrl_c_writes_a_checkpoint_exits_130_and_resume_continues(tmp_path):
    config = toml_config(tmp_path, steps=100_000)
    process = inpaint("train", str(config), "--set", "train.checkpoint_every=100000")
    try:
        deadline = time.monotonic() + 60
        seen = ""
        # wait until the bar shows a finished step (tqdm prints "0/100000 ?step/s" before the first one)
        while time.monotonic() < deadline and not re.search(r"\b[1-9]\d*/100000\b", seen):
            seen += os.read(process.stderr.fileno(), 4096).decode(errors="replace")
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 130, seen + err
    assert "--resume" in err
    complete = complete_checkpoints(tmp_path / "run" / "checkpoints")
    assert len(complete) == 1 and Path(out.strip()) == complete[0][1]
    stopped_at = complete[0][0]
    assert 0 < stopped_at < 100_000
    process = inpaint("train", str(config), "--resume", "--set", f"train.steps={stopped_at + 2}", "-q")
    out, err = process.communicate(timeout=120)
    assert process.returncode == 0, err
    assert read_sidecar(out.strip())["step"] == stopped_at + 2
