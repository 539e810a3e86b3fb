"""The package installs as napari's plugin guide expects, and its base works without PyTorch.

- no Qt binding and no napari extras in the default dependencies; torch and
  torchvision optional (the ``deep`` extra), declared as ranges; the exact
  tested releases in ``constraints.txt``;
- a LICENSE file in the repository and in the wheel;
- with torch unimportable, every classical fill, the content-aware fill, the
  volume fill and ``inpaint models`` work, and a neural model is refused with
  the extra that enables it.
"""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
import tomllib
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
QT_BINDINGS = ("pyqt5", "pyqt6", "pyside2", "pyside6")


def requirement_name(requirement: str) -> str:
    """The distribution name of a requirement string, lower case (``"napari[pyqt6]>=0.5"`` -> ``napari``)."""
    return re.match(r"[A-Za-z0-9_.\\-]+", requirement).group(0).lower()


def test_default_dependencies_have_no_qt_binding_no_napari_extras_and_no_torch():
    dependencies = PYPROJECT["project"]["dependencies"]
    names = {requirement_name(requirement) for requirement in dependencies}
    assert not names & set(QT_BINDINGS), "a plugin must not choose the user's Qt binding"
    assert not [r for r in dependencies if r.lower().startswith("napari[")], "no napari extras"
    assert not names & {"torch", "torchvision"}, "the base install needs no PyTorch"


def test_torch_is_an_extra_declared_as_a_range_and_pinned_only_in_the_constraints():
    extras = PYPROJECT["project"]["optional-dependencies"]
    deep = {requirement_name(r): r for r in extras["deep"]}
    assert set(deep) == {"torch", "torchvision"}
    assert not any("==" in r for r in deep.values()), "ranges, so the plugin installs beside other torch plugins"
    assert "napari-inpaint[deep]" in extras["all"] and any(r.startswith("napari[pyqt6]") for r in extras["all"])
    assert "napari-inpaint[all]" in extras["test"]
    constraints = (ROOT / "constraints.txt").read_text().splitlines()
    assert "torch==2.14.1" in constraints and "torchvision==0.29.1" in constraints
    for line in constraints:  # every pin satisfies the declared range of a direct dependency
        if line.startswith(("torch==", "torchvision==")):
            assert requirement_name(line) in deep


def test_the_license_pyproject_names_is_in_the_repository():
    assert PYPROJECT["project"]["license"] == "BSD-3-Clause"
    text = (ROOT / "LICENSE").read_text()
    assert "BSD 3-Clause License" in text and "Redistribution and use in source and binary forms" in text


@pytest.mark.slow
def test_the_wheel_contains_the_license(tmp_path):
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "--no-build-isolation", "-q", "-w",
         str(tmp_path)],
        check=True, capture_output=True, timeout=300,
    )
    (wheel,) = tmp_path.glob("napari_inpaint-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    licenses = [name for name in names if name.endswith("LICENSE") and ".dist-info/" in name]
    assert licenses, names
    metadata = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    assert "License-Expression: BSD-3-Clause" in metadata


BASE_PATHS = textwrap.dedent(
    """
    import sys

    class RefuseTorch:  # as if torch were not installed
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in ("torch", "torchvision"):
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
            return None

    sys.meta_path.insert(0, RefuseTorch())

    import contextlib, io
    import numpy as np
    import inpaint_models
    from inpaint_models.cli import main
    from inpaint_models.contract.requirements import MissingDependencyError
    from inpaint_models.samples import sample_photo_with_mask, stack_sample_with_truth

    image, mask = sample_photo_with_mask()
    image, mask = image[250:378, 300:428], mask[250:378, 300:428]
    assert mask.any()
    for model in ("auto", "telea", "navier-stokes", "biharmonic", "patchmatch"):
        filled = inpaint_models.fill(image, mask, model=model)
        assert filled.dtype == image.dtype and (filled[~mask] == image[~mask]).all(), model
    stack = stack_sample_with_truth()
    volume = inpaint_models.fill(stack.image, stack.mask)
    assert volume.shape == stack.image.shape
    inpaint_models.estimate_fill_seconds(image, mask, model="telea")
    for model in ("glcic", "stack-unet", "push-pull"):
        try:
            inpaint_models.fill(image, mask, model=model)
        except MissingDependencyError as error:
            assert 'pip install "napari-inpaint[deep]"' in str(error) and repr(model) in str(error), error
        else:
            raise AssertionError(f"{model} filled without torch")
    listing = io.StringIO()
    with contextlib.redirect_stdout(listing):
        assert main(["models"]) == 0
    assert "glcic!" in listing.getvalue() and "telea!" not in listing.getvalue(), listing.getvalue()
    assert 'needs torch, not installed: pip install "napari-inpaint[deep]"' in listing.getvalue()
    assert not [name for name in sys.modules if name.split(".")[0] in ("torch", "torchvision")]
    print("base paths ok")
    """
)


def test_base_paths_work_with_torch_unimportable(tmp_path):
    script = tmp_path / "base_paths.py"
    script.write_text(BASE_PATHS)
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300,
                            cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "base paths ok" in result.stdout
