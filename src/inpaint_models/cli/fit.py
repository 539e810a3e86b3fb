"""``inpaint fit IMAGE [MASK] [-o DIR] [--model M] [--seconds S | --steps N]``: learn from the data being filled.

Trains a model on the image or stack itself (:func:`inpaint_models.fit`):
crops of its known pixels with artificial holes shaped like the mask's,
validation on held-back known pixels, a time budget. A progress bar shows the
time spent, the loss and the validation PSNR on stderr, then how the fit
compares with the classical (volume) fill on the held-back holes ("fitted:
+x.x dB over the volume fill on held-back holes", or "kept the volume fill: the
fit did not beat it": a fill with these weights then uses the classical fill);
the best checkpoint's path is printed on stdout, for ``inpaint fill IMAGE MASK
--model M --weights PATH`` (or let ``inpaint fill ... --fit SECONDS`` do both).
Ctrl-C stops the fit and keeps its best checkpoint. A fit killed outright keeps
a checkpoint of at most 15 s before (``train.checkpoint_seconds``): ``--resume``
continues it with the rest of its time budget, the bar starting at the seconds
already spent; ``--resume`` into a folder without one is an error naming it.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

from inpaint_models.cli._common import (
    add_quiet,
    mask_beside,
    note,
    parse_channel_axis,
    parse_volume_axis,
    positive_int,
    volume_axis_index,
)
from inpaint_models.contract.errors import ConfigError, InpaintError

if TYPE_CHECKING:
    from inpaint_models.contract.datatypes import ProgressEvent

NAME = "fit"


def positive_seconds(text: str) -> float:
    """argparse type: a number of seconds > 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, got {text!r}")
    return value


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add ``inpaint fit``."""
    parser = subparsers.add_parser(
        NAME,
        help="train a model on the image or stack being filled (a minute on a CPU)",
        description="Fit a model to an image or stack: it learns to fill holes like the mask's from the\n"
        "pixels that are known (artificial holes drawn like yours, where the truth is known),\n"
        "holding back part of them to keep the best checkpoint. Prints the checkpoint's path;\n"
        "fill with it: inpaint fill IMAGE MASK --model M --weights PATH.",
        epilog="examples:\n"
        "  inpaint fit stack.tif stack_mask.tif -o runs/fit --seconds 60\n"
        "  inpaint fill stack.tif stack_mask.tif -o filled.tif --model stack-unet \\\n"
        "      --weights runs/fit/checkpoints/best.safetensors\n"
        "  inpaint fill stack.tif stack_mask.tif -o filled.tif --fit 60     # both at once",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("image", metavar="IMAGE", help="the image or stack file (TIFF, PNG, JPEG)")
    parser.add_argument("mask", metavar="MASK", nargs="?", default=None,
                        help="the mask file, non-zero = unknown (the holes to fill); default: IMAGE_mask.* beside "
                             "the image")
    parser.add_argument("-o", "--output", metavar="DIR", default=None,
                        help="run folder: checkpoints, previews, metrics log (default: a new folder in your data "
                             "folder's fits/, e.g. ~/.local/share/napari-inpaint/fits on Linux)")
    parser.add_argument("-m", "--model", default=None,
                        help="a trainable model (default: the model built for fitting, stack-unet)")
    add_budget_arguments(parser)
    parser.add_argument("--device", default="auto", help="auto (default: CUDA when present), cpu, cuda or cuda:N")
    parser.add_argument("--seed", type=int, default=0, help="seed of the network, crops and holes (default 0)")
    parser.add_argument("--resume", action="store_true",
                        help="continue the fit in the output folder from its newest checkpoint, with the rest of "
                        "its time budget (an error when the folder holds none)")
    parser.add_argument(
        "--channel-axis", type=parse_channel_axis, default="auto", metavar="N|none|auto",
        help="the image's channel axis; 'none' for a grey stack (default: auto, from the mask's shape)",
    )
    parser.add_argument(
        "--volume-axis", type=parse_volume_axis, default="auto", metavar="auto|none|z|t|N",
        help="the stack axis whose neighbouring planes the model reads: z, t, an axis number, none "
        "(planes are independent) or auto (default: a stack's one stack axis); use the same for the fill",
    )
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE",
                        help="a model option or training setting, e.g. --set model.width=8 "
                        "--set train.batch_size=4 (repeatable)")
    add_quiet(parser)
    return parser


def add_budget_arguments(parser: argparse.ArgumentParser) -> None:
    """``--seconds`` and ``--steps`` (shared with ``inpaint fill --fit``)."""
    parser.add_argument("--seconds", type=positive_seconds, default=None, metavar="S",
                        help="time budget of the training (default 60 s unless --steps is given)")
    parser.add_argument("--steps", type=positive_int, default=None, metavar="N",
                        help="optimisation steps (with --seconds: whichever ends first)")


def split_overrides(overrides: list[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """``--set`` items as ``(model options, train settings)``.

    Raises:
        ConfigError: an item that is not ``model.KEY=VALUE`` or ``train.KEY=VALUE``.
    """
    from inpaint_models.api_train import parse_value

    sections: dict[str, dict[str, Any]] = {"model": {}, "train": {}}
    for item in overrides:
        key, separator, value = item.partition("=")
        section, dot, name = key.strip().partition(".")
        if not separator or not dot or section not in sections or not name:
            raise ConfigError(f"--set {item!r} must look like model.KEY=VALUE or train.KEY=VALUE")
        sections[section][name] = parse_value(value.strip())
    return sections["model"], sections["train"]


class FitProgress:
    """Drives a tqdm bar from a fit's events: seconds of the budget (or steps), loss, validation PSNR."""

    def __init__(self, quiet: bool, seconds: Optional[float], description: str = "fit") -> None:
        self.quiet = quiet
        self.seconds = seconds
        self.description = description
        self.bar = None
        self.last: Optional[ProgressEvent] = None

    def __call__(self, event: ProgressEvent) -> None:
        self.last = event
        if self.quiet:
            return
        from tqdm import tqdm

        by_time = self.seconds is not None
        # a resumed fit's elapsed seconds include those spent before: its bar starts there
        position = min(self.seconds, round(event.elapsed_seconds or 0.0, 1)) if by_time else min(  # type: ignore[type-var]
            event.step, event.total)
        if self.bar is None:
            total = round(self.seconds, 1) if by_time else event.total
            self.bar = tqdm(total=total, initial=position, desc=self.description, unit="s" if by_time else "step",
                            file=sys.stderr, dynamic_ncols=True,
                            bar_format="{l_bar}{bar}| {n:.0f}/{total:.0f} s{postfix}" if by_time else None)
        self.bar.n = position
        fields = {"step": str(event.step)} if by_time else {}
        if "loss" in event.losses:
            fields["loss"] = f"{event.losses['loss']:.3g}"
        psnr = event.extra.get("metrics", {}).get("psnr_hole")
        if psnr is not None:
            fields["val PSNR"] = f"{psnr:.2f} dB"
        self.bar.set_postfix(fields, refresh=False)
        self.bar.refresh()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


@dataclass
class FitRequest:
    """What ``inpaint fit`` (or ``inpaint fill --fit``) asks of :func:`inpaint_models.fit` (its keyword arguments).

    Attributes:
        output: the run folder (None: a new one in the user's data folder).
        model: a trainable model (None: the fit default).
        seconds, steps: the budget (neither: 60 s).
        volume_axis, channel_axis: as for ``fit`` (an axis index, None or ``"auto"``).
        device, seed, resume: as for ``fit``.
        overrides: ``--set`` items, ``model.KEY=VALUE`` or ``train.KEY=VALUE``.
    """

    output: Optional[str]
    model: Optional[str] = None
    seconds: Optional[float] = None
    steps: Optional[int] = None
    volume_axis: Any = "auto"
    channel_axis: Any = "auto"
    device: str = "auto"
    seed: int = 0
    resume: bool = False
    overrides: list[str] = field(default_factory=list)


def fit_image(image: Any, mask: Any, request: FitRequest, quiet: bool = False, description: str = "fit") -> Path:
    """Fit with a progress bar, Ctrl-C stopping cleanly (the best checkpoint is kept); returns the checkpoint."""
    from inpaint_models.api_fit import fit
    from inpaint_models.cli.train import StopRequest, stop_on_signals

    options, train = split_overrides(list(request.overrides))
    seconds, steps = request.seconds, request.steps
    budget = seconds if seconds is not None or steps is not None else 60.0
    stop = StopRequest()
    progress = FitProgress(quiet, budget if steps is None or seconds is not None else None, description)
    try:
        with stop_on_signals(stop):
            weights = fit(image, mask, request.model, seconds=seconds, steps=steps, volume_axis=request.volume_axis,
                          channel_axis=request.channel_axis, output=request.output, device=request.device,
                          seed=request.seed, resume=request.resume, options=options, train=train,
                          progress=progress, cancel=stop)
    finally:
        stop.finished = True
        progress.close()
    if stop.requested:
        note(f"fit stopped early; kept its best checkpoint {weights}", quiet)
    return weights


def tell_verdict(weights: Path, quiet: bool, unless_classical: bool = False) -> None:
    """Say how the fit compares with the classical fill on its held-back holes (a note on stderr).

    ``"fitted: +x.x dB over the volume fill on held-back holes"`` or ``"kept the
    volume fill: the fit did not beat it (...)"``; ``unless_classical``: say
    nothing when the classical fill won (``inpaint fill --fit``: the fill warns it).
    """
    from inpaint_models.api_fit import fit_verdict, verdict_message

    verdict = fit_verdict(weights)
    if not (unless_classical and verdict is not None and verdict["use"] == "classical"):
        note(verdict_message(verdict), quiet)


def check_fit_request(model: str, weights: Optional[str], auto: str) -> str:
    """``inpaint fill --fit``: the model to fit (``auto`` -> the fit default), refused with ``--weights``.

    Raises:
        InpaintError: ``--weights`` given, or a model that cannot be trained.
    """
    from inpaint_models.api_fit import default_fit_model
    from inpaint_models.contract.registry import default_registry

    if weights is not None:
        raise InpaintError("--fit makes the weights from the input; do not give --weights with it")
    name = default_fit_model() if model == auto else model
    if not default_registry().info(name).trainable:
        raise InpaintError(f"--fit trains the model; {name!r} is not trainable (see 'inpaint models')")
    return name


def fit_for_fill(args: argparse.Namespace, image: Any, mask: Any, model: str, volume_axis: Any,
                 seconds: float) -> Path:
    """The fit of ``inpaint fill --fit``: into ``--fit-output`` (default ``<output stem>-fit`` beside the output)."""
    output = Path(args.output)
    run_folder = getattr(args, "fit_output", None) or str(output.with_name(f"{output.stem}-fit"))
    note(f"fitting {model} to the input for {seconds:g} s (run folder {run_folder})", args.quiet)
    request = FitRequest(output=run_folder, model=model, seconds=seconds, volume_axis=volume_axis,
                         channel_axis=args.channel_axis, device=args.device)
    weights = fit_image(image, mask, request, quiet=args.quiet)
    tell_verdict(weights, args.quiet, unless_classical=True)
    return weights


def run(args: argparse.Namespace) -> int:
    """Read the image and mask, fit, print the checkpoint path."""
    from inpaint_models.io import imageio

    if args.resume and args.output is None:
        raise InpaintError("--resume continues the run in a folder: give it with -o DIR")
    image_path = Path(args.image)
    if not image_path.is_file():
        raise FileNotFoundError(2, "No such file", str(image_path))
    mask_path = Path(args.mask) if args.mask is not None else mask_beside(image_path)
    if not mask_path.is_file():
        raise FileNotFoundError(2, "No such file", str(mask_path))
    image, axes = imageio.read_image_with_axes(image_path)
    mask = imageio.read_mask(mask_path)
    volume_axis = volume_axis_index(args.volume_axis, axes, image_path.name)
    if args.model is not None:
        from inpaint_models.contract.registry import default_registry

        if not default_registry().info(args.model).trainable:
            raise InpaintError(f"model {args.model!r} is not trainable: choose one from 'inpaint models'")
    request = FitRequest(output=args.output, model=args.model, seconds=args.seconds, steps=args.steps,
                         volume_axis=volume_axis, channel_axis=args.channel_axis, device=args.device, seed=args.seed,
                         resume=args.resume, overrides=list(args.overrides))
    weights = fit_image(image, mask, request, quiet=args.quiet)
    tell_verdict(weights, args.quiet)
    print(weights)
    return 0
