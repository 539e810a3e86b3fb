"""The README stays true: CI runs exactly its install and test commands, and its quick start runs.

The quick start's Python block runs in an empty folder and must print exactly
the output written under it (the ``# ...`` lines at the start of a line). Its
command-line blocks run with bash, top to bottom, in one empty folder: the
first (sample files, fills, masks, eval) in the quick selection, the training
block (a 20-step demonstration run, then a fill with its checkpoint) only in
the full suite.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"


def fenced_blocks(text: str, language: str) -> list[str]:
    """The fenced code blocks of ``language`` in ``text``, in order."""
    return re.findall(rf"^```{language}\n(.*?)\n```", text, flags=re.MULTILINE | re.DOTALL)


def section(text: str, heading: str) -> str:
    """The text of a markdown section, from its heading to the next heading of the same or a higher level.

    Lines inside fenced code blocks are never headings (a ``# comment`` in a block is not one).
    """
    level = len(heading) - len(heading.lstrip("#"))
    lines, found, in_fence = [], False, False
    for line in text.splitlines():
        if line.startswith("```"):
            in_fence = not in_fence
        is_heading = not in_fence and re.match(r"#+ ", line)
        if found and is_heading and len(line) - len(line.lstrip("#")) <= level:
            break
        if found:
            lines.append(line)
        found = found or line == heading
    assert found, f"README has no section {heading!r}"
    return "\n".join(lines)


def ci_commands() -> list[str]:
    """The commands of ``.ci/run``: lines that are not blank, comments or shell set-up."""
    setup = ("set ", "cd ", "export ", "#!")
    lines = (ROOT / ".ci" / "run").read_text().splitlines()
    return [line for line in lines if line.strip() and not line.lstrip().startswith(("#",) + setup)]


def test_ci_runs_exactly_the_readme_install_and_test_commands():
    text = README.read_text()
    bash = fenced_blocks(text, "bash")
    install = bash[0]
    (test,) = [block for block in bash if "pytest" in block]
    assert "pip install" in install and "\n" not in install
    assert test == "python -m pytest", "the README's test command is the whole suite"
    assert ci_commands() == [install, test], ".ci/run must run exactly the README's install and test commands"


def test_readme_says_what_torch_from_pypi_is_and_how_to_get_the_cpu_build():
    text = README.read_text()
    assert "CUDA build" in text and "4 GB" in text
    assert "pip install -c constraints.txt torch torchvision --index-url https://download.pytorch.org/whl/cpu" in text
    assert '-c constraints.txt -e ".[test]"' in fenced_blocks(text, "bash")[0]  # the tested releases
    for extra in ('pip install ".[deep]"', 'pip install ".[all]"'):
        assert extra in text


def test_readme_python_quick_start_runs_and_prints_what_it_shows(tmp_path, monkeypatch):
    quick_start = section(README.read_text(), "## Quick start")
    (block,) = fenced_blocks(quick_start, "python")
    expected = [line[2:] for line in block.splitlines() if line.startswith("# ")]
    assert expected, "the Python quick start shows its output"
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    output = io.StringIO()
    with contextlib.redirect_stdout(output):
        exec(compile(block, "README.md", "exec"), namespace)  # noqa: S102 - our own documentation
    assert output.getvalue().splitlines() == expected
    assert isinstance(namespace["filled"], np.ndarray)


def cli_blocks() -> list[str]:
    return fenced_blocks(section(README.read_text(), "### Command line"), "bash")


def run_block(block: str, folder: Path) -> subprocess.CompletedProcess:
    """Run a README block with bash (stop at the first failing line) in ``folder``, as a user would."""
    env = {k: v for k, v in os.environ.items() if k not in ("INPAINT_DEBUG", "INPAINT_MODELS_PLUGINS")}
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])  # the `inpaint` script
    return subprocess.run(["bash", "-euo", "pipefail", "-c", block], cwd=folder, env=env, capture_output=True,
                          text=True, timeout=600)


@pytest.fixture(scope="module")
def quick_start_folder(tmp_path_factory) -> Path:
    """An empty folder in which the README's first command-line block has run."""
    folder = tmp_path_factory.mktemp("quick_start")
    result = run_block(cli_blocks()[0], folder)
    assert result.returncode == 0, result.stderr
    return folder


def test_readme_command_line_quick_start_runs_in_an_empty_folder(quick_start_folder):
    from inpaint_models.io.imageio import read_image, read_mask

    folder = quick_start_folder
    photo, mask = read_image(folder / "astronaut.png"), read_mask(folder / "astronaut_mask.png")
    for name in ("filled.png", "telea.png", "glcic.png", "filled/astronaut.png"):
        filled = read_image(folder / name)
        np.testing.assert_array_equal(filled[~mask], photo[~mask])
        assert not np.array_equal(filled[mask], photo[mask]), name
    stack, stack_mask = read_image(folder / "cells.tif"), read_mask(folder / "cells_mask.tif")
    filled = read_image(folder / "cells_filled.tif")
    assert filled.shape == stack.shape and filled.dtype == stack.dtype
    np.testing.assert_array_equal(filled[~stack_mask], stack[~stack_mask])
    assert len(list((folder / "strokes").glob("mask_*.png"))) == 10


@pytest.mark.slow
def test_readme_training_quick_start_runs(quick_start_folder):
    (block,) = [block for block in cli_blocks() if "inpaint train" in block]
    assert "--example" in block  # a pip user has no repository checkout: the examples ship in the package
    result = run_block(block, quick_start_folder)
    assert result.returncode == 0, result.stderr
    assert (quick_start_folder / "ae.png").is_file()


def readme_model_table() -> list[str]:
    """The model names of the README's model table (its first column), in order."""
    table = section(README.read_text(), "## Models")
    return re.findall(r"^\| `([^`]+)` \|", table, flags=re.MULTILINE)


def test_readme_lists_only_installed_models_and_names_the_rest_through_inpaint_models():
    """The README's table may lag a new model (one folder + one entry point is all a model needs);
    every model it names must exist, and it points to the live list."""
    import inpaint_models

    listed = readme_model_table()
    assert listed, "the README has a model table"
    assert len(set(listed)) == len(listed), "a model listed twice"
    unknown = sorted(set(listed) - set(inpaint_models.available_models()))
    assert not unknown, f"the README lists models that are not installed: {unknown}"
    assert "`inpaint models` lists every installed model" in section(README.read_text(), "## Models")


def test_the_slow_list_names_existing_tests():
    """conftest.SLOW is kept by hand: an entry whose test was renamed would silently stop marking it."""
    import ast

    from conftest import SLOW, SLOW_FIXTURES

    def functions(path: str) -> set[str]:
        tree = ast.parse((ROOT / path).read_text())
        return {node.name for node in ast.walk(tree) if isinstance(node, ast.FunctionDef)}

    for entry in sorted(SLOW):
        path, _, name = entry.partition("::")
        assert (ROOT / path).is_file(), entry
        if name:
            assert name.split("[", 1)[0] in functions(path), f"{entry}: no such test"
    for path, fixtures in SLOW_FIXTURES.items():
        assert fixtures <= functions(path), f"{path}: no fixture {sorted(fixtures - functions(path))}"
