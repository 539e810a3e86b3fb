"""Training data: folder trees of 8/16-bit grey/RGB/RGBA files, skipped files, deterministic samples,
sharded streams; preview grids and the metrics log."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import tifffile
import torch

from inpaint_models.training import TrainSettings, read_unit_image
from inpaint_models.training.data import StreamBatchSampler, collate
from inpaint_models.training.folders import ImageFolderDataset, scan_files
from inpaint_models.training.preview import preview_grid
from inpaint_models.training.runlog import MetricsLog


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread():
    """One intra-op thread: tiny CPU networks run several times faster than with 2 on a shared machine."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A folder tree with every supported kind of file plus broken ones."""
    rng = np.random.default_rng(0)
    root = tmp_path / "data"
    (root / "nested" / "deeper").mkdir(parents=True)
    (root / ".hidden").mkdir()
    cv2.imwrite(str(root / "grey8.png"), rng.integers(0, 256, (40, 50), dtype=np.uint8))
    cv2.imwrite(str(root / "nested" / "rgb16.png"), rng.integers(0, 65536, (48, 40, 3), dtype=np.uint16))
    cv2.imwrite(str(root / "nested" / "rgba8.png"), rng.integers(0, 256, (36, 36, 4), dtype=np.uint8))
    cv2.imwrite(str(root / "photo.jpg"), rng.integers(0, 256, (60, 40, 3), dtype=np.uint8))
    tifffile.imwrite(root / "nested" / "deeper" / "grey16.tif", rng.integers(0, 65536, (40, 40), dtype=np.uint16))
    tifffile.imwrite(root / "float.tiff", rng.random((40, 44)).astype(np.float32))
    tifffile.imwrite(root / "stack.tif", rng.integers(0, 255, (3, 40, 40, 5), dtype=np.uint8))
    (root / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
    cv2.imwrite(str(root / "tiny.png"), np.zeros((8, 8), np.uint8))
    (root / "notes.txt").write_text("not an image")
    cv2.imwrite(str(root / ".hidden" / "secret.png"), np.zeros((40, 40), np.uint8))
    return root


def settings(root: Path, **values) -> TrainSettings:
    base = {"data": [root], "image_size": 32, "batch_size": 2, "validation_split": 0.0, "seed": 3}
    base.update(values)
    return TrainSettings(**base)


def test_scan_keeps_good_files_and_counts_the_rest(tree):
    scan = scan_files(settings(tree))
    names = sorted(p.name for p in scan.train)
    assert names == ["float.tiff", "grey16.tif", "grey8.png", "photo.jpg", "rgb16.png", "rgba8.png"]
    assert {Path(p).name for p in scan.skipped} == {"broken.png", "tiny.png", "stack.tif"}
    assert "unreadable" in scan.skipped[str(tree / "broken.png")]
    assert "too small" in scan.skipped[str(tree / "tiny.png")]
    assert "stack" in scan.skipped[str(tree / "stack.tif")]


def test_validation_split_is_deterministic_and_disjoint(tree):
    a = scan_files(settings(tree, validation_split=0.3))
    b = scan_files(settings(tree, validation_split=0.3))
    assert a.validation == b.validation and len(a.validation) == 2
    assert not set(a.validation) & set(a.train)


def test_read_unit_image_normalises_depth_and_channels(tree):
    rgb16 = read_unit_image(tree / "nested" / "rgb16.png", 3)
    raw = cv2.imread(str(tree / "nested" / "rgb16.png"), cv2.IMREAD_UNCHANGED)
    # RGB order; a 16-bit image is stretched from its min to its max, as a fill converts it
    low, high = float(raw.min()), float(raw.max())
    np.testing.assert_allclose(rgb16[..., 0], (raw[..., 2] - low) / (high - low), atol=1e-6)
    grey = read_unit_image(tree / "grey8.png", 3)
    assert grey.shape == (40, 50, 3) and np.array_equal(grey[..., 0], grey[..., 2])
    rgba = read_unit_image(tree / "nested" / "rgba8.png", 3)
    assert rgba.shape == (36, 36, 3)
    assert read_unit_image(tree / "photo.jpg", 1).shape == (60, 40, 1)
    for image in (rgb16, grey, rgba, read_unit_image(tree / "float.tiff", 3)):
        assert image.dtype == np.float32 and 0.0 <= image.min() and image.max() <= 1.0


def test_samples_are_deterministic_for_a_seed(tree):
    files = scan_files(settings(tree)).train
    one = ImageFolderDataset(files, settings(tree, mask="strokes", mask_preset="thin"))
    two = ImageFolderDataset(files, settings(tree, mask="strokes", mask_preset="thin"))
    image_a, mask_a, _ = one[(2, 5)]
    image_b, mask_b, _ = two[(2, 5)]
    assert torch.equal(image_a, image_b) and torch.equal(mask_a, mask_b)
    assert image_a.shape == (3, 32, 32) and mask_a.shape == (1, 32, 32) and mask_a.sum() > 0
    image_c, mask_c, _ = one[(2, 6)]  # another epoch: another crop or mask
    assert not (torch.equal(image_a, image_c) and torch.equal(mask_a, mask_c))
    other = ImageFolderDataset(files, settings(tree, seed=4))
    assert not torch.equal(other[(2, 5)][1], mask_a)


def test_a_file_that_fails_to_decode_is_replaced_and_reported(tree):
    files = scan_files(settings(tree)).train
    files.insert(0, tree / "broken.png")
    dataset = ImageFolderDataset(files, settings(tree))
    image, _mask, bad = dataset[(0, 0)]
    assert image.shape == (3, 32, 32) and len(bad) == 1 and "broken.png" in bad[0]
    batch = collate([dataset[(0, 0)], dataset[(1, 0)]])
    assert batch.image.shape == (2, 3, 32, 32) and len(batch.bad_files) == 1


def test_stream_sampler_resumes_where_it_stopped_and_shards():
    full = StreamBatchSampler(10, 3, seed=1)
    first = [batch for batch, _ in zip(iter(full), range(7))]
    resumed = StreamBatchSampler(10, 3, seed=1, start=3 * 4)
    assert [batch for batch, _ in zip(iter(resumed), range(3))] == first[4:]
    assert {key[1] for batch in first for key in batch} == {0, 1, 2}  # batches run across epochs
    rank0 = next(iter(StreamBatchSampler(8, 4, seed=1, rank=0, world_size=2)))
    rank1 = next(iter(StreamBatchSampler(8, 4, seed=1, rank=1, world_size=2)))
    assert not {i for i, _ in rank0} & {i for i, _ in rank1}
    assert next(iter(StreamBatchSampler(1, 4, seed=0))) == [(0, 0), (0, 1), (0, 2), (0, 3)]  # tiny dataset


def test_preview_grid_has_five_columns():
    truth = np.random.default_rng(0).random((2, 16, 16, 3)).astype(np.float32)
    mask = np.zeros((2, 16, 16), bool)
    mask[:, 4:10, 4:10] = True
    output = truth.copy()
    output[mask] = 0.0
    grid = preview_grid(truth, mask, output, gap=2)
    assert grid.shape == (2 * 16 + 2, 5 * 16 + 4 * 2, 3) and grid.dtype == np.uint8
    mask_tile = grid[:16, 18:34]
    assert (mask_tile[5, 5] == 255).all() and (mask_tile[0, 0] == 0).all()
    heat = grid[:16, 4 * 18 :]
    assert not np.array_equal(heat[5, 5], heat[0, 0])  # difference only in the hole


def test_metrics_log_is_cut_back_on_resume(tmp_path):
    log = MetricsLog(tmp_path / "metrics.jsonl")
    for step in (1, 2, 3, 4):
        log.write("train", step, {"loss": 1.0 / step})
    with open(tmp_path / "metrics.jsonl", "a") as handle:
        handle.write('{"kind": "train", "st')  # a line cut by a kill
    log.truncate_after(2)
    steps = [json.loads(line)["step"] for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert steps == [1, 2]
    csv_log = MetricsLog(tmp_path / "metrics.csv", "csv")
    for step in (1, 2, 3):
        csv_log.write("train", step, {"loss": 0.5, "lr": 1e-3})
    csv_log.truncate_after(1)
    rows = (tmp_path / "metrics.csv").read_text().splitlines()
    assert rows[0] == "kind,step,time,name,value" and len(rows) == 3


def test_augment_rotates_and_jitters_without_changing_the_mask_or_range():
    from inpaint_models.training.folders import augment

    rng_image = np.random.default_rng(1)
    crop = rng_image.random((16, 16, 3)).astype(np.float32)
    original = crop.copy()
    rotations = set()
    for seed in range(24):
        out = augment(crop, np.random.default_rng(seed), rotate=True, colour_jitter=0.0)
        assert out.dtype == np.float32 and out.shape == crop.shape
        matches = [k for k in range(4) if np.array_equal(out, np.rot90(crop, k))]
        assert len(matches) == 1
        rotations.add(matches[0])
    assert rotations == {0, 1, 2, 3}
    jittered = augment(crop, np.random.default_rng(5), rotate=False, colour_jitter=0.5)
    assert jittered.min() >= 0.0 and jittered.max() <= 1.0
    assert not np.allclose(jittered, crop)
    # each output channel is an affine function of one input channel (a permutation, a gain, an offset)
    for c in range(3):
        fits = [np.corrcoef(jittered[..., c].ravel(), crop[..., k].ravel())[0, 1] for k in range(3)]
        assert max(fits) > 0.95
    np.testing.assert_array_equal(crop, original)  # the input is never modified


def test_augmentation_is_off_by_default_and_keeps_earlier_samples(tree):
    plain = ImageFolderDataset(scan_files(settings(tree)).train, settings(tree))
    augmented = ImageFolderDataset(scan_files(settings(tree)).train,
                                   settings(tree, rotate=True, colour_jitter=0.3))
    image_a, mask_a, _ = plain[(2, 1)]
    image_b, mask_b, _ = augmented[(2, 1)]
    torch.testing.assert_close(mask_a, mask_b)  # same crop and mask draws: augmentation comes after
    assert not torch.allclose(image_a, image_b)
    again, _, _ = augmented[(2, 1)]
    torch.testing.assert_close(image_b, again)  # deterministic for the seed
    validation = ImageFolderDataset(scan_files(settings(tree)).train, settings(tree, rotate=True, colour_jitter=0.3),
                                    train=False)
    reference = ImageFolderDataset(scan_files(settings(tree)).train, settings(tree), train=False)
    torch.testing.assert_close(validation[(0, 0)][0], reference[(0, 0)][0])  # validation is never augmented
