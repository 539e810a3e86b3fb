"""A fit proves itself: its fill and the classical fill compared on held-back holes, and the fill that won used.

At the end of a fit (:func:`inpaint_models.fit`), the held-back validation
cells (known pixels no training step read) get the artificial holes the
trainer scored them on, and both fills fill them
(:func:`inpaint_models.pipeline.fit_judge.judge_fit`): the fitted checkpoint and
the classical fill ``fill(model="auto")`` would use for the array (the
biharmonic volume fill for a stack), compared by hole PSNR on the same pixels.
The verdict (:func:`verdict_record`) is kept in the checkpoint's sidecar
(:func:`inpaint_models.io.sidecar.read_verdict`).

When a fill is later asked for with those weights, :func:`apply_verdict`
(called by :func:`~inpaint_models.pipeline.plan.plan_fill`) swaps in the
classical fill if it won, with a
:class:`~inpaint_models.contract.errors.ClassicalFillKeptWarning` saying so:
the fitted weights never fill worse than the fill they were measured against.
:func:`verdict_message` is the one wording every front end shows.

Torch-free at import (``plan_fill`` imports this module for every fill).
"""

from __future__ import annotations

import dataclasses
import warnings
from typing import Any, Mapping, Optional

from inpaint_models.contract.datatypes import ModelInfo
from inpaint_models.contract.errors import ClassicalFillKeptWarning
from inpaint_models.contract.registry import ModelRegistry
from inpaint_models.io.sidecar import read_verdict

#: ``use`` of a verdict: fill with the fitted weights, or with the classical fill they were compared with
FITTED, CLASSICAL = "fitted", "classical"
#: the fitted fill must beat the classical one by this much on the held-back holes to be used: a smaller gain
#: is within what the held-back holes tell of the real ones (on the nuclei stack a +0.03 dB verdict was
#: -0.12 dB on the real holes)
MIN_GAIN_DB = 0.1


def verdict_record(compared_with: str, fitted_psnr: float, classical_psnr: float, holes: int, pixels: int,
                   volume: bool) -> dict[str, Any]:
    """The verdict kept in a fitted checkpoint's sidecar (JSON-able).

    ``use`` is ``"fitted"`` only when the fitted fill's PSNR is at least
    :data:`MIN_GAIN_DB` above the classical fill's on the same held-back hole
    pixels (a tie or a smaller gain keeps the classical fill: cheaper, and no
    worse). PSNRs in dB, ``inf`` stored as a large finite number (JSON has no infinity).
    """
    fitted, classical = (min(float(v), 999.0) for v in (fitted_psnr, classical_psnr))
    return {"compared_with": compared_with, "fitted_psnr": round(fitted, 3), "classical_psnr": round(classical, 3),
            "gain_db": round(fitted - classical, 3), "use": FITTED if fitted - classical >= MIN_GAIN_DB else CLASSICAL,
            "held_back_holes": int(holes), "held_back_pixels": int(pixels), "volume": bool(volume)}


def verdict_message(verdict: Optional[Mapping[str, Any]]) -> str:
    """What every front end says of a fit's verdict (one line).

    ``"fitted: +1.2 dB over the volume fill on held-back holes"`` or ``"kept the
    volume fill: the fit did not beat it (30.1 dB vs 31.2 dB on held-back
    holes)"`` (``"classical fill (NAME)"`` for a fit without a volume axis);
    without a verdict, that nothing could be compared.
    """
    if not verdict:
        return "no held-back holes to compare the fit with the classical fill on"
    noun = "volume fill" if verdict.get("volume") else f"classical fill ({verdict.get('compared_with')})"
    if verdict.get("use") == FITTED:
        return f"fitted: {float(verdict['gain_db']):+.1f} dB over the {noun} on held-back holes"
    return (f"kept the {noun}: the fit did not beat it ({float(verdict['fitted_psnr']):.1f} dB vs "
            f"{float(verdict['classical_psnr']):.1f} dB on held-back holes)")


# --------------------------------------------------------------------------- at fill time
def apply_verdict(info: ModelInfo, request: Any, registry: ModelRegistry, stacklevel: int = 2) -> tuple[ModelInfo, Any]:
    """The model and request a fill goes on with, after the verdict of its weights (if any).

    Args:
        info: the model asked for.
        request: the fill's :class:`~inpaint_models.pipeline.plan.FillRequest`
            (``weights``, ``options``, ``use_verdict``).
        registry: where the classical model is found.
        stacklevel: of the warning, counted from here (1: this function).

    Returns:
        ``(info, request)`` unchanged, unless the weights' sidecar holds a
        verdict whose ``use`` is ``"classical"`` (and that model is
        registered): then the classical model's info and the request without
        weights and options (the classical fill with its defaults: the fill
        it was measured as), with a :class:`ClassicalFillKeptWarning`.
    """
    if request.weights is None or not request.use_verdict or not info.trainable:
        return info, request
    verdict = read_verdict(request.weights)
    if not verdict or verdict.get("use") != CLASSICAL or verdict.get("compared_with") not in registry.names():
        return info, request
    warnings.warn(verdict_message(verdict), ClassicalFillKeptWarning, stacklevel=stacklevel)
    classical = registry.info(verdict["compared_with"])
    return classical, dataclasses.replace(request, model=classical.name, weights=None, options={})
