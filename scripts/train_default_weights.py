"""Train the default weights shipped with napari-inpaint and copy them into the package (issue 7).

For each model, trains its recipe ``<model folder>/weights/default.toml`` with the shared trainer
(unless ``--export-only``), then exports the run's best checkpoint (the final
one when no validation ran) as

    src/inpaint_models/models/<module>/weights/default.safetensors   inference networks only, float16
    src/inpaint_models/models/<module>/weights/default.json          the sidecar + a "shipped" record

The export keeps only the networks ``fill`` uses (the EMA copy when the run
kept one) and stores floating tensors in half precision; loading casts them
back to float32 (``training.checkpoints.load_networks``). The ``shipped``
record of the sidecar holds the training wall time, the steps, the hardware
and the config file, which ``scripts/make_results.py`` reports.

Usage (after ``python scripts/prepare_training_data.py``)::

    python scripts/train_default_weights.py autoencoder context-encoder      # train + export
    python scripts/train_default_weights.py --export-only autoencoder        # export an existing run
    python scripts/train_default_weights.py --all                            # every model with a recipe

The models come from the registry: every trainable model whose folder has a
``weights/default.toml`` (stack-unet has none: it is fitted to each stack).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
BUDGET_BYTES = 60 * 1024 * 1024  # all default weights together (issue 7)
RECIPE = "default.toml"  # in a model's weights folder: the config that trains its default weights


def weights_folder(model: str) -> Path:
    """The folder of the model's shipped weights: ``weights/`` next to its plugin module."""
    from inpaint_models.contract.registry import default_registry
    from inpaint_models.io.examples import plugin_folder

    return plugin_folder(default_registry(), model) / "weights"


def config_path(model: str) -> Path:
    """The recipe of the model's default weights."""
    return weights_folder(model) / RECIPE


def trainable_with_recipe() -> list[str]:
    """The registry's trainable models that have a default-weights recipe, sorted."""
    from inpaint_models.contract.registry import default_registry

    registry = default_registry()
    return [info.name for info in registry.infos() if info.trainable and config_path(info.name).is_file()]


def hardware() -> str:
    """CPU model, core count and torch threads, plus the GPU name when one is visible."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    text = f"{cpu}, {cores} CPU cores, {torch.get_num_threads()} torch thread(s)"
    if torch.cuda.is_available():
        text += f", {torch.cuda.get_device_name(0)}"
    return text


def record_hardware(run: Path) -> None:
    """Write the training machine (with this process's torch threads) into the run folder for the export."""
    run.mkdir(parents=True, exist_ok=True)
    (run / "hardware.json").write_text(json.dumps({"hardware": hardware()}) + "\n", encoding="utf-8")


def run_hardware(run: Path) -> str:
    """The hardware recorded when the run was trained, else this machine's (with a note)."""
    recorded = run / "hardware.json"
    if recorded.is_file():
        return json.loads(recorded.read_text(encoding="utf-8"))["hardware"]
    return hardware() + " (at export; threads of the training run not recorded)"


def run_seconds(run: Path) -> float | None:
    """Training wall time from the first to the last record of the run's metrics log."""
    log = run / "metrics.jsonl"
    if not log.is_file():
        return None
    times = [json.loads(line).get("time") for line in log.read_text().splitlines() if line.strip()]
    times = [t for t in times if isinstance(t, (int, float))]
    return round(times[-1] - times[0], 1) if len(times) > 1 else None


def train(model: str) -> Path:
    import inpaint_models

    config = config_path(model)
    print(f"[{model}] training {config.relative_to(ROOT)}", file=sys.stderr)
    record_hardware(run_folder(model))
    start = time.time()
    path = inpaint_models.train(str(config), report=None)
    print(f"[{model}] trained in {time.time() - start:.0f} s: {path}", file=sys.stderr)
    return Path(path)


def run_folder(model: str) -> Path:
    from inpaint_models.training.config import load_config

    output = Path(load_config(str(config_path(model))).train.output)
    return output if output.is_absolute() else ROOT / output


def export(model: str, run: Path | None = None) -> Path:
    """Copy the run's best (else final / newest) checkpoint into the package in float16."""
    from inpaint_models.contract.registry import default_registry
    from inpaint_models.training.checkpoints import complete_checkpoints, network_tensors, save_checkpoint
    from inpaint_models.training.inference import load_task
    from inpaint_models.io.sidecar import read_sidecar

    run = run or run_folder(model)
    folder = run / "checkpoints"
    best = folder / "best.safetensors"
    if not (best.is_file() and best.with_suffix(".json").is_file()):
        complete = complete_checkpoints(folder)
        final = folder / "final.safetensors"
        best = final if final.with_suffix(".json").is_file() else (complete[-1][1] if complete else None)
    if best is None:
        raise SystemExit(f"[{model}] no complete checkpoint in {folder}")
    registry = default_registry()
    plugin = registry.plugin_manager.get_plugin(model)
    loaded = load_task(best, registry.info(model), plugin.build_task, device="cpu")  # EMA weights when the run kept them
    names = loaded.task.inference_names()
    tensors = {
        key: value.half() if value.is_floating_point() else value
        for key, value in network_tensors({n: loaded.task.networks[n] for n in names}).items()
    }
    sidecar = read_sidecar(best, model)
    sidecar = {k: v for k, v in sidecar.items() if k not in ("format", "format_version", "files", "versions",
                                                             "created")}
    sidecar["ema"] = False  # the EMA copy (if any) is now the plain weights
    sidecar["shipped"] = {
        "source_checkpoint": str(best.relative_to(ROOT) if best.is_relative_to(ROOT) else best),
        "config_file": str(config_path(model).relative_to(ROOT)),
        "training_seconds": run_seconds(run),
        "steps": sidecar.get("step"),
        "hardware": run_hardware(run),
        "stored_dtype": "float16",
        "networks": list(names),
    }
    out = weights_folder(model)
    out.mkdir(parents=True, exist_ok=True)
    path = save_checkpoint(out, "default", weights=tensors, sidecar=sidecar)
    for file in (path, path.with_suffix(".json")):
        file.chmod(0o644)  # atomic writes create 0600 files; package data must be world-readable
    size = path.stat().st_size
    print(f"[{model}] {best.name} (step {sidecar.get('step')}) -> {path.relative_to(ROOT)} "
          f"({size / 1e6:.2f} MB)", file=sys.stderr)
    return path


def total_size() -> int:
    """Bytes of every shipped weights file and its sidecar (the registry's ``default_weights``)."""
    from inpaint_models.contract.registry import default_registry

    shipped = [info.default_weights for info in default_registry().infos() if info.default_weights is not None]
    return sum(path.stat().st_size for weights in shipped for path in (weights, weights.with_suffix(".json"))
               if path.is_file())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    trainable = trainable_with_recipe()
    parser.add_argument("models", nargs="*", help=f"models to train ({', '.join(trainable)})")
    parser.add_argument("--all", action="store_true", help="every trainable model with a recipe")
    parser.add_argument("--export-only", action="store_true", help="export the existing runs, do not train")
    args = parser.parse_args(argv)
    os.chdir(ROOT)  # the configs' data and output paths are relative to the repository root
    models = trainable if args.all else args.models
    if not models:
        parser.error("name the models to train, or pass --all")
    for model in models:
        if model not in trainable:
            parser.error(f"no trainable model {model!r} with a default-weights recipe; choose from "
                         f"{', '.join(trainable)}")
    for model in models:
        if not args.export_only:
            train(model)
        export(model)
    size = total_size()
    print(f"default weights in the package: {size / 1e6:.1f} MB (budget {BUDGET_BYTES / 2**20:.0f} MiB)",
          file=sys.stderr)
    return 0 if size <= BUDGET_BYTES else 1


if __name__ == "__main__":
    sys.exit(main())
