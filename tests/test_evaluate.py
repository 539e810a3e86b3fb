"""Tests of inpaint_models.evaluation: evaluate() and format_markdown()."""

from __future__ import annotations

import math

import numpy as np
import pytest
from skimage import data

import inpaint_models
from inpaint_models import api
from inpaint_models.contract.errors import InpaintError, ShapeMismatchError, UnknownModelError, UnknownOptionError
from inpaint_models.evaluation import center_crop_resize, evaluate, format_markdown, load_eval_images, to_float_rgb
from inpaint_models.io.imageio import write_image
from inpaint_models.io.masks import generate_masks
from inpaint_models.training.metrics import METRIC_NAMES, compute_metrics

SIZE = 48


@pytest.fixture(scope="module")
def photos() -> list[np.ndarray]:
    """Three real photos of different shapes (uint8 RGB, one grey)."""
    return [data.astronaut()[::8, ::8], data.coffee()[::8, ::8], data.camera()[::8, ::8]]


@pytest.fixture
def photo_dir(tmp_path, photos):
    folder = tmp_path / "photos"
    folder.mkdir()
    for name, photo in zip(["a", "b", "c"], photos):
        write_image(folder / f"{name}.png", photo)
    (folder / "readme.txt").write_text("not an image")
    return folder


def test_evaluate_rows_for_each_model(photo_dir, registry):
    rows = evaluate(["telea", "biharmonic"], photo_dir, "box", size=SIZE, seed=3, registry=registry)
    assert [row["model"] for row in rows] == ["telea", "biharmonic"]
    for row in rows:
        assert set(row) == {"model", "images", "ms_per_image", *METRIC_NAMES}
        assert row["images"] == 3
        assert all(math.isfinite(row[key]) for key in METRIC_NAMES)
        # the hole is where all the error is: hole-only scores are worse
        assert row["psnr_hole"] < row["psnr"]
        assert row["l1_hole"] > row["l1"]
        assert 0.0 < row["ssim"] <= 1.0
        assert 0.0 < row["texture_ratio"] < 1.0  # smooth fills lose the photos' texture
        assert row["ms_per_image"] > 0.0
    assert rows[0] != rows[1]
    again = evaluate("telea", photo_dir, "box", size=SIZE, seed=3, registry=registry)
    assert {k: v for k, v in again[0].items() if k != "ms_per_image"} == {
        k: v for k, v in rows[0].items() if k != "ms_per_image"
    }


def test_evaluate_matches_fill_plus_compute_metrics(photos, registry):
    images = [to_float_rgb(photo) for photo in photos[:2]]
    images = [center_crop_resize(image, SIZE) for image in images]
    masks = generate_masks("centre", 2, SIZE, seed=0)
    (row,) = evaluate("navier-stokes", images, masks, size=SIZE, registry=registry)
    expected = [compute_metrics(api.fill(i, m, model="navier-stokes", registry=registry), i, m)
                for i, m in zip(images, masks)]
    for key in METRIC_NAMES:
        assert row[key] == pytest.approx(np.mean([e[key] for e in expected]), rel=1e-6)


def test_generated_masks_use_generate_masks(photos, registry, monkeypatch):
    seen = []
    real = inpaint_models.evaluation.mask_sets.generate_masks

    def spy(kind, count, size, seed, preset=None, **kwargs):
        seen.append((kind, count, size, seed, preset))
        return real(kind, count, size, seed, preset=preset, **kwargs)

    monkeypatch.setattr(inpaint_models.evaluation.mask_sets, "generate_masks", spy)
    evaluate("telea", photos, "strokes", size=SIZE, seed=7, preset="thick", registry=registry)
    assert seen == [("strokes", 3, (SIZE, SIZE), 7, "thick")]


def test_mask_folder_matched_by_stem_or_by_order(tmp_path, photo_dir, registry):
    masks = generate_masks("box", 3, SIZE, seed=1)
    by_name = tmp_path / "named"
    by_name.mkdir()
    for name, mask in zip(["a", "b_mask", "c.mask"], masks):
        write_image(by_name / f"{name}.png", mask)
    named = evaluate("telea", photo_dir, by_name, size=SIZE, registry=registry)
    by_order = tmp_path / "order"
    by_order.mkdir()
    for index, mask in enumerate(masks):
        write_image(by_order / f"mask_{index:04d}.png", mask)
    ordered = evaluate("telea", photo_dir, by_order, size=SIZE, registry=registry)
    as_arrays = evaluate("telea", photo_dir, masks, size=SIZE, registry=registry)
    for key in METRIC_NAMES:
        assert named[0][key] == pytest.approx(as_arrays[0][key])
        assert ordered[0][key] == pytest.approx(as_arrays[0][key])
    # a partial name match is an error naming the image without a mask
    (by_name / "c.mask.png").unlink()
    with pytest.raises(InpaintError, match="no mask .* for image.*c"):
        evaluate("telea", photo_dir, by_name, size=SIZE, registry=registry)


def test_masks_are_cycled_and_resized(photos, registry):
    big = np.zeros((96, 96), bool)
    big[30:60, 30:60] = True
    (row,) = evaluate("telea", photos, [big], size=SIZE, registry=registry)
    assert row["images"] == 3 and math.isfinite(row["psnr_hole"])


def test_size_none_keeps_image_sizes(photos, registry):
    loaded, stems = load_eval_images(photos, size=None)
    assert [image.shape[:2] for image in loaded] == [photo.shape[:2] for photo in photos]
    assert stems == [None, None, None]
    rows = evaluate("telea", photos, "box", size=None, registry=registry)
    assert rows[0]["images"] == 3


def test_empty_masks_give_nan_hole_metrics(photos, registry):
    (row,) = evaluate("telea", photos[:1], [np.zeros((SIZE, SIZE), bool)], size=SIZE, registry=registry)
    assert math.isnan(row["psnr_hole"]) and math.isinf(row["psnr"])
    assert "n/a" in format_markdown([row])


def test_evaluate_errors(photo_dir, photos, registry):
    with pytest.raises(UnknownModelError, match="telea"):
        evaluate(["telea", "nope"], photo_dir, "box", registry=registry)
    with pytest.raises(InpaintError, match="neither a folder"):
        evaluate("telea", photo_dir, "triangles", registry=registry)
    with pytest.raises(InpaintError, match="not found"):
        evaluate("telea", photo_dir / "missing", "box", registry=registry)
    with pytest.raises(UnknownOptionError, match="bogus"):
        evaluate("telea", photos, "box", size=SIZE, options={"telea": {"bogus": 1}}, registry=registry)
    with pytest.raises(InpaintError, match="not among"):
        evaluate("telea", photos, "box", size=SIZE, options={"biharmonic": {}}, registry=registry)
    with pytest.raises(InpaintError, match="stack"):
        to_float_rgb(np.zeros((2, 8, 8, 3), np.uint8))
    with pytest.raises(ShapeMismatchError, match="mask 0"):
        evaluate("telea", photos, [np.zeros((20, 30), bool)], size=None, registry=registry)


def test_options_reach_the_model(photos, registry):
    masks = generate_masks("box", 3, SIZE, seed=2)
    small = evaluate("telea", photos, masks, size=SIZE, registry=registry)[0]
    large = evaluate("telea", photos, masks, size=SIZE, options={"telea": {"radius": "15"}}, registry=registry)[0]
    assert small["psnr_hole"] != large["psnr_hole"]


def test_progress_events(photos, registry):
    events = []
    evaluate(["telea", "navier-stokes"], photos, "centre", size=SIZE, registry=registry, progress=events.append)
    assert [(e.phase, e.step, e.total) for e in events] == [("evaluate", i, 6) for i in range(1, 7)]


def test_to_float_rgb_and_crop():
    grey16 = np.full((10, 20), 65535, np.uint16)
    rgb = to_float_rgb(grey16)
    assert rgb.shape == (10, 20, 3) and rgb.dtype == np.float32 and rgb.max() == 1.0
    rgba = np.zeros((10, 20, 4), np.uint8)
    assert to_float_rgb(rgba).shape == (10, 20, 3)
    square = center_crop_resize(rgb, 5)
    assert square.shape == (5, 5, 3)
    mask = np.zeros((10, 20), bool)
    mask[:, 5:15] = True  # exactly the centred square
    assert center_crop_resize(mask, 10).all()


def test_format_markdown_table():
    row = {"model": "telea", "images": 2, **{key: 0.5 for key in METRIC_NAMES}, "ms_per_image": 12.345}
    row["psnr"] = 31.4159
    table = format_markdown([row, {**row, "model": "biharmonic"}]).splitlines()
    assert len(table) == 4
    cells = [c.strip() for c in table[0].strip("|").split("|")]
    assert cells == ["Model", "PSNR", "PSNR hole", "SSIM", "SSIM hole", "Texture", "L1", "MSE", "TV", "ms/image"]
    assert set(table[1]) <= set("|-:")
    first = [c.strip() for c in table[2].strip("|").split("|")]
    assert first[0] == "telea" and first[1] == "31.42" and first[-1] == "12.3"
    assert len({len(line) for line in table}) == 1  # aligned
