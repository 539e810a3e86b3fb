"""Image-quality metrics for inpainting: MSE, L1, PSNR, SSIM and total variation,
on the whole image and on the hole only, and the hole's texture ratio.

Inputs: ``prediction`` and ``target`` are float arrays in [0, 1] of shape
``(H, W)`` or ``(H, W, C)`` (same shape); ``mask`` is a ``bool`` ``(H, W)``
array with ``True`` = hole. Every function returns a Python ``float``; a
hole-only value for a mask without any hole pixel is ``nan``.

SSIM reproduces ``skimage.metrics.structural_similarity(a, b,
gaussian_weights=True, sigma=1.5, data_range=1.0, channel_axis=-1)`` (its
defaults: ``use_sample_covariance=True``, K1 = 0.01, K2 = 0.03; an 11x11
Gaussian window, truncated at 3.5 sigma; ``reflect`` borders; the SSIM map
cropped by 5 px on every side before averaging). Only numpy and scipy are used.
"""

from __future__ import annotations

import math
from typing import Optional

import numpy as np
from scipy.ndimage import binary_erosion, gaussian_filter, sobel

from inpaint_models.contract.errors import ShapeMismatchError

__all__ = [
    "METRIC_NAMES",
    "compute_metrics",
    "l1",
    "mse",
    "psnr",
    "ssim",
    "texture_ratio",
    "total_variation",
]

#: Keys of the dict returned by :func:`compute_metrics`, in order.
METRIC_NAMES: tuple[str, ...] = (
    "psnr",
    "psnr_hole",
    "ssim",
    "ssim_hole",
    "l1",
    "l1_hole",
    "mse",
    "mse_hole",
    "tv",
    "tv_hole",
    "texture_ratio",
)

_SSIM_SIGMA = 1.5
_SSIM_TRUNCATE = 3.5
_SSIM_RADIUS = int(_SSIM_TRUNCATE * _SSIM_SIGMA + 0.5)  # 5, as scipy.ndimage computes it
_SSIM_WIN = 2 * _SSIM_RADIUS + 1  # 11
_SSIM_K1 = 0.01
_SSIM_K2 = 0.03


# --------------------------------------------------------------------------- #
# validation
# --------------------------------------------------------------------------- #
def _check_image(image: np.ndarray, name: str) -> np.ndarray:
    arr = np.asarray(image)
    if arr.ndim not in (2, 3):
        raise ShapeMismatchError(
            f"{name} must be (H, W) or (H, W, C), got shape {arr.shape}"
        )
    if arr.size == 0:
        raise ShapeMismatchError(f"{name} is empty (shape {arr.shape})")
    return arr.astype(np.float64, copy=False)


def _check_mask(mask: Optional[np.ndarray], hw: tuple[int, ...]) -> Optional[np.ndarray]:
    if mask is None:
        return None
    m = np.asarray(mask)
    if m.shape != tuple(hw):
        raise ShapeMismatchError(
            f"mask shape {m.shape} does not match the image's (H, W) = {tuple(hw)}"
        )
    return m.astype(bool, copy=False)


def _check_pair(
    prediction: np.ndarray, target: np.ndarray, mask: Optional[np.ndarray]
) -> tuple[np.ndarray, np.ndarray, Optional[np.ndarray]]:
    pred = np.asarray(prediction)
    targ = np.asarray(target)
    if pred.shape != targ.shape:
        raise ShapeMismatchError(
            f"prediction shape {pred.shape} does not match target shape {targ.shape}"
        )
    pred = _check_image(pred, "prediction")
    targ = _check_image(targ, "target")
    return pred, targ, _check_mask(mask, pred.shape[:2])


def _select(values: np.ndarray, mask: Optional[np.ndarray]) -> np.ndarray:
    """Values of an (H, W) / (H, W, C) array at the hole pixels (all if no mask)."""
    return values if mask is None else values[mask]


def _mean_or_nan(values: np.ndarray) -> float:
    return float(values.mean(dtype=np.float64)) if values.size else float("nan")


# --------------------------------------------------------------------------- #
# pixel metrics
# --------------------------------------------------------------------------- #
def mse(
    prediction: np.ndarray, target: np.ndarray, mask: Optional[np.ndarray] = None
) -> float:
    """Mean squared error over all pixels and channels, or over the hole pixels
    (all their channels) when ``mask`` (bool (H, W), True = hole) is given."""
    pred, targ, m = _check_pair(prediction, target, mask)
    return _mean_or_nan(_select((pred - targ) ** 2, m))


def l1(
    prediction: np.ndarray, target: np.ndarray, mask: Optional[np.ndarray] = None
) -> float:
    """Mean absolute error over all pixels and channels, or over the hole pixels
    when ``mask`` (bool (H, W), True = hole) is given."""
    pred, targ, m = _check_pair(prediction, target, mask)
    return _mean_or_nan(_select(np.abs(pred - targ), m))


def _psnr_from_mse(err: float, data_range: float) -> float:
    if math.isnan(err):
        return float("nan")
    if err == 0.0:
        return float("inf")
    return float(10.0 * math.log10(data_range**2 / err))


def psnr(
    prediction: np.ndarray,
    target: np.ndarray,
    mask: Optional[np.ndarray] = None,
    data_range: float = 1.0,
) -> float:
    """Peak signal-to-noise ratio in dB: ``10 log10(data_range**2 / MSE)``, with
    the MSE over the whole image or over the hole only when ``mask`` is given.
    ``inf`` when the compared pixels are identical."""
    return _psnr_from_mse(mse(prediction, target, mask), float(data_range))


# --------------------------------------------------------------------------- #
# SSIM
# --------------------------------------------------------------------------- #
def _ssim_map(pred: np.ndarray, targ: np.ndarray, data_range: float) -> np.ndarray:
    """Per-pixel (per-channel) SSIM map, same shape as the inputs."""
    sigma = (_SSIM_SIGMA, _SSIM_SIGMA) + (0.0,) * (pred.ndim - 2)

    def filt(x: np.ndarray) -> np.ndarray:
        return gaussian_filter(x, sigma=sigma, mode="reflect", truncate=_SSIM_TRUNCATE)

    n = _SSIM_WIN**2
    cov_norm = n / (n - 1)  # sample covariance, as skimage's default
    ux = filt(pred)
    uy = filt(targ)
    uxx = filt(pred * pred)
    uyy = filt(targ * targ)
    uxy = filt(pred * targ)
    vx = cov_norm * (uxx - ux * ux)
    vy = cov_norm * (uyy - uy * uy)
    vxy = cov_norm * (uxy - ux * uy)
    c1 = (_SSIM_K1 * data_range) ** 2
    c2 = (_SSIM_K2 * data_range) ** 2
    a1 = 2 * ux * uy + c1
    a2 = 2 * vxy + c2
    b1 = ux**2 + uy**2 + c1
    b2 = vx + vy + c2
    return (a1 * a2) / (b1 * b2)


def ssim(
    prediction: np.ndarray,
    target: np.ndarray,
    mask: Optional[np.ndarray] = None,
    data_range: float = 1.0,
) -> float:
    """Structural similarity (Wang et al. 2004) with an 11x11 Gaussian window
    (sigma 1.5), K1 = 0.01, K2 = 0.03 and sample covariances.

    Whole image: the mean of the SSIM map after cropping the 5 px border (as
    scikit-image does; colour images average the per-channel maps), equal to
    ``skimage.metrics.structural_similarity(prediction, target,
    gaussian_weights=True, sigma=1.5, data_range=data_range, channel_axis=-1)``
    (without ``channel_axis`` for (H, W)). With ``mask``: the mean of the same
    map over the hole pixels inside the cropped area, or over all hole pixels
    if none lies inside it. Images with a side of 10 px or less (which
    scikit-image rejects) are averaged without the crop.
    """
    pred, targ, m = _check_pair(prediction, target, mask)
    return _ssim_mean(_ssim_map(pred, targ, float(data_range)), m)


def _ssim_mean(smap: np.ndarray, mask: Optional[np.ndarray]) -> float:
    """Average an SSIM map as :func:`ssim` documents (border crop, hole)."""
    h, w = smap.shape[:2]
    pad = (_SSIM_WIN - 1) // 2
    inner = np.zeros((h, w), dtype=bool)
    inner[pad : h - pad, pad : w - pad] = True  # empty when h or w <= 2 * pad
    if mask is None:
        region = inner if inner.any() else np.ones((h, w), dtype=bool)
    else:
        if not mask.any():
            return float("nan")
        region = mask & inner
        if not region.any():
            region = mask
    return float(smap[region].mean(dtype=np.float64))


# --------------------------------------------------------------------------- #
# total variation
# --------------------------------------------------------------------------- #
def total_variation(image: np.ndarray, mask: Optional[np.ndarray] = None) -> float:
    """Anisotropic total variation: the mean absolute difference between
    horizontally and vertically adjacent pixels (over every neighbour pair and
    channel), so a constant image gives 0 and a 0/1 checkerboard gives 1.

    With ``mask`` (bool (H, W), True = hole) only neighbour pairs with at least
    one pixel in the hole count (``nan`` if the mask is empty). An image without
    any neighbour pair (1x1) gives 0.
    """
    img = _check_image(image, "image")
    m = _check_mask(mask, img.shape[:2])
    dh = np.abs(img[:, 1:] - img[:, :-1])
    dv = np.abs(img[1:, :] - img[:-1, :])
    if m is None:
        total = dh.sum(dtype=np.float64) + dv.sum(dtype=np.float64)
        pairs = dh.size + dv.size
    else:
        if not m.any():
            return float("nan")
        sel_h = m[:, 1:] | m[:, :-1]
        sel_v = m[1:, :] | m[:-1, :]
        dh_sel = dh[sel_h]
        dv_sel = dv[sel_v]
        total = dh_sel.sum(dtype=np.float64) + dv_sel.sum(dtype=np.float64)
        pairs = dh_sel.size + dv_sel.size
    return float(total / pairs) if pairs else 0.0


# --------------------------------------------------------------------------- #
# texture
# --------------------------------------------------------------------------- #
def _gradient_magnitude(image: np.ndarray) -> np.ndarray:
    """Sobel gradient magnitude of each channel: (H, W) or (H, W, C), ``reflect`` borders."""
    if image.ndim == 3:  # ndimage's sobel would also smooth across the channel axis
        return np.stack([_gradient_magnitude(image[..., c]) for c in range(image.shape[-1])], axis=-1)
    return np.hypot(sobel(image, axis=1, mode="reflect"), sobel(image, axis=0, mode="reflect"))


def _inner_hole(mask: Optional[np.ndarray]) -> Optional[np.ndarray]:
    """The hole eroded by one pixel (3x3 square): pixels whose whole 3x3 neighbourhood is hole."""
    if mask is None:
        return None
    return binary_erosion(mask, structure=np.ones((3, 3), bool), border_value=0)


def _texture_ratio(pred: np.ndarray, targ: np.ndarray, inner: Optional[np.ndarray]) -> float:
    if inner is None or not inner.any():
        return float("nan")
    truth = float(_gradient_magnitude(targ)[inner].mean(dtype=np.float64))
    if not truth > 1e-12:  # a flat truth: no texture to keep, the ratio is undefined
        return float("nan")
    return float(_gradient_magnitude(pred)[inner].mean(dtype=np.float64)) / truth


def texture_ratio(prediction: np.ndarray, target: np.ndarray, mask: Optional[np.ndarray]) -> float:
    """How much of the truth's texture a fill keeps: 1 for the truth itself, well below 1 for a smooth fill.

    The mean Sobel gradient magnitude (over pixels and channels) of ``prediction``
    inside the hole eroded by one pixel (3x3), divided by the same for ``target``.
    The erosion keeps the seam at the hole's border out, and every Sobel window
    used lies inside the hole, so only filled pixels count. Scale-free (any
    ``data_range``); above 1 for a fill noisier than the truth.

    Args:
        prediction, target: float (H, W) or (H, W, C), same shape.
        mask: bool (H, W), True = hole.

    Returns:
        The ratio, or ``nan`` when it is undefined: no mask, a hole with no pixel
        left after the erosion (strokes thinner than 3 px), or a truth without
        texture there (mean gradient below 1e-12). Average over images with
        NaN-aware means (as :func:`inpaint_models.evaluate` does).
    """
    pred, targ, m = _check_pair(prediction, target, mask)
    return _texture_ratio(pred, targ, _inner_hole(m))


# --------------------------------------------------------------------------- #
# all at once
# --------------------------------------------------------------------------- #
def compute_metrics(
    prediction: np.ndarray,
    target: np.ndarray,
    mask: Optional[np.ndarray],
    data_range: float = 1.0,
) -> dict[str, float]:
    """Every metric of :data:`METRIC_NAMES` for one prediction.

    ``psnr``/``ssim``/``l1``/``mse`` compare ``prediction`` with ``target`` on
    the whole image, the ``*_hole`` variants on the hole pixels of ``mask``
    (bool (H, W), True = hole; ``None`` or an empty mask gives ``nan``).
    ``tv``/``tv_hole`` are the total variation of ``prediction`` (report 004);
    ``texture_ratio`` is :func:`texture_ratio` (``nan`` where undefined).
    """
    pred, targ, m = _check_pair(prediction, target, mask)
    dr = float(data_range)
    has_hole = m is not None and bool(m.any())
    nan = float("nan")
    err = mse(pred, targ)
    err_hole = mse(pred, targ, m) if has_hole else nan
    smap = _ssim_map(pred, targ, dr)
    return {
        "psnr": _psnr_from_mse(err, dr),
        "psnr_hole": _psnr_from_mse(err_hole, dr),
        "ssim": _ssim_mean(smap, None),
        "ssim_hole": _ssim_mean(smap, m) if has_hole else nan,
        "l1": l1(pred, targ),
        "l1_hole": l1(pred, targ, m) if has_hole else nan,
        "mse": err,
        "mse_hole": err_hole,
        "tv": total_variation(pred),
        "tv_hole": total_variation(pred, m) if has_hole else nan,
        "texture_ratio": _texture_ratio(pred, targ, _inner_hole(m)) if has_hole else nan,
    }
