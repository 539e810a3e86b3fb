"""Tests of inpaint_models.io.masks (mask generators, buckets, I/O)."""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np
import pytest

from inpaint_models.contract.errors import InpaintError
from inpaint_models.io.masks import (
    MASK_KINDS,
    RATIO_BUCKETS,
    STROKE_PRESETS,
    StrokePreset,
    box_mask,
    centre_mask,
    generate_masks,
    hole_ratio,
    load_mask,
    make_mask,
    ratio_bucket,
    save_masks,
    strokes_mask,
)


def _rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def _boxes(mask: np.ndarray) -> list[tuple[int, int, int, int]]:
    """(top, left, height, width) of each connected component's bounding box."""
    n, _, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=4)
    return [(int(s[1]), int(s[0]), int(s[3]), int(s[2])) for s in stats[1:n]]


# --------------------------------------------------------------------------- #
# shapes, dtypes, dispatch
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("kind", MASK_KINDS + ("center",))
@pytest.mark.parametrize("shape", [(64, 64), (48, 80)])
def test_make_mask_shape_dtype(kind: str, shape: tuple[int, int]) -> None:
    mask = make_mask(kind, shape, _rng(1))
    assert mask.shape == shape
    assert mask.dtype == np.bool_
    assert 0 < mask.sum() < mask.size


def test_center_alias_equals_centre() -> None:
    np.testing.assert_array_equal(
        make_mask("center", (50, 70), _rng()), make_mask("centre", (50, 70), _rng())
    )


def test_unknown_kind_error_lists_valid_kinds() -> None:
    with pytest.raises(InpaintError) as info:
        make_mask("circle", (32, 32), _rng())
    msg = str(info.value)
    assert "circle" in msg
    for kind in MASK_KINDS:
        assert kind in msg
    assert isinstance(info.value, ValueError)
    with pytest.raises(InpaintError, match="box"):
        generate_masks("nope", 2, 32, seed=0)


def test_unknown_preset_error_lists_presets() -> None:
    with pytest.raises(InpaintError) as info:
        make_mask("strokes", (32, 32), _rng(), preset="huge")
    for name in ("thin", "medium", "thick"):
        assert name in str(info.value)
    with pytest.raises(InpaintError):
        strokes_mask((32, 32), _rng(), preset="huge")
    with pytest.raises(InpaintError, match="strokes"):
        make_mask("box", (32, 32), _rng(), preset="thin")


def test_unknown_parameter_is_clear_error() -> None:
    with pytest.raises(InpaintError, match="radius"):
        make_mask("box", (32, 32), _rng(), radius=3)


def test_make_mask_passes_params() -> None:
    mask = make_mask("box", (64, 64), _rng(), min_size=10, max_size=10)
    assert mask.sum() == 100
    assert make_mask("centre", (64, 64), _rng(), size=20).sum() == 400
    # stroke preset fields can be overridden
    a = make_mask("strokes", (64, 64), _rng(3), preset="thin", max_width=60, min_width=50)
    b = make_mask("strokes", (64, 64), _rng(3), preset="thin")
    assert a.sum() > b.sum()


# --------------------------------------------------------------------------- #
# box / centre
# --------------------------------------------------------------------------- #
def test_box_default_size_range_and_inside() -> None:
    rng = _rng(5)
    for _ in range(30):
        mask = box_mask((256, 256), rng)
        (top, left, h, w), = _boxes(mask)
        assert 96 <= h <= 128 and 96 <= w <= 128
        assert top >= 0 and left >= 0 and top + h <= 256 and left + w <= 256
        assert mask.sum() == h * w  # a full rectangle


def test_box_explicit_range_and_count() -> None:
    rng = _rng(7)
    for _ in range(20):
        mask = box_mask((100, 120), rng, min_size=5, max_size=9)
        (_, _, h, w), = _boxes(mask)
        assert 5 <= h <= 9 and 5 <= w <= 9
    # several boxes: the union covers at most count * max area
    mask = box_mask((200, 200), _rng(8), count=4, min_size=10, max_size=20)
    assert 100 <= mask.sum() <= 4 * 400
    with pytest.raises(InpaintError):
        box_mask((64, 64), rng, min_size=30, max_size=20)
    with pytest.raises(InpaintError):
        box_mask((64, 64), rng, count=0)


def test_box_sizes_cover_range() -> None:
    rng = _rng(11)
    sides = set()
    for _ in range(60):
        (_, _, h, w), = _boxes(box_mask((64, 64), rng, min_size=3, max_size=5))
        sides.update((h, w))
    assert sides == {3, 4, 5}


def test_box_hits_image_edges_when_large() -> None:
    mask = box_mask((20, 20), _rng(), min_size=20, max_size=20)
    assert mask.all()


def test_centre_exact() -> None:
    mask = centre_mask((256, 256))
    expected = np.zeros((256, 256), bool)
    expected[64:192, 64:192] = True
    np.testing.assert_array_equal(mask, expected)
    mask = centre_mask((10, 15), size=4)
    expected = np.zeros((10, 15), bool)
    expected[3:7, 5:9] = True
    np.testing.assert_array_equal(mask, expected)
    with pytest.raises(InpaintError):
        centre_mask((10, 15), size=11)


# --------------------------------------------------------------------------- #
# strokes
# --------------------------------------------------------------------------- #
def test_presets_are_frozen_dataclasses() -> None:
    assert set(STROKE_PRESETS) == {"thin", "medium", "thick"}
    preset = STROKE_PRESETS["thin"]
    assert isinstance(preset, StrokePreset)
    with pytest.raises(dataclasses.FrozenInstanceError):
        preset.max_width = 3  # type: ignore[misc]
    with pytest.raises(InpaintError):
        StrokePreset(max_vertices=0, max_length=10, max_width=5, min_times=1, max_times=2, max_angle=1)


def test_preset_ordering_by_hole_ratio() -> None:
    means = {}
    for name in ("thin", "medium", "thick"):
        rng = _rng(21)
        means[name] = np.mean([hole_ratio(strokes_mask((128, 128), rng, name)) for _ in range(20)])
    assert means["thin"] < means["medium"] < means["thick"]
    assert means["thin"] < 0.1
    assert 0.1 <= means["thick"] <= 0.4


def test_strokes_accepts_preset_object() -> None:
    p = StrokePreset(max_vertices=3, max_length=40, max_width=6, min_times=1, max_times=1, max_angle=1.0, min_width=6)
    mask = strokes_mask((64, 64), _rng(), p)
    assert mask.dtype == np.bool_ and mask.any()


@pytest.mark.parametrize("size", [32, 1024])
def test_scales_with_image_size(size: int) -> None:
    ref = np.mean([hole_ratio(strokes_mask((256, 256), _rng(i), "medium")) for i in range(8)])
    for kind in MASK_KINDS:
        mask = make_mask(kind, (size, size), _rng(2))
        assert mask.shape == (size, size) and mask.dtype == np.bool_
        assert 0 < hole_ratio(mask) < 0.7
    ratios = [hole_ratio(strokes_mask((size, size), _rng(i), "medium")) for i in range(8)]
    # relative stroke geometry: similar coverage at every image size
    assert 0.4 * ref < np.mean(ratios) < 2.5 * ref
    (_, _, h, w), = _boxes(box_mask((size, size), _rng(3)))
    assert round(size * 96 / 256) <= h <= round(size * 128 / 256)
    assert round(size * 96 / 256) <= w <= round(size * 128 / 256)


# --------------------------------------------------------------------------- #
# mosaic
# --------------------------------------------------------------------------- #
def test_mosaic_masks_are_box_masks() -> None:
    np.testing.assert_array_equal(make_mask("mosaic", (64, 64), _rng(4)), box_mask((64, 64), _rng(4)))


# --------------------------------------------------------------------------- #
# buckets and mask sets
# --------------------------------------------------------------------------- #
def test_hole_ratio_and_buckets() -> None:
    mask = np.zeros((10, 10), bool)
    mask[:3, :5] = True
    assert hole_ratio(mask) == pytest.approx(0.15)
    assert len(RATIO_BUCKETS) == 6 and RATIO_BUCKETS[0] == (0.0, 0.1) and RATIO_BUCKETS[-1] == (0.5, 0.6)
    assert ratio_bucket(0.0) == "0-10%"
    assert ratio_bucket(0.15) == "10-20%"
    assert ratio_bucket(0.1) == "10-20%"
    assert ratio_bucket(0.6) == "50-60%"
    for bad in (-0.01, 0.61, 1.0):
        with pytest.raises(InpaintError):
            ratio_bucket(bad)


def test_generate_masks_deterministic_and_prefix() -> None:
    for kind, preset in (("strokes", "thick"), ("box", None)):
        a = generate_masks(kind, 3, 64, seed=42, preset=preset)
        b = generate_masks(kind, 5, 64, seed=42, preset=preset)
        c = generate_masks(kind, 5, 64, seed=42, preset=preset)
        d = generate_masks(kind, 5, 64, seed=43, preset=preset)
        assert len(a) == 3 and len(b) == 5
        for x, y in zip(a, b[:3]):
            np.testing.assert_array_equal(x, y)
        for x, y in zip(b, c):
            np.testing.assert_array_equal(x, y)
        assert any(not np.array_equal(x, y) for x, y in zip(b, d))
        assert all(m.shape == (64, 64) and m.dtype == np.bool_ for m in b)
    assert generate_masks("box", 0, 64, seed=0) == []
    assert generate_masks("centre", 2, (40, 60), seed=0)[1].shape == (40, 60)


@pytest.mark.parametrize(
    "kind,preset,bucket",
    [
        ("strokes", "medium", "10-20%"),
        ("strokes", "thin", (0.0, 0.1)),
        ("box", None, "40-50%"),
        ("mosaic", None, "0-10%"),
        ("centre", None, "30-40%"),
    ],
)
def test_bucket_constraint(kind: str, preset: str | None, bucket) -> None:
    masks = generate_masks(kind, 4, 96, seed=1, preset=preset, bucket=bucket)
    low, high = bucket if isinstance(bucket, tuple) else (
        int(bucket.split("-")[0]) / 100, int(bucket.split("-")[1].rstrip("%")) / 100
    )
    assert len(masks) == 4
    for mask in masks:
        assert low <= hole_ratio(mask) < high


def test_bucket_unreachable_raises() -> None:
    with pytest.raises(InpaintError, match="50-60%"):
        generate_masks("strokes", 1, 64, seed=0, preset="thin", bucket="50-60%", max_tries=20)
    with pytest.raises(InpaintError):
        generate_masks("box", 1, 64, seed=0, bucket="bad")


# --------------------------------------------------------------------------- #
# I/O
# --------------------------------------------------------------------------- #
def test_save_load_round_trip(tmp_path) -> None:
    masks = generate_masks("strokes", 3, (40, 56), seed=3)
    paths = save_masks(masks, tmp_path / "sub" / "set")
    assert [p.name for p in paths] == ["mask_0000.png", "mask_0001.png", "mask_0002.png"]
    for path, mask in zip(paths, masks):
        raw = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        assert raw.dtype == np.uint8 and set(np.unique(raw)) <= {0, 255}
        loaded = load_mask(path)
        assert loaded.dtype == np.bool_
        np.testing.assert_array_equal(loaded, mask)


def test_load_mask_formats(tmp_path) -> None:
    mask = np.zeros((32, 40), bool)
    mask[8:20, 10:30] = True
    # colour PNG: a hole if any channel is non-zero
    rgb = np.zeros((32, 40, 3), np.uint8)
    rgb[8:20, 10:30, 2] = 200
    cv2.imwrite(str(tmp_path / "rgb.png"), rgb)
    np.testing.assert_array_equal(load_mask(tmp_path / "rgb.png"), mask)
    # RGBA with an opaque alpha channel: the alpha is ignored
    rgba = np.dstack([rgb, np.full((32, 40), 255, np.uint8)])
    cv2.imwrite(str(tmp_path / "rgba.png"), rgba)
    np.testing.assert_array_equal(load_mask(tmp_path / "rgba.png"), mask)
    # 16-bit TIFF
    cv2.imwrite(str(tmp_path / "m.tif"), mask.astype(np.uint16))
    np.testing.assert_array_equal(load_mask(tmp_path / "m.tif"), mask)
    # JPEG: thresholded at 127 so compression noise is no hole
    cv2.imwrite(str(tmp_path / "m.jpg"), mask.astype(np.uint8) * 255, [cv2.IMWRITE_JPEG_QUALITY, 90])
    loaded = load_mask(tmp_path / "m.jpg")
    assert loaded.shape == (32, 40)
    assert np.mean(loaded == mask) > 0.98
    with pytest.raises(InpaintError):
        load_mask(tmp_path / "missing.png")
    (tmp_path / "junk.png").write_bytes(b"not an image")
    with pytest.raises(InpaintError):
        load_mask(tmp_path / "junk.png")


# --------------------------------------------------------------------------- #
# mixed
# --------------------------------------------------------------------------- #
def test_mixed_draws_boxes_and_strokes_with_their_parameters() -> None:
    rng = _rng(11)
    masks = [make_mask("mixed", (128, 128), rng, "thick", min_size=40, max_size=60) for _ in range(40)]
    boxes = [m for m in masks if len(_boxes(m)) == 1 and m.sum() == np.prod(_boxes(m)[0][2:])]
    strokes = [m for m in masks if not any(m is b for b in boxes)]
    assert 8 <= len(boxes) <= 32 and len(boxes) + len(strokes) == 40
    for mask in boxes:
        (_, _, h, w), = _boxes(mask)
        assert 40 <= h <= 60 and 40 <= w <= 60
    thick = [hole_ratio(strokes_mask((128, 128), _rng(i), "thick")) for i in range(16)]
    assert np.mean([hole_ratio(m) for m in strokes]) == pytest.approx(np.mean(thick), rel=0.5)
    with pytest.raises(InpaintError, match="size"):
        make_mask("mixed", (64, 64), _rng(), size=10)
