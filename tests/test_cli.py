"""Tests of the ``inpaint`` command line.

Most run in-process (``inpaint_models.cli.main([...])`` with captured output),
which is what the console script does after start-up; a few run a real
subprocess where the process itself is the point (start-up imports, the
module entry point).

User mistakes must give exit status 2 and exactly one line on stderr
(``inpaint: error: ...``), never a traceback.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from skimage import data

from inpaint_models.cli import main
from inpaint_models.cli._common import volume_axis_index
from inpaint_models.cli.models import SMALL_WEIGHTS_NOTE
from inpaint_models.contract import registry as plugins
from inpaint_models.contract.errors import InpaintError
from inpaint_models.io.imageio import read_image, read_image_with_axes, read_mask, write_image
from inpaint_models.io.masks import generate_masks
from inpaint_models.samples import sample_photo_with_mask, stack_sample_with_truth


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str


@pytest.fixture
def inpaint(capsys, monkeypatch):
    """Run ``inpaint ARGS`` in this process; returns a :class:`Result`."""
    monkeypatch.delenv("INPAINT_DEBUG", raising=False)

    def run(*args: object, cwd: Path | None = None) -> Result:
        capsys.readouterr()
        if cwd is not None:
            monkeypatch.chdir(cwd)
        status = main([str(arg) for arg in args])
        captured = capsys.readouterr()
        return Result(status, captured.out, captured.err)

    return run


def assert_one_line_error(result: Result, *fragments: str) -> str:
    """Exit status 2, one ``inpaint: error:`` line on stderr, no traceback; returns the line."""
    assert result.returncode == 2, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("inpaint: error: ")
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


@pytest.fixture
def photo_and_mask(tmp_path):
    """An 8-bit RGB photo (with garbage in the hole) and its mask, as PNG files."""
    photo = np.ascontiguousarray(data.astronaut()[::4, ::4])  # (128, 128, 3)
    mask = np.zeros(photo.shape[:2], bool)
    mask[40:70, 50:90] = True
    photo[mask] = (255, 0, 255)
    return write_image(tmp_path / "photo.png", photo), write_image(tmp_path / "mask.png", mask), photo, mask


# --------------------------------------------------------------------------- inpaint models
def test_models_table_and_json(inpaint):
    result = inpaint("models")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["NAME", "TITLE", "TRAINABLE", "WEIGHTS"]
    assert max(map(len, lines)) <= 100, "the table fits a 100-column terminal"
    rows = lines[2 : lines.index("")]
    names = {line.split()[0] for line in rows}
    assert {"telea", "navier-stokes", "biharmonic"} <= names
    telea = next(line for line in lines if line.startswith("telea "))
    assert "Telea fast marching (Telea 2004)" in telea and " no " in telea
    listed = json.loads(inpaint("models", "--json").stdout)
    by_name = {model["name"]: model for model in listed}
    assert by_name["telea"]["trainable"] is False and by_name["telea"]["weights"] is None
    assert by_name["telea"]["options"] == {"radius": 3}
    assert by_name["telea"]["weights_note"] is None
    assert by_name["telea"]["requires"] == [] and by_name["glcic"]["requires"] == ["torch"]
    assert by_name["glcic"]["source"].startswith("Iizuka")  # the full source is in the JSON


def test_models_marks_small_cpu_trained_weights(inpaint):
    listed = json.loads(inpaint("models", "--json").stdout)
    shipped = [model for model in listed if model["trainable"] and model["weights"]]
    assert shipped, "the package ships default weights for its trainable models"
    assert all(model["weights_note"] == SMALL_WEIGHTS_NOTE for model in shipped)
    table = inpaint("models").stdout.splitlines()
    assert f"* {SMALL_WEIGHTS_NOTE}" in table
    for model in shipped:
        row = next(line for line in table if line.startswith(model["name"] + " "))
        assert row.split()[-1] == "yes*"


@pytest.fixture
def broken_plugin(monkeypatch):
    """A fresh default registry whose entry points are telea and a plugin that fails to import."""
    real = importlib.metadata.entry_points(group=plugins.ENTRY_POINT_GROUP)
    telea = next(ep for ep in real if ep.name == "telea")
    broken = importlib.metadata.EntryPoint("broken-model", "no_such_module_for_inpaint_tests", "inpaint_models")
    monkeypatch.setattr(importlib.metadata, "entry_points", lambda **kwargs: [telea, broken])
    monkeypatch.delenv(plugins.PLUGINS_ENV_VAR, raising=False)
    monkeypatch.setattr(plugins, "_default", None)
    return "broken-model"


def test_models_reports_a_skipped_plugin_once_in_one_wording(inpaint, broken_plugin):
    result = inpaint("models")
    assert result.returncode == 0
    assert "telea" in result.stdout
    lines = [line for line in result.stderr.splitlines() if broken_plugin in line]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("inpaint: warning: ") and "no_such_module_for_inpaint_tests" in lines[0]
    again = inpaint("models")  # the registry is built: the record still shows, once
    assert [line for line in again.stderr.splitlines() if broken_plugin in line] == lines


def test_other_commands_warn_about_a_skipped_plugin_once(inpaint, broken_plugin, tmp_path):
    result = inpaint("fill", "--sample", "-o", tmp_path / "out.png", "--model", "telea")
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stderr.splitlines() if broken_plugin in line]
    assert len(lines) == 1 and lines[0].startswith("inpaint: warning: "), result.stderr


# --------------------------------------------------------------------------- inpaint fill
def test_fill_png_keeps_unmasked_pixels_and_takes_options(tmp_path, photo_and_mask, inpaint):
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


def test_fill_defaults_to_the_auto_model_and_says_which(tmp_path, photo_and_mask, inpaint):
    from inpaint_models.api import default_model

    photo_path, mask_path, photo, mask = photo_and_mask
    expected = default_model(photo.shape, mask_shape=mask.shape)
    result = inpaint("fill", photo_path, mask_path, "-o", tmp_path / "auto.png")
    assert result.returncode == 0, result.stderr
    assert f"model: {expected}" in result.stderr
    np.testing.assert_array_equal(read_image(tmp_path / "auto.png")[~mask], photo[~mask])
    quiet = inpaint("fill", photo_path, mask_path, "-o", tmp_path / "auto2.png", "-q")
    assert quiet.returncode == 0 and quiet.stderr == ""
    assert_one_line_error(
        inpaint("fill", photo_path, mask_path, "-o", tmp_path / "x.png", "--weights", photo_path), "--model"
    )


def test_fill_16_bit_png(tmp_path, inpaint):
    ramp = np.linspace(0, 60000, 64 * 64).reshape(64, 64)
    image = np.stack([ramp, ramp[::-1], ramp.T], axis=-1).astype(np.uint16)
    mask = np.zeros((64, 64), bool)
    mask[20:30, 25:40] = True
    write_image(tmp_path / "deep.png", image)
    write_image(tmp_path / "m.png", mask)
    result = inpaint("fill", tmp_path / "deep.png", tmp_path / "m.png", "-o", tmp_path / "deep_filled.png",
                     "--model", "telea")
    assert result.returncode == 0, result.stderr
    filled = read_image(tmp_path / "deep_filled.png")
    assert filled.dtype == np.uint16
    np.testing.assert_array_equal(filled[~mask], image[~mask])
    assert filled[mask].max() > 255  # really filled at 16-bit depth, not quantised to 8 bits


def test_fill_tiff_stack_plane_by_plane_with_2d_mask(tmp_path, rng, inpaint):
    stack = np.stack([np.full((40, 48), 1000 * (z + 1), np.uint16) for z in range(4)])
    stack += rng.integers(0, 50, stack.shape, dtype=np.uint16)
    mask = np.zeros((40, 48), bool)
    mask[10:20, 10:30] = True
    stack[:, mask] = 65535  # garbage under the hole
    write_image(tmp_path / "stack.tif", stack)
    write_image(tmp_path / "m.png", mask)
    result = inpaint(
        "fill", tmp_path / "stack.tif", tmp_path / "m.png", "-o", tmp_path / "filled.tif", "--channel-axis", "none",
        "--volume-axis", "none", "--model", "telea",
    )
    assert result.returncode == 0, result.stderr
    filled = read_image(tmp_path / "filled.tif")
    assert filled.shape == stack.shape and filled.dtype == np.uint16
    np.testing.assert_array_equal(filled[:, ~mask], stack[:, ~mask])
    for z in range(4):  # each plane filled from its own values
        assert abs(float(filled[z][mask].mean()) - 1000 * (z + 1)) < 100


def test_fill_stack_as_a_volume_along_z(tmp_path, inpaint):
    sample = stack_sample_with_truth()
    write_image(tmp_path / "cells.tif", sample.image, axes="ZYX")
    write_image(tmp_path / "cells_mask.tif", sample.mask, axes="ZYX")
    hole = sample.mask

    def hole_error(path: Path) -> float:
        filled = read_image(path).astype(np.float64)
        np.testing.assert_array_equal(filled[~hole], sample.image[~hole])
        return float(np.sqrt(np.mean((filled[hole] - sample.signal[hole]) ** 2)))

    volume = inpaint("fill", tmp_path / "cells.tif", tmp_path / "cells_mask.tif", "-o", tmp_path / "v.tif",
                     "--volume-axis", "z", "--model", "biharmonic")
    assert volume.returncode == 0, volume.stderr
    assert read_image_with_axes(tmp_path / "v.tif")[1] == "ZYX"  # the stack's axes survive the fill
    planes = inpaint("fill", tmp_path / "cells.tif", tmp_path / "cells_mask.tif", "-o", tmp_path / "p.tif",
                     "--volume-axis", "none", "--model", "biharmonic")
    assert planes.returncode == 0, planes.stderr
    assert hole_error(tmp_path / "v.tif") < 0.8 * hole_error(tmp_path / "p.tif")
    assert_one_line_error(
        inpaint("fill", tmp_path / "cells.tif", tmp_path / "cells_mask.tif", "-o", tmp_path / "t.tif",
                "--volume-axis", "t"),
        "axes ZYX", "none is labelled T",
    )


def test_volume_axis_letters_map_to_the_file_axes():
    assert volume_axis_index("z", "ZYX", "a.tif") == 0
    assert volume_axis_index("z", "TZYX", "a.tif") == 1
    assert volume_axis_index("t", "TZYXS", "a.tif") == 0
    assert volume_axis_index("z", "QYX", "a.tif") == 0  # one unlabelled stack axis serves as Z or T
    assert volume_axis_index("t", "QYXS", "a.tif") == 0
    for passthrough in ("auto", None, 2):
        assert volume_axis_index(passthrough, "QQYX", "a.tif") == passthrough
    with pytest.raises(InpaintError, match="single 2D image"):
        volume_axis_index("z", "YXS", "a.png")
    with pytest.raises(InpaintError, match="QQYX"):
        volume_axis_index("z", "QQYX", "a.tif")  # two unlabelled axes: which one is Z is not guessed


def test_fill_folder_matches_masks_by_stem_and_lists_what_it_skips(tmp_path, photo_and_mask, inpaint):
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
    write_image(masks / "zebra.png", mask)  # no image: skipped
    output = tmp_path / "results" / "nested"
    result = inpaint("fill", "--image", images, "--mask", masks, "--output", output, "--model", "telea")
    assert result.returncode == 0, result.stderr
    (images_skipped,) = [line for line in result.stderr.splitlines() if "without a mask" in line]
    assert images_skipped.endswith(": d.png")  # only the image without a mask is listed
    (masks_skipped,) = [line for line in result.stderr.splitlines() if "without an image" in line]
    assert masks_skipped.startswith("inpaint: warning: skipping 1 mask(s)") and masks_skipped.endswith(": zebra.png")
    assert sorted(p.name for p in output.iterdir()) == ["a.png", "b.jpg", "c.tif"]
    np.testing.assert_array_equal(read_image(output / "a.png")[~mask], photo[~mask])
    grey = read_image(output / "c.tif")
    assert grey.shape == mask.shape and grey.dtype == np.uint8
    np.testing.assert_array_equal(grey[~mask], photo[..., 0][~mask])

    # -q hides the notes, not the warnings about skipped files
    quiet = inpaint("fill", "--image", images, "--mask", masks, "--output", tmp_path / "q", "--model", "telea", "-q")
    assert quiet.returncode == 0
    assert all(line.startswith("inpaint: warning: skipping") for line in quiet.stderr.splitlines())
    assert "wrote" not in quiet.stderr

    # one mask file for every image
    single = tmp_path / "single"
    result = inpaint("fill", "--image", images, "--mask", masks / "a.png", "-o", single, "--model", "navier-stokes")
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in single.iterdir()) == ["a.png", "b.jpg", "c.tif", "d.png"]
    np.testing.assert_array_equal(read_image(single / "d.png")[~mask], photo[~mask])


def test_fill_folder_with_masks_beside_the_images(tmp_path, photo_and_mask, inpaint):
    _, _, photo, mask = photo_and_mask
    folder = tmp_path / "both"
    folder.mkdir()
    write_image(folder / "a.png", photo)
    write_image(folder / "a_mask.png", mask)
    write_image(folder / "lost_mask.png", mask)  # a mask whose image is gone
    result = inpaint("fill", "--image", folder, "--mask", folder, "-o", tmp_path / "out", "--model", "telea")
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.png"]
    assert "skipping 1 mask(s) without an image" in result.stderr and "lost_mask.png" in result.stderr


def test_fill_option_and_model_errors_are_one_line(photo_and_mask, tmp_path, inpaint):
    photo_path, mask_path, _, _ = photo_and_mask
    out = tmp_path / "never.png"
    assert_one_line_error(
        inpaint("fill", photo_path, mask_path, "-o", out, "--opt", "bogus=1", "--model", "telea"), "'bogus'", "radius"
    )
    assert_one_line_error(
        inpaint("fill", photo_path, mask_path, "-o", out, "--model", "lama"),
        "'lama'", "telea", "navier-stokes", "biharmonic",
    )
    assert_one_line_error(inpaint("fill", tmp_path / "nope.png", mask_path, "-o", out), "nope.png")
    assert_one_line_error(inpaint("fill", photo_path, mask_path, "-o", photo_path), "refusing to overwrite")
    assert_one_line_error(inpaint("fill", photo_path, "-o", out), "MASK")
    assert_one_line_error(inpaint("fill", photo_path, mask_path, "-o", out, "--margin", "-3"), "--margin")
    assert_one_line_error(inpaint("fill", photo_path, mask_path, "-o", out, "--volume-axis", "w"), "--volume-axis")
    assert not out.exists()


def test_fill_weights_errors_name_the_file_and_its_sidecar(photo_and_mask, tmp_path, inpaint):
    photo_path, mask_path, _, _ = photo_and_mask
    out = tmp_path / "never.png"
    pickle = tmp_path / "x.pt"
    pickle.write_bytes(b"not a checkpoint")
    line = assert_one_line_error(
        inpaint("fill", photo_path, mask_path, "-o", out, "--model", "autoencoder", "--weights", pickle), "x.pt"
    )
    assert "no sidecar x.json" in line
    run = tmp_path / "runs" / "ae"
    (run / "checkpoints").mkdir(parents=True)
    line = assert_one_line_error(
        inpaint("fill", photo_path, mask_path, "-o", out, "--model", "autoencoder", "--weights", run), "is a directory"
    )
    assert ".safetensors" in line
    assert_one_line_error(
        inpaint("fill", photo_path, mask_path, "-o", out, "--model", "autoencoder", "--weights", tmp_path / "no.pt"),
        "weights file not found", "no.pt",
    )
    assert not out.exists()


def test_fill_sample(tmp_path, inpaint):
    result = inpaint("fill", "--sample", "-o", "astronaut_filled.png", "--model", "telea", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    filled = read_image(tmp_path / "astronaut_filled.png")
    photo, mask = sample_photo_with_mask()
    assert filled.shape == photo.shape and filled.dtype == np.uint8
    np.testing.assert_array_equal(filled[~mask], photo[~mask])
    assert not np.array_equal(filled[mask], photo[mask])


# --------------------------------------------------------------------------- inpaint sample
def test_sample_writes_files_the_fill_command_pairs(tmp_path, inpaint):
    result = inpaint("sample", "-o", tmp_path / "s")
    assert result.returncode == 0, result.stderr
    written = [Path(line) for line in result.stdout.splitlines()]
    assert [p.name for p in written] == ["astronaut.png", "astronaut_mask.png", "cells.tif", "cells_mask.tif"]
    photo, mask = sample_photo_with_mask()
    np.testing.assert_array_equal(read_image(tmp_path / "s" / "astronaut.png"), photo)
    np.testing.assert_array_equal(read_mask(tmp_path / "s" / "astronaut_mask.png"), mask)
    stack, axes = read_image_with_axes(tmp_path / "s" / "cells.tif")
    assert axes == "ZYX" and stack.dtype == np.uint16
    assert inpaint("sample", "-o", tmp_path / "s", "-q").stderr == ""


# --------------------------------------------------------------------------- inpaint masks
def test_masks_command_is_deterministic(tmp_path, inpaint):
    args = ("masks", "--kind", "strokes", "--preset", "thick", "--count", 4, "--size", 64, "--seed", 5)
    first = inpaint(*args, "-o", tmp_path / "first")
    second = inpaint(*args, "-o", tmp_path / "second", "-q")
    assert first.returncode == 0 and second.returncode == 0, first.stderr + second.stderr
    assert "wrote 4 strokes mask(s)" in first.stderr and second.stderr == ""
    names = sorted(p.name for p in (tmp_path / "first").iterdir())
    assert names == [f"mask_{i:04d}.png" for i in range(4)]
    expected = generate_masks("strokes", 4, 64, seed=5, preset="thick")
    for name, mask in zip(names, expected):
        assert (tmp_path / "first" / name).read_bytes() == (tmp_path / "second" / name).read_bytes()
        np.testing.assert_array_equal(read_mask(tmp_path / "first" / name), mask)
    assert_one_line_error(inpaint("masks", "--kind", "triangles", "-o", tmp_path / "x"), "triangles")


def test_masks_refuse_a_non_empty_folder_unless_overwrite(tmp_path, inpaint):
    folder = tmp_path / "set"
    assert inpaint("masks", "--kind", "box", "--count", 3, "--size", 32, "-o", folder).returncode == 0
    line = assert_one_line_error(inpaint("masks", "--kind", "box", "--count", 2, "--size", 32, "-o", folder),
                                 "not empty", "--overwrite")
    assert str(folder) in line
    assert len(list(folder.iterdir())) == 3  # untouched
    result = inpaint("masks", "--kind", "box", "--count", 2, "--size", 32, "-o", folder, "--overwrite")
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in folder.iterdir()) == ["mask_0000.png", "mask_0001.png"]  # no leftover third
    (folder / "notes.txt").write_text("mine")
    assert_one_line_error(
        inpaint("masks", "--count", 1, "--size", 32, "-o", folder, "--overwrite"), "notes.txt"
    )
    assert (folder / "notes.txt").exists()


# --------------------------------------------------------------------------- inpaint eval
@pytest.fixture
def eval_folder(tmp_path):
    folder = tmp_path / "data"
    folder.mkdir()
    for name in ("astronaut", "coffee", "chelsea"):
        photo = getattr(data, name)()
        step = photo.shape[0] // 64
        write_image(folder / f"{name}.png", np.ascontiguousarray(photo[::step, ::step]))
    return folder


def test_eval_table_and_json(eval_folder, inpaint):
    result = inpaint("eval", "--model", "telea", "--model", "biharmonic", "--data", eval_folder,
                     "--masks", "box", "--size", 64, "--seed", 1)
    assert result.returncode == 0, result.stderr
    table = result.stdout.strip().splitlines()
    assert table[0].startswith("| Model") and "PSNR hole" in table[0] and "ms/image" in table[0]
    assert [line.split("|")[1].strip() for line in table[2:]] == ["telea", "biharmonic"]
    result = inpaint("eval", "-m", "telea", "--data", eval_folder, "--masks", "strokes", "--preset", "thin",
                     "--size", 64, "--json", "--opt", "telea:radius=4", "-q")
    assert result.returncode == 0, result.stderr
    (row,) = json.loads(result.stdout)
    assert row["model"] == "telea" and row["images"] == 3 and 5 < row["psnr"] < 60


def test_eval_errors(eval_folder, inpaint):
    assert_one_line_error(inpaint("eval", "-m", "nope", "--data", eval_folder, "--masks", "box"), "'nope'", "telea")
    assert_one_line_error(inpaint("eval", "-m", "telea", "--data", eval_folder, "--masks", "nowhere/"), "nowhere")


# --------------------------------------------------------------------------- the program
def test_usage_errors_are_one_line(inpaint):
    assert_one_line_error(inpaint(), "command")
    assert_one_line_error(inpaint("fill", "--model"), "--model")
    assert_one_line_error(inpaint("models", "--bogus"), "--bogus")
    assert inpaint("--help").returncode == 0


@pytest.mark.parametrize("command", ["models", "fill", "sample", "train", "fit", "masks", "eval"])
def test_every_command_takes_quiet(command, inpaint):
    """docs/cli.md: ``-q`` / ``--quiet`` is a convention shared by every command."""
    result = inpaint(command, "--help")
    assert result.returncode == 0 and "-q, --quiet" in result.stdout


#: what a cold ``inpaint`` process must not import for these commands (start-up time, memory)
HEAVY = ("torch", "napari", "qtpy", "matplotlib", "dask")

PROBE = """
import sys
from inpaint_models.cli import main
status = main(sys.argv[1:])
print(*sorted(m for m in {heavy!r} if m in sys.modules))
sys.exit(status)
"""


@pytest.mark.parametrize("argv", [["models"], ["fill", "photo.png", "mask.png", "-o", "out.png", "--model", "telea"]])
def test_listing_models_and_a_classical_fill_do_not_import_torch(argv, photo_and_mask, tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("INPAINT_DEBUG", plugins.PLUGINS_ENV_VAR)}
    result = subprocess.run([sys.executable, "-c", PROBE.format(heavy=HEAVY), *argv], capture_output=True,
                            text=True, cwd=tmp_path, env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "", f"imported: {result.stdout.splitlines()[-1]}"


def test_module_entry_point_runs():
    result = subprocess.run([sys.executable, "-m", "inpaint_models.cli", "--version"], capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0 and result.stdout.startswith("inpaint ")


def test_fill_auto_reads_the_hole_of_each_input(inpaint, tmp_path):
    """`--model auto` picks per input from the mask too: 2-px scratches get a diffusion fill, a box patchmatch."""
    photo = np.ascontiguousarray(data.astronaut()[::2, ::2])  # (256, 256, 3)
    write_image(tmp_path / "photo.png", photo)
    scratches = np.zeros(photo.shape[:2], np.uint8)
    scratches[60:62, :] = scratches[150:152, :] = 255
    write_image(tmp_path / "scratches.png", scratches)
    box = np.zeros(photo.shape[:2], np.uint8)
    box[96:160, 96:160] = 255
    write_image(tmp_path / "box.png", box)
    thin = inpaint("fill", tmp_path / "photo.png", tmp_path / "scratches.png", "-o", tmp_path / "a.png")
    wide = inpaint("fill", tmp_path / "photo.png", tmp_path / "box.png", "-o", tmp_path / "b.png")
    assert thin.returncode == 0 and wide.returncode == 0, thin.stderr + wide.stderr
    assert "model: biharmonic (the default for this input" in thin.stderr, thin.stderr
    assert "model: patchmatch (the default for this input" in wide.stderr, wide.stderr
