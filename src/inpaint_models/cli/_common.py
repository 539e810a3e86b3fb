"""Helpers shared by the subcommand modules (progress bars, tables, small parsers)."""

from __future__ import annotations

import argparse
import sys
from typing import Any, Iterable, Sequence, Union

from ..datatypes import ProgressEvent
from ..errors import InpaintError

#: Work with more items than this shows a progress bar on stderr.
PROGRESS_THRESHOLD = 3


def note(message: str) -> None:
    """A one-line note for the user on stderr (``inpaint: <message>``)."""
    print(f"inpaint: {message}", file=sys.stderr)


def progress_bar(total: int, description: str, quiet: bool = False, unit: str = "img"):
    """A tqdm bar on stderr for more than :data:`PROGRESS_THRESHOLD` items, else None."""
    if quiet or total <= PROGRESS_THRESHOLD:
        return None
    from tqdm import tqdm

    return tqdm(total=total, desc=description, unit=unit, file=sys.stderr, dynamic_ncols=True, leave=False)


class EventProgress:
    """A progress callback for ``fill`` / ``evaluate`` that drives a tqdm bar.

    The bar is created on the first event whose ``total`` is above the
    threshold, so a small job prints nothing. Use as a context manager.
    """

    def __init__(self, description: str, quiet: bool = False, unit: str = "img") -> None:
        self.description = description
        self.unit = unit
        self.quiet = quiet
        self.bar = None
        self._total = 0

    def __call__(self, event: ProgressEvent) -> None:
        if self.bar is None or event.total != self._total:
            self.close()
            self._total = event.total
            self.bar = progress_bar(event.total, self.description, self.quiet, self.unit)
            if self.bar is None:
                return
        self.bar.n = min(event.step, event.total)
        if event.message:
            self.bar.set_postfix_str(event.message, refresh=False)
        self.bar.refresh()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def __enter__(self) -> "EventProgress":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def add_quiet(parser: argparse.ArgumentParser) -> None:
    """Add ``-q/--quiet`` (no progress bars, no notes)."""
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar and no notes on stderr")


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


