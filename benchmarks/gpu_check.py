"""GPU check: every CUDA path of napari-inpaint in one run, in under 4 minutes, as one table.

On a machine with a CUDA GPU, from the repository root (after ``pip install -e .``)::

    python benchmarks/gpu_check.py                              # the whole check (under 4 minutes)
    python benchmarks/gpu_check.py --models autoencoder telea   # only some models
    GPU_CHECK_TRACEBACK=1 python benchmarks/gpu_check.py        # also print each failure's traceback

Paste the stdout (the tables) into the closing note.

To test the script itself without a GPU (what the test suite does)::

    python benchmarks/gpu_check.py --device cpu --quick [--models autoencoder telea]

What runs, for every model of the registry (``inpaint_models.available_models()``):

- **training**, through the shared trainer (``inpaint_models.train``), of every
  trainable model for ``--steps`` steps (20) in fp32, bf16 and fp16, with
  ``channels_last = true``, an EMA, gradient clipping (so the fp16 gradient
  scaler unscales), a validation and a preview at the last step, on small
  synthetic images written to a temporary folder (nothing is downloaded). Model
  options come from ``example <model>-gpu`` (``<model>-cpu`` with
  ``--quick``), with GLCIC's and pconv-unet's phase lengths shortened so that
  the few steps reach every phase, and mlp-gan trained at 64 px (its fully
  connected layers grow with the square of the size: at 128 px each of its
  parts spent about 30 s writing its checkpoint on an H200, crowding other
  parts out of the budget). img/s = batch size over the median step
  time after a warm-up (a GAN step that draws several batches counts once);
- **DDP**: one process, NCCL, world size 1. The trainer joins a process
  group only when ``WORLD_SIZE`` > 1, and NCCL refuses two ranks on one GPU, so
  the check creates the NCCL group itself (``init_process_group``, world size 1)
  and tells the trainer that the run is distributed: the networks are wrapped
  in ``DistributedDataParallel`` (the check counts the wrappers) and the
  per-step all-reduces, the metric averaging and the barrier all go through NCCL;
- **fill** on ``device="cuda"`` of every model, the classical ones too (they
  must accept the device), trainable ones with the fp32 run's checkpoint: the
  output must keep the input's shape and dtype, be finite, be bit-identical
  outside the mask and changed inside it;
- **the diffusion sampler** (every model with a ``steps`` fill option): a DDIM
  fill with 10 steps and a RePaint fill (``repaint = true``) with 10 steps.

It prints one markdown table (model, path and precision, img/s, max CUDA
memory in MB, seconds, pass / FAIL with the error's first line / skipped) and
then the mixed-precision speed-up (bf16 and fp16 img/s over fp32, per model).
A failing part is a FAIL row and the check goes on. Progress lines with the
elapsed time go to stderr. Every part gets a share of the ``--budget`` (210 s,
so that the whole check stays under 4 minutes): a training run past its share
stops early (its row says so), and a part that cannot start within the budget
is a "skipped: time budget" row. The parts run in this order: fp32 training,
fills, samplers, bf16, fp16, DDP (a tight budget still fills with every model).

``--device cpu --quick`` runs the same code on the CPU with tiny sizes: fp32
and bf16 training, DDP over gloo instead of NCCL, fills on ``cpu``; the fp16
and NCCL rows say "skipped: needs CUDA".

Exit status: 0 every part passed, 1 a part failed, 2 no CUDA device (nothing
was run; use ``--device cpu --quick`` to test the script) or a usage error,
3 nothing failed but some parts did not fit in the budget (rerun them with
``--models``).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime
import math
import os
import platform
import shutil
import socket
import statistics
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

NO_CUDA_STATUS = 2
INCOMPLETE_STATUS = 3
TIME_BUDGET = "time budget"

#: per-model settings that shorten the training phases so that a few steps reach every phase
#: (applied only to models of that name whose options have these fields)
#: Training size caps for models whose size grows with the square of the image size: mlp-gan's
#: fully connected layers at 128 px (its GPU config) made each of its parts take about 30 s on an
#: H200, nearly all of it writing and validating the large checkpoint, which pushed other models'
#: DDP parts out of the 210 s budget. The CUDA code paths are the same at 64 px.
MAX_TRAIN_SIZE: dict[str, int] = {"mlp-gan": 64}
PHASE_OPTIONS: dict[str, Callable[[int], dict[str, int]]] = {
    "glcic": lambda steps: {"completion_steps": max(1, steps // 3), "discriminator_steps": max(1, steps // 3)},
    "pconv-unet": lambda steps: {"finetune_after": max(1, steps - steps // 3)},
}

#: the sampler fills run on models with these fill options (the diffusion model)
SAMPLER_STEPS = 10


@dataclass
class Row:
    """One line of the table."""

    model: str
    path: str
    status: str = "pass"  # pass | FAIL | skipped
    detail: str = ""
    images_per_second: float | None = None
    memory_mb: float | None = None
    seconds: float | None = None
    precision: str = ""  # fp32 | bf16 | fp16 for training rows (the speed-up table)
    rank: int = 0  # place among the model's rows in the table

    @property
    def result(self) -> str:
        if self.status == "pass":
            return "pass" + (f" ({self.detail})" if self.detail else "")
        return f"{self.status}: {self.detail}" if self.detail else self.status


@dataclass
class Settings:
    device: str  # "cuda" or "cpu"
    quick: bool
    size: int
    batch: int
    steps: int
    images: int
    fill_size: int
    hole: int
    repeats: int
    workers: int
    options_kind: str  # "gpu" or "cpu": which example <model>-<kind> gives the [model] options
    budget: float


class CheckFailed(Exception):
    """A part ran but its result is wrong."""


def first_line(error: BaseException) -> str:
    """``Type: first line of the message`` (at most 160 characters)."""
    text = str(error).strip().splitlines()
    line = f"{type(error).__name__}: {text[0]}" if text else type(error).__name__
    return line if len(line) <= 160 else line[:157] + "..."


# --------------------------------------------------------------------------- CUDA helpers
def cuda_active(settings: Settings) -> bool:
    return settings.device == "cuda"


def sync(settings: Settings) -> None:
    if cuda_active(settings):
        import torch

        torch.cuda.synchronize()


def warm_up_cuda() -> None:
    """Create the CUDA context and load cuBLAS and cuDNN (fp32 and bf16) before any part is timed.

    Otherwise the first part (fp32 training of the first model) pays these seconds of one-time
    start-up within its share of the budget (seen on an H200: 1 of 20 steps).
    """
    import torch

    net = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.Flatten(), torch.nn.LazyLinear(4)).cuda()
    x = torch.randn(2, 3, 16, 16, device="cuda")
    for dtype in (None, torch.bfloat16, torch.float16):
        with torch.autocast("cuda", dtype=dtype or torch.float32, enabled=dtype is not None):
            net(x).float().square().mean().backward()
    torch.cuda.synchronize()


@contextlib.contextmanager
def peak_memory(settings: Settings, row: Row):
    """Record the peak CUDA memory allocated inside the block in ``row.memory_mb``."""
    if not cuda_active(settings):
        yield
        return
    import torch

    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats()
    try:
        yield
    finally:
        row.memory_mb = torch.cuda.max_memory_allocated() / 2**20


# --------------------------------------------------------------------------- model options
def model_options(model: str, settings: Settings) -> dict[str, Any]:
    """``[model]`` options of the model's example ``<model>-<kind>`` (defaults when it has none) + shortened phases."""
    import inpaint_models
    from inpaint_models.api_train import example_names, example_path, read_config_file

    options: dict[str, Any] = {}
    name = f"{model}-{settings.options_kind}"
    if name in example_names():
        options = dict(read_config_file(example_path(name)).get("model", {}))
        options.pop("name", None)
    fields = {f.name for f in dataclasses.fields(inpaint_models.model_info(model).options)}
    if model in PHASE_OPTIONS:
        options.update({k: v for k, v in PHASE_OPTIONS[model](settings.steps).items() if k in fields})
    return options


# --------------------------------------------------------------------------- training
class Budget:
    """The time left, shared out between the parts still to run."""

    def __init__(self, seconds: float, started: float) -> None:
        self.deadline = started + seconds
        self.started = started

    def elapsed(self) -> float:
        return time.perf_counter() - self.started

    def left(self) -> float:
        return self.deadline - time.perf_counter()

    def share(self, parts_left: int) -> float:
        """Seconds one part may take: twice an even share of what is left (quick parts leave time over)."""
        return max(0.0, 2.0 * self.left() / max(parts_left, 1))


def train_config(model: str, settings: Settings, ctx: Context, precision: str, tag: str) -> dict[str, Any]:
    s = settings
    return {
        "model": {"name": model, **model_options(model, s)},
        "train": {
            "data": [str(ctx.data)], "image_size": min(s.size, MAX_TRAIN_SIZE.get(model, s.size)),
            "batch_size": s.batch, "steps": s.steps,
            "device": s.device, "precision": precision, "channels_last": True, "ema_decay": 0.99,
            "grad_clip": 1.0, "output": str(ctx.run_folder(model, tag)), "validation_split": 0.1,
            "validation_images": 4, "validate_every": s.steps, "preview_every": s.steps, "preview_images": 2,
            "checkpoint_every": s.steps, "log_every": 1, "tensorboard": False, "workers": s.workers, "seed": 0,
        },
    }


def run_training(model: str, settings: Settings, ctx: Context, precision: str, tag: str, row: Row,
                 time_limit: float) -> Path:
    """Train through ``inpaint_models.train`` and fill ``row`` (img/s, checks); returns the checkpoint."""
    import inpaint_models

    stamps: dict[int, float] = {}
    finals: list[Any] = []
    started = time.perf_counter()
    stopped_by_budget = []

    def report(event) -> None:
        if event.step > 0:
            stamps.setdefault(event.step, time.perf_counter())
        finals.append(event)

    def cancel() -> bool:
        late = time.perf_counter() - started > time_limit
        if late and not stopped_by_budget:
            stopped_by_budget.append(True)
        return late

    path = Path(inpaint_models.train(train_config(model, settings, ctx, precision, tag), report=report,
                                     cancel=cancel))
    sync(settings)
    if not path.is_file():
        raise CheckFailed(f"the run returned {path}, which does not exist")
    last = finals[-1]
    used = last.extra.get("precision")
    if used != precision and precision != "auto":
        raise CheckFailed(f"asked for {precision}, the trainer used {used}")
    row.precision = used or precision
    device = str(last.extra.get("device", ""))
    if not device.startswith(settings.device):
        raise CheckFailed(f"the trainer ran on {device!r}, not {settings.device}")
    done = max(stamps) if stamps else 0
    if done < settings.steps:
        if not stopped_by_budget:
            raise CheckFailed(f"the run stopped at step {done} of {settings.steps}")
        row.detail = f"time budget: {done}/{settings.steps} steps"
    row.images_per_second = images_per_second(stamps, settings.batch, done)
    return path


def images_per_second(stamps: dict[int, float], batch: int, done: int) -> float | None:
    """Batch size over the median step time after a warm-up (the last step, which also validates,
    previews and writes the checkpoint, is left out when there are enough steps)."""
    warmup = min(5, max(1, done // 4))
    last = done - 1 if done - warmup >= 3 else done
    durations = [stamps[k + 1] - stamps[k] for k in range(warmup, last) if k in stamps and k + 1 in stamps]
    if not durations:
        return None
    median = statistics.median(durations)
    return batch / median if median > 0 else None


@contextlib.contextmanager
def one_process_group(settings: Settings):
    """A torch.distributed group of world size 1 (NCCL on CUDA, gloo on the CPU) that the trainer
    treats as distributed; yields a list that receives every DistributedDataParallel wrapper built."""
    import torch
    import torch.distributed as dist
    from torch.nn import parallel

    from inpaint_models.training import distributed as training_distributed

    backend = "nccl" if cuda_active(settings) else "gloo"
    if backend == "nccl" and not dist.is_nccl_available():
        raise CheckFailed("this torch build has no NCCL")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    class OneProcessRun(training_distributed.DistInfo):
        """Rank 0 of 1, but distributed: the trainer wraps networks in DDP and runs its collectives."""

        @property
        def distributed(self) -> bool:
            return True

    wrappers: list[Any] = []
    original_ddp = parallel.DistributedDataParallel
    original_init = training_distributed.init_distributed

    class CountedDDP(original_ddp):  # type: ignore[misc, valid-type]
        def __init__(self, *args: Any, **kw: Any) -> None:
            super().__init__(*args, **kw)
            wrappers.append(self)

    saved_env = {key: os.environ.get(key) for key in ("MASTER_ADDR", "MASTER_PORT")}
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    try:
        kwargs: dict[str, Any] = {}
        if backend == "nccl":
            torch.cuda.set_device(0)
            kwargs["device_id"] = torch.device("cuda", 0)
        dist.init_process_group(backend, rank=0, world_size=1, timeout=datetime.timedelta(seconds=120), **kwargs)
        training_distributed.init_distributed = lambda device_type: OneProcessRun(0, 1, 0, False)
        parallel.DistributedDataParallel = CountedDDP
        yield wrappers
    finally:
        parallel.DistributedDataParallel = original_ddp
        training_distributed.init_distributed = original_init
        if dist.is_initialized():
            with contextlib.suppress(Exception):
                dist.destroy_process_group()
        for key, value in saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


# --------------------------------------------------------------------------- fills
def fill_inputs(settings: Settings) -> tuple[np.ndarray, np.ndarray]:
    """A smooth RGB float32 test image and a centred square hole."""
    size, hole = settings.fill_size, settings.hole
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / (size - 1)
    image = np.stack([0.2 + 0.6 * xx, 0.3 + 0.4 * yy, 0.5 + 0.3 * np.sin(6 * (xx + yy))], axis=-1)
    image = image.astype(np.float32)
    mask = np.zeros((size, size), bool)
    start = (size - hole) // 2
    mask[start:start + hole, start:start + hole] = True
    return image, mask


def run_fill(model: str, settings: Settings, weights: Path | None, options: dict[str, Any], row: Row) -> None:
    """Fill the test image on the device and check it; img/s from ``repeats`` more calls (the first call
    loads the weights), or from the first call when ``repeats`` is 0."""
    import inpaint_models

    image, mask = fill_inputs(settings)
    original = image.copy()

    def call() -> np.ndarray:
        return inpaint_models.fill(image, mask, model=model, weights=weights, device=settings.device, **options)

    start = time.perf_counter()
    output = call()
    sync(settings)
    first = time.perf_counter() - start
    if output.shape != image.shape or output.dtype != image.dtype:
        raise CheckFailed(f"output {output.shape} {output.dtype}, input {image.shape} {image.dtype}")
    if not np.array_equal(image, original):
        raise CheckFailed("the caller's image was modified")
    if not np.isfinite(output).all():
        raise CheckFailed("the output has NaN or infinite values")
    if not np.array_equal(output[~mask], image[~mask]):
        raise CheckFailed("pixels outside the mask changed")
    if np.array_equal(output[mask], image[mask]):
        raise CheckFailed("the hole was left unchanged")
    if settings.repeats == 0:  # --quick: the first call (which also loads the weights) is the figure
        row.images_per_second = 1.0 / first
        return
    start = time.perf_counter()
    for _ in range(settings.repeats):
        call()
    sync(settings)
    row.images_per_second = settings.repeats / (time.perf_counter() - start)


# --------------------------------------------------------------------------- the check
@dataclass
class Part:
    model: str
    path: str
    run: Callable[[Row, float], None]  # (row, seconds allowed)
    rank: int  # place among the model's rows in the table
    needs_cuda: bool = False


class Context:
    def __init__(self, settings: Settings, work: Path) -> None:
        self.settings = settings
        self.work = work
        self.data = work / "data"
        self.checkpoints: dict[str, Path] = {}

    def run_folder(self, model: str, tag: str) -> Path:
        return self.work / f"run-{model}-{tag}"

    def remove_run(self, model: str, tag: str) -> None:
        """Delete a run folder that nothing uses any more (GPU-sized checkpoints take gigabytes)."""
        shutil.rmtree(self.run_folder(model, tag), ignore_errors=True)


def build_parts(models: list[str], settings: Settings, ctx: Context) -> list[Part]:
    import inpaint_models

    infos = {name: inpaint_models.model_info(name) for name in models}
    trainable = [name for name in models if infos[name].trainable]
    parts: list[Part] = []

    def training(model: str, precision: str) -> Callable[[Row, float], None]:
        def run(row: Row, limit: float) -> None:
            try:
                path = run_training(model, settings, ctx, precision, precision, row, limit)
            finally:
                if precision != "fp32":  # only the fp32 checkpoints are used later (by the fills)
                    ctx.remove_run(model, precision)
            if precision == "fp32":
                ctx.checkpoints[model] = path

        return run

    def ddp(model: str) -> Callable[[Row, float], None]:
        def run(row: Row, limit: float) -> None:
            precision = "auto" if cuda_active(settings) else "bf16"
            try:
                with one_process_group(settings) as wrappers:
                    run_training(model, settings, ctx, precision, "ddp", row, limit)
            finally:
                ctx.remove_run(model, "ddp")
            if not wrappers:
                raise CheckFailed("no network was wrapped in DistributedDataParallel")
            row.path = f"{row.path} {row.precision}, {len(wrappers)} DDP net(s)"

        return run

    def filling(model: str, options: dict[str, Any]) -> Callable[[Row, float], None]:
        def run(row: Row, limit: float) -> None:
            weights = None
            if infos[model].trainable:
                weights = ctx.checkpoints.get(model)
                if weights is None:
                    if infos[model].default_weights is None:
                        raise CheckFailed("no checkpoint: the fp32 training run did not pass")
                    row.detail = "shipped weights: the fp32 run did not pass"
            run_fill(model, settings, weights, options, row)

        return run

    # run order: what the fills need first (fp32 checkpoints), then the fills, then the other precisions and
    # DDP, so that a tight budget still leaves a fill of every model; the table shows them by model
    cl = "channels-last"
    for model in trainable:
        parts.append(Part(model, f"train fp32 {cl}", training(model, "fp32"), rank=0))
    for model in models:
        parts.append(Part(model, f"fill {settings.device}", filling(model, {}), rank=10))
    for model in models:
        fields = {f.name for f in dataclasses.fields(infos[model].options)}
        if "steps" not in fields:
            continue
        ddim = {"steps": SAMPLER_STEPS, **({"eta": 0.0} if "eta" in fields else {})}
        parts.append(Part(model, f"sampler ddim {SAMPLER_STEPS} steps", filling(model, ddim), rank=11))
        if "repaint" in fields:
            repaint = {"steps": SAMPLER_STEPS, "repaint": True}
            repaint.update({k: 2 for k in ("jump_length", "resample_count") if k in fields})
            parts.append(Part(model, f"sampler repaint {SAMPLER_STEPS} steps", filling(model, repaint), rank=12))
    for rank, precision in enumerate(("bf16", "fp16"), start=1):
        for model in trainable:
            parts.append(Part(model, f"train {precision} {cl}", training(model, precision), rank=rank,
                              needs_cuda=precision == "fp16"))
    backend = "nccl" if cuda_active(settings) else "gloo"
    for model in trainable:
        parts.append(Part(model, f"ddp {backend} x1", ddp(model), rank=3))
        if backend != "nccl":
            parts.append(Part(model, "ddp nccl x1", ddp(model), rank=4, needs_cuda=True))
    return parts


def run_parts(parts: list[Part], settings: Settings, budget: Budget) -> list[Row]:
    rows = []
    runnable = [cuda_active(settings) or not part.needs_cuda for part in parts]
    for index, part in enumerate(parts):
        row = Row(part.model, part.path, rank=part.rank)
        if "fp16" in part.path:
            row.precision = "fp16"
        if not runnable[index]:
            row.status, row.detail = "skipped", "needs CUDA"
        elif budget.left() <= 0:
            row.status, row.detail = "skipped", TIME_BUDGET
        else:
            limit = budget.share(sum(runnable[index:]))
            started = time.perf_counter()
            try:
                with peak_memory(settings, row):
                    part.run(row, limit)
            except Exception as error:  # noqa: BLE001 - every failure becomes a FAIL row
                row.status, row.detail = "FAIL", first_line(error)
                if os.environ.get("GPU_CHECK_TRACEBACK"):
                    traceback.print_exc()
            row.seconds = time.perf_counter() - started
        print(f"[{budget.elapsed():6.1f} s] {row.model:16} {row.path:28} {row.result}", file=sys.stderr, flush=True)
        rows.append(row)
    return rows


def fmt(value: float | None, digits: int = 1) -> str:
    return "-" if value is None or not math.isfinite(value) else f"{value:.{digits}f}"


def markdown(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


TABLE_HEADER = ["model", "path / precision", "img/s", "max CUDA MB", "s", "result"]


def results_table(rows: list[Row], models: list[str]) -> str:
    order = {name: index for index, name in enumerate(models)}
    ordered = sorted(rows, key=lambda r: (order.get(r.model, len(order)), r.rank))  # stable within a rank
    return markdown(TABLE_HEADER, [[r.model, r.path, fmt(r.images_per_second), fmt(r.memory_mb, 0),
                                    fmt(r.seconds), r.result] for r in ordered])


def speedup_table(rows: list[Row], models: list[str]) -> str:
    body = []
    for model in models:
        speeds = {r.precision: r.images_per_second for r in rows
                  if r.model == model and r.path.startswith("train ") and r.status == "pass"}
        if not any(r.model == model and r.path.startswith("train ") for r in rows):
            continue
        base = speeds.get("fp32")
        ratios = {name: f"{speeds[name] / base:.2f}x" if speeds.get(name) and base else "-" for name in ("bf16", "fp16")}
        body.append([model, fmt(base), fmt(speeds.get("bf16")), ratios["bf16"], fmt(speeds.get("fp16")),
                     ratios["fp16"]])
    return markdown(["model", "fp32 img/s", "bf16 img/s", "bf16 / fp32", "fp16 img/s", "fp16 / fp32"], body)


def describe_machine(settings: Settings) -> str:
    import torch

    if cuda_active(settings):
        properties = torch.cuda.get_device_properties(0)
        where = (f"{properties.name} ({properties.total_memory / 2**30:.0f} GiB), CUDA {torch.version.cuda}, "
                 f"bf16 {'yes' if torch.cuda.is_bf16_supported() else 'no'}")
    else:
        where = f"CPU ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"
    return f"torch {torch.__version__}, {where}"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Run every CUDA path (training in fp32/bf16/fp16 channels-last, one-process NCCL DDP, fills "
                    "and the diffusion sampler on cuda) and print one table.",
        epilog="Exit status: 0 all passed, 1 a part failed, 2 no CUDA device (nothing run) or a usage error, "
               "3 some parts did not fit in the time budget.")
    parser.add_argument("--device", choices=("cuda", "cpu"), default="cuda",
                        help="cuda (default) or cpu, which needs --quick (tests the script itself)")
    parser.add_argument("--quick", action="store_true", help="tiny sizes: a smoke test of the script")
    parser.add_argument("--models", nargs="+", metavar="NAME",
                        help="only these registered models (default: every model of the registry)")
    parser.add_argument("--steps", type=int, help="training steps per run (default 20; 3 with --quick)")
    parser.add_argument("--size", type=int, help="training image size (default 128; 32 with --quick)")
    parser.add_argument("--batch", type=int, help="batch size (default 16; 2 with --quick)")
    parser.add_argument("--workers", type=int, help="data-loader workers (default 4 on CUDA, 0 with --quick)")
    parser.add_argument("--options", choices=("gpu", "cpu"),
                        help="model options from example <model>-gpu (default) or <model>-cpu (--quick)")
    parser.add_argument("--budget", type=float,
                        help="seconds for the parts (default 210: with start-up and the last part, under 4 minutes; "
                             "600 with --quick)")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2)")
    parser.add_argument("--keep", action="store_true",
                        help="keep the temporary folder (data, fp32 runs and checkpoints)")
    args = parser.parse_args(argv)
    if args.device == "cpu" and not args.quick:
        parser.error("--device cpu needs --quick (a full-size check on the CPU would take hours)")
    for name in ("steps", "size", "batch", "budget"):
        value = getattr(args, name)
        if value is not None and value <= 0:
            parser.error(f"--{name} must be positive")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    import torch

    import inpaint_models
    from inpaint_models.training import write_synthetic_images

    if args.device == "cuda" and not torch.cuda.is_available():
        build = f"built with CUDA {torch.version.cuda}" if torch.version.cuda else "a CPU-only build"
        print(f"gpu_check: no CUDA device on this machine (torch {torch.__version__}, {build}): nothing was run.\n"
              f"Run it on a machine with an NVIDIA GPU, or `python benchmarks/gpu_check.py --device cpu --quick` "
              f"to test the script itself.", file=sys.stderr)
        return NO_CUDA_STATUS
    torch.set_num_threads(args.threads)

    quick = args.quick
    settings = Settings(
        device=args.device, quick=quick,
        size=args.size or (32 if quick else 128),
        batch=args.batch or (2 if quick else 16),
        steps=args.steps or (3 if quick else 20),
        images=8 if quick else 48,
        fill_size=64 if quick else 256,
        hole=16 if quick else 64,
        repeats=0 if quick else 3,
        workers=args.workers if args.workers is not None else (0 if quick or args.device == "cpu" else 4),
        options_kind=args.options or ("cpu" if quick else "gpu"),
        budget=args.budget or (600.0 if quick else 210.0),
    )
    if cuda_active(settings):
        warm_up_cuda()
    registry_models = inpaint_models.available_models()
    models = registry_models
    if args.models:
        unknown = [name for name in args.models if name not in registry_models]
        if unknown:
            print(f"gpu_check: unknown model(s) {', '.join(unknown)}; registered: {', '.join(registry_models)}",
                  file=sys.stderr)
            return 2
        models = [name for name in registry_models if name in args.models]

    budget = Budget(settings.budget, started)
    work_dir = tempfile.mkdtemp(prefix="gpu-check-")
    work = Path(work_dir)
    try:
        ctx = Context(settings, work)
        write_synthetic_images(ctx.data, count=max(settings.images, 2 * settings.batch),
                               size=settings.size + settings.size // 4, seed=0)
        parts = build_parts(models, settings, ctx)
        capped = ", ".join(f"{name} {size} px" for name, size in MAX_TRAIN_SIZE.items()
                           if name in models and size < settings.size)
        size = f"{settings.size} px" + (f" ({capped})" if capped else "")
        title = (f"GPU check on {describe_machine(settings)}: {settings.steps} training steps, batch "
                 f"{settings.batch}, {size}, [model] options of example <model>-{settings.options_kind}; fills of a {settings.fill_size} px RGB image with a {settings.hole} px hole"
                 f"{' (--quick)' if quick else ''}")
        print(f"[{budget.elapsed():6.1f} s] {len(parts)} parts; budget {settings.budget:.0f} s", file=sys.stderr)
        rows = run_parts(parts, settings, budget)
    finally:
        if args.keep:
            print(f"gpu_check: runs kept in {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)

    failed = [r for r in rows if r.status == "FAIL"]
    skipped = [r for r in rows if r.status == "skipped"]
    late = [r for r in rows if r.status == "skipped" and r.detail == TIME_BUDGET]
    print(f"## {title}\n")
    print(results_table(rows, models))
    print("\n### Mixed-precision speed-up (training img/s over fp32)\n")
    print(speedup_table(rows, models))
    print(f"\n{len(rows) - len(failed) - len(skipped)} passed, {len(failed)} failed, {len(skipped)} skipped "
          f"in {budget.elapsed():.1f} s")
    if late:
        print(f"\nincomplete: {len(late)} part(s) did not fit in the {settings.budget:.0f} s budget; rerun those "
              f"models with --models NAME ... (or a larger --budget)")
    return 1 if failed else INCOMPLETE_STATUS if late else 0


if __name__ == "__main__":
    sys.exit(main())
