"""The commands the docs show run as shown: every ``$ ...`` line of docs/cli.md (README.md's command
blocks run in tests/test_readme.py, in an empty folder, with the files they write checked).

A ``console`` block is a session: lines starting with ``$ `` are commands (a
trailing backslash continues one), the lines after a command up to the next are
what it prints (stdout and stderr, progress bars left out). Each document runs
top to bottom in one empty folder, as a newcomer would type it, so a command
may use the files an earlier one wrote (``inpaint sample -o .`` first).

Output is compared like a doctest with ELLIPSIS: ``...`` in a shown line stands
for any text (timings, paths, numbers that vary), a line that is only ``...``
for any number of lines; a command that shows no output is checked for its exit
status only. A block right after a ``<!-- not run: REASON -->`` line (another
program, a fill that takes minutes on a CPU) is shown but not run.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCUMENTS = [ROOT / "docs" / "cli.md"]
#: the line before a console block that is shown but not run
NOT_RUN = re.compile(r"<!-- not run: (.+?) -->\n\Z")


@dataclass
class Command:
    """One ``$ `` line of a document (continuation lines joined) and the output shown under it."""

    text: str
    line: int
    shown: list[str] = field(default_factory=list)
    not_run: str = ""  #: why it is not run ("" = run)


def console_commands(text: str) -> list[Command]:
    """The commands of every ``console`` block of a Markdown text, in order."""
    commands: list[Command] = []
    for match in re.finditer(r"^```console\n(.*?)^```", text, flags=re.S | re.M):
        first_line = text.count("\n", 0, match.start()) + 2
        before = NOT_RUN.search(text[: match.start()])
        reason = before.group(1) if before else ""
        continued = False
        for offset, line in enumerate(match.group(1).splitlines()):
            if continued:
                commands[-1].text += "\n" + line
            elif line.startswith("$ "):
                commands.append(Command(line[2:], first_line + offset, not_run=reason))
            elif commands:
                commands[-1].shown.append(line)
            continued = (continued or line.startswith("$ ")) and line.endswith("\\")
    return commands


#: a progress bar's line (``fill x.png:  40%|####      | ...``): what a terminal erases when the job ends
PROGRESS_BAR = re.compile(r"^[^|]*: +\d+%\|")


def printed_lines(output: str) -> list[str]:
    """What a terminal shows at the end: a line redrawn with ``\\r`` keeps its last text, progress bars go."""
    lines = [line.rsplit("\r", 1)[-1].rstrip() for line in output.split("\n")]
    return [line for line in lines if line and not PROGRESS_BAR.match(line)]


def line_pattern(shown: str) -> re.Pattern:
    """A shown line as a regular expression: ``...`` is any text, runs of spaces any run of spaces."""
    parts = [re.sub(r"(\\ )+", r"\\s+", re.escape(part)) for part in shown.strip().split("...")]
    return re.compile(r"\s*" + ".*".join(parts) + r"\s*")


def matches(shown: list[str], printed: list[str]) -> bool:
    """Whether ``printed`` is what ``shown`` shows (doctest ELLIPSIS rules, blank shown lines ignored)."""
    wanted = [line for line in shown if line.strip()]

    def match_from(i: int, j: int) -> bool:
        if i == len(wanted):
            return j == len(printed)
        if wanted[i].strip() == "...":
            return any(match_from(i + 1, k) for k in range(j, len(printed) + 1))
        return j < len(printed) and bool(line_pattern(wanted[i]).fullmatch(printed[j])) and match_from(i + 1, j + 1)

    return match_from(0, 0)


def run(command: str, folder: Path) -> subprocess.CompletedProcess:
    """Run one shown command with bash in ``folder``, stdout and stderr as one stream (as a terminal shows them)."""
    env = {k: v for k, v in os.environ.items() if k not in ("INPAINT_DEBUG", "INPAINT_MODELS_PLUGINS")}
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])  # the `inpaint` script
    env.update(PYTHONUNBUFFERED="1", COLUMNS="100", INPAINT_MODELS_CACHE=str(folder / ".cache"))
    return subprocess.run(["bash", "-c", command], cwd=folder, env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, timeout=900)  # bytes: text mode would turn \r into \n


def expected_status(command: Command) -> int:
    """0, unless the shown output is an error line (``inpaint: error: ...``)."""
    return 2 if any(line.startswith("inpaint: error:") for line in command.shown) else 0


@pytest.mark.slow
@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda path: path.name)
def test_every_shown_command_runs_and_prints_what_the_document_shows(document, tmp_path):
    problems = []
    for command in console_commands(document.read_text()):
        if command.not_run:
            continue
        result = run(command.text, tmp_path)
        printed = printed_lines(result.stdout.decode("utf-8", "replace"))
        where = f"{document.name}:{command.line} $ {command.text}"
        if result.returncode != expected_status(command):
            problems.append(f"{where}\n  exit status {result.returncode}:\n    " + "\n    ".join(printed[-8:]))
        elif any(line.strip() for line in command.shown) and not matches(command.shown, printed):
            problems.append(f"{where}\n  shown:\n    " + "\n    ".join(command.shown)
                            + "\n  printed:\n    " + "\n    ".join(printed))
    assert not problems, "\n\n".join(problems)


def test_shown_output_is_compared_with_ellipsis_rules():
    assert matches(["a ... c", "..."], ["a bb c", "d", "e"])
    assert matches(["NAME   TITLE"], ["NAME TITLE"])
    assert not matches(["a", "b"], ["a", "c"])
    assert not matches(["a"], ["a", "extra"])
    assert printed_lines("fill:  10%|#\rfill: 100%|##\ndone\rdone!\n") == ["done!"]
    (command,) = console_commands("```console\n$ inpaint eval \\\n  --model telea\nout\n```\n")
    assert command.text == "inpaint eval \\\n  --model telea" and command.shown == ["out"]
    (skipped,) = console_commands("<!-- not run: takes minutes -->\n```console\n$ inpaint fill x\n```\n")
    assert skipped.not_run == "takes minutes"
