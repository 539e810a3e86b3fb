"""``example-harmonic``: a third-party model plugin for napari-inpaint.

The backend hands ``fill`` a float32 (H, W, C) crop in [0, 1] and a bool (H, W)
mask (True = hole) and composites the answer, so a plugin only predicts pixels.
A plugin imports only the contract (``inpaint_models.contract``): the hooks, the
datatypes and the option helpers, none of which imports torch or the fill pipeline.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from inpaint_models.contract.datatypes import FillContext, ModelInfo, ProgressEvent
from inpaint_models.contract.hookspecs import hookimpl
from inpaint_models.contract.options import fill_option


@dataclass(frozen=True)
class HarmonicOptions:
    """Options of the harmonic fill.

    Attributes:
        iterations: Jacobi sweeps; more sweeps reach further into large holes.
    """

    iterations: int = fill_option(400)  # a fill option: fill(..., iterations=800), --opt, the napari form

    def __post_init__(self) -> None:
        if self.iterations < 1:
            raise ValueError(f"iterations must be at least 1, got {self.iterations}")


@hookimpl
def model_info() -> ModelInfo:
    """Describe the model: its name must equal the entry-point name."""
    return ModelInfo(
        name="example-harmonic",
        title="Harmonic (example plugin)",
        description="Fills each hole with the smooth solution of Laplace's equation",
        source="examples/inpaint-example-plugin in napari-inpaint",
        options=HarmonicOptions,
        channels=None,  # any channel count: channels are independent
        min_size=3,
    )


@hookimpl
def fill(image: np.ndarray, mask: np.ndarray, options: HarmonicOptions, context: FillContext) -> np.ndarray:
    """float32 (H, W, C) in [0, 1], bool (H, W) hole -> float32 (H, W, C)."""
    known = ~mask
    result = image.copy()
    counts = known.sum()
    result[mask] = image[known].mean(axis=0) if counts else 0.5  # start from the mean colour
    padded = np.pad(result, ((1, 1), (1, 1), (0, 0)), mode="edge")
    for sweep in range(options.iterations):
        padded[1:-1, 1:-1] = result
        average = (padded[:-2, 1:-1] + padded[2:, 1:-1] + padded[1:-1, :-2] + padded[1:-1, 2:]) / 4.0
        result[mask] = average[mask]
        if (sweep + 1) % 100 == 0:  # lets the user cancel long fills
            context.report(ProgressEvent("solve", sweep + 1, options.iterations, message="Jacobi sweeps"))
    return result
