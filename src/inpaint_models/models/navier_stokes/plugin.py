"""``navier-stokes``: OpenCV's fluid-dynamics fill (Bertalmio et al. 2001), report 004's baseline."""

from __future__ import annotations

from inpaint_models.models.opencv_inpaint import opencv_hooks

model_info, fill = opencv_hooks(
    name="navier-stokes",
    title="Navier-Stokes",
    description="Classical fill propagating isophotes into the hole as an incompressible flow",
    source="Bertalmio, Bertozzi, Sapiro 2001, 'Navier-Stokes, fluid dynamics, and image and video "
           "inpainting' (report 004)",
    method="ns",
)
