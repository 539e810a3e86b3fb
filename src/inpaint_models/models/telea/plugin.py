"""``telea``: OpenCV's fast-marching fill (Telea 2004)."""

from __future__ import annotations

from inpaint_models.models.opencv_inpaint import opencv_hooks

model_info, fill = opencv_hooks(
    name="telea",
    title="Telea fast marching (Telea 2004)",
    description="Classical fill marching inward from the hole border, weighting nearby known pixels",
    source="Telea 2004, 'An Image Inpainting Technique Based on the Fast Marching Method' (Journal of Graphics "
           "Tools 9(1)); OpenCV's cv2.inpaint, INPAINT_TELEA",
    method="telea",
)
