"""The README's commands are the ones CI runs, and its Python quick start works."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def _readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    return re.findall(r"^```(?:bash|sh)\n(.*?)\n```", text, flags=re.MULTILINE | re.DOTALL)


def test_ci_runs_exactly_the_readme_install_and_test_commands():
    commands = _readme_commands()
    install, _main_job, test = commands[0], commands[1], commands[2]
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert install.strip() in ci, "README install command differs from .ci/run"
    assert test.strip() in ci, "README test command differs from .ci/run"
    assert "pytest" in test


def test_readme_python_quick_start_runs():
    text = (ROOT / "README.md").read_text()
    block = re.search(r"^```python\n(.*?)\n```", text, flags=re.MULTILINE | re.DOTALL)
    assert block, "README has no python quick start"
    namespace: dict = {}
    exec(compile(block.group(1), "README.md", "exec"), namespace)  # noqa: S102 - our own documentation
    assert isinstance(namespace["filled"], np.ndarray)
