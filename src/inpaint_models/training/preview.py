"""Preview grids: truth | mask | input | output | difference heat-map (report 003's check).

One row per sample. The mask column is white where the hole is; the input
column shows the hole in black (what the model is given); the output is the
composite (known pixels copied, hole predicted); the heat-map is the mean
absolute difference over channels, 0 (dark) to ``max_difference`` (bright),
through OpenCV's inferno colour map.
"""

from __future__ import annotations

from pathlib import Path
from typing import Union

import cv2
import numpy as np

from inpaint_models.io.atomic import atomic_write_bytes

COLUMNS = ("truth", "mask", "input", "output", "difference")


def _rgb(image: np.ndarray) -> np.ndarray:
    """float (H, W, C) in [0, 1] -> uint8 (H, W, 3)."""
    if image.ndim == 2:
        image = image[..., None]
    if image.shape[-1] == 1:
        image = np.repeat(image, 3, axis=-1)
    return np.clip(np.rint(image[..., :3] * 255.0), 0, 255).astype(np.uint8)


def heat_map(difference: np.ndarray, max_difference: float = 0.5) -> np.ndarray:
    """float (H, W) absolute difference -> uint8 (H, W, 3) RGB heat-map."""
    scaled = np.clip(difference / max_difference, 0.0, 1.0)
    coloured = cv2.applyColorMap(np.rint(scaled * 255).astype(np.uint8), cv2.COLORMAP_INFERNO)
    return cv2.cvtColor(coloured, cv2.COLOR_BGR2RGB)


def preview_grid(truth: np.ndarray, mask: np.ndarray, output: np.ndarray, gap: int = 2,
                 max_difference: float = 0.5) -> np.ndarray:
    """Build the grid as uint8 RGB.

    Args:
        truth: float (N, H, W, C) in [0, 1].
        mask: bool (N, H, W), True = hole.
        output: float (N, H, W, C) in [0, 1], the composited prediction.
        gap: white pixels between tiles.
        max_difference: difference mapped to the brightest colour.

    Returns:
        uint8 (N * (H + gap) - gap, 5 * (W + gap) - gap, 3).
    """
    count, height, _width = mask.shape
    rows = []
    for i in range(count):
        hole = mask[i]
        given = truth[i] * (~hole)[..., None]
        tiles = [
            _rgb(truth[i]),
            _rgb(hole.astype(np.float32)),
            _rgb(given),
            _rgb(output[i]),
            heat_map(np.abs(output[i] - truth[i]).mean(axis=-1), max_difference),
        ]
        row = tiles[0]
        for tile in tiles[1:]:
            row = np.concatenate([row, np.full((height, gap, 3), 255, np.uint8), tile], axis=1)
        rows.append(row)
    grid = rows[0]
    for row in rows[1:]:
        grid = np.concatenate([grid, np.full((gap, grid.shape[1], 3), 255, np.uint8), row], axis=0)
    return grid


def write_png(path: Union[str, Path], rgb: np.ndarray) -> Path:
    """Write a uint8 RGB array as PNG, atomically."""
    ok, encoded = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    if not ok:  # pragma: no cover - OpenCV always encodes uint8 RGB
        raise OSError(f"could not encode preview {path}")
    return atomic_write_bytes(path, encoded.tobytes())
