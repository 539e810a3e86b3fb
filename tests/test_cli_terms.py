"""The command line speaks its own terms: flags rather than Python keywords, "did you mean", and one
rule pairing an image with its ``_mask`` file however the mask is given."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from skimage import data

from inpaint_models.cli import main
from inpaint_models.io.imageio import read_image, write_image
from inpaint_models.io.mask_files import find_mask, mask_stems, pair_folder


def run(capsys, *args):
    capsys.readouterr()
    status = main([str(arg) for arg in args])
    return status, capsys.readouterr().err


@pytest.fixture
def photo(tmp_path):
    """``photos/a.png`` (a small RGB photo) and its mask ``a_mask.png`` in a separate folder."""
    image = np.ascontiguousarray(data.astronaut()[::8, ::8])  # (64, 64, 3)
    mask = np.zeros(image.shape[:2], np.uint8)
    mask[20:30, 24:36] = 255
    (tmp_path / "photos").mkdir()
    (tmp_path / "masks").mkdir()
    write_image(tmp_path / "photos" / "a.png", image)
    write_image(tmp_path / "masks" / "a_mask.png", mask)
    return tmp_path, image, mask > 0


def test_a_model_without_weights_is_explained_with_the_flags_of_this_command(photo, capsys):
    folder, _, _ = photo
    status, err = run(capsys, "fill", folder / "photos" / "a.png", folder / "masks" / "a_mask.png", "-o",
                      folder / "out.png", "--model", "stack-unet")
    assert status == 2
    assert "--fit SECONDS" in err and "inpaint fit" in err and "weights=PATH" not in err, err
    (folder / "w.safetensors").write_bytes(b"")
    status, err = run(capsys, "fill", folder / "photos" / "a.png", folder / "masks" / "a_mask.png", "-o",
                      folder / "out.png", "--model", "telea", "--weights", folder / "w.safetensors")
    assert status == 2 and "leave out --weights" in err and "weights=" not in err, err


def test_did_you_mean_for_a_model_an_option_and_a_config_key(photo, capsys):
    folder, _, _ = photo
    args = ["fill", folder / "photos" / "a.png", folder / "masks" / "a_mask.png", "-o", folder / "out.png"]
    assert "(did you mean 'telea'?)" in run(capsys, *args, "--model", "tela")[1]
    assert "(did you mean 'radius'?)" in run(capsys, *args, "--model", "telea", "--opt", "radus=3")[1]
    status, err = run(capsys, "train", "--example", "autoencoder-cpu", "--set", f"train.data={folder / 'photos'}",
                      "--set", "train.stpes=3")
    assert status == 2 and "(did you mean 'steps'?)" in err, err


def test_one_rule_pairs_an_image_with_its_mask_file():
    assert mask_stems("cat") == ("cat", "cat_mask", "cat.mask")
    assert mask_stems("cat", beside=True) == ("cat_mask", "cat.mask")


def test_a_mask_file_is_found_beside_the_image_in_the_mask_folder_and_in_the_image_folder(photo, capsys):
    folder, image, hole = photo
    photos, masks = folder / "photos", folder / "masks"
    assert find_mask(photos / "a.png", masks) == masks / "a_mask.png"
    assert find_mask(photos / "a.png") is None
    shutil.copy(masks / "a_mask.png", photos / "a_mask.png")
    assert find_mask(photos / "a.png") == photos / "a_mask.png"
    for mask_args, out in (([masks], "mask-folder.png"), ([], "beside.png"), ([photos], "image-folder.png"),
                           ([masks / "a_mask.png"], "mask-file.png")):
        status, err = run(capsys, "fill", photos / "a.png", *mask_args, "-o", folder / out, "--model", "telea")
        assert status == 0, err
        filled = read_image(folder / out)
        assert (filled[~hole] == image[~hole]).all() and not (filled[hole] == image[hole]).all(), out
    assert run(capsys, "fill", "--image", photos, "--output", folder / "filled", "--model", "telea")[0] == 0
    assert sorted(p.name for p in (folder / "filled").iterdir()) == ["a.png"]  # the mask is not filled as an image
    pairs, missing, unmatched = pair_folder(photos, masks)
    assert pairs == [(photos / "a.png", masks / "a_mask.png")] and missing == [] and unmatched == []


def test_no_mask_given_and_none_beside_names_what_was_looked_for(photo, capsys):
    folder, _, _ = photo
    status, err = run(capsys, "fill", folder / "photos" / "a.png", "-o", folder / "out.png")
    assert status == 2 and "a_mask.png or a.mask.png" in err, err


def test_inpaint_fit_finds_the_mask_beside_the_image_like_fill(tmp_path, capsys):
    from inpaint_models.samples import stack_sample_with_truth

    stack = stack_sample_with_truth()
    write_image(tmp_path / "cells.tif", stack.image[:8, :48, :48], axes="ZYX")
    write_image(tmp_path / "cells_mask.tif", (stack.mask[:8, :48, :48] * 255).astype(np.uint8), axes="ZYX")
    status, err = run(capsys, "fit", tmp_path / "cells.tif", "-o", tmp_path / "run", "--steps", "2", "-q")
    assert status == 0, err
    assert (tmp_path / "run" / "checkpoints" / "best.safetensors").is_file()
