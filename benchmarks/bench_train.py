"""Training speed of every trainable model: images per second through the real trainer.

Each measurement runs the shared trainer (data loading, masks, the model's
whole training step, logging) on synthetic images for ``--warmup`` steps, then
times ``--steps`` more and reports the batch size over the median step time.
Model options come from the model's example ``<model>-cpu`` (CPU table) and
``<model>-gpu`` (CUDA table). On CUDA each model
is timed in fp32 and in mixed precision (``auto``: bf16 where supported, else
fp16 with a gradient scaler), with channels-last.

    python benchmarks/bench_train.py                     # CPU, 64 and 128 px
    python benchmarks/bench_train.py --models autoencoder --sizes 64 --steps 3

Prints markdown tables.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import torch

from inpaint_models import train
from inpaint_models.contract.registry import default_registry
from inpaint_models.io.examples import example_names, example_path
from inpaint_models.training import read_config_file, write_synthetic_images

def model_options(model: str, kind: str) -> dict:
    """The ``[model]`` options of the model's example ``<model>-<kind>`` (defaults when it has none)."""
    if f"{model}-{kind}" not in example_names():
        return {}
    path = example_path(f"{model}-{kind}")
    options = dict(read_config_file(path).get("model", {}))
    options.pop("name", None)
    return options


@dataclass(frozen=True)
class Timing:
    """How one speed is measured: ``steps`` timed steps of ``batch`` crops after ``warmup`` untimed ones."""

    batch: int
    steps: int
    warmup: int
    device: str = "cpu"
    precision: str = "fp32"


def images_per_second(model: str, size: int, timing: Timing, options: dict, work: Path) -> Optional[float]:
    """Images per second: batch / median step time over the timed steps after the warm-up steps.

    The median keeps one slow step (another process taking the CPU) from skewing the figure.
    """
    batch, steps, warmup, device, precision = (timing.batch, timing.steps, timing.warmup, timing.device,
                                               timing.precision)
    data = work / f"data-{size}"
    if not data.is_dir():
        write_synthetic_images(data, count=max(8, batch), size=size + size // 4)
    stamps: dict[int, float] = {}

    def report(event) -> None:
        if event.step > 0:
            stamps.setdefault(event.step, time.perf_counter())

    total = warmup + steps
    config = {
        "model": {"name": model, **options},
        "train": {
            "data": [str(data)], "image_size": size, "batch_size": batch, "steps": total, "device": device,
            "precision": precision, "output": str(work / f"run-{model}-{size}-{device}-{precision}"),
            "validation_split": 0.0, "validate_every": 0, "preview_every": 0, "checkpoint_every": total + 1,
            "log_every": 1, "tensorboard": False, "workers": 0, "seed": 0,
        },
    }
    train(config, report=report)
    if any(step not in stamps for step in range(warmup, total + 1)):
        return None
    durations = sorted(stamps[step + 1] - stamps[step] for step in range(warmup, total))
    return batch / statistics.median(durations)


def table(title: str, header: list[str], rows: list[list[str]]) -> str:
    lines = [f"### {title}", "", "| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def fmt(value: Optional[float]) -> str:
    return "n/a" if value is None else f"{value:.1f}"


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    registry = default_registry()
    trainable = [name for name in registry.names() if registry.info(name).trainable]
    parser.add_argument("--models", nargs="+", default=trainable, help="models to time (default: all trainable)")
    parser.add_argument("--sizes", nargs="+", type=int, default=[64, 128])
    parser.add_argument("--batch", type=int, default=8, help="CPU batch size (CUDA uses 4x)")
    parser.add_argument("--steps", type=int, default=5, help="timed steps")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps first")
    parser.add_argument("--threads", type=int, default=2, help="CPU threads for torch")
    parser.add_argument("--no-cuda", action="store_true", help="skip the CUDA table even with a GPU")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    with tempfile.TemporaryDirectory(prefix="bench-train-") as tmp:
        work = Path(tmp)
        rows = []
        for model in args.models:
            options = model_options(model, "cpu")
            timing = Timing(args.batch, args.steps, args.warmup)
            speeds = [images_per_second(model, size, timing, options, work) for size in args.sizes]
            shown = ", ".join(f"{k}={v}" for k, v in options.items()) or "defaults"
            rows.append([model, shown, *map(fmt, speeds)])
        header = ["model", "options (example <model>-cpu)", *[f"{size} px img/s" for size in args.sizes]]
        print(table(f"CPU training speed ({args.threads} threads, batch {args.batch}, fp32; "
                    f"torch {torch.__version__}, {platform.processor() or platform.machine()})", header, rows))

        if torch.cuda.is_available() and not args.no_cuda:
            rows = []
            batch = args.batch * 4
            for model in args.models:
                options = model_options(model, "gpu")
                for size in args.sizes:
                    fp32, mixed = (images_per_second(model, size, Timing(batch, args.steps * 4, args.warmup * 2,
                                                                          "cuda", precision), options, work)
                                   for precision in ("fp32", "auto"))
                    speedup = f"{mixed / fp32:.2f}x" if fp32 and mixed else "n/a"
                    rows.append([model, str(size), fmt(fp32), fmt(mixed), speedup])
            mixed_name = "bf16" if torch.cuda.is_bf16_supported() else "fp16"
            print()
            print(table(f"CUDA training speed ({torch.cuda.get_device_name(0)}, batch {batch}, channels-last)",
                        ["model", "px", "fp32 img/s", f"{mixed_name} img/s", "speed-up"], rows))
        else:
            print("\n(no CUDA device: GPU table skipped)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
