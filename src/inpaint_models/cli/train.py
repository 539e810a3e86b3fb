"""``inpaint train CONFIG [--resume] [--set section.key=value ...]``.

Trains the model named in the config's ``[model]`` section with the shared
trainer, showing a progress bar (step, losses, images/s, ETA) on stderr, and
prints the final checkpoint path on stdout. Ctrl-C (or SIGTERM, e.g. a
cluster pre-empting the job) stops after the current step, writes a
checkpoint and exits with status 130; ``--resume`` continues from it with the
same step count. A second Ctrl-C interrupts the current step at once (a
checkpoint of the last completed step is still written). Under ``torchrun`` only rank 0 shows the bar.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from contextlib import contextmanager
from typing import Iterator, Optional

from ..datatypes import ProgressEvent


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``train`` subcommand."""
    parser = subparsers.add_parser(
        "train",
        help="train a model from a TOML or YAML config",
        description=(
            "Train a model from a config file with [model] (name and options) and [train] sections. "
            "Examples are in configs/ (one for CPU and one for a GPU per model). Multi-GPU: "
            "torchrun --nproc-per-node N -m inpaint_models.cli train CONFIG"
        ),
    )
    parser.add_argument("config", help="config file (.toml, .yaml or .yml)")
    parser.add_argument("--resume", action="store_true",
                        help="continue from the newest checkpoint in the run's output folder, same step count")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE",
                        help="override a config value, e.g. --set train.steps=100 --set model.depth=3 (repeatable)")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    return parser


class TrainProgress:
    """Drives a tqdm bar from training events (rank 0 only)."""

    def __init__(self, quiet: bool) -> None:
        rank = os.environ.get("RANK", "0")
        self.enabled = not quiet and rank in ("", "0")
        self.bar = None
        self.last: Optional[ProgressEvent] = None

    def __call__(self, event: ProgressEvent) -> None:
        self.last = event
        if not self.enabled:
            return
        if self.bar is None:
            from tqdm import tqdm

            self.bar = tqdm(total=event.total, initial=event.step, desc="train", unit="step", file=sys.stderr,
                            dynamic_ncols=True)
        self.bar.n = min(event.step, event.total)
        fields = {key: f"{value:.4g}" for key, value in list(event.losses.items())[:4]}
        if event.images_per_second:
            fields["img/s"] = f"{event.images_per_second:.3g}"
        stage = event.extra.get("stage")
        if stage and stage != "train":
            fields["phase"] = stage
        self.bar.set_postfix(fields, refresh=False)
        self.bar.refresh()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


@contextmanager
def stop_on_signals(event: threading.Event) -> Iterator[None]:
    """SIGINT / SIGTERM set ``event`` (the run stops cleanly); a second SIGINT raises KeyboardInterrupt."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}

    def handler(signum, frame):
        if event.is_set() and signum == signal.SIGINT:
            raise KeyboardInterrupt
        event.set()
        print("\ninpaint: stopping after this step and writing a checkpoint (Ctrl-C again to abort)",
              file=sys.stderr)

    for sig in previous:
        signal.signal(sig, handler)
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def run(args: argparse.Namespace) -> int:
    """Train; 0 when finished, 130 when stopped by a signal (after writing a checkpoint)."""
    from ..api_train import train

    overrides = list(args.overrides)
    if args.resume:
        overrides.append("train.resume=true")
    stop = threading.Event()
    progress = TrainProgress(args.quiet)
    try:
        with stop_on_signals(stop):
            path = train(args.config, report=progress, cancel=stop, overrides=overrides)
    except FloatingPointError as error:  # diverged: a training problem, not a traceback-worthy bug
        progress.close()
        print(f"inpaint: error: {error}", file=sys.stderr)
        return 1
    finally:
        progress.close()
    rank = os.environ.get("RANK", "0")
    if rank in ("", "0"):
        print(path)
    if stop.is_set():
        print(f"inpaint: stopped early; continue with: inpaint train {args.config} --resume", file=sys.stderr)
        return 130
    return 0
