"""``inpaint train CONFIG | --example NAME [--resume] [--set section.key=value ...]``.

Trains the model named in the config's ``[model]`` section with the shared
trainer, showing a progress bar (step, losses, images/s, ETA) on stderr, and
prints the final checkpoint path on stdout. The example configs ship inside
the package (``--list-examples``, ``--example autoencoder-cpu``), so a pip
install needs no repository checkout.

Ctrl-C (or SIGTERM, e.g. a cluster pre-empting the job) stops after the
current step, writes a checkpoint, prints the command that continues the run
(the same config, ``--resume`` and every ``--set``) and exits with status 130.
A second Ctrl-C interrupts the current step at once (a checkpoint of the last
completed step is still written) and exits the same way, without a traceback.
A run killed outright (``kill -9``, a lost machine) keeps its last checkpoint:
they come every ``checkpoint_every`` steps and every ``checkpoint_seconds``
(15 s) of training. ``--resume`` into a folder without one is an error.
Under ``torchrun`` only rank 0 shows the bar and the messages.
"""

from __future__ import annotations

import argparse
import os
import shlex
import signal
import sys
import threading
from contextlib import contextmanager
from typing import TYPE_CHECKING, Iterator, Optional

from inpaint_models.contract.errors import ConfigError

if TYPE_CHECKING:
    from inpaint_models.contract.datatypes import ProgressEvent

NAME = "train"


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``train`` subcommand."""
    parser = subparsers.add_parser(
        NAME,
        help="train a model from a TOML or YAML config (or a shipped example)",
        description=(
            "Train a model from a config file with [model] (name and options) and [train] sections, "
            "or from an example config shipped with the package (two per model: NAME-cpu for a CPU, "
            "NAME-gpu for GPUs; see --list-examples). Training reads images from the config's data "
            "folder: give yours with --set train.data=DIR. Multi-GPU: "
            "torchrun --nproc-per-node N -m inpaint_models.cli train CONFIG"
        ),
        epilog="examples:\n"
        "  inpaint train --list-examples\n"
        "  inpaint train --example autoencoder-cpu --set train.data=photos/ --set train.output=runs/ae\n"
        "  inpaint train my.toml --set train.steps=100 --set model.depth=3\n"
        "  inpaint train my.toml --resume",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("config", nargs="?", help="config file (.toml, .yaml or .yml)")
    parser.add_argument("--example", metavar="NAME", help="train a shipped example config, e.g. autoencoder-cpu")
    parser.add_argument("--list-examples", action="store_true", help="list the shipped example configs and exit")
    parser.add_argument("--resume", action="store_true",
                        help="continue from the newest checkpoint in the run's output folder (same step count, "
                        "the rest of a time budget); an error when it holds none")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE",
                        help="override a config value, e.g. --set train.steps=100 --set model.depth=3 (repeatable)")
    parser.add_argument("-q", "--quiet", action="store_true",
                        help="no progress bar (the messages after Ctrl-C still show)")
    return parser


def _is_rank_zero() -> bool:
    return os.environ.get("RANK", "0") in ("", "0")


class TrainProgress:
    """Drives a tqdm bar from training events (rank 0 only)."""

    def __init__(self, quiet: bool) -> None:
        self.enabled = not quiet and _is_rank_zero()
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


def _quiet_connection_errors() -> None:
    """In a data-loader worker being stopped: no traceback for its helper threads' broken connections.

    When a second Ctrl-C stops the main process at once, it may stop in the
    middle of receiving a batch; the worker thread that was sending it (Python's
    ``multiprocessing.resource_sharer``) then fails with a connection error and
    would print a traceback on the shared terminal. That error is the expected
    end of the run, not news for the user.
    """
    previous = threading.excepthook
    if getattr(previous, "_inpaint_quiet", False):
        return

    def hook(args: threading.ExceptHookArgs) -> None:
        if args.exc_type is not None and issubclass(args.exc_type, (ConnectionError, EOFError)):
            return
        previous(args)

    hook._inpaint_quiet = True  # type: ignore[attr-defined]
    threading.excepthook = hook


class StopRequest:
    """The ``cancel`` flag handed to the trainer: set by the first Ctrl-C.

    The trainer polls it with :meth:`is_set` at each progress event, after a
    step; once it has seen the request, all that is left is that step's
    bookkeeping and the final checkpoint, which a second Ctrl-C should not
    throw away (:attr:`seen`).
    """

    def __init__(self) -> None:
        self._event = threading.Event()
        #: the trainer has polled the flag since it was set: it is finishing, not mid-step
        self.seen = False
        #: the trainer has returned: only messages are left, which a late Ctrl-C does not cut short
        self.finished = False

    def set(self) -> None:
        self._event.set()

    @property
    def requested(self) -> bool:
        """Whether a stop was requested (without marking it seen)."""
        return self._event.is_set()

    def is_set(self) -> bool:
        """The trainer's poll: whether to stop (and, if so, remember that it knows)."""
        if self._event.is_set():
            self.seen = True
            return True
        return False


@contextmanager
def stop_on_signals(stop: StopRequest) -> Iterator[None]:
    """Ctrl-C / SIGTERM stop the run cleanly; Ctrl-C again stops it at once.

    The first SIGINT or SIGTERM sets ``stop``: the trainer finishes its step,
    writes a checkpoint and returns. A second SIGINT raises KeyboardInterrupt
    in the middle of the step (the trainer still writes a checkpoint of the
    last completed step) — unless the trainer is already past its step and
    only writing that checkpoint, which it is left to finish (a third Ctrl-C
    abandons it too).

    Data-loader worker processes are forked from this one and inherit the
    handler, and Ctrl-C reaches every process of the terminal's group: only
    the process that installed the handler acts (and prints), so each message
    appears once however many workers there are. The workers ignore the
    signal; the main process stops them when the run ends.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    owner = os.getpid()
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    finishing_told = False

    def say(message: str) -> None:
        if _is_rank_zero():
            print(f"\ninpaint: {message}", file=sys.stderr, flush=True)

    def handler(signum, frame):
        nonlocal finishing_told
        if os.getpid() != owner:  # a forked data-loader worker: the main process decides
            _quiet_connection_errors()
            return
        if stop.finished:  # the trainer has returned: only messages are left, do not cut them short
            return
        if not stop.requested:
            stop.set()
            say("stopping after this step and writing a checkpoint (Ctrl-C again to stop at once)")
            return
        if signum != signal.SIGINT:  # a repeated SIGTERM is not a user in a hurry
            return
        if stop.seen and not finishing_told:
            finishing_told = True
            say("the step is done; writing its checkpoint (Ctrl-C again to abandon it)")
            return
        raise KeyboardInterrupt

    for sig in previous:
        signal.signal(sig, handler)
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def resume_command(args: argparse.Namespace) -> str:
    """The command line that continues this run: the same config, ``--resume`` and every ``--set``."""
    words = ["inpaint", "train"]
    words += ["--example", args.example] if args.example else [args.config]
    words.append("--resume")
    for override in args.overrides:
        words += ["--set", override]
    if args.quiet:
        words.append("-q")
    return shlex.join(words)


def _overrides_key(overrides: list[str], key: str) -> bool:
    return any(item.partition("=")[0].strip() == key for item in overrides)


def config_source(args: argparse.Namespace):
    """The config file to train: CONFIG or the example's file.

    An example reads images from its ``data`` folder (relative to where it is
    run); when that folder is not here and no ``--set train.data=...`` is
    given, the error says how to give one before anything is loaded.
    """
    if args.example and args.config:
        raise ConfigError("give a CONFIG file or --example NAME, not both")
    if not args.example:
        if not args.config:
            raise ConfigError("give a CONFIG file or --example NAME (see 'inpaint train --list-examples')")
        return args.config
    from inpaint_models.api_train import example_path

    path = example_path(args.example)
    if not _overrides_key(args.overrides, "train.data"):
        data = _example_summary(path)["data"]
        folders = [data] if isinstance(data, str) else list(data or [])
        if not all(os.path.isdir(folder) for folder in folders):
            raise ConfigError(
                f"the example {args.example} trains on the images in {', '.join(map(str, folders))}, which is not "
                f"a folder here: give a folder of your own images with --set train.data=DIR"
            )
    return path


def _example_summary(path) -> dict:
    import tomllib

    with open(path, "rb") as file:
        config = tomllib.load(file)
    model, train = config.get("model", {}), config.get("train", {})
    return {
        "model": model.get("name", "?"),
        "device": train.get("device", "auto"),
        "image_size": train.get("image_size"),
        "steps": train.get("steps"),
        "batch_size": train.get("batch_size"),
        "data": train.get("data"),
    }


def list_examples() -> int:
    """Print the shipped example configs: name, model, device, crop size, steps, batch size."""
    from inpaint_models.api_train import example_names, example_path
    from inpaint_models.cli._common import format_table

    rows = []
    for name in example_names():
        summary = _example_summary(example_path(name))
        rows.append((name, summary["model"], summary["device"], f"{summary['image_size']} px",
                     str(summary["steps"]), str(summary["batch_size"])))
    print(format_table(("EXAMPLE", "MODEL", "DEVICE", "CROPS", "STEPS", "BATCH"), rows))
    print("\ntrain one: inpaint train --example NAME --set train.data=DIR  (a folder of your images)")
    return 0


def run(args: argparse.Namespace) -> int:
    """Train; 0 when finished, 130 when stopped by a signal (after writing a checkpoint)."""
    if args.list_examples:
        return list_examples()
    source = config_source(args)
    from inpaint_models.api_train import train

    overrides = list(args.overrides)
    if args.resume:
        overrides.append("train.resume=true")
    stop = StopRequest()
    progress = TrainProgress(args.quiet)
    # the handler stays installed until the last message: a late Ctrl-C cannot cut the command short
    with stop_on_signals(stop):
        try:
            path = train(source, report=progress, cancel=stop, overrides=overrides)
        except FloatingPointError as error:  # diverged: a training problem, not a traceback-worthy bug
            progress.close()
            print(f"inpaint: error: {error}", file=sys.stderr)
            return 1
        except KeyboardInterrupt:  # the second Ctrl-C: the trainer wrote a checkpoint of the last step
            stop.finished = True
            progress.close()
            if os.environ.get("INPAINT_DEBUG", "").strip() not in ("", "0"):
                raise
            if _is_rank_zero():
                print(f"inpaint: interrupted; continue with: {resume_command(args)}", file=sys.stderr)
            return 130
        finally:
            stop.finished = True
            progress.close()
        if _is_rank_zero():
            print(path)
        if stop.requested:
            if _is_rank_zero():
                print(f"inpaint: stopped early; continue with: {resume_command(args)}", file=sys.stderr)
            return 130
        return 0
