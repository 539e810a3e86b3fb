"""A benchmark's own section of a markdown file (``--docs docs/results.md``): its printed tables, where and when.

Each benchmark that documents itself writes one section between the markers
``<!-- <script>: start -->`` and ``<!-- <script>: end -->``, replacing the
section of an earlier run (or appending it when absent);
``scripts/make_results.py`` keeps these sections as they are when it
rewrites the rest of the file. The body is what the benchmark printed
(:func:`printed`), so the document shows exactly the table a run showed.
"""

from __future__ import annotations

import contextlib
import datetime
import io
import os
import platform
import sys
from collections.abc import Iterator
from pathlib import Path


class _Tee(io.TextIOBase):
    """A text stream that writes to ``stream`` and keeps a copy."""

    def __init__(self, stream) -> None:
        self.stream, self.copy = stream, io.StringIO()

    def write(self, text: str) -> int:
        self.copy.write(text)
        return self.stream.write(text)

    def flush(self) -> None:
        self.stream.flush()


@contextlib.contextmanager
def printed() -> Iterator[list[str]]:
    """Capture what the block prints to stdout (still printing it); the lines fill the yielded list at exit."""
    tee = _Tee(sys.stdout)
    lines: list[str] = []
    with contextlib.redirect_stdout(tee):
        yield lines
    lines.extend(tee.copy.getvalue().rstrip("\n").splitlines())


def machine_line(threads: int | None = None) -> str:
    """The CPU, its cores, the date and the load average at the time of writing, as one sentence."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            cpu = next(line.split(":", 1)[1].strip() for line in info if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    load = f"; load average (1 min) at the end {os.getloadavg()[0]:.2f}" if hasattr(os, "getloadavg") else ""
    using = f", {threads} torch threads" if threads else ""
    return f"{cpu} ({os.cpu_count()} cores{using}), {datetime.date.today().isoformat()}{load}."


def write_section(path: Path, script: str, lines: list[str]) -> None:
    """Replace (or append) the section of ``script`` (e.g. ``"bench_fit.py"``) in the markdown file ``path``."""
    start, end = f"<!-- {script}: start -->", f"<!-- {script}: end -->"
    section = "\n".join([start, *lines, end])
    text = path.read_text(encoding="utf-8") if path.is_file() else ""
    if start in text and end in text:
        before, rest = text.split(start, 1)
        text = before + section + rest.split(end, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    path.write_text(text, encoding="utf-8")


def write_benchmark_section(path: Path, script: str, heading: str, intro: str, body: list[str], reproduce: str,
                            threads: int | None = None) -> None:
    """A benchmark's section laid out as every ``--docs`` benchmark lays it out.

    ``## heading``, the ``intro`` paragraph, the printed ``body``, the machine
    it was measured on (:func:`machine_line`) and the command that reproduces it.
    """
    write_section(path, script, [f"## {heading}", "", intro, "", *body, "", f"Measured on {machine_line(threads)}",
                                 "", f"Reproduce: `{reproduce}`."])
