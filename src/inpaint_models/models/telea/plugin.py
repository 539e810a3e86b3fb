"""``telea``: OpenCV's fast-marching fill (Telea 2004), report 004's baseline."""

from __future__ import annotations

from inpaint_models.models.opencv_inpaint import opencv_hooks

model_info, fill = opencv_hooks(
    name="telea",
    title="Telea (fast marching)",
    description="Classical fill marching inward from the hole border, weighting nearby known pixels",
    source="Telea 2004, 'An image inpainting technique based on the fast marching method' (report 004)",
    method="telea",
)
