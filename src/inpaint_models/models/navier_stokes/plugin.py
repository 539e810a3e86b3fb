"""``navier-stokes``: OpenCV's fluid-dynamics fill (Bertalmio et al. 2001)."""

from __future__ import annotations

from inpaint_models.models.opencv_inpaint import opencv_hooks

model_info, fill = opencv_hooks(
    name="navier-stokes",
    title="Navier-Stokes (Bertalmio et al. 2001)",
    description="Classical fill propagating isophotes into the hole as an incompressible flow",
    source="Bertalmio, Bertozzi & Sapiro 2001, 'Navier-Stokes, Fluid Dynamics, and Image and Video "
           "Inpainting' (CVPR); OpenCV's cv2.inpaint, INPAINT_NS",
    method="ns",
)
