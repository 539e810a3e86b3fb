"""Noise like the known pixels', for a fill that should look like the data around it (``noise = true``).

The noise of each channel is measured on the known pixels as a function of
brightness (photon noise grows with the signal): a high-pass residual (each
pixel minus the mean of its eight neighbours, where all nine are known) is
binned by the local mean, each bin's spread is a robust MAD, and a line
``variance = a + b * brightness`` (b >= 0) is fitted through the bins.
Gaussian noise of that variance at the fill's own brightness is then added
to the hole. No torch here.
"""

from __future__ import annotations

import numpy as np

#: var(x - mean of 8 neighbours) = (1 + 1/8) var(x) for white noise
_HIGH_PASS_GAIN = 1.0 + 1.0 / 8.0
_MAD_TO_SIGMA = 1.4826


def noise_model(image: np.ndarray, mask: np.ndarray, bins: int = 8, min_count: int = 32) -> np.ndarray:
    """Per-channel noise variance ``a + b * value`` measured on the known pixels.

    Args:
        image: float (..., H, W, C) (a plane (H, W, C) or a volume (D, H, W, C)).
        mask: bool (..., H, W), True = unknown (never measured).
        bins: brightness bins of the fit.
        min_count: pixels a bin needs to count.

    Returns:
        float64 (C, 2): ``a`` and ``b`` per channel (zeros when too few pixels are known).
    """
    from scipy import ndimage

    image = np.asarray(image, dtype=np.float64)
    mask = np.asarray(mask, dtype=bool)
    planes = image.reshape((-1,) + image.shape[-3:])
    masks = mask.reshape((-1,) + mask.shape[-2:])
    kernel = np.ones((3, 3))
    model = np.zeros((image.shape[-1], 2))
    for c in range(image.shape[-1]):
        residuals, levels = [], []
        for plane, hole in zip(planes[..., c], masks):
            known = (~hole).astype(np.float64)
            all_known = ndimage.convolve(known, kernel, mode="constant") > 8.5
            total = ndimage.convolve(plane * known, kernel, mode="constant")
            residual = plane - (total - plane) / 8.0
            residuals.append(residual[all_known])
            levels.append(total[all_known] / 9.0)
        residual, level = np.concatenate(residuals), np.concatenate(levels)
        if residual.size < min_count:
            continue
        edges = np.unique(np.quantile(level, np.linspace(0, 1, bins + 1)))
        centres, variances, weights = [], [], []
        for low, high in zip(edges[:-1], edges[1:]):
            inside = (level >= low) & (level <= high)
            if inside.sum() < min_count:
                continue
            r = residual[inside]
            sigma = _MAD_TO_SIGMA * np.median(np.abs(r - np.median(r)))
            centres.append(level[inside].mean())
            variances.append(sigma**2 / _HIGH_PASS_GAIN)
            weights.append(inside.sum())
        if not centres:
            continue
        centres_a, variances_a, weights_a = map(np.asarray, (centres, variances, weights))
        slope = 0.0
        if len(centres_a) >= 2 and np.ptp(centres_a) > 0:
            slope, intercept = np.polyfit(centres_a, variances_a, 1, w=np.sqrt(weights_a))
        if slope <= 0:
            model[c] = (np.average(variances_a, weights=weights_a), 0.0)
        else:
            model[c] = (intercept, slope)
    return model


def add_noise(fill: np.ndarray, mask: np.ndarray, model: np.ndarray, seed: int = 0) -> np.ndarray:
    """``fill`` with Gaussian noise of variance ``a + b * fill`` (clipped at 0) added under ``mask``.

    Args:
        fill: float32 (..., C) in [0, 1].
        mask: bool (...), True = hole (only those pixels change).
        model: (C, 2) from :func:`noise_model`.
        seed: seed of the noise (a fill is reproducible).

    Returns:
        float32 of ``fill``'s shape, clipped to [0, 1].
    """
    rng = np.random.default_rng(seed)
    out = np.array(fill, dtype=np.float32, copy=True)
    values = out[mask]  # (n, C)
    variance = np.clip(model[:, 0] + model[:, 1] * values, 0.0, None)
    noisy = values + rng.standard_normal(values.shape) * np.sqrt(variance)
    out[mask] = np.clip(noisy, 0.0, 1.0)
    return out
