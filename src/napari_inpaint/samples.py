"""Sample data contributed to napari's File > Open Sample menu."""

from __future__ import annotations

from inpaint_models.samples import sample_photo_with_mask


def photo_with_mask() -> list[tuple]:
    """The astronaut photo (RGB image layer) and its mask (labels layer, 1 = fill)."""
    photo, mask = sample_photo_with_mask()
    return [
        (photo, {"name": "astronaut", "rgb": True}, "image"),
        (mask.astype("uint8"), {"name": "astronaut mask", "opacity": 0.6}, "labels"),
    ]
