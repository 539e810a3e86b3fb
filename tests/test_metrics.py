"""Tests of inpaint_models.training.metrics against hand computations and scikit-image."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter
from skimage.metrics import mean_squared_error, peak_signal_noise_ratio, structural_similarity

from inpaint_models.contract.errors import ShapeMismatchError
from inpaint_models.training.metrics import (
    METRIC_NAMES,
    compute_metrics,
    l1,
    mse,
    psnr,
    ssim,
    texture_ratio,
    total_variation,
)


def _random_pair(shape: tuple[int, ...], seed: int, noise: float = 0.1) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    target = rng.random(shape)
    pred = np.clip(target + noise * rng.standard_normal(shape), 0.0, 1.0)
    return pred, target


def _smooth_pair(shape: tuple[int, ...], seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    sigma = (4.0, 4.0) + (0.0,) * (len(shape) - 2)
    target = gaussian_filter(rng.random(shape), sigma)
    target = (target - target.min()) / (target.max() - target.min())
    pred = np.clip(gaussian_filter(target + 0.05 * rng.standard_normal(shape), sigma), 0.0, 1.0)
    return pred, target


def _box(shape: tuple[int, int], top: int, left: int, h: int, w: int) -> np.ndarray:
    mask = np.zeros(shape, bool)
    mask[top : top + h, left : left + w] = True
    return mask


def _sk_ssim(a: np.ndarray, b: np.ndarray) -> float:
    kwargs = dict(gaussian_weights=True, sigma=1.5, data_range=1.0)
    if a.ndim == 3:
        kwargs["channel_axis"] = -1
    return float(structural_similarity(a, b, **kwargs))


# --------------------------------------------------------------------------- #
# MSE / L1 / PSNR
# --------------------------------------------------------------------------- #
def test_hand_computed_values() -> None:
    target = np.zeros((2, 2))
    pred = np.array([[0.0, 0.5], [0.25, 0.25]])
    assert mse(pred, target) == pytest.approx((0.25 + 0.0625 * 2) / 4)
    assert l1(pred, target) == pytest.approx(1.0 / 4)
    assert psnr(pred, target) == pytest.approx(10 * math.log10(1 / ((0.25 + 0.125) / 4)))
    mask = np.array([[False, True], [False, False]])
    assert mse(pred, target, mask) == pytest.approx(0.25)
    assert l1(pred, target, mask) == pytest.approx(0.5)
    assert psnr(pred, target, mask) == pytest.approx(10 * math.log10(1 / 0.25))
    assert psnr(pred, target, mask, data_range=2.0) == pytest.approx(10 * math.log10(4 / 0.25))


@pytest.mark.parametrize("shape", [(33, 41), (33, 41, 3)])
def test_against_skimage_psnr_mse(shape: tuple[int, ...]) -> None:
    pred, target = _random_pair(shape, 0)
    assert mse(pred, target) == pytest.approx(mean_squared_error(target, pred), rel=1e-12)
    assert psnr(pred, target) == pytest.approx(
        peak_signal_noise_ratio(target, pred, data_range=1.0), rel=1e-12
    )
    assert l1(pred, target) == pytest.approx(np.mean(np.abs(pred - target)), rel=1e-12)


def test_psnr_identical_is_inf() -> None:
    image = np.random.default_rng(1).random((16, 16, 3))
    assert psnr(image, image) == math.inf
    assert psnr(image, image, np.ones((16, 16), bool)) == math.inf
    assert mse(image, image) == 0.0


# --------------------------------------------------------------------------- #
# SSIM
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("shape", [(48, 64), (48, 64, 3), (11, 30)])
@pytest.mark.parametrize("pair", [_random_pair, _smooth_pair])
def test_ssim_matches_skimage(shape: tuple[int, ...], pair) -> None:
    pred, target = pair(shape, 3)
    expected = _sk_ssim(pred, target)
    assert abs(ssim(pred, target) - expected) < 1e-6
    assert abs(compute_metrics(pred, target, np.ones(shape[:2], bool))["ssim"] - expected) < 1e-6


def test_ssim_identical_is_one_and_float32_close() -> None:
    pred, target = _smooth_pair((40, 40, 3), 4)
    assert ssim(target, target) == pytest.approx(1.0, abs=1e-12)
    value = ssim(pred.astype(np.float32), target.astype(np.float32))
    assert abs(value - _sk_ssim(pred, target)) < 1e-5


def test_ssim_hole_is_map_mean_over_hole() -> None:
    pred, target = _random_pair((40, 48, 3), 5)
    _, full = structural_similarity(
        pred, target, gaussian_weights=True, sigma=1.5, data_range=1.0, channel_axis=-1, full=True
    )
    mask = _box((40, 48), 10, 12, 15, 20)  # well inside the 5 px border crop
    assert ssim(pred, target, mask) == pytest.approx(full[mask].mean(), abs=1e-9)
    # a hole entirely in the cropped border still gives a value (the crop is ignored)
    edge = _box((40, 48), 0, 0, 3, 3)
    assert ssim(pred, target, edge) == pytest.approx(full[edge].mean(), abs=1e-9)
    # a hole straddling the crop: only its part inside the crop counts
    straddle = _box((40, 48), 0, 0, 10, 10)
    inner = straddle.copy()
    inner[:5, :] = False
    inner[:, :5] = False
    assert ssim(pred, target, straddle) == pytest.approx(full[inner].mean(), abs=1e-9)


# --------------------------------------------------------------------------- #
# hole-only values
# --------------------------------------------------------------------------- #
def test_hole_values_when_error_confined_to_hole() -> None:
    rng = np.random.default_rng(6)
    target = gaussian_filter(rng.random((64, 64, 3)), (3, 3, 0))
    mask = _box((64, 64), 20, 24, 16, 12)
    pred = target.copy()
    pred[mask] = np.clip(pred[mask] + 0.2 * rng.standard_normal(pred[mask].shape), 0, 1)

    diff = pred[mask] - target[mask]  # (N, 3): every channel of the hole pixels
    hand_mse = np.mean(diff**2)
    metrics = compute_metrics(pred, target, mask)
    assert metrics["mse_hole"] == pytest.approx(hand_mse, rel=1e-12)
    assert metrics["l1_hole"] == pytest.approx(np.mean(np.abs(diff)), rel=1e-12)
    assert metrics["psnr_hole"] == pytest.approx(10 * math.log10(1 / hand_mse), rel=1e-12)
    assert metrics["mse"] == pytest.approx(hand_mse * mask.mean(), rel=1e-12)
    assert metrics["mse_hole"] > metrics["mse"]
    assert metrics["l1_hole"] > metrics["l1"]
    assert metrics["psnr_hole"] < metrics["psnr"]
    assert metrics["ssim_hole"] < metrics["ssim"]
    assert metrics["tv_hole"] > metrics["tv"]


def test_compute_metrics_keys_and_values() -> None:
    pred, target = _random_pair((32, 32, 3), 7)
    mask = _box((32, 32), 8, 8, 12, 12)
    metrics = compute_metrics(pred, target, mask)
    assert tuple(metrics) == METRIC_NAMES
    assert METRIC_NAMES == (
        "psnr", "psnr_hole", "ssim", "ssim_hole", "l1", "l1_hole", "mse", "mse_hole", "tv", "tv_hole",
        "texture_ratio",
    )
    assert all(isinstance(v, float) for v in metrics.values())
    assert metrics["psnr"] == pytest.approx(psnr(pred, target))
    assert metrics["ssim_hole"] == pytest.approx(ssim(pred, target, mask))
    assert metrics["tv"] == pytest.approx(total_variation(pred))
    assert metrics["tv_hole"] == pytest.approx(total_variation(pred, mask))
    assert metrics["texture_ratio"] == pytest.approx(texture_ratio(pred, target, mask))
    empty = compute_metrics(pred, target, np.zeros((32, 32), bool))
    assert math.isnan(empty["psnr_hole"]) and math.isnan(empty["ssim_hole"])
    assert math.isnan(empty["texture_ratio"])
    assert empty["psnr"] == pytest.approx(metrics["psnr"])


# --------------------------------------------------------------------------- #
# texture ratio
# --------------------------------------------------------------------------- #
def _textured(shape: tuple[int, ...], seed: int) -> np.ndarray:
    """Fine random texture on a ramp, in [0, 1]."""
    rng = np.random.default_rng(seed)
    ramp = np.linspace(0.2, 0.8, shape[1])[None, :]
    if len(shape) == 3:
        ramp = ramp[..., None]
    return np.clip(ramp + 0.15 * gaussian_filter(rng.standard_normal(shape), (1.0, 1.0) + (0,) * (len(shape) - 2)), 0, 1)


@pytest.mark.parametrize("shape", [(40, 48), (40, 48, 3)])
def test_texture_ratio_truth_is_one_smooth_fill_far_below(shape: tuple[int, ...]) -> None:
    truth = _textured(shape, 3)
    mask = _box(shape[:2], 10, 12, 20, 24)
    assert texture_ratio(truth, truth, mask) == pytest.approx(1.0)
    flat = truth.copy()
    flat[mask] = truth[mask].mean(axis=0)
    assert texture_ratio(flat, truth, mask) == pytest.approx(0.0, abs=1e-12)
    smooth = truth.copy()  # a blurred fill: the texture is mostly gone
    smooth[mask] = gaussian_filter(truth, (3, 3) + (0,) * (len(shape) - 2))[mask]
    assert texture_ratio(smooth, truth, mask) < 0.6  # only the ramp is left
    noisier = truth.copy()
    noisier[mask] = np.clip(truth[mask] + 0.2 * np.random.default_rng(1).standard_normal(truth[mask].shape), 0, 1)
    assert texture_ratio(noisier, truth, mask) > 1.0


def test_texture_ratio_ignores_the_seam_and_is_scale_free() -> None:
    truth = _textured((40, 48), 5)
    mask = _box((40, 48), 10, 12, 20, 24)
    seam = truth.copy()
    seam[mask] += 0.3  # a step at the border only: the eroded hole keeps the truth's texture
    assert texture_ratio(seam, truth, mask) == pytest.approx(1.0)
    assert texture_ratio(3 * seam, 3 * truth, mask) == pytest.approx(1.0)
    # the mean gradient magnitude inside the eroded hole, by hand for a horizontal ramp: Sobel's 8 * slope
    ramp = np.tile(np.arange(48, dtype=np.float64) / 100, (40, 1))
    steeper = np.tile(np.arange(48, dtype=np.float64) / 50, (40, 1))
    assert texture_ratio(steeper, ramp, mask) == pytest.approx(2.0)


def test_texture_ratio_undefined_cases_are_nan() -> None:
    truth = _textured((30, 30), 7)
    assert math.isnan(texture_ratio(truth, truth, None))
    assert math.isnan(texture_ratio(truth, truth, np.zeros((30, 30), bool)))
    thin = np.zeros((30, 30), bool)
    thin[5:25, 10:12] = True  # 2 px wide: nothing left after the erosion
    assert math.isnan(texture_ratio(truth, truth, thin))
    flat_truth = np.full((30, 30), 0.5)
    assert math.isnan(texture_ratio(truth, flat_truth, _box((30, 30), 5, 5, 10, 10)))
    with pytest.raises(ShapeMismatchError):
        texture_ratio(truth, truth[:-1], _box((30, 30), 5, 5, 10, 10))


# --------------------------------------------------------------------------- #
# total variation
# --------------------------------------------------------------------------- #
def test_total_variation() -> None:
    assert total_variation(np.full((20, 30), 0.4)) == 0.0
    assert total_variation(np.full((20, 30, 3), 0.7), _box((20, 30), 2, 2, 5, 5)) == 0.0
    checker = (np.indices((15, 22)).sum(axis=0) % 2).astype(np.float64)
    assert total_variation(checker) == pytest.approx(1.0)
    assert total_variation(np.dstack([checker] * 3)) == pytest.approx(1.0)
    assert total_variation(checker, _box((15, 22), 4, 4, 3, 3)) == pytest.approx(1.0)
    # horizontal ramp: hand computation
    ramp = np.tile(np.arange(5, dtype=np.float64) / 4, (3, 1))  # (3, 5)
    # 3 rows x 4 horizontal pairs of 0.25, 2 x 5 vertical pairs of 0
    assert total_variation(ramp) == pytest.approx(3 * 4 * 0.25 / (12 + 10))
    # step edge: only pairs touching the hole count
    step = np.zeros((6, 6))
    step[:, 3:] = 1.0
    hole = _box((6, 6), 0, 0, 6, 1)  # the first column: no edge there
    assert total_variation(step, hole) == 0.0
    hole = _box((6, 6), 0, 3, 6, 1)  # touches the 0|1 edge
    assert total_variation(step, hole) > 0.0


# --------------------------------------------------------------------------- #
# validation
# --------------------------------------------------------------------------- #
def test_shape_mismatch_raises() -> None:
    a = np.zeros((10, 12, 3))
    with pytest.raises(ShapeMismatchError, match="shape"):
        mse(a, np.zeros((10, 12)))
    with pytest.raises(ShapeMismatchError):
        ssim(a, np.zeros((12, 10, 3)))
    with pytest.raises(ShapeMismatchError, match="mask"):
        compute_metrics(a, a, np.zeros((12, 10), bool))
    with pytest.raises(ShapeMismatchError):
        psnr(a, a, np.zeros((10, 12, 3), bool))
    with pytest.raises(ShapeMismatchError):
        total_variation(np.zeros(5))
    with pytest.raises(ValueError):  # ShapeMismatchError is a ValueError
        l1(np.zeros((4, 4)), np.zeros((4, 5)))
