"""What a crop must look like for a model's weights, and the shape it reaches the plugin at.

The one owner of crop geometry (what :mod:`inpaint_models.pipeline.crops` fits
every crop to, planes and volumes alike, and what the estimate counts): the
channel counts, native size and size multiple come from :func:`weights_geometry`
— the sidecar of the weights in use for a trained model (a context encoder
trained at 64 px gets 64 x 64 crops, a stack-unet with ``levels = 6`` crops
padded to multiples of 32), ModelInfo for the others.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional, Union

from inpaint_models.contract.datatypes import ModelInfo
from inpaint_models.io.sidecar import WeightsGeometry, checkpoint_stamp, geometry_of, info_geometry
from inpaint_models.models.neural_hooks import task_factory_for

_geometries: dict[tuple, WeightsGeometry] = {}


def weights_geometry(info: ModelInfo, weights: Optional[Union[str, Path]]) -> WeightsGeometry:
    """How crops must look for ``info``'s model with ``weights`` (None: a model without weights).

    Read from the checkpoint's sidecar (``geometry``, written since checkpoints
    record it) and checked before any crop is cut: for a built-in model (one with
    a task factory; this imports torch, which the fill needs anyway) the task is
    built on torch's ``meta`` device (no memory) from the sidecar, the weights
    file's tensor shapes must fit its networks and the recorded geometry must be
    theirs (:func:`~inpaint_models.training.inference.checkpoint_geometry`), so an
    edited ``native_size`` never resizes a crop to a size the weights cannot take;
    an older sidecar's geometry is the networks'. Without a factory the sidecar's
    geometry is used as read (its sizes bounded by the sidecar schema, see
    :data:`~inpaint_models.io.sidecar.SIDECAR_SCHEMA`), or inferred from it and
    ModelInfo. Cached per checkpoint (see :func:`~inpaint_models.io.sidecar.checkpoint_stamp`).

    Raises:
        WeightsError: the checkpoint is unreadable, breaks the sidecar schema,
            belongs to another model, or its sidecar does not fit its weights.
    """
    if weights is None or not info.trainable:
        return info_geometry(info)
    path, stamp = checkpoint_stamp(weights)
    key = (info.name, path, stamp)
    geometry = _geometries.get(key)
    if geometry is None:
        geometry = _read_geometry(info, path)
        if len(_geometries) >= 64:
            _geometries.clear()
        _geometries[key] = geometry
    return geometry


def _read_geometry(info: ModelInfo, path: str) -> WeightsGeometry:
    factory = task_factory_for(info.name)
    if factory is None:
        return geometry_of(path, info)[0]
    from inpaint_models.training.inference import checkpoint_geometry  # torch: the fill needs it anyway

    return checkpoint_geometry(path, info, factory)


def model_input_shape(geometry: WeightsGeometry, shape: tuple[int, ...]) -> tuple[int, ...]:
    """The spatial shape a crop of spatial ``shape`` has when it reaches the plugin.

    A plane ``(h, w)`` is resized to the weights' native size (fixed-size
    networks), then padded to their size multiple; a volume ``(d, h, w)`` is
    padded along all three axes to the size multiple (volume models have no
    native size). Padding is added at the end of each axis (mirrored).
    """
    multiple = max(1, int(geometry.size_multiple))
    if len(shape) == 2 and geometry.native_size is not None:
        shape = (int(geometry.native_size),) * 2
    return tuple(int(n) + (-int(n)) % multiple for n in shape)
