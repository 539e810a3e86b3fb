"""GLCIC's optional post-processing: fast marching (Telea) then Poisson blending.

The paper (Sec. 3.5) blends the completed region into its surroundings: the
hole of the input is filled with the fast marching method, and the network's
completion is Poisson-blended onto that image (``cv2.seamlessClone``), so the
completion keeps its gradients while its colours meet the known border.
"""

from __future__ import annotations

import cv2
import numpy as np

from inpaint_models.contract.errors import ShapeMismatchError

# seamlessClone erodes its mask 3 times (the eroded-away ring takes the
# *destination's* gradients) and zeroes the mask's outer 1-px image ring. So
# the hole is dilated by _GROW px before cloning (every hole pixel then gets
# the completion's gradients) and the images are padded so that a hole
# touching the image edge is still inside the solved region.
_GROW = 4
_PAD = _GROW + 2


def _to_u8(image: np.ndarray) -> np.ndarray:
    return np.rint(np.clip(image, 0.0, 1.0) * 255.0).astype(np.uint8)


def telea_poisson_blend(completed: np.ndarray, original: np.ndarray, mask: np.ndarray, radius: int = 3) -> np.ndarray:
    """Poisson-blend the network's completion into the Telea-filled original.

    Args:
        completed: float (H, W, C) in [0, 1], the network's raw output (not
            composited: its gradients across the hole border, a few pixels
            into the known region, guide the blend). C = 1 or 3.
        original: float (H, W, C) in [0, 1], the input image (hole values ignored).
        mask: (H, W) bool or 0/1, True = hole.
        radius: Telea neighbourhood radius in pixels.

    Returns:
        float32 (H, W, C) in [0, 1]: pixels outside the mask are exactly
        ``original``; inside, the blended completion. OpenCV's Poisson solver
        works on 8-bit RGB, so the hole values are quantised to 1/255 steps.
    """
    completed = np.asarray(completed, dtype=np.float32)
    original = np.asarray(original, dtype=np.float32)
    hole = np.asarray(mask).astype(bool)
    if completed.shape != original.shape or completed.ndim != 3 or completed.shape[-1] not in (1, 3):
        raise ShapeMismatchError(
            f"expected completed and original (H, W, 1 or 3) of one shape, got {completed.shape} and {original.shape}"
        )
    if hole.shape != original.shape[:2]:
        raise ShapeMismatchError(f"mask shape {hole.shape} does not match the image's (H, W) = {original.shape[:2]}")
    if not hole.any():
        return original.copy()
    channels = original.shape[-1]
    src = _to_u8(completed)
    dst = _to_u8(original)
    if channels == 1:
        src = np.repeat(src, 3, axis=-1)
        dst = np.repeat(dst, 3, axis=-1)
    mask_u8 = hole.astype(np.uint8) * 255
    base = cv2.inpaint(dst, mask_u8, int(radius), cv2.INPAINT_TELEA)

    pad = ((_PAD, _PAD), (_PAD, _PAD), (0, 0))
    src_p = np.ascontiguousarray(np.pad(src, pad, mode="reflect"))
    base_p = np.ascontiguousarray(np.pad(base, pad, mode="reflect"))
    mask_p = cv2.dilate(np.pad(mask_u8, pad[:2]), np.ones((3, 3), np.uint8), iterations=_GROW)
    # seamlessClone pastes the mask's bounding box (x, y, w, h) at
    # centre - (w // 2, h // 2): this centre keeps the blended region in place.
    x, y, w, h = cv2.boundingRect(mask_p)
    centre = (x + w // 2, y + h // 2)
    blended = cv2.seamlessClone(src_p, base_p, mask_p, centre, cv2.NORMAL_CLONE)
    blended = blended[_PAD:-_PAD, _PAD:-_PAD]
    if channels == 1:
        blended = blended.mean(axis=-1, keepdims=True)
    out = original.copy()
    out[hole] = blended[hole].astype(np.float32) / np.float32(255.0)
    return out
