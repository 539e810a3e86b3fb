"""Helpers shared by the subcommand modules (progress bars, tables, small parsers).

Start-up time matters (``inpaint models`` and a classical fill must not wait
for torch): this module and every subcommand module import only the standard
library and light parts of :mod:`inpaint_models` at the top; anything heavy is
imported inside the function that needs it.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Optional, Sequence, Union

from inpaint_models.contract.errors import InpaintError, WeightsError
from inpaint_models.io import mask_files
from inpaint_models.io.regular_files import file_problem

if TYPE_CHECKING:
    from inpaint_models.contract.datatypes import ProgressEvent

#: Work with more items than this shows a progress bar on stderr.
PROGRESS_THRESHOLD = 3


def note(message: str, quiet: bool = False) -> None:
    """A one-line note for the user on stderr (``inpaint: <message>``); nothing when ``quiet``."""
    if not quiet:
        print(f"inpaint: {message}", file=sys.stderr)


def warn(message: str) -> None:
    """A one-line warning on stderr (``inpaint: warning: <message>``), shown even with ``-q``.

    The same wording as a Python warning raised during a command (see
    :func:`inpaint_models.cli.main`), so a message reads the same wherever it comes from.
    """
    print(f"inpaint: warning: {' '.join(str(message).split())}", file=sys.stderr)


def progress_bar(total: int, description: str, quiet: bool = False, unit: str = "img"):
    """A tqdm bar on stderr for more than :data:`PROGRESS_THRESHOLD` items, else None."""
    if quiet or total <= PROGRESS_THRESHOLD:
        return None
    from tqdm import tqdm

    return tqdm(total=total, desc=description, unit=unit, file=sys.stderr, dynamic_ncols=True, leave=False)


#: a bar over the whole of a fill or an evaluation appears once it has run this long (seconds)
BAR_DELAY = 1.0
#: the bar's layout: how much is done, time spent and left, and where the job is (no rates: a fill's items
#: differ too much in size for "regions per second" to mean anything)
BAR_FORMAT = "{desc}: {percentage:3.0f}%|{bar}| [{elapsed}<{remaining}]{postfix}"


class EventProgress:
    """A progress callback for ``fill`` / ``evaluate`` that drives one tqdm bar on stderr over the whole job.

    ``subject`` names what is worked on (a file name); the bar reads ``<phase> <subject>``.

    The bar counts the share of the job done (:class:`~inpaint_models.contract.progress.WorkDone`:
    regions, and the steps inside a region, so a long diffusion fill of one region
    moves step by step) and appears once the job has run for :data:`BAR_DELAY`
    seconds, so a quick fill prints nothing. A finished job's bar ends at 100 %.
    Use as a context manager.
    """

    def __init__(self, subject: str = "", quiet: bool = False) -> None:
        from inpaint_models.contract.progress import WorkDone

        self.description = subject  # the bar reads "<phase> <subject>", e.g. "fill astronaut.png"
        self.quiet = quiet
        self.bar = None
        self.work = WorkDone()
        self.started = time.monotonic()

    def __call__(self, event: ProgressEvent) -> None:
        phase = self.work.phase
        self.work.update(event)
        if self.quiet:
            return
        if self.bar is not None and self.work.phase != phase:
            self.close()  # a new phase (a lazy fill's scan, then its fill): a new bar
        if self.bar is None and time.monotonic() - self.started < BAR_DELAY:
            return  # a quick job prints nothing
        if self.bar is None:
            from tqdm import tqdm

            self.bar = tqdm(total=100, initial=round(100 * self.work.fraction, 1), postfix=self.work.text or None,
                            desc=f"{self.work.phase or event.phase} {self.description}".rstrip(),
                            bar_format=BAR_FORMAT, file=sys.stderr, dynamic_ncols=True, leave=False)
            self.bar.start_t -= time.monotonic() - self.started  # elapsed and remaining count from the start
        self.bar.n = round(100 * self.work.fraction, 1)
        self.bar.set_postfix_str(self.work.text, refresh=False)
        self.bar.refresh()

    def close(self) -> None:
        if self.bar is not None:
            if self.work.finished:
                self.bar.n = 100
                self.bar.refresh()
            self.bar.close()
            self.bar = None

    def __enter__(self) -> "EventProgress":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def add_quiet(parser: argparse.ArgumentParser) -> None:
    """Add ``-q/--quiet`` (no progress bars, no notes; warnings and errors still show)."""
    parser.add_argument(
        "-q", "--quiet", action="store_true", help="no progress bar and no notes on stderr (warnings still show)"
    )


#: suffixes of the files ``--weights`` accepts: the weights or their sidecar
WEIGHTS_SUFFIXES = (".safetensors", ".json")


def check_weights_path(text: Optional[str]) -> Optional[str]:
    """Check a ``--weights`` path before any work starts; returns it unchanged.

    napari-inpaint weights are a ``NAME.safetensors`` file with a ``NAME.json``
    sidecar next to it (what ``inpaint train`` writes). A folder, or a file of
    another kind (a PyTorch ``.pt`` / ``.pth`` pickle), gets a message saying
    what was given and what is expected.

    Raises:
        WeightsError: the path is missing, a folder, or not a napari-inpaint checkpoint.
    """
    if text is None:
        return None
    path = Path(text).expanduser()
    if path.is_dir():
        found = sorted(path.rglob("*.safetensors"))[:3]
        hint = f" (it holds {', '.join(str(p) for p in found)}{', ...' if len(found) == 3 else ''})" if found else ""
        raise WeightsError(
            f"--weights {text} is a directory, not a weights file: give the .safetensors file of a "
            f"checkpoint, e.g. RUN/checkpoints/best.safetensors{hint}"
        )
    problem = file_problem(path, "weights file")  # missing, a FIFO, a device, a link loop...
    if problem is not None:
        raise WeightsError(problem.message)
    if path.suffix.lower() not in WEIGHTS_SUFFIXES:
        sidecar = path.with_suffix(".json")
        if not sidecar.is_file():
            raise WeightsError(
                f"{path} has no sidecar {sidecar.name}: it is not a napari-inpaint checkpoint (those are a "
                f".safetensors file written by 'inpaint train' with a .json sidecar of the same name; "
                f"PyTorch .pt / .pth files cannot be loaded)"
            )
    return text


def parse_volume_axis(text: str) -> Union[int, None, str]:
    """``--volume-axis``: ``auto`` -> "auto", ``none`` -> None, ``z`` / ``t`` -> "z" / "t", an integer -> int.

    ``z`` and ``t`` are turned into an axis index once the file's axes are
    known (:func:`volume_axis_index`).
    """
    value = text.strip().lower()
    if value in ("auto", "z", "t"):
        return value
    if value == "none":
        return None
    try:
        return int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected auto, none, z, t or an axis number, got {text!r}") from None


#: tifffile's axis letters that are not stack axes: rows, columns, colour samples, channels
_IMAGE_AXES = frozenset("YXSC")


def volume_axis_index(choice: Union[int, None, str], axes: str, name: str) -> Union[int, None, str]:
    """The ``volume_axis`` to pass to :func:`inpaint_models.fill` for an image with tifffile ``axes``.

    ``z`` (``t``) is the axis the file labels Z (T); a stack whose one stack
    axis carries no label (``Q``, e.g. ``"QYX"``, as most plain multi-page
    TIFFs) takes that axis for either letter. ``auto``, ``none`` and integers
    pass through unchanged.

    Raises:
        InpaintError: the image has no such axis (the message lists its axes).
    """
    if choice not in ("z", "t"):
        return choice
    letter = str(choice).upper()
    if letter in axes:
        return axes.index(letter)
    stack_axes = [i for i, a in enumerate(axes) if a not in _IMAGE_AXES]
    if len(stack_axes) == 1 and axes[stack_axes[0]] in "QI":
        return stack_axes[0]
    if not stack_axes:
        raise InpaintError(
            f"--volume-axis {choice}: {name} is a single 2D image (axes {axes}); a volume needs a stack "
            f"(a multi-page TIFF)"
        )
    raise InpaintError(
        f"--volume-axis {choice}: {name} has axes {axes} and none is labelled {letter}; give the axis "
        f"number instead (0 = first), or none for plane by plane"
    )


def parse_channel_axis(text: str) -> Union[int, None, str]:
    """``auto`` -> "auto", ``none`` -> None, an integer -> int (for ``--channel-axis``)."""
    value = text.strip().lower()
    if value == "auto":
        return "auto"
    if value == "none":
        return None
    try:
        return int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, 'none' or 'auto', got {text!r}") from None


def non_negative_int(text: str) -> int:
    """argparse type: an integer >= 0."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {text!r}")
    return value


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1."""
    value = non_negative_int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def parse_named_paths(pairs: Sequence[str], what: str) -> dict[str, str]:
    """``["model=PATH", ...]`` -> ``{"model": "PATH"}`` (for ``--weights model=PATH``)."""
    result: dict[str, str] = {}
    for pair in pairs:
        name, separator, value = pair.partition("=")
        if not separator or not name.strip() or not value.strip():
            raise InpaintError(f"{what} {pair!r} must look like MODEL=PATH")
        result[name.strip()] = value.strip()
    return result


def format_table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """A plain text table with columns aligned on spaces, header underlined."""
    body = [list(map(str, row)) for row in rows]
    widths = [max(len(line[i]) for line in [list(header)] + body) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(cell.ljust(width) for cell, width in zip(cells, widths)).rstrip()

    rule = "  ".join("-" * width for width in widths)
    return "\n".join([line(header), rule] + [line(row) for row in body])


def mask_beside(image_path: Path) -> Path:
    """The mask when none is given: an image folder's own (its ``_mask`` files), or the file beside an image.

    Raises:
        InpaintError: no mask file beside the image (the message names what was looked for).
    """
    if image_path.is_dir():
        return image_path
    found = mask_files.find_mask(image_path)
    if found is None:
        raise InpaintError(f"no MASK given and none beside {image_path}: give one, or name it "
                           f"{mask_files.expected_names(image_path.stem, beside=True)} next to the image")
    return found
