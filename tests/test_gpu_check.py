"""benchmarks/gpu_check.py: the CPU smoke run (``--device cpu --quick``), the parts it plans, and its exit status.

CI has no GPU: these tests prove the script itself works; its CUDA rows are only
checked when someone runs it on a GPU machine.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

import inpaint_models

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "gpu_check.py"
HEADER = "| model | path / precision | img/s | max CUDA MB | s | result |"


def load_script():
    spec = importlib.util.spec_from_file_location("gpu_check", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules["gpu_check"] = module
    spec.loader.exec_module(module)
    return module


def table_rows(text: str, header: str) -> list[list[str]]:
    """The cells of the markdown table that starts with ``header``."""
    lines = text.splitlines()
    start = lines.index(header)
    rows = []
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip("|").split("|")])
    return rows


def first_trainable_and_classical() -> list[str]:
    """A small trainable model and a classical one, from the registry."""
    names = inpaint_models.available_models()
    trainable = [n for n in names if inpaint_models.model_info(n).trainable]
    classical = [n for n in names if not inpaint_models.model_info(n).trainable]
    pick = ["autoencoder"] if "autoencoder" in trainable else trainable[:1]
    return pick + classical[:1]


@pytest.mark.slow
def test_cpu_quick_run_prints_one_table_with_every_path(tmp_path):
    models = first_trainable_and_classical()
    paths = [str(ROOT / "src"), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(paths), TMPDIR=str(tmp_path))
    command = [sys.executable, str(SCRIPT), "--device", "cpu", "--quick", "--threads", "1", "--models", *models]
    result = subprocess.run(command, capture_output=True, text=True, timeout=180, env=env, cwd=tmp_path, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    rows = table_rows(out, HEADER)
    by_path = {(r[0], " ".join(r[1].split()[:3]) if r[1].startswith("ddp") else r[1]): r for r in rows}
    trainable, classical = models[0], models[1]
    assert {r[0] for r in rows} == set(models)
    for precision in ("fp32", "bf16"):
        row = by_path[(trainable, f"train {precision} channels-last")]
        assert row[5] == "pass" and float(row[2]) > 0, row
    assert by_path[(trainable, "train fp16 channels-last")][5] == "skipped: needs CUDA"
    assert by_path[(trainable, "ddp gloo x1")][5] == "pass"
    assert "1 DDP net(s)" in by_path[(trainable, "ddp gloo x1")][1]
    assert by_path[(trainable, "ddp nccl x1")][5] == "skipped: needs CUDA"
    for model in models:
        row = by_path[(model, "fill cpu")]
        assert row[5] == "pass" and float(row[2]) > 0 and row[3] == "-", row
    assert not any(r[0] == classical and r[1].startswith("train") for r in rows)
    assert [key[1] for key in by_path if key[0] == trainable] == [  # the table groups each model's rows
        "train fp32 channels-last", "train bf16 channels-last", "train fp16 channels-last", "ddp gloo x1",
        "ddp nccl x1", "fill cpu"]
    speedups = table_rows(out, "| model | fp32 img/s | bf16 img/s | bf16 / fp32 | fp16 img/s | fp16 / fp32 |")
    assert [r[0] for r in speedups] == [trainable]
    assert speedups[0][3].endswith("x") and speedups[0][5] == "-"
    assert "0 failed" in out
    assert "[" in result.stderr and " s] " in result.stderr  # progress lines with the elapsed time
    assert not list(tmp_path.glob("gpu-check-*"))  # the temporary folder is removed


def test_parts_cover_every_registered_model_and_cuda_path(tmp_path):
    gpu_check = load_script()
    settings = gpu_check.Settings(device="cuda", quick=False, size=128, batch=16, steps=20, images=48,
                                  fill_size=256, hole=64, repeats=3, workers=4, options_kind="gpu", budget=240)
    models = inpaint_models.available_models()
    parts = gpu_check.build_parts(models, settings, gpu_check.Context(settings, tmp_path))
    paths = {(p.model, p.path) for p in parts}
    for model in models:
        info = inpaint_models.model_info(model)
        assert (model, "fill cuda") in paths
        expected = [f"train {p} channels-last" for p in ("fp32", "bf16", "fp16")] + ["ddp nccl x1"]
        for path in expected:
            assert ((model, path) in paths) == info.trainable, (model, path)
        has_sampler = "steps" in {f.name for f in dataclasses.fields(info.options)}
        assert ((model, "sampler ddim 10 steps") in paths) == has_sampler
    assert any(p.path.startswith("sampler") for p in parts)  # the diffusion model has a sampler
    assert not any("gloo" in p.path for p in parts)  # on CUDA, DDP runs over NCCL only
    # every trainable model's fp32 run comes before the fills that use its checkpoint
    order = [(p.model, p.path) for p in parts]
    for model in models:
        if inpaint_models.model_info(model).trainable:
            assert order.index((model, "train fp32 channels-last")) < order.index((model, "fill cuda"))


def test_phase_options_only_name_existing_fields():
    gpu_check = load_script()
    for model, make in gpu_check.PHASE_OPTIONS.items():
        if model in inpaint_models.available_models():
            fields = {f.name for f in dataclasses.fields(inpaint_models.model_info(model).options)}
            assert set(make(20)) <= fields, model


def test_tables_show_failures_and_the_speed_up():
    gpu_check = load_script()
    Row = gpu_check.Row
    rows = [
        Row("m", "train fp32 channels-last", images_per_second=100.0, memory_mb=512.0, seconds=3.0, precision="fp32"),
        Row("m", "train bf16 channels-last", images_per_second=250.0, memory_mb=300.0, seconds=2.0, precision="bf16"),
        Row("m", "train fp16 channels-last", status="FAIL", detail="RuntimeError: boom", seconds=1.0,
            precision="fp16"),
        Row("m", "fill cuda", status="skipped", detail="time budget"),
    ]
    table = gpu_check.results_table(rows, ["m"])
    assert table.splitlines()[0] == HEADER
    assert "| m | train fp16 channels-last | - | - | 1.0 | FAIL: RuntimeError: boom |" in table
    assert "| m | fill cuda | - | - | - | skipped: time budget |" in table
    assert "| m | train fp32 channels-last | 100.0 | 512 | 3.0 | pass |" in table
    speedup = gpu_check.speedup_table(rows, ["m"])
    assert "| m | 100.0 | 250.0 | 2.50x | - | - |" in speedup
    assert gpu_check.first_line(ValueError("first\nsecond")) == "ValueError: first"


def test_without_cuda_it_says_so_and_exits_2(capsys):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    gpu_check = load_script()
    assert gpu_check.main([]) == gpu_check.NO_CUDA_STATUS == 2
    assert "no CUDA device" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        gpu_check.main(["--device", "cpu"])  # a full-size CPU run is refused: --quick is needed
    assert exit_info.value.code == 2


def test_parts_past_the_budget_are_skipped_with_exit_status_3(capsys, monkeypatch, tmp_path):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    gpu_check = load_script()
    classical = [n for n in inpaint_models.available_models() if not inpaint_models.model_info(n).trainable][:1]
    status = gpu_check.main(["--device", "cpu", "--quick", "--budget", "0.001", "--models", *classical])
    out = capsys.readouterr().out
    assert status == gpu_check.INCOMPLETE_STATUS == 3
    assert f"| {classical[0]} | fill cpu | - | - | - | skipped: time budget |" in out
    assert "incomplete: 1 part(s)" in out
    assert not list(tmp_path.iterdir())  # the temporary folder is removed
