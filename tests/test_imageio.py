"""Tests of inpaint_models.io.imageio: PNG / JPEG / TIFF reading and writing, masks."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import tifffile

from inpaint_models.contract.errors import InpaintError
from inpaint_models.io.imageio import (
    IMAGE_SUFFIXES,
    list_images,
    read_image,
    read_image_with_axes,
    read_mask,
    refuse_overwrite,
    write_image,
)


@pytest.fixture
def rgb8(rng) -> np.ndarray:
    return rng.integers(0, 256, (20, 30, 3), dtype=np.uint8)


def test_png_rgb_round_trip_keeps_rgb_order(tmp_path, rgb8):
    path = write_image(tmp_path / "a.png", rgb8)
    assert path == tmp_path / "a.png"
    back = read_image(path)
    assert back.dtype == np.uint8
    np.testing.assert_array_equal(back, rgb8)
    # on disk it is a normal PNG: OpenCV reads it as BGR, i.e. channels reversed
    np.testing.assert_array_equal(cv2.imread(str(path), cv2.IMREAD_UNCHANGED), rgb8[..., ::-1])


def test_png_rgba_grey_and_bool(tmp_path, rng):
    rgba = rng.integers(0, 256, (9, 11, 4), dtype=np.uint8)
    np.testing.assert_array_equal(read_image(write_image(tmp_path / "rgba.png", rgba)), rgba)
    grey = rng.integers(0, 256, (9, 11), dtype=np.uint8)
    np.testing.assert_array_equal(read_image(write_image(tmp_path / "grey.png", grey)), grey)
    single = grey[..., np.newaxis]
    np.testing.assert_array_equal(read_image(write_image(tmp_path / "single.png", single)), grey)
    flags = grey > 128
    np.testing.assert_array_equal(read_image(write_image(tmp_path / "bool.png", flags)), flags * np.uint8(255))


@pytest.mark.parametrize("shape", [(17, 23), (17, 23, 3)])
def test_png_16_bit_round_trip(tmp_path, rng, shape):
    image = rng.integers(0, 65536, shape, dtype=np.uint16)
    back = read_image(write_image(tmp_path / "deep.png", image))
    assert back.dtype == np.uint16
    np.testing.assert_array_equal(back, image)


def test_jpeg_round_trip_is_close(tmp_path):
    image = np.zeros((32, 32, 3), np.uint8)
    image[..., 0] = 200  # red: a channel swap would be far off
    image[..., 2] = 30
    back = read_image(write_image(tmp_path / "a.jpg", image))
    assert back.shape == image.shape and back.dtype == np.uint8
    assert np.abs(back.astype(int) - image.astype(int)).max() <= 3


@pytest.mark.parametrize(
    ("name", "array", "hint"),
    [
        ("f.png", np.zeros((8, 8), np.float32), ".tif"),
        ("f.jpg", np.zeros((8, 8, 3), np.float64), ".tif"),
        ("d.jpg", np.zeros((8, 8, 3), np.uint16), ".png or .tif"),
        ("s.png", np.zeros((3, 8, 8), np.uint8).reshape(3, 8, 8, 1).repeat(2, axis=3), ".tif"),
        ("z.png", np.zeros((2, 8, 8, 3), np.uint8), ".tif"),
        ("a.jpg", np.zeros((8, 8, 4), np.uint8), ".png"),
        ("i.png", np.zeros((8, 8), np.int32), ".tif"),
    ],
)
def test_unwritable_formats_are_refused_with_a_hint(tmp_path, name, array, hint):
    with pytest.raises(InpaintError, match=name.replace(".", r"\.")) as info:
        write_image(tmp_path / name, array)
    assert hint in str(info.value)
    assert not (tmp_path / name).exists()
    assert list(tmp_path.iterdir()) == []  # no temporary file left behind


def test_unknown_suffix_and_missing_folder(tmp_path, rgb8):
    with pytest.raises(InpaintError, match="unknown image suffix"):
        write_image(tmp_path / "a.xyz", rgb8)
    with pytest.raises(InpaintError, match="does not exist"):
        write_image(tmp_path / "nope" / "a.png", rgb8)


def test_tiff_keeps_any_dtype(tmp_path, rng):
    image = rng.normal(size=(12, 14)).astype(np.float32) * 1000
    back = read_image(write_image(tmp_path / "f.tif", image))
    assert back.dtype == np.float32
    np.testing.assert_array_equal(back, image)


def test_tiff_stacks_round_trip_as_multi_page(tmp_path, rng):
    stack = rng.integers(0, 65536, (5, 16, 18), dtype=np.uint16)
    path = write_image(tmp_path / "stack.tiff", stack)
    with tifffile.TiffFile(path) as tif:
        assert len(tif.pages) == 5
    back = read_image(path)
    assert back.dtype == np.uint16
    np.testing.assert_array_equal(back, stack)
    colour = rng.integers(0, 256, (3, 16, 18, 3), dtype=np.uint8)
    np.testing.assert_array_equal(read_image(write_image(tmp_path / "colour.tif", colour)), colour)


def test_tiff_axes_are_read_and_written(tmp_path, rng):
    stack = rng.integers(0, 65536, (2, 3, 8, 9), dtype=np.uint16)
    assert read_image_with_axes(write_image(tmp_path / "plain.tif", stack))[1] == "QQYX"  # nothing recorded
    back, axes = read_image_with_axes(write_image(tmp_path / "tz.tif", stack, axes="TZYX"))
    assert axes == "TZYX"
    np.testing.assert_array_equal(back, stack)
    colour = rng.integers(0, 256, (4, 8, 9, 3), dtype=np.uint8)
    back, axes = read_image_with_axes(write_image(tmp_path / "zc.tif", colour, axes="ZYXS"))
    assert axes == "ZYXS"
    np.testing.assert_array_equal(back, colour)
    # axes that do not fit the array, or hold unknown ones, are not recorded rather than recorded wrongly
    assert read_image_with_axes(write_image(tmp_path / "bad.tif", stack, axes="ZYX"))[1] == "QQYX"
    assert read_image_with_axes(write_image(tmp_path / "q.tif", stack, axes="QZYX"))[1] == "QQYX"
    # other formats: rows, columns and colour samples
    assert read_image_with_axes(write_image(tmp_path / "a.png", colour[0]))[1] == "YXS"
    assert read_image_with_axes(write_image(tmp_path / "g.png", colour[0, ..., 0], axes="ZYX"))[1] == "YX"


def test_tiff_pages_written_one_by_one_read_as_a_stack(tmp_path, rng):
    pages = rng.integers(0, 256, (4, 10, 12), dtype=np.uint8)
    with tifffile.TiffWriter(tmp_path / "pages.tif") as writer:
        for page in pages:
            writer.write(page, metadata=None)
    np.testing.assert_array_equal(read_image(tmp_path / "pages.tif"), pages)


@pytest.mark.parametrize("name", ["bad.png", "bad.jpg", "bad.tif", "empty.png"])
def test_unreadable_files_name_the_file(tmp_path, name):
    path = tmp_path / name
    path.write_bytes(b"" if name.startswith("empty") else b"this is not an image")
    with pytest.raises(InpaintError, match=name.replace(".", r"\.")):
        read_image(path)
    with pytest.raises(InpaintError, match=name.replace(".", r"\.")):
        read_mask(path)


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(InpaintError, match="not found.*missing.png"):
        read_image(tmp_path / "missing.png")
    with pytest.raises(InpaintError, match="not found.*missing.tif"):
        read_mask(tmp_path / "missing.tif")
    with pytest.raises(InpaintError, match="folder"):
        read_image(tmp_path)


def test_read_mask_any_channel_is_a_hole(tmp_path):
    mask = np.zeros((10, 12, 3), np.uint8)
    mask[2, 3, 1] = 1  # green only
    mask[5, 6, 2] = 255  # blue only
    write_image(tmp_path / "m.png", mask)
    hole = read_mask(tmp_path / "m.png")
    assert hole.dtype == np.bool_ and hole.shape == (10, 12)
    assert hole.sum() == 2 and hole[2, 3] and hole[5, 6]


def test_read_mask_jpeg_is_thresholded(tmp_path):
    mask = np.zeros((32, 32), np.uint8)
    mask[8:24, 8:24] = 255
    write_image(tmp_path / "m.jpg", mask)
    np.testing.assert_array_equal(read_mask(tmp_path / "m.jpg"), mask > 0)


def test_read_mask_tiff_stack_stays_nd(tmp_path, rng):
    stack = rng.integers(0, 2, (3, 9, 10)).astype(np.uint8)
    write_image(tmp_path / "m.tif", stack)
    hole = read_mask(tmp_path / "m.tif")
    assert hole.shape == (3, 9, 10) and hole.dtype == np.bool_
    np.testing.assert_array_equal(hole, stack > 0)
    rgb = np.zeros((9, 10, 3), np.uint16)
    rgb[4, 5, 2] = 7
    write_image(tmp_path / "rgb.tif", rgb)
    hole = read_mask(tmp_path / "rgb.tif")
    assert hole.shape == (9, 10) and hole.sum() == 1 and hole[4, 5]


def test_list_images_filters_and_sorts(tmp_path, rgb8):
    for name in ["b.png", "a.JPG", "c.tif", ".hidden.png"]:
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "notes.txt").write_text("x")
    (tmp_path / "sub.png").mkdir()
    assert [p.name for p in list_images(tmp_path)] == ["a.JPG", "b.png", "c.tif"]
    assert ".png" in IMAGE_SUFFIXES and ".tiff" in IMAGE_SUFFIXES


def test_refuse_overwrite(tmp_path, rgb8):
    source = write_image(tmp_path / "in.png", rgb8)
    with pytest.raises(InpaintError, match="refusing to overwrite"):
        refuse_overwrite(tmp_path / "." / "in.png", source)
    refuse_overwrite(tmp_path / "out.png", source)  # a different file is fine
