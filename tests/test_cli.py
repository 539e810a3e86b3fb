"""Tests of the ``inpaint`` command line, run in a real subprocess.

User mistakes must give exit status 2 and exactly one line on stderr
(``inpaint: error: ...``), never a traceback.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from skimage import data

from inpaint_models.imageio import read_image, read_mask, write_image
from inpaint_models.masks import generate_masks
from inpaint_models.samples import sample_photo_with_mask


def inpaint(*args: object, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Run ``python -m inpaint_models.cli ARGS`` and return the finished process."""
    env = {k: v for k, v in os.environ.items() if k not in ("INPAINT_DEBUG", "INPAINT_MODELS_PLUGINS")}
    return subprocess.run(
        [sys.executable, "-m", "inpaint_models.cli", *map(str, args)],
        capture_output=True, text=True, cwd=cwd, env=env, timeout=120,
    )


def assert_one_line_error(result: subprocess.CompletedProcess, *fragments: str) -> str:
    """Exit status 2, one ``inpaint: error:`` line on stderr, no traceback; returns the line."""
    assert result.returncode == 2, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("inpaint: error: ")
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in lines[0]
    return lines[0]


@pytest.fixture
def photo_and_mask(tmp_path):
    """An 8-bit RGB photo (with garbage in the hole) and its mask, as PNG files."""
    photo = np.ascontiguousarray(data.astronaut()[::4, ::4])  # (128, 128, 3)
    mask = np.zeros(photo.shape[:2], bool)
    mask[40:70, 50:90] = True
    photo[mask] = (255, 0, 255)
    return write_image(tmp_path / "photo.png", photo), write_image(tmp_path / "mask.png", mask), photo, mask


def test_models_table_and_json():
    result = inpaint("models")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split()[:5] == ["NAME", "TITLE", "TRAINABLE", "WEIGHTS", "SOURCE"]
    names = {line.split()[0] for line in lines[2:]}
    assert {"telea", "navier-stokes", "biharmonic"} <= names
    telea = next(line for line in lines if line.startswith("telea "))
    assert "Telea (fast marching)" in telea and " no " in telea
    listed = json.loads(inpaint("models", "--json").stdout)
    by_name = {model["name"]: model for model in listed}
    assert by_name["telea"]["trainable"] is False and by_name["telea"]["weights"] is None
    assert by_name["telea"]["options"] == {"radius": 3}


def test_fill_png_keeps_unmasked_pixels_and_takes_options(tmp_path, photo_and_mask):
    photo_path, mask_path, photo, mask = photo_and_mask
    out = tmp_path / "out" / "filled.png"
    out.parent.mkdir()
    result = inpaint("fill", photo_path, mask_path, "-o", out, "--opt", "radius=5", "--model", "telea")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(out)
    filled = read_image(out)
    assert filled.dtype == np.uint8 and filled.shape == photo.shape
    np.testing.assert_array_equal(filled[~mask], photo[~mask])
    assert not np.any(np.all(filled[mask] == (255, 0, 255), axis=-1))  # the magenta garbage is gone
    assert np.array_equal(read_image(photo_path), photo)  # input untouched


def test_fill_16_bit_png(tmp_path):
    ramp = np.linspace(0, 60000, 64 * 64).reshape(64, 64)
    image = np.stack([ramp, ramp[::-1], ramp.T], axis=-1).astype(np.uint16)
    mask = np.zeros((64, 64), bool)
    mask[20:30, 25:40] = True
    write_image(tmp_path / "deep.png", image)
    write_image(tmp_path / "m.png", mask)
    result = inpaint("fill", tmp_path / "deep.png", tmp_path / "m.png", "-o", tmp_path / "deep_filled.png")
    assert result.returncode == 0, result.stderr
    filled = read_image(tmp_path / "deep_filled.png")
    assert filled.dtype == np.uint16
    np.testing.assert_array_equal(filled[~mask], image[~mask])
    assert filled[mask].max() > 255  # really filled at 16-bit depth, not quantised to 8 bits


def test_fill_tiff_stack_with_2d_mask(tmp_path, rng):
    stack = np.stack([np.full((40, 48), 1000 * (z + 1), np.uint16) for z in range(4)])
    stack += rng.integers(0, 50, stack.shape, dtype=np.uint16)
    mask = np.zeros((40, 48), bool)
    mask[10:20, 10:30] = True
    stack[:, mask] = 65535  # garbage under the hole
    write_image(tmp_path / "stack.tif", stack)
    write_image(tmp_path / "m.png", mask)
    result = inpaint(
        "fill", tmp_path / "stack.tif", tmp_path / "m.png", "-o", tmp_path / "filled.tif", "--channel-axis", "none"
    )
    assert result.returncode == 0, result.stderr
    filled = read_image(tmp_path / "filled.tif")
    assert filled.shape == stack.shape and filled.dtype == np.uint16
    np.testing.assert_array_equal(filled[:, ~mask], stack[:, ~mask])
    for z in range(4):  # each plane filled from its own values
        assert abs(float(filled[z][mask].mean()) - 1000 * (z + 1)) < 100


def test_fill_folder_matches_masks_and_skips_missing(tmp_path, photo_and_mask):
    _, _, photo, mask = photo_and_mask
    images, masks = tmp_path / "images", tmp_path / "masks"
    images.mkdir()
    masks.mkdir()
    write_image(images / "a.png", photo)
    write_image(images / "b.jpg", photo)
    write_image(images / "c.tif", photo[..., 0])
    write_image(images / "d.png", photo)  # no mask: skipped
    write_image(masks / "a.png", mask)
    write_image(masks / "b_mask.png", mask)
    write_image(masks / "c.mask.png", mask)
    output = tmp_path / "results" / "nested"
    result = inpaint("fill", "--image", images, "--mask", masks, "--output", output)
    assert result.returncode == 0, result.stderr
    (skipped,) = [line for line in result.stderr.splitlines() if "without a mask" in line]
    assert skipped.endswith(": d.png")  # only the image without a mask is listed
    assert "Traceback" not in result.stderr
    assert sorted(p.name for p in output.iterdir()) == ["a.png", "b.jpg", "c.tif"]
    np.testing.assert_array_equal(read_image(output / "a.png")[~mask], photo[~mask])
    grey = read_image(output / "c.tif")
    assert grey.shape == mask.shape and grey.dtype == np.uint8
    np.testing.assert_array_equal(grey[~mask], photo[..., 0][~mask])

    # one mask file for every image
    single = tmp_path / "single"
    result = inpaint("fill", "--image", images, "--mask", masks / "a.png", "-o", single, "--model", "navier-stokes")
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in single.iterdir()) == ["a.png", "b.jpg", "c.tif", "d.png"]
    np.testing.assert_array_equal(read_image(single / "d.png")[~mask], photo[~mask])


def test_fill_option_and_model_errors_are_one_line(photo_and_mask, tmp_path):
    photo_path, mask_path, _, _ = photo_and_mask
    out = tmp_path / "never.png"
    assert_one_line_error(inpaint("fill", photo_path, mask_path, "-o", out, "--opt", "bogus=1"), "'bogus'", "radius")
    assert_one_line_error(
        inpaint("fill", photo_path, mask_path, "-o", out, "--model", "lama"),
        "'lama'", "telea", "navier-stokes", "biharmonic",
    )
    assert_one_line_error(inpaint("fill", tmp_path / "nope.png", mask_path, "-o", out), "nope.png")
    assert_one_line_error(inpaint("fill", photo_path, mask_path, "-o", photo_path), "refusing to overwrite")
    assert_one_line_error(inpaint("fill", photo_path, "-o", out), "MASK")
    assert_one_line_error(inpaint("fill", photo_path, mask_path, "-o", out, "--margin", "-3"), "--margin")
    assert not out.exists()


def test_masks_command_is_deterministic(tmp_path):
    args = ("masks", "--kind", "strokes", "--preset", "thick", "--count", 4, "--size", 64, "--seed", 5)
    first = inpaint(*args, "-o", tmp_path / "first")
    second = inpaint(*args, "-o", tmp_path / "second")
    assert first.returncode == 0 and second.returncode == 0, first.stderr + second.stderr
    names = sorted(p.name for p in (tmp_path / "first").iterdir())
    assert names == [f"mask_{i:04d}.png" for i in range(4)]
    expected = generate_masks("strokes", 4, 64, seed=5, preset="thick")
    for name, mask in zip(names, expected):
        assert (tmp_path / "first" / name).read_bytes() == (tmp_path / "second" / name).read_bytes()
        np.testing.assert_array_equal(read_mask(tmp_path / "first" / name), mask)
    assert_one_line_error(inpaint("masks", "--kind", "triangles", "-o", tmp_path / "x"), "triangles")


@pytest.fixture
def eval_folder(tmp_path):
    folder = tmp_path / "data"
    folder.mkdir()
    for name in ("astronaut", "coffee", "chelsea"):
        photo = getattr(data, name)()
        write_image(folder / f"{name}.png", np.ascontiguousarray(photo[:: photo.shape[0] // 64, :: photo.shape[0] // 64]))
    return folder


def test_eval_table_and_json(eval_folder):
    result = inpaint("eval", "--model", "telea", "--model", "biharmonic", "--data", eval_folder,
                     "--masks", "box", "--size", 64, "--seed", 1)
    assert result.returncode == 0, result.stderr
    table = result.stdout.strip().splitlines()
    assert table[0].startswith("| Model") and "PSNR hole" in table[0] and "ms/image" in table[0]
    assert [line.split("|")[1].strip() for line in table[2:]] == ["telea", "biharmonic"]
    result = inpaint("eval", "-m", "telea", "--data", eval_folder, "--masks", "strokes", "--preset", "thin",
                     "--size", 64, "--json", "--opt", "telea:radius=4")
    assert result.returncode == 0, result.stderr
    (row,) = json.loads(result.stdout)
    assert row["model"] == "telea" and row["images"] == 3 and 5 < row["psnr"] < 60


def test_eval_errors(eval_folder):
    assert_one_line_error(inpaint("eval", "-m", "nope", "--data", eval_folder, "--masks", "box"), "'nope'", "telea")
    assert_one_line_error(inpaint("eval", "-m", "telea", "--data", eval_folder, "--masks", "nowhere/"), "nowhere")


def test_fill_sample(tmp_path):
    result = inpaint("fill", "--sample", "-o", "astronaut_filled.png", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    filled = read_image(tmp_path / "astronaut_filled.png")
    photo, mask = sample_photo_with_mask()
    assert filled.shape == photo.shape and filled.dtype == np.uint8
    np.testing.assert_array_equal(filled[~mask], photo[~mask])
    assert not np.array_equal(filled[mask], photo[mask])


def test_usage_errors_are_one_line():
    assert_one_line_error(inpaint(), "command")
    assert_one_line_error(inpaint("fill", "--model"), "--model")
    assert inpaint("--help").returncode == 0


def test_missing_subcommand_module_is_skipped(monkeypatch):
    from inpaint_models import cli

    monkeypatch.setattr(cli, "SUBCOMMANDS", ("models", "does_not_exist", "fill"))
    parser = cli.build_parser()
    choices = parser._subparsers._group_actions[0].choices  # noqa: SLF001
    assert list(choices) == ["models", "fill"]


def test_main_in_process_returns_status(capsys):
    from inpaint_models.cli import main

    assert main(["models"]) == 0
    assert "telea" in capsys.readouterr().out
    assert main(["fill", "--sample", "-o", "x.png", "--model", "zzz"]) == 2
    assert capsys.readouterr().err.startswith("inpaint: error: unknown model 'zzz'")
