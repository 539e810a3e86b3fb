"""The shared training loop: one :class:`Trainer` serves every trainable model.

The model contributes a :class:`~inpaint_models.training.task.TrainTask`; the
trainer does the rest: data, device, DDP, mixed precision, EMA, gradient
clipping, learning-rate schedule, validation, previews, logs, checkpoints,
resume and cancellation. Plugins call :func:`fit` from their ``train`` hook.
"""

from __future__ import annotations

import collections
import contextlib
import json
import logging
import math
import time
from pathlib import Path
from typing import Any, Mapping, Optional, Union

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from inpaint_models.contract.datatypes import ProgressEvent, Reporter, ignore_progress
from inpaint_models.contract.devices import resolve_device
from inpaint_models.contract.errors import Cancelled, ConfigError
from inpaint_models.contract.options import options_as_dict
from inpaint_models.io.sidecar import read_sidecar
from inpaint_models.training import distributed
from inpaint_models.training.checkpoints import (
    EMA_PREFIX,
    CheckpointFiles,
    atomic_write_json,
    complete_checkpoints,
    flatten_optimizer,
    load_networks,
    load_tensors,
    network_tensors,
    prune_checkpoints,
    remove_temporary_files,
    resolve_resume,
    save_checkpoint,
    step_stem,
    unflatten_optimizer,
)
from inpaint_models.training.config import BEST_METRICS, TrainConfig, check_config, config_to_dict
from inpaint_models.training.data import Batch, StreamBatchSampler, collate
from inpaint_models.training.ema import EMA
from inpaint_models.training.folders import ImageFolders
from inpaint_models.training.metrics import compute_metrics
from inpaint_models.training.precision import Precision
from inpaint_models.training.preview import preview_grid, write_png
from inpaint_models.training.runlog import MetricsLog, TensorBoardLog
from inpaint_models.training.sources import DataSource, TrainingSets
from inpaint_models.training.task import StepContext, TaskFactory, TaskSpec, TrainTask

logger = logging.getLogger("inpaint_models.training")

#: minimum seconds between two progress events (cancellation is checked at each event)
REPORT_INTERVAL_SECONDS = 0.25


def resume_point(resume: Union[bool, Path], output: Union[str, Path]) -> Optional[Path]:
    """The checkpoint a run into the folder ``output`` resumes from; None for a fresh run. Writes nothing.

    Args:
        resume: ``[train] resume``: False (a fresh run), True (the newest complete
            step checkpoint in ``output/checkpoints``) or a checkpoint path.
        output: the run folder.

    Raises:
        ConfigError: ``resume`` is True and the folder holds no complete step
            checkpoint (naming it: a resume never silently starts over); a fresh
            run into a folder that holds checkpoints of another run (step
            checkpoints or ``best``: nothing is overwritten); a given checkpoint
            without resume state.
    """
    checkpoints = Path(output) / "checkpoints"
    resume_from = resolve_resume(resume, checkpoints)
    best = CheckpointFiles.for_stem(checkpoints, "best")
    has_best = best.sidecar.is_file() or best.weights.is_file()
    if resume is True and resume_from is None:
        keeps = " (this folder keeps its best.safetensors, so choose another output)" if has_best else ""
        raise ConfigError(
            f"[train] resume: nothing to resume in {output}: {checkpoints} holds no complete step checkpoint "
            f"(a run stopped before its first one leaves none); start afresh without resume{keeps}"
        )
    if resume_from is None and (complete_checkpoints(checkpoints) or has_best):
        raise ConfigError(
            f"[train] output {output} already holds checkpoints of another run; continue it with "
            f"resume (inpaint train/fit --resume, resume=True) or choose another output"
        )
    return resume_from


def fit(config: TrainConfig, factory: TaskFactory, report: Reporter = ignore_progress) -> Path:
    """Train a model and return its final checkpoint (the plugins' ``train`` hook body).

    Args:
        config: a checked :class:`TrainConfig` (see :func:`load_config`).
        factory: builds the model's :class:`TrainTask` from a :class:`TaskSpec`.
        report: progress callback; raising :class:`Cancelled` from it stops the
            run cleanly after writing a checkpoint, which is then returned.

    Returns:
        The weights file (``.safetensors``) of the last checkpoint written.
    """
    return Trainer(config, factory, report).run()


class Trainer:
    """One training run. Build it, call :meth:`run` once.

    After :meth:`run`, ``task`` holds the trained networks, ``step`` the last
    step, ``metrics`` the last validation metrics and ``cancelled`` whether the
    run was stopped early.
    """

    def __init__(self, config: TrainConfig, factory: TaskFactory, report: Reporter = ignore_progress) -> None:
        if config.model is None:
            raise ConfigError("TrainConfig.model is None: build configs with load_config()")
        self.config = config
        self.settings = config.train
        self.factory = factory
        self.report = report
        self.task: Optional[TrainTask] = None
        self.step = 0
        self.metrics: dict[str, float] = {}
        self.cancelled = False
        self.skipped_files: dict[str, str] = {}
        self._overflows: dict[str, int] = {}  # fp16: skipped (overflowed) steps in a row, per optimiser
        self.last_checkpoint: Optional[Path] = None
        self.last_preview: Optional[Path] = None
        self.optimizers: dict[str, torch.optim.Optimizer] = {}
        self.train_nets: dict[str, torch.nn.Module] = {}
        self.ema: Optional[EMA] = None
        self._cancel_seen = False
        self._budget_start: Optional[float] = None  # perf_counter at the first step (time budget)
        self._seconds_before = 0.0  # budget spent by the run this one resumes
        self._batches_drawn = 0
        self._best: Optional[dict[str, Any]] = None
        self._batches = None
        self.sets: Optional[TrainingSets] = None  # the data source's sets (set up by run)
        self._started = 0.0  # perf_counter at the start of the loop
        self._last_event = 0.0  # perf_counter of the last progress event
        self._last_saved = 0.0  # perf_counter of the last step checkpoint (or of the loop's start)
        self._save_seconds = 0.0  # how long the last step checkpoint took to write
        self._last_losses: dict[str, float] = {}  # the mean losses of the last log or event

    # ------------------------------------------------------------------ paths
    @property
    def output(self) -> Path:
        return Path(self.settings.output)

    @property
    def checkpoint_dir(self) -> Path:
        return self.output / "checkpoints"

    @property
    def preview_dir(self) -> Path:
        return self.output / "previews"

    # ------------------------------------------------------------------ run
    def run(self) -> Path:
        """Train to ``steps`` (or until cancelled) and return the last checkpoint's weights path."""
        check_config(self.config)
        device_name = resolve_device(self.settings.device)
        self.dist = distributed.init_distributed(torch.device(device_name).type)
        self.tensorboard = TensorBoardLog(self.output / "tensorboard", False)
        try:
            self._setup(device_name)
            return self._loop()
        finally:
            self._batches = None  # stops data-loader workers
            self.tensorboard.close()
            distributed.shutdown(self.dist)

    def _setup(self, device_name: str) -> None:
        """Everything before the first step: device, task, data, output folders, resume state, the batch stream."""
        s = self.settings
        self._setup_device(device_name)
        resume_from = resume_point(s.resume, self.output)
        self._build_task()
        self._setup_data()
        self._prepare_output()  # every check has passed: from here on the run writes files
        start_step, samples = 0, 0
        if resume_from is not None:
            start_step, samples = self._load_resume_state(resume_from)
        else:
            self.task.prepare(self.sets.statistics())
        self.start_step = self.step = start_step
        self._wrap_networks()
        self.task.train_mode()
        self._start_batches(samples, start_step)
        if self.dist.is_main:
            atomic_write_json(self.output / "config.json", config_to_dict(self.config))
            self.log.truncate_after(start_step)
            self.log.write("data", start_step, self.sets.record)
        if self.skipped_files:
            logger.warning("skipped %d unreadable or too small image file(s), e.g. %s",
                           len(self.skipped_files), next(iter(self.skipped_files)))

    def _setup_device(self, device_name: str) -> None:
        if self.dist.distributed and device_name.startswith("cuda"):
            device_name = f"cuda:{self.dist.local_rank}"
        self.device = torch.device(device_name)
        self.channels_last = bool(self.settings.channels_last and self.device.type == "cuda")
        self.precision = Precision(self.settings.precision, self.device)

    def _build_task(self) -> None:
        """The model's task with its networks on the device, its optimisers and the EMA.

        The networks are seeded identically on every process (DDP also broadcasts rank 0's).
        """
        s = self.settings
        torch.manual_seed(s.seed)
        task = self.factory(TaskSpec(options=self.config.model, channels=s.channels, image_size=s.image_size,
                                     train=s))
        for network in task.networks.values():
            network.to(self.device)
            if self.channels_last:
                network.to(memory_format=torch.channels_last)
        self.task = task
        self.optimizers = dict(task.configure_optimizers(s))
        for optimizer in self.optimizers.values():
            for group in optimizer.param_groups:
                group.setdefault("initial_lr", group["lr"])
        if s.ema_decay > 0:
            self.ema = EMA({name: task.networks[name] for name in task.inference_names()}, s.ema_decay)

    def _setup_data(self) -> None:
        """The run's sets, from the config's data source, else from the image folders of ``[train] data``."""
        source: DataSource = self.config.data_source or ImageFolders()
        self.sets = source.training_sets(self.settings, int(self.task.context_planes))
        self.skipped_files = dict(self.sets.skipped)

    def _prepare_output(self) -> None:
        """The run folders (rank 0 only; temporary files of a killed run removed), the metrics and TensorBoard logs."""
        is_main = self.dist.is_main
        if is_main:
            for folder in (self.output, self.checkpoint_dir, self.preview_dir):
                folder.mkdir(parents=True, exist_ok=True)
                remove_temporary_files(folder)
        self.log = MetricsLog(self.output / f"metrics.{self.settings.log_format}", self.settings.log_format,
                              enabled=is_main)
        self.tensorboard = TensorBoardLog(self.output / "tensorboard", self.settings.tensorboard and is_main)

    def _wrap_networks(self) -> None:
        """``train_nets``: the networks a training forward uses (DDP-wrapped when distributed and trainable)."""
        for name, network in self.task.networks.items():
            if self.dist.distributed and any(p.requires_grad for p in network.parameters()):
                from torch.nn.parallel import DistributedDataParallel

                device_ids = [self.device.index] if self.device.type == "cuda" else None
                # broadcast_buffers=False: a GAN step runs a discriminator twice (real, then fake)
                # before one backward, and DDP's in-place buffer broadcast at the second forward bumps
                # the version of BatchNorm statistics that cuDNN saved for the first one's backward
                # ("modified by an inplace operation", seen on CUDA with context-encoder). Each rank
                # keeps its own running statistics; checkpoints are written by rank 0, so the weights
                # carry rank 0's (estimated from its shard of the data)
                self.train_nets[name] = DistributedDataParallel(network, device_ids=device_ids,
                                                                broadcast_buffers=False)
            else:
                self.train_nets[name] = network

    def _start_batches(self, samples: int, start_step: int) -> None:
        """The stream of training batches, ``samples`` samples in (resume), and the training noise's seed."""
        s = self.settings
        sampler = StreamBatchSampler(len(self.sets.train), s.batch_size, s.seed, self.dist.rank,
                                     self.dist.world_size, start=samples)
        self._samples_start = samples
        loader = DataLoader(
            self.sets.train,
            batch_sampler=sampler,
            num_workers=s.workers,
            collate_fn=collate,
            pin_memory=self.device.type == "cuda",
            persistent_workers=s.workers > 0,
        )
        self._batches = iter(loader)
        # training noise (dropout, GAN latents) differs per process and per resume point
        torch.manual_seed(int(np.random.SeedSequence([s.seed, self.dist.rank, start_step]).generate_state(1)[0]))

    # ------------------------------------------------------------------ resume
    def _load_resume_state(self, weights: Path) -> tuple[int, int]:
        task = self.task
        sidecar = read_sidecar(weights, self.config.model_name)
        saved_options = sidecar.get("options", {})
        current = json.loads(json.dumps(options_as_dict(self.config.model), default=str))
        differing = sorted(k for k in set(saved_options) | set(current) if saved_options.get(k) != current.get(k))
        if differing:
            key = differing[0]
            raise ConfigError(
                f"[train] resume: {weights.name} was trained with model option {key} = {saved_options.get(key)!r}, "
                f"the config says {current.get(key)!r}; resume with the same [model] options"
            )
        if int(sidecar.get("channels", self.settings.channels)) != self.settings.channels:
            raise ConfigError(f"[train] resume: {weights.name} was trained with channels = {sidecar.get('channels')}")
        files = CheckpointFiles(weights)
        tensors = load_tensors(weights)
        load_networks(task.networks, tensors, prefer_ema=False, source=weights.name)
        state = json.loads(files.state_json.read_text(encoding="utf-8"))
        state_tensors = load_tensors(files.state)
        try:
            for name, optimizer in self.optimizers.items():
                optimizer.load_state_dict(unflatten_optimizer(name, state_tensors, state["optimizers"][name]))
        except (KeyError, ValueError) as error:
            raise ConfigError(
                f"[train] resume: optimiser state of {weights.name} does not fit this model: {error}"
            ) from None
        self.precision.load_state(state.get("scalers", {}))
        if self.ema is not None:
            ema_tensors = {k[len(EMA_PREFIX):]: v for k, v in tensors.items() if k.startswith(EMA_PREFIX)}
            if ema_tensors:
                self.ema.load(ema_tensors, state.get("ema_updates", 0))
        task.load_extra_state(sidecar.get("extra", {}))
        self._best = self._best_so_far(state.get("best"))
        self._seconds_before = float(state.get("seconds_spent", 0.0))
        self.metrics = dict(sidecar.get("metrics") or {})
        self.last_checkpoint = weights
        return int(state["step"]), int(state.get("samples_consumed", 0))

    def _best_so_far(self, saved: Optional[dict[str, Any]]) -> Optional[dict[str, Any]]:
        """The best validation so far: the resume state's, or the ``best`` checkpoint's when that one is better.

        A run killed after its last step checkpoint may have written a better ``best`` since; the
        resumed run replaces that file only with a better one.
        """
        best = CheckpointFiles.for_stem(self.checkpoint_dir, "best")
        try:
            record = json.loads(best.sidecar.read_text(encoding="utf-8")).get("best")
            value = float(record["value"])
        except (OSError, ValueError, TypeError, KeyError, AttributeError):
            return saved  # no best checkpoint (or an unreadable one, which a new best replaces)
        if record.get("metric") != self.settings.best_metric or not best.weights.is_file() or not math.isfinite(value):
            return saved
        higher = BEST_METRICS[self.settings.best_metric]
        if saved is None or (value > saved["value"] if higher else value < saved["value"]):
            return dict(record)
        return saved

    # ------------------------------------------------------------------ loop
    def next_batch(self) -> Batch:
        """The next training batch, on the device."""
        batch = next(self._batches)
        self._batches_drawn += 1
        if batch.bad_files:
            for entry in batch.bad_files:
                path, _, reason = entry.partition(": ")
                if path not in self.skipped_files:
                    self.skipped_files[path] = reason
                    self.log.write("data", self.step, {"skipped_file": path, "reason": reason})
        return batch.to(self.device, self.channels_last)

    def optimizer_step(self, name: str, ctx: StepContext) -> Optional[float]:
        """Unscale, clip, step and zero one optimiser (see :meth:`StepContext.update`)."""
        optimizer = self.optimizers[name]
        scaler = self.precision.scaler(name)
        norm = None
        if self.settings.grad_clip > 0:
            scaler.unscale_(optimizer)
            parameters = [p for group in optimizer.param_groups for p in group["params"] if p.grad is not None]
            norm = float(torch.nn.utils.clip_grad_norm_(parameters, self.settings.grad_clip))
            if math.isfinite(norm) or not scaler.is_enabled():
                ctx.grad_norms[name] = norm
        scale_before = scaler.get_scale() if scaler.is_enabled() else None
        scaler.step(optimizer)
        scaler.update()
        if scale_before is not None:
            self._count_overflow(name, skipped=scaler.get_scale() < scale_before)
        optimizer.zero_grad(set_to_none=True)
        return norm

    def _lr_factor(self, step: int) -> float:
        s = self.settings
        factor = 1.0
        if s.warmup_steps > 0 and step <= s.warmup_steps:
            factor = step / s.warmup_steps
        if s.lr_schedule == "cosine":
            span = max(1, s.steps - s.warmup_steps)
            progress = min(1.0, max(0.0, (step - s.warmup_steps) / span))
            if s.seconds > 0 and step > s.warmup_steps:  # a time budget: decay over the budget
                progress = max(progress, min(1.0, self._spent_seconds() / s.seconds))
            factor *= 0.5 * (1.0 + math.cos(math.pi * progress))
        return factor

    def _set_lr(self, step: int) -> None:
        factor = self._lr_factor(step)
        for optimizer in self.optimizers.values():
            for group in optimizer.param_groups:
                group["lr"] = group["initial_lr"] * factor

    @property
    def learning_rate(self) -> Optional[float]:
        for optimizer in self.optimizers.values():
            return float(optimizer.param_groups[0]["lr"])
        return None

    def _loop(self) -> Path:
        """Train until ``steps``, the time budget or a cancel; returns the last checkpoint's weights path."""
        ctx = StepContext(self)
        meter = _StepMeter()
        self._started = self._last_saved = time.perf_counter()
        self._emit(self._event(self._start_message(), {}, None, elapsed=self._elapsed(self._started)))
        interrupted: Optional[BaseException] = None
        self._budget_start = time.perf_counter()
        budget_spent = self._budget_spent()
        try:
            while self.step < self.settings.steps and not self._stop_requested() and not budget_spent:
                self._train_step(ctx, meter)
                now = time.perf_counter()
                if self.settings.seconds > 0:  # every process stops after the same step
                    budget_spent = distributed.any_true(self.dist, self._budget_spent(), self.device)
                self._after_step(ctx, meter, now, last=self.step == self.settings.steps or budget_spent)
        except KeyboardInterrupt as error:  # Ctrl-C outside the CLI: keep the work, then stop
            interrupted = error
            self.cancelled = True
        return self._finish(budget_spent, interrupted)

    def _train_step(self, ctx: StepContext, meter: "_StepMeter") -> None:
        """One optimisation step (the task's ``train_step``) and the EMA update."""
        step = self.step + 1
        ctx.step = step
        ctx.phase = self.task.phase(step)
        ctx.grad_norms = {}
        self._set_lr(step)
        drawn_before = self._batches_drawn
        tick = time.perf_counter()
        batch = self.next_batch()
        losses = self.task.train_step(batch, ctx)
        if self.ema is not None:
            self.ema.update()
        self.step = step
        images = (self._batches_drawn - drawn_before) * self.settings.batch_size * self.dist.world_size
        meter.add(time.perf_counter() - tick, images, losses, ctx.grad_norms)

    def _after_step(self, ctx: StepContext, meter: "_StepMeter", now: float, last: bool) -> None:
        """What follows a step when due: the losses' log, validation, preview, checkpoint, a progress event."""
        s, step = self.settings, self.step
        due_log = step % s.log_every == 0 or last
        due_event = due_log or now - self._last_event >= REPORT_INTERVAL_SECONDS
        if due_event:
            self._last_losses = meter.means()
            if due_log:
                self._last_losses = distributed.mean_over_processes(self.dist, self._last_losses, self.device)
                self._check_finite(self._last_losses, step)
                record = dict(self._last_losses, lr=self.learning_rate, images_per_second=meter.speed(),
                              stage=ctx.phase, elapsed_seconds=round(self._elapsed(now), 3))
                self.log.write("train", step, record)
                self.tensorboard.scalars("train", step, dict(self._last_losses, lr=self.learning_rate or 0.0,
                                                             images_per_second=meter.speed() or 0.0))
                meter.reset()
        if s.validate_every and (step % s.validate_every == 0 or last):
            self._validate(step)
        if s.preview_every and (step % s.preview_every == 0 or last):
            self._preview(step)
        if step % s.checkpoint_every == 0 or last or self._checkpoint_due(now):
            self._checkpoint(step, ctx.phase, self._last_losses)
        if due_event:
            self._last_event = now
            eta = (now - self._started) / (step - self.start_step) * (s.steps - step)  # wall clock: all overheads
            if s.seconds > 0:
                eta = max(0.0, min(eta, s.seconds - self._spent_seconds()))
            self._emit(self._event("", self._last_losses, eta, stage=ctx.phase, speed=meter.speed(),
                                   elapsed=self._elapsed(now)))

    def _finish(self, budget_spent: bool, interrupted: Optional[BaseException]) -> Path:
        """The final checkpoint (unless the last step wrote it) and the final event; re-raises a Ctrl-C."""
        total = self.settings.steps
        if self.step < total or interrupted is not None or self.last_checkpoint is None:
            self.cancelled = self.cancelled or (self.step < total and not budget_spent)
            if self.last_checkpoint is None or not self._checkpoint_is_current():
                self._checkpoint(self.step, self.task.phase(max(self.step, 1)), self._last_losses)
        distributed.barrier(self.dist)
        message = "cancelled" if self.cancelled else "finished"
        self._emit(self._event(f"{message}; checkpoint {self.last_checkpoint}", self._last_losses, 0.0,
                               elapsed=self._elapsed(time.perf_counter()), extra={"cancelled": self.cancelled}),
                   final=True)
        if interrupted is not None:
            raise interrupted
        return self.last_checkpoint

    def _elapsed(self, now: float) -> float:
        """The events' ``elapsed_seconds``: this run's seconds so far plus the budget the runs it resumes spent."""
        return self._seconds_before + (now - self._started)

    def _start_message(self) -> str:
        """The first event's message: the data, the device, and where a resumed run continues."""
        message = f"{self.sets.summary}; device {self.device}, {self.precision.name}"
        if self.start_step:
            message += f"; resumed at step {self.start_step}"
            if self.settings.seconds > 0:
                message += f", {self._seconds_before:.1f} of {self.settings.seconds:g} s spent"
        return message

    def _spent_seconds(self) -> float:
        """Seconds of training counted against ``[train] seconds`` (including a resumed run's)."""
        start = self._budget_start
        return self._seconds_before + (0.0 if start is None else time.perf_counter() - start)

    def _budget_spent(self) -> bool:
        return self.settings.seconds > 0 and self._spent_seconds() >= self.settings.seconds

    def _checkpoint_is_current(self) -> bool:
        return self.last_checkpoint is not None and self.last_checkpoint.name == f"{step_stem(self.step)}.safetensors"

    def _stop_requested(self) -> bool:
        stop = distributed.any_true(self.dist, self._cancel_seen, self.device)
        if stop:
            self.cancelled = True
        return stop

    #: fp16 steps in a row whose gradients overflowed before a run counts as diverged: the scaler
    #: halves its scale at each (from 2**16), so this many means gradients beyond any usable scale
    MAX_OVERFLOWS_IN_A_ROW = 30

    def _count_overflow(self, optimizer: str, skipped: bool) -> None:
        """fp16 only: the gradient scaler skipped ``optimizer``'s step (inf/NaN gradients) or not.

        Skipped steps while the scaler finds its scale are normal (the first few steps, and now
        and then later); only a long run of them means the run diverged.
        """
        in_a_row = self._overflows.get(optimizer, 0) + 1 if skipped else 0
        self._overflows[optimizer] = in_a_row
        if in_a_row >= self.MAX_OVERFLOWS_IN_A_ROW:
            raise FloatingPointError(
                f"training diverged: {optimizer!r} gradients overflowed fp16 in {in_a_row} steps in a row "
                f"(at step {self.step}); use train.precision = \"bf16\" or \"fp32\", or lower train.learning_rate "
                f"(last checkpoint: {self.last_checkpoint})"
            )

    def _check_finite(self, losses: Mapping[str, float], step: int) -> None:
        for key, value in losses.items():
            if not math.isfinite(value):
                raise FloatingPointError(
                    f"training diverged: loss {key!r} is {value} at step {step}; lower train.learning_rate, "
                    f"set train.grad_clip, or use train.precision = \"fp32\" (last checkpoint: {self.last_checkpoint})"
                )

    # ------------------------------------------------------------------ events
    def _event(self, message: str, losses: Mapping[str, float], eta: Optional[float], stage: str = "train",
               speed: Optional[float] = None, elapsed: Optional[float] = None,
               extra: Optional[dict[str, Any]] = None) -> ProgressEvent:
        return ProgressEvent(
            phase="train",
            step=self.step,
            total=self.settings.steps,
            message=message,
            losses=dict(losses),
            learning_rate=self.learning_rate,
            images_per_second=speed,
            eta_seconds=eta,
            elapsed_seconds=elapsed,
            preview_path=self.last_preview,
            checkpoint_path=self.last_checkpoint,
            extra={"stage": stage, "metrics": dict(self.metrics), "rank": self.dist.rank,
                   "device": str(self.device), "precision": self.precision.name, **(extra or {})},
        )

    def _emit(self, event: ProgressEvent, final: bool = False) -> None:
        try:
            self.report(event)
        except Cancelled:
            if not final:
                self._cancel_seen = True

    # ------------------------------------------------------------------ evaluation
    def _predict_samples(self, dataset: Dataset, limit: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(truth, mask, composited output) as numpy (N, H, W, C) / (N, H, W) for the first samples."""
        task = self.task
        count = min(limit, len(dataset))
        truths, masks, outputs = [], [], []
        context = self.ema.applied() if self.ema is not None else contextlib.nullcontext()
        task.eval_mode()
        try:
            with context, torch.inference_mode():
                for start in range(0, count, self.settings.batch_size):
                    end = min(count, start + self.settings.batch_size)
                    batch = collate([dataset[(i, 0)] for i in range(start, end)])
                    batch = batch.to(self.device, self.channels_last)
                    with self.precision.autocast():
                        predicted = task.predict(batch.masked, batch.mask)
                    predicted = predicted.float().clamp(0, 1)
                    composite = batch.mask * predicted + (1 - batch.mask) * batch.image
                    # (B, C, K, H, W) samples are scored on their target plane, and only where the truth
                    # is known (``Batch.weight``): a fit's real holes never count
                    if composite.ndim == 5:
                        batch, composite = batch.target_plane(), composite[:, :, composite.shape[2] // 2]
                    scored = batch.scored
                    truths.append(batch.image.float().permute(0, 2, 3, 1).cpu().numpy())
                    masks.append(scored[:, 0].cpu().numpy() > 0.5)
                    outputs.append(composite.permute(0, 2, 3, 1).cpu().numpy())
        finally:
            task.train_mode()
        return np.concatenate(truths), np.concatenate(masks), np.concatenate(outputs)

    def _validate(self, step: int) -> None:
        if not self.dist.is_main or len(self.sets.validation) == 0:
            return
        truth, mask, output = self._predict_samples(self.sets.validation, self.settings.validation_images)
        per_image = [compute_metrics(output[i], truth[i], mask[i]) for i in range(len(mask))]
        metrics = {}
        for key in per_image[0]:
            values = [m[key] for m in per_image if m[key] is not None and math.isfinite(m[key])]
            if values:
                metrics[key] = float(np.mean(values))
        self.metrics = metrics
        self.log.write("validation", step, metrics)
        self.tensorboard.scalars("validation", step, metrics)
        name = self.settings.best_metric
        value = metrics.get(name)
        if value is None:
            return
        higher = BEST_METRICS[name]
        best = self._best
        if best is None or (value > best["value"] if higher else value < best["value"]):
            self._best = {"metric": name, "value": value, "step": step}
            self._save("best", step, self.task.phase(max(step, 1)), {}, with_state=False)

    def _preview(self, step: int) -> None:
        if not self.dist.is_main or len(self.sets.preview) == 0:
            return
        truth, mask, output = self._predict_samples(self.sets.preview, self.settings.preview_images)
        grid = preview_grid(truth, mask, output)
        self.last_preview = write_png(self.preview_dir / f"{step_stem(step)}.png", grid)
        self.tensorboard.image("preview", step, grid)

    # ------------------------------------------------------------------ checkpoints
    #: a checkpoint by time waits at least this many times as long as the last one took to write, so
    #: that writing big models' checkpoints takes at most 1/20 of the training time
    CHECKPOINT_COST_FACTOR = 20

    def _checkpoint_due(self, now: float) -> bool:
        """Whether ``checkpoint_seconds`` (and 20 times the last write's duration) passed since the last one."""
        wait = self.settings.checkpoint_seconds
        return wait > 0 and now - self._last_saved >= max(wait, self.CHECKPOINT_COST_FACTOR * self._save_seconds)

    def _checkpoint(self, step: int, phase: str, losses: Mapping[str, float]) -> None:
        path = self.checkpoint_dir / f"{step_stem(step)}.safetensors"
        started = time.perf_counter()
        if self.dist.is_main:
            self._save(step_stem(step), step, phase, losses, with_state=True)
            prune_checkpoints(self.checkpoint_dir, self.settings.keep_last)
            self.log.write("event", step, {"checkpoint": path.name})
        self.last_checkpoint = path
        self._last_saved = time.perf_counter()
        self._save_seconds = self._last_saved - started

    def _save(self, stem: str, step: int, phase: str, losses: Mapping[str, float], with_state: bool) -> Path:
        task = self.task
        weights = network_tensors(task.networks)
        if self.ema is not None:
            weights.update({EMA_PREFIX + key: value for key, value in self.ema.tensors().items()})
        config = config_to_dict(self.config)
        sidecar = {
            "model": self.config.model_name,
            "options": {k: v for k, v in config["model"].items() if k != "name"},
            "channels": self.settings.channels,
            "image_size": self.settings.image_size,
            "geometry": task.geometry().to_dict(),  # how fill crops must fit these weights (crops.py)
            "step": step,
            "total_steps": self.settings.steps,
            "phase": phase,
            "metrics": dict(self.metrics),
            "losses": dict(losses),
            "best": self._best,
            "ema": self.ema is not None,
            "precision": self.precision.name,
            "world_size": self.dist.world_size,
            "config": config,
            "extra": task.extra_state(),
        }
        state_tensors, state_json = None, None
        if with_state:
            state_tensors = {}
            optimizers = {}
            for name, optimizer in self.optimizers.items():
                tensors, plain = flatten_optimizer(name, optimizer)
                state_tensors.update(tensors)
                optimizers[name] = plain
            state_json = {
                "step": step,
                "samples_consumed": self._samples_start + self._batches_drawn * self.settings.batch_size,
                "optimizers": optimizers,
                "scalers": self.precision.state(),
                "ema_updates": self.ema.updates if self.ema is not None else 0,
                "best": self._best,
                "seconds_spent": round(self._spent_seconds(), 3),
            }
        return save_checkpoint(self.checkpoint_dir, stem, weights=weights, sidecar=sidecar,
                               state_tensors=state_tensors, state_json=state_json)


class _StepMeter:
    """The losses and gradient norms summed since the last log step, and the speed over the last 50 steps."""

    def __init__(self) -> None:
        self.window: collections.deque = collections.deque(maxlen=50)  # (seconds, images) of each step
        self.reset()

    def reset(self) -> None:
        """Start the next sums (after a log step)."""
        self.sums: dict[str, torch.Tensor] = {}
        self.count = 0
        self.norm_counts: dict[str, int] = {}  # fp16 steps skipped for overflow have no gradient norm

    def add(self, seconds: float, images: int, losses: Mapping[str, Any], grad_norms: Mapping[str, float]) -> None:
        """Count one step: its duration, the images it drew, its losses (tensors are summed lazily) and norms."""
        self.window.append((seconds, images))
        for key, value in dict(losses).items():
            value = value.detach().float() if isinstance(value, torch.Tensor) else torch.tensor(float(value))
            self.sums[key] = self.sums.get(key, 0.0) + value
        for key, value in grad_norms.items():
            self.sums[f"grad_norm_{key}"] = self.sums.get(f"grad_norm_{key}", 0.0) + torch.tensor(value)
            self.norm_counts[f"grad_norm_{key}"] = self.norm_counts.get(f"grad_norm_{key}", 0) + 1
        self.count += 1

    def means(self) -> dict[str, float]:
        """The mean of each loss and gradient norm since the last :meth:`reset`."""
        return {key: float(value) / self.norm_counts.get(key, self.count) for key, value in self.sums.items()}

    def speed(self) -> Optional[float]:
        """Images per second over the window, or None before any time was measured."""
        seconds = sum(t for t, _ in self.window)
        return sum(n for _, n in self.window) / seconds if seconds > 0 else None
