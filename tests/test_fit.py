"""Fitting a model to the data being filled: the array data source, the stack U-Net, fit(), inpaint fit.

Everything runs on tiny stacks for a few steps: these tests check what a fit
guarantees (no unknown pixel is ever trained on, held-back pixels pick the
best checkpoint, cancel keeps it, the checkpoint fills), not how good a long
fit gets (benchmarks/bench_fit.py measures that).
"""

from __future__ import annotations

import contextlib

import json
import threading

import numpy as np
import pytest
import torch

import inpaint_models
from inpaint_models.contract.errors import ConfigError, OptionError
from inpaint_models.contract.registry import make_registry
from inpaint_models.training.array_data import ArraySource
from inpaint_models.training.config import TrainSettings
from inpaint_models.training.data import collate
from inpaint_models.training.holes import HoleShape, describe_holes, draw_hole, suggested_crop_size

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # tests/conftest.py

REGISTRY = make_registry()

#: a tiny fit: two-level U-Net of 4 channels, 32-px crops, batches of 2, no previews
TINY_OPTIONS = {"width": 4, "levels": 2}
TINY_TRAIN = {"batch_size": 2, "preview_every": 0, "validate_every": 2, "checkpoint_every": 1000, "log_every": 1}


def tiny_stack(seed: int = 0, depth: int = 6, size: int = 32, noise: float = 0.03, gradient: float = 1.0):
    """(noisy uint16 stack with zeros in the holes, bool mask, float64 noise-free signal) of smooth blobs.

    Holes: one box in every other plane and a 2-row line in plane 3. ``gradient`` > 1: the brightness
    (signal and noise) grows along X from 1 to ``gradient`` times, as under uneven illumination.
    """
    rng = np.random.default_rng(seed)
    z, y, x = np.mgrid[0:depth, 0:size, 0:size].astype(np.float64)
    signal = 0.3 + 0.1 * np.sin(x / 5.0 + z / 3.0) * np.cos(y / 6.0)
    for _ in range(4):
        cz, cy, cx = rng.uniform(0, depth), rng.uniform(0, size), rng.uniform(0, size)
        signal += 0.35 * np.exp(-((z - cz) ** 2 / 8.0 + (y - cy) ** 2 / 30.0 + (x - cx) ** 2 / 30.0))
    noisy = signal + rng.normal(0.0, noise, signal.shape)
    gain = 1.0 + (gradient - 1.0) * x / max(1, size - 1)
    signal, noisy = signal * gain, noisy * gain
    stack = np.clip(noisy * 4000 + 100, 0, 65535).astype(np.uint16)
    mask = np.zeros(stack.shape, bool)
    for plane in range(0, depth, 2):
        top, left = rng.integers(4, size - 14, 2)
        mask[plane, top : top + 8, left : left + 9] = True
    mask[3, 20:22, :] = True
    stack[mask] = 0
    return stack, mask, signal * 4000 + 100


def hole_psnr(filled: np.ndarray, reference: np.ndarray, mask: np.ndarray, peak: float) -> float:
    error = (filled[mask].astype(np.float64) - reference[mask]) / peak
    return float(10 * np.log10(1.0 / np.mean(error**2)))


def network_only(weights):
    """The checkpoint without its verdict: ``fill`` then fills with the fitted network whatever the verdict said
    (tests of the network itself)."""
    from inpaint_models.training.checkpoints import record_verdict

    record_verdict(weights, None)
    return weights


def quick_fit(tmp_path, image, mask, name="run", **kwargs):
    kwargs.setdefault("steps", 4)
    kwargs.setdefault("options", TINY_OPTIONS)
    kwargs.setdefault("train", TINY_TRAIN)
    return inpaint_models.fit(image, mask, output=tmp_path / name, device="cpu", registry=REGISTRY, **kwargs)


# --------------------------------------------------------------------------- hole shapes
def test_describe_holes_finds_boxes_lines_and_strokes():
    mask = np.zeros((3, 64, 64), bool)
    mask[0, 10:22, 30:45] = True  # a 12 x 15 box
    mask[1, 40:42, :] = True  # a scan line, 2 rows, across the plane
    for i in range(30):  # a diagonal stroke about 3 px wide
        mask[2, 10 + i : 13 + i, 5 + i : 8 + i] = True
    shapes = {s.kind: s for s in describe_holes(mask)}
    assert shapes["box"] == HoleShape("box", 12, 15)
    assert shapes["line"] == HoleShape("line", 2, 0, True)
    assert shapes["stroke"].height in (3, 4, 5, 6)
    assert describe_holes(np.zeros((4, 4), bool)) == []


def test_drawn_holes_follow_the_shapes():
    rng = np.random.default_rng(0)
    box = draw_hole(HoleShape("box", 10, 6), 32, rng, jitter=0.0)
    rows, cols = np.nonzero(box)
    assert (np.ptp(rows) + 1, np.ptp(cols) + 1) == (10, 6) and box.sum() == 60
    line = draw_hole(HoleShape("line", 2, 0, True), 32, rng, jitter=0.0)
    assert line.sum() == 64 and line.any(axis=1).sum() == 2  # two rows across the crop
    upright = draw_hole(HoleShape("line", 3, 0, False), 32, rng, jitter=0.0)
    assert upright.any(axis=0).sum() == 3
    assert draw_hole(HoleShape("stroke", 3, 40), 32, rng).any()
    assert suggested_crop_size([HoleShape("box", 40, 20)], 256, 256) == 80
    assert suggested_crop_size([HoleShape("box", 40, 20)], 48, 70) == 48


# --------------------------------------------------------------------------- the array data source
def _array_data(context_free_rows: bool = False):
    rng = np.random.default_rng(3)
    image = rng.uniform(0.2, 1.0, (1, 5, 48, 48, 1)).astype(np.float32)  # every known value > 0
    mask = np.zeros((1, 5, 48, 48), bool)
    mask[0, 1, 10:30, 12:20] = True
    mask[0, 2, :, 30:32] = True
    mask[0, 3, 5:9, 5:40] = True
    if not context_free_rows:
        mask[0, 4, 20:40, 20:40] = True
    image[mask] = np.nan  # unknown: never to be read
    return ArraySource.from_arrays(image, mask)


@pytest.mark.parametrize("context", [0, 1, 2])
def test_artificial_holes_never_cover_a_real_hole_pixel(context):
    data = _array_data()
    settings = TrainSettings(image_size=16, channels=1, seed=1, validation_split=0.1, validation_images=4)
    sets = data.training_sets(settings, context)
    batch = collate([sets.train[(i, 0)] for i in range(64)])
    image, mask, weight = batch.image, batch.mask, batch.weight
    assert torch.isfinite(image).all(), "an unknown value reached a sample"
    known = image > 0  # every known value is > 0; unknown ones are stored as 0
    assert torch.equal(mask[~known.any(1, keepdim=True)] > 0, torch.ones_like(mask[~known.any(1, keepdim=True)]) > 0), \
        "a real hole is missing from the model's mask"
    assert bool(((weight > 0) <= known).all()), "the loss may read an unknown pixel"
    assert bool(((weight > 0) <= (mask > 0)).all()), "the loss reads pixels the model sees"
    assert float(weight.sum()) > 0
    if context == 0:  # 2D models train on crops without any unknown pixel (their losses read every pixel)
        assert bool(known.all())
    else:
        assert image.shape[2] == 2 * context + 1
        assert float(weight[:, :, :context].sum() + weight[:, :, context + 1 :].sum()) == 0.0  # target plane only


def test_held_back_pixels_are_never_trained_on():
    data = _array_data()
    settings = TrainSettings(image_size=16, channels=1, seed=2, validation_split=0.2, validation_images=8)
    cells = data.training_sets(settings, 1).train.sampler.cells
    assert 1 <= len(cells) <= 8
    # the same mask with values telling held-back pixels (0.9) from the others (0.3): the cells only
    # depend on the mask and the seed
    held = np.zeros(data.mask.shape, bool)
    for cell in cells:
        held[cell.n, cell.z, cell.y : cell.y + cell.size, cell.x : cell.x + cell.size] = True
    marked = np.where(held, 0.9, 0.3).astype(np.float32)[..., np.newaxis]
    sets = ArraySource.from_arrays(marked, np.asarray(data.mask)).training_sets(settings, 1)
    assert sets.train.sampler.cells == cells and len(sets.validation) == len(cells)
    train = collate([sets.train[(i, 0)] for i in range(64)])
    assert float(train.weight.sum()) > 0
    assert bool((train.image[train.weight > 0] < 0.5).all()), "a training loss may read a held-back pixel"
    validation = collate([sets.validation[(i, 0)] for i in range(len(sets.validation))])
    assert float(validation.weight.sum()) > 0
    assert bool((validation.image[validation.weight > 0] > 0.5).all()), "validation scores a trained-on pixel"


def test_two_dimensional_models_need_a_crop_without_holes():
    image = np.full((1, 1, 32, 32, 1), 0.5, np.float32)
    mask = np.zeros((1, 1, 32, 32), bool)
    mask[:, :, ::8, :] = True  # a line every 8 rows: no 16-px crop is free of holes
    data = ArraySource.from_arrays(image, mask)
    with pytest.raises(ConfigError, match="no 16x16 crop free of holes"):
        data.training_sets(TrainSettings(image_size=16, channels=1, validation_split=0.0), 0)
    assert data.training_sets(TrainSettings(image_size=16, channels=1, validation_split=0.0), 1).train[(0, 0)]


def test_the_array_source_holds_a_clean_copy_and_refuses_bad_input():
    rng = np.random.default_rng(3)
    image = rng.uniform(0.2, 1.0, (1, 5, 48, 48, 1)).astype(np.float32)
    mask = np.zeros((1, 5, 48, 48), bool)
    mask[0, 1, 10:30, 12:20] = True
    image[mask] = np.nan
    before = image.copy()
    data = ArraySource.from_arrays(image, mask)
    assert data.shape == (1, 5, 48, 48, 1) and data.image.dtype == np.float32
    assert float(np.asarray(data.image)[np.asarray(data.mask)].max()) == 0.0  # NaN under the mask held as 0
    assert np.array_equal(image, before, equal_nan=True), "the caller's array was modified"
    image[0, 0] = 0.5
    assert not np.any(data.image[0, 0] == 0.5), "the source shares the caller's memory"
    with pytest.raises(ValueError, match="outside the mask"):
        ArraySource.from_arrays(np.full((1, 1, 8, 8, 1), np.nan, np.float32), np.zeros((1, 1, 8, 8), bool))
    with pytest.raises(inpaint_models.MaskCoversImageError, match="nothing to learn from"):
        ArraySource.from_arrays(np.zeros((1, 1, 8, 8, 1), np.float32), np.ones((1, 1, 8, 8), bool))


# --------------------------------------------------------------------------- values: per crop, as a fill
def _fit_sets(image, mask, image_size=16, context=1, **kwargs):
    from inpaint_models.api_fit import fit_volumes

    volumes, meta = fit_volumes(image, mask, (1, 3), **kwargs)
    data = ArraySource.from_volumes(volumes, meta)
    settings = TrainSettings(image_size=image_size, channels=volumes.shape[-1], seed=4, validation_split=0.1,
                             validation_images=4)
    return data, data.training_sets(settings, context)


def test_training_crops_are_converted_by_the_fills_function():
    """A training crop is value_range over its known pixels (real and artificial holes excluded) in the
    fill's box around it: the window, and DEFAULT_VOLUME_MARGIN planes on each side; then ValueRange.to_unit."""
    from inpaint_models.contract.datatypes import DEFAULT_VOLUME_MARGIN
    from inpaint_models.contract.values import value_range

    stack, mask, _ = tiny_stack(depth=10, size=48, gradient=20.0)
    data, sets = _fit_sets(stack, mask, image_size=16, volume_axis=0)
    assert data.image.dtype == np.uint16, "the caller's values are stored; each crop is converted when sampled"
    sampler = sets.train.sampler
    rng = np.random.default_rng(0)
    for n, z, y, x in ((0, 3, 18, 20), (0, 1, 0, 32), (0, 8, 30, 5), (0, 5, 10, 10)):
        hole = draw_hole(HoleShape("box", 6, 5), 16, rng)
        hole &= ~mask[z, y : y + 16, x : x + 16]
        unit, unknown = sampler.normalised(n, z, y, x, hole)
        low, high = max(0, z - DEFAULT_VOLUME_MARGIN), min(10, z + DEFAULT_VOLUME_MARGIN + 1)
        box = stack[low:high, y : y + 16, x : x + 16, np.newaxis]
        box_unknown = mask[low:high, y : y + 16, x : x + 16].copy()
        box_unknown[z - low] |= hole
        expected = value_range(box, box_unknown).to_unit(stack[z - 1 : z + 2, y : y + 16, x : x + 16, None])
        assert np.array_equal(unknown, mask[z - 1 : z + 2, y : y + 16, x : x + 16])
        assert np.array_equal(unit[~unknown], expected[~unknown]), "not the fill's conversion"
        assert np.array_equal(unit[1][hole], np.clip(expected[1][hole], 0.0, 1.0))
        assert unit.dtype == np.float32 and float(unit.min()) >= 0.0 and float(unit.max()) <= 1.0
        assert not unit[unknown].any()


def test_training_crops_span_the_range_fill_crops_span():
    """On a uint16 stack 20 times brighter on one side, training crops are in the range the fill's crops are
    in (each stretched by its own known pixels), which a whole-image conversion would not give."""
    from inpaint_models.contract.datatypes import DEFAULT_VOLUME_MARGIN
    from inpaint_models.contract.values import value_range
    from inpaint_models.pipeline.layout import volume_boxes

    stack, mask, _ = tiny_stack(seed=2, depth=10, size=96, gradient=20.0)
    crop = suggested_crop_size(describe_holes(mask), 96, 96)  # as fit() chooses it: 64 px
    data, sets = _fit_sets(stack, mask, image_size=crop, volume_axis=0)
    info = REGISTRY.info("stack-unet")

    def spread(unit, unknown):  # the known values' 1st and 99th percentiles and their mean
        known = unit[~unknown]
        return np.percentile(known, 1), np.percentile(known, 99), known.mean()

    fill_crops = []  # the fill's crop boxes, converted by the fill's function
    for box in volume_boxes(mask, info.crop_margin, DEFAULT_VOLUME_MARGIN, info.min_size):
        crop, crop_mask = stack[box.slices][..., None], mask[box.slices]
        fill_crops.append(spread(value_range(crop, crop_mask).to_unit(crop), crop_mask))
    batch = collate([sets.train[(i, 0)] for i in range(48)])
    train_crops = [spread(image[0].numpy(), hole[0].numpy() > 0) for image, hole in zip(batch.image, batch.mask)]
    whole = value_range(stack[..., None], mask)  # the conversion training used before (the whole image)
    dark = stack[:, :, :16, None].astype(np.float64)
    dark_span = np.ptp(whole.to_unit(dark)[~mask[:, :, :16]])

    fill_low, fill_high, fill_mean = np.median(fill_crops, axis=0)
    train_low, train_high, train_mean = np.median(train_crops, axis=0)
    assert dark_span < 0.35, "the test stack must vary enough for a whole-image conversion to differ"
    assert train_high - train_low > 0.6 and fill_high - fill_low > 0.6
    assert abs((train_high - train_low) - (fill_high - fill_low)) < 0.15, (train_crops, fill_crops)
    assert abs(train_mean - fill_mean) < 0.1, (train_mean, fill_mean)
    assert all(low >= 0.0 and high <= 1.0 for low, high, _ in train_crops)
    stats = sets.statistics()  # what the network normalises its input by: the per-crop values' statistics
    assert abs(float(stats["mean"][0]) - train_mean) < 0.1 and 0.05 < float(stats["std"][0]) < 0.5


def test_eight_bit_and_unit_float_crops_keep_their_fixed_map():
    """uint8 is / 255 and float data in [0, 1] is used as is, in training crops as in a fill."""
    stack, mask, _ = tiny_stack(depth=6, size=32)
    as_uint8 = (stack // 64).astype(np.uint8)
    for name, image, expected in (("u8", as_uint8, as_uint8 / 255.0),
                                  ("f", stack / 65535.0, stack / 65535.0)):
        data, sets = _fit_sets(image, mask, volume_axis=0)
        unit, unknown = sets.train.sampler.normalised(0, 2, 8, 8, np.zeros((16, 16), bool))
        want = expected[1:4, 8:24, 8:24, None].astype(np.float32)
        assert np.allclose(unit[~unknown], want[~unknown], atol=1e-6)


def test_split_channels_share_one_value_range():
    """Channels a model does not take together become volumes of their own; a crop's range is still taken
    over all of them, as a fill takes it over the crop's channels."""
    from inpaint_models.contract.values import value_range

    stack, mask, _ = tiny_stack(depth=4, size=32)
    two = np.stack([stack // 10, stack], axis=-1)  # a dim and a bright channel, (Z, Y, X, 2)
    data, sets = _fit_sets(two, mask, volume_axis=0)
    assert data.shape[0] == 2 and data.meta["channel_groups"] == 2
    sampler = sets.train.sampler
    hole = np.zeros((16, 16), bool)
    box = two[:, 4:20, 4:20]
    mapping = value_range(box, mask[:, 4:20, 4:20])
    for n in (0, 1):
        unit, unknown = sampler.normalised(n, 1, 4, 4, hole)
        expected = mapping.to_unit(box[0:3, ..., n : n + 1])
        assert np.array_equal(unit[~unknown], expected[~unknown])


def test_channels_a_model_does_not_take_are_adapted_as_fill_adapts_them():
    """fit_volumes follows fill's rule: counts the model takes stay, RGBA through a colour model loses alpha,
    other counts go channel by channel (grey through a colour-only model as R = G = B)."""
    from inpaint_models.api_fit import fit_volumes

    stack, mask, _ = tiny_stack(depth=4, size=32)
    two = np.stack([stack // 10, stack], axis=-1)
    for accepted, channels in (((1, 3), 1), ((1,), 1), ((3,), 3)):
        volumes, meta = fit_volumes(two, mask, accepted, volume_axis=0)
        assert volumes.shape == (2, 4, 32, 32, channels)
        assert meta["channel_groups"] == 2
        for c in range(2):  # volume c is channel c, zero under the mask, repeated to RGB for a colour-only model
            values, holes = volumes.volume(c)
            assert holes.shape == (4, 32, 32) and np.array_equal(holes, mask)
            for k in range(channels):
                assert np.array_equal(values[..., k], np.where(mask, 0, two[..., c]))
    rgba = np.repeat(two[..., :1], 4, axis=-1)
    volumes, meta = fit_volumes(rgba, mask, (3,), volume_axis=0)
    assert volumes.shape == (1, 4, 32, 32, 3) and meta["channel_groups"] == 1
    with pytest.raises(inpaint_models.ShapeMismatchError, match="this image has 2"):
        fit_volumes(two, mask, (4,), volume_axis=0)


def test_fit_takes_the_two_channel_stack_that_fill_takes(tmp_path):
    stack, mask, _ = tiny_stack(depth=4, size=32)
    two = np.stack([stack // 10, stack], axis=-1)  # (Z, Y, X, 2)
    weights = quick_fit(tmp_path, two, mask, steps=2, volume_axis=0)
    filled = inpaint_models.fill(two, mask, model="stack-unet", weights=weights, device="cpu", volume_axis=0,
                                 registry=REGISTRY)
    assert filled.shape == two.shape and filled.dtype == two.dtype
    assert np.array_equal(filled[~mask], two[~mask]) and filled[mask].min() > 0


# --------------------------------------------------------------------------- the loss
class FakeStepContext:
    """The part of the trainer's StepContext a task's ``train_step`` uses, over one AdamW optimiser."""

    def __init__(self, task, settings):
        self.nets = task.networks
        self.optimizer = task.configure_optimizers(settings)["stack_unet"]

    def autocast(self):
        return contextlib.nullcontext()

    def no_sync(self, name):
        return contextlib.nullcontext()

    def zero_grad(self, name):
        self.optimizer.zero_grad()

    def backward(self, loss, name):
        loss.backward()

    def update(self, name):
        self.optimizer.step()


def test_a_training_step_in_passes_equals_the_step_in_one_pass(monkeypatch):
    """On a CPU a batch over PIXELS_PER_PASS is taken in passes whose gradients add up to the whole batch's."""
    torch = pytest.importorskip("torch")
    from inpaint_models.models.stack_unet import task as stack_task
    from inpaint_models.models.stack_unet.plugin import StackUNetOptions
    from inpaint_models.training.config import TrainSettings
    from inpaint_models.training.data import Batch
    from inpaint_models.training.task import TaskSpec

    settings = TrainSettings(image_size=16, channels=1, learning_rate=1e-2)
    generator = torch.Generator().manual_seed(3)
    image = torch.rand(5, 1, 3, 16, 16, generator=generator)
    mask = (torch.rand(5, 1, 3, 16, 16, generator=generator) > 0.7).float()
    weight = mask * (torch.rand(5, 1, 3, 16, 16, generator=generator) > 0.3).float()
    assert [(c.start, c.stop) for c in stack_task.passes(5, (16, 16), torch.device("cpu"))] == [(0, 5)]
    results = []
    for per_pass in (1 << 20, 2 * 16 * 16):  # one pass; passes of 2, 2 and 1 samples
        monkeypatch.setattr(stack_task, "PIXELS_PER_PASS", per_pass)
        torch.manual_seed(0)
        task = stack_task.StackUNetTask(TaskSpec(StackUNetOptions(width=4, levels=2), 1, 16, settings))
        for net in task.networks.values():  # a trained-looking network: the zero-initialised head has gradients
            torch.nn.init.normal_(net.unet.head.weight, std=0.1)
        context = FakeStepContext(task, settings)
        loss = task.train_step(Batch(image.clone(), mask.clone(), [], weight.clone()), context)["loss"]
        grads = torch.cat([p.grad.flatten() for p in task.networks["stack_unet"].parameters() if p.grad is not None])
        results.append((float(loss), grads))
    assert [(c.start, c.stop) for c in stack_task.passes(5, (16, 16), torch.device("cpu"))] == [(0, 2), (2, 4), (4, 5)]
    assert results[0][0] == pytest.approx(results[1][0], rel=1e-5)
    assert results[0][1].abs().max() > 0
    torch.testing.assert_close(results[1][1], results[0][1], rtol=1e-4, atol=1e-6)


def test_the_loss_never_reads_a_real_hole_pixel():
    """A training step on a batch whose unknown pixels hold NaN stays finite, and their values change nothing."""
    from inpaint_models.models.stack_unet.plugin import StackUNetOptions
    from inpaint_models.models.stack_unet.task import StackUNetTask
    from inpaint_models.training.data import Batch
    from inpaint_models.training.task import TaskSpec

    settings = TrainSettings(image_size=16, channels=1, learning_rate=1e-2)

    generator = torch.Generator().manual_seed(0)
    image = torch.rand(2, 1, 3, 16, 16, generator=generator)
    real = torch.zeros(2, 1, 3, 16, 16)
    real[:, :, 1, 4:8, 4:8] = 1.0  # real holes in the target plane
    real[:, :, 0, 10:12, :] = 1.0  # and in a neighbouring plane
    artificial = torch.zeros_like(real)
    artificial[:, :, 1, 9:14, 2:7] = 1.0
    results = []
    for garbage in (float("nan"), 1e6, 0.0):
        torch.manual_seed(0)
        task = StackUNetTask(TaskSpec(StackUNetOptions(width=4, levels=2), 1, 16, settings))
        filled = torch.where(real > 0, torch.full_like(image, garbage), image)
        batch = Batch(filled, torch.clamp(real + artificial, 0, 1), [], artificial)
        losses = task.train_step(batch, FakeStepContext(task, settings))
        assert torch.isfinite(losses["loss"])
        params = torch.cat([p.detach().flatten() for p in task.networks["stack_unet"].parameters()])
        assert torch.isfinite(params).all()
        results.append((float(losses["loss"].detach()), params))
    for loss, params in results[1:]:
        assert loss == results[0][0] and torch.equal(params, results[0][1])


def test_fits_with_different_unknown_values_are_identical(tmp_path):
    stack, mask, _ = tiny_stack()
    as_float = stack.astype(np.float32)
    weights = []
    for name, garbage in (("nan", np.nan), ("huge", 1e9)):
        image = as_float.copy()
        image[mask] = garbage
        weights.append(quick_fit(tmp_path, image, mask, name=name, steps=2))
    from safetensors.numpy import load_file

    first, second = (load_file(str(w)) for w in weights)
    assert first.keys() == second.keys()
    assert all(np.array_equal(first[k], second[k]) for k in first)


# --------------------------------------------------------------------------- fit()
@pytest.mark.parametrize("gradient", [1.0, 20.0])
def test_a_short_fit_improves_on_its_start(tmp_path, gradient):
    stack, mask, signal = tiny_stack(seed=1, depth=8, noise=0.05, gradient=gradient)
    # the start: the same network untrained (a learning rate of ~0 keeps its zero correction)
    start = quick_fit(tmp_path, stack, mask, name="start", steps=1, train={**TINY_TRAIN, "learning_rate": 1e-12})
    fitted = quick_fit(tmp_path, stack, mask, name="fitted", steps=100, options={"width": 16, "levels": 3},
                       train={**TINY_TRAIN, "batch_size": 4, "validate_every": 20})
    peak = float(signal.max() - signal.min())
    scores = {}
    for label, weights in (("start", network_only(start)), ("fitted", network_only(fitted))):
        filled = inpaint_models.fill(stack, mask, model="stack-unet", weights=weights, device="cpu", volume_axis=0,
                                     registry=REGISTRY)
        scores[label] = hole_psnr(filled, signal, mask, peak)
    assert scores["fitted"] > scores["start"] + 2.0, scores


def test_the_fitted_checkpoint_round_trips(tmp_path):
    stack, mask, _ = tiny_stack()
    weights = quick_fit(tmp_path, stack, mask, steps=4)
    assert weights.name == "best.safetensors" and weights.is_file()
    sidecar = json.loads(weights.with_suffix(".json").read_text())
    assert sidecar["model"] == "stack-unet" and sidecar["options"]["width"] == 4
    assert sidecar["config"]["train"]["data"] == [] and not (tmp_path / "run" / "data").exists(), \
        "a fit hands its data to the trainer in memory: nothing is copied to disk"
    filled = inpaint_models.fill(stack, mask, model="stack-unet", weights=weights, device="cpu", registry=REGISTRY)
    assert filled.dtype == stack.dtype and filled.shape == stack.shape
    assert np.array_equal(filled[~mask], stack[~mask])
    assert filled[mask].min() > 0  # the zeros of the holes are gone
    again = inpaint_models.fill(stack, mask, model="stack-unet", weights=weights, device="cpu", registry=REGISTRY)
    assert np.array_equal(filled, again)
    plane = inpaint_models.fill(stack[3], mask[3], model="stack-unet", weights=weights, device="cpu",
                                registry=REGISTRY)  # one plane: filled from itself
    assert np.array_equal(plane[~mask[3]], stack[3][~mask[3]])


def test_cancel_keeps_the_best_checkpoint(tmp_path):
    stack, mask, _ = tiny_stack()
    stop = threading.Event()
    events = []

    def progress(event):
        events.append(event)
        if event.step >= 5:
            stop.set()

    weights = quick_fit(tmp_path, stack, mask, steps=1000, progress=progress, cancel=stop)
    assert events[-1].extra["cancelled"] is True and events[-1].step < 1000
    assert weights.name == "best.safetensors"
    sidecar = json.loads(weights.with_suffix(".json").read_text())
    assert sidecar["step"] % TINY_TRAIN["validate_every"] == 0 and sidecar["step"] <= events[-1].step
    assert sidecar["best"]["metric"] == "psnr_hole"
    filled = inpaint_models.fill(stack, mask, model="stack-unet", weights=weights, device="cpu", registry=REGISTRY)
    assert np.array_equal(filled[~mask], stack[~mask])


def test_a_time_budget_ends_the_fit_normally(tmp_path):
    stack, mask, _ = tiny_stack()
    events = []
    weights = quick_fit(tmp_path, stack, mask, steps=None, seconds=1.0, progress=events.append)
    final = events[-1]
    assert final.extra["cancelled"] is False and 1 <= final.step < 1_000_000
    assert weights.is_file()
    log = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert log[-1]["kind"] in ("validation", "event") and any(r["kind"] == "validation" for r in log)


def test_any_trainable_model_can_be_fitted(tmp_path):
    stack, mask, _ = tiny_stack()
    weights = inpaint_models.fit(stack, mask, "autoencoder", steps=2, output=tmp_path / "ae", device="cpu",
                                 options={"depth": 2, "width": 4}, train=TINY_TRAIN, volume_axis=None,
                                 registry=REGISTRY)
    filled = inpaint_models.fill(stack, mask, model="autoencoder", weights=weights, device="cpu", volume_axis=None,
                                 registry=REGISTRY)
    assert np.array_equal(filled[~mask], stack[~mask])


def test_fit_refuses_bad_requests(tmp_path):
    stack, mask, _ = tiny_stack()
    with pytest.raises(OptionError, match="seconds"):
        inpaint_models.fit(stack, mask, seconds=-1, output=tmp_path / "a", registry=REGISTRY)
    with pytest.raises(inpaint_models.NotTrainableError):
        inpaint_models.fit(stack, mask, "telea", steps=1, output=tmp_path / "b", registry=REGISTRY)
    with pytest.raises(inpaint_models.MaskCoversImageError):
        inpaint_models.fit(stack, np.ones_like(mask), steps=1, output=tmp_path / "c", registry=REGISTRY)
    with pytest.raises(ConfigError, match="width"):
        quick_fit(tmp_path, stack, mask, name="d", options={"width": 0})
    assert not (tmp_path / "d").exists(), "a refused fit wrote files"
    quick_fit(tmp_path, stack, mask, name="e", steps=1)
    with pytest.raises(ConfigError, match="already holds"):
        quick_fit(tmp_path, stack, mask, name="e", steps=1)


def test_a_fit_resumes_where_it_stopped(tmp_path):
    """The source is given again (nothing of it was written to disk): the run continues its step count."""
    stack, mask, _ = tiny_stack()
    quick_fit(tmp_path, stack, mask, steps=2, train={**TINY_TRAIN, "checkpoint_every": 1})
    events = []
    weights = quick_fit(tmp_path, stack, mask, steps=4, resume=True, progress=events.append,
                        train={**TINY_TRAIN, "checkpoint_every": 1})
    assert events[-1].step == 4 and not events[-1].extra["cancelled"]
    log = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log if r["kind"] == "train"] == [1, 2, 3, 4]
    assert weights.is_file() and not (tmp_path / "run" / "data").exists()


# --------------------------------------------------------------------------- the noise option
def test_noise_model_measures_the_known_pixels_noise():
    from inpaint_models.models.stack_unet.noise import add_noise, noise_model

    rng = np.random.default_rng(0)
    _, x = np.mgrid[0:64, 0:64] / 64.0
    clean = (0.2 + 0.6 * x)[None, ..., None].repeat(4, axis=0)
    noisy = clean + rng.normal(0, 1, clean.shape) * np.sqrt(0.0004 + 0.002 * clean)  # photon-like noise
    mask = np.zeros(clean.shape[:-1], bool)
    mask[:, 20:40, 20:40] = True
    a, b = noise_model(noisy, mask)[0]
    for level in (0.3, 0.7):
        assert abs((a + b * level) / (0.0004 + 0.002 * level) - 1) < 0.25
    out = add_noise(clean.astype(np.float32), mask, np.array([[a, b]]), seed=1)
    assert np.array_equal(out[~mask], clean.astype(np.float32)[~mask])
    measured = np.std(out[mask] - clean[mask])
    assert 0.8 < measured / np.sqrt(np.mean(0.0004 + 0.002 * clean[mask])) < 1.2


def test_the_noise_option_changes_only_the_hole_and_is_seeded(tmp_path):
    stack, mask, _ = tiny_stack()
    weights = network_only(quick_fit(tmp_path, stack, mask, steps=2))
    kwargs = {"model": "stack-unet", "weights": weights, "device": "cpu", "registry": REGISTRY}
    clean = inpaint_models.fill(stack, mask, **kwargs)
    noisy = inpaint_models.fill(stack, mask, noise=True, **kwargs)
    assert np.array_equal(noisy[~mask], stack[~mask])
    assert not np.array_equal(noisy[mask], clean[mask])
    assert np.array_equal(noisy, inpaint_models.fill(stack, mask, noise=True, **kwargs))
    assert not np.array_equal(noisy, inpaint_models.fill(stack, mask, noise=True, seed=5, **kwargs))
    rough = np.std(np.diff(noisy[mask].astype(float))) > np.std(np.diff(clean[mask].astype(float)))
    assert rough


# --------------------------------------------------------------------------- inpaint fit
def test_cli_fit_and_fill(tmp_path, capsys):
    import tifffile

    from inpaint_models.cli import main

    stack, mask, _ = tiny_stack()
    tifffile.imwrite(tmp_path / "stack.tif", stack)
    tifffile.imwrite(tmp_path / "mask.tif", mask.astype(np.uint8) * 255)
    status = main(["fit", str(tmp_path / "stack.tif"), str(tmp_path / "mask.tif"), "-o", str(tmp_path / "run"),
                   "--steps", "2", "--device", "cpu", "-q", "--set", "model.width=4", "--set", "model.levels=2",
                   "--set", "train.batch_size=2"])
    out = capsys.readouterr()
    assert status == 0, out.err
    weights = out.out.strip().splitlines()[-1]
    assert weights.endswith(".safetensors")
    status = main(["fill", str(tmp_path / "stack.tif"), str(tmp_path / "mask.tif"), "-o", str(tmp_path / "out.tif"),
                   "--model", "stack-unet", "--weights", weights, "--device", "cpu", "-q"])
    assert status == 0, capsys.readouterr().err
    filled = tifffile.imread(tmp_path / "out.tif")
    assert np.array_equal(filled[~mask], stack[~mask])
    status = main(["fit", str(tmp_path / "stack.tif"), str(tmp_path / "mask.tif"), "-o", str(tmp_path / "bad"),
                   "--set", "nonsense=1"])
    assert status == 2 and "model.KEY=VALUE" in capsys.readouterr().err


def test_cli_fill_fit_does_both(tmp_path, capsys):
    import tifffile

    from inpaint_models.cli import main

    stack, mask, _ = tiny_stack()
    tifffile.imwrite(tmp_path / "stack.tif", stack)
    tifffile.imwrite(tmp_path / "mask.tif", mask.astype(np.uint8) * 255)
    status = main(["fill", str(tmp_path / "stack.tif"), str(tmp_path / "mask.tif"), "-o", str(tmp_path / "out.tif"),
                   "--fit", "0.5", "--device", "cpu", "-q"])
    assert status == 0, capsys.readouterr().err
    assert (tmp_path / "out-fit" / "checkpoints" / "best.safetensors").is_file()
    filled = tifffile.imread(tmp_path / "out.tif")
    assert np.array_equal(filled[~mask], stack[~mask]) and filled[mask].min() > 0
    status = main(["fill", str(tmp_path / "stack.tif"), str(tmp_path / "mask.tif"), "-o", str(tmp_path / "x.tif"),
                   "--fit", "1", "--model", "telea"])
    assert status == 2 and "not trainable" in capsys.readouterr().err
