"""The public Python API: ``fill``, ``default_model``, ``available_models``, ``model_info``, the estimate's front.

``fill`` runs the whole model-independent pipeline (:mod:`inpaint_models.pipeline`:
validate and plan, crop around the holes, call exactly one plugin, composite)
so that every model gets the same guarantees: outside the mask the output
equals the input bit for bit, in the input's dtype and range, and the caller's
arrays are never modified.

Only the pixels around the holes are read: each hole region is filled in a
crop box (the region plus ``margin`` pixels, ``volume_margin`` planes), whose
known pixels also set the value conversion (uint8 / 255, bool and float in
[0, 1] as they are, any other range stretched from the box's own minimum to its
maximum), so the cost follows the holes, not the image. In volume mode
(``volume_axis``) the hole regions are connected components of the mask in 3D,
in each volume, and a plane the mask covers entirely is filled from its neighbours.

Lazy arrays in, lazy array out: a dask array (or a zarr array, read through
:func:`dask.array.from_zarr`) as ``image`` gives a dask array with its chunks
(:mod:`inpaint_models.pipeline.chunked`). The hole regions are found from the
mask chunk by chunk (a region crossing a chunk border is one region, as in
memory) and the crops are filled during the call (on the workers of an active
``dask.distributed`` client, if any); the chunks they touch are patched, every
other chunk is the image's own, read only when the result's chunk is. The
result equals the in-memory fill's bit for bit. NaN/inf are checked in the
crops read (in memory: in the whole image).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional, Union

from inpaint_models.contract.datatypes import ModelInfo, Reporter
from inpaint_models.contract.registry import ModelRegistry, default_registry
from inpaint_models.io.zarrio import MISSING_CHUNKS, check_chunks
from inpaint_models.pipeline.defaults import default_model  # noqa: F401 (the front's)
from inpaint_models.pipeline.estimate import (  # noqa: F401 (the front of the estimate, for the CLI and napari)
    LONG_FILL_SECONDS,
    FillClock,
    FillEstimate,
    estimate_fill_seconds,
    format_duration,
    measures,
    with_steps,
)
from inpaint_models.pipeline.layout import ChannelAxis, VolumeAxis
from inpaint_models.pipeline.lazy_inputs import is_lazy, is_zarr  # noqa: F401 (is_lazy: the front's)
from inpaint_models.pipeline.plan import (  # noqa: F401 (checked_layout and resolve_weights: for api_fit and the CLI)
    FillRequest,
    checked_layout,
    plan_fill,
    resolve_weights,
)
from inpaint_models.pipeline.progress import (  # noqa: F401 (one cancel rule: api_train, api_fit, napari)
    CancelCheck,
    cancel_requested,
    make_reporter,
)
from inpaint_models.pipeline.run import fill_in_memory

#: a numpy array (or anything ``np.asarray`` takes), a dask array, or a zarr array
ArrayLike = Any


def available_models(registry: Optional[ModelRegistry] = None) -> list[str]:
    """Names of every registered model (built-in and third-party), sorted."""
    return (registry or default_registry()).names()


def model_info(name: str, registry: Optional[ModelRegistry] = None) -> ModelInfo:
    """The :class:`ModelInfo` of model ``name``; raises UnknownModelError listing the alternatives."""
    return (registry or default_registry()).info(name)


def fill(
    image: ArrayLike,
    mask: ArrayLike,
    model: str = "auto",
    weights: Optional[Union[str, Path]] = None,
    device: str = "auto",
    *,
    channel_axis: ChannelAxis = "auto",
    volume_axis: VolumeAxis = "auto",
    margin: Optional[int] = None,
    volume_margin: Optional[int] = None,
    progress: Optional[Reporter] = None,
    cancel: Optional[CancelCheck] = None,
    registry: Optional[ModelRegistry] = None,
    missing_chunks: str = "warn",
    **options: Any,
) -> ArrayLike:
    """Inpaint the masked pixels of an image, or of a stack plane by plane or as a volume (see the module docstring).

    Args:
        image: (H, W), (H, W, C) or a stack such as (Z, H, W) or (T, Z, H, W, C);
            dtype bool, any integer type or float of any range (NaN allowed only
            under the mask); a numpy, dask or zarr array. C = 4 is RGBA: no model fills
            alpha (alpha under the hole keeps the caller's values; NaN there
            becomes the nearest known pixel's alpha); split other 4-channel data
            into single channels.
        mask: True / non-zero = pixel to fill. Bool or integer (0/1, 0/255); the
            image's spatial shape, or its trailing (H, W) axes broadcast over the
            stack. An (H, W, 3) mask for an (H, W, 3) image is merged over channels.
        model: a name from :func:`available_models`, or ``"auto"``: the best
            measured fill for the data (:func:`default_model`: for a single
            image ``patchmatch``, or a diffusion fill -- ``biharmonic`` in colour,
            ``telea`` in one channel -- when the in-memory mask is mostly thin: lines,
            scratches, dead rows, hot pixels at most 4 px across; the ``biharmonic``
            volume fill for a stack).
        weights: weights file for a trainable model (default: the shipped ones).
        device: ``"auto"``, ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
        channel_axis: the channel axis, None for none, or "auto" (inferred from
            the mask's shape; pass it when the shape is ambiguous).
        volume_axis: the image axis that forms the third spatial dimension (an
            index into ``image.shape``: 0 for Z of (Z, H, W), 1 for Z of
            (T, Z, H, W, C), 0 for T of a (T, H, W) time-lapse), for models that
            fill volumes (``ModelInfo.spatial_dims`` contains 3); the other stack
            axes are iterated. None fills plane by plane. ``"auto"`` (default):
            the innermost stack axis (just before H) for a stack, none for a
            single image. A model that fills 2D images only gets planes: with an
            explicit ``volume_axis`` it warns :class:`~inpaint_models.contract.errors.PlaneByPlaneWarning`.
        margin: context pixels along H and W around each hole region sent to
            the model (default: the model's ``crop_margin``).
        volume_margin: context planes along the volume axis on each side of a
            hole region (default: the model's ``volume_margin``, 8 for biharmonic and stack-unet, else
            :data:`DEFAULT_VOLUME_MARGIN` = 3: on the stack sample more planes do
            not change push-pull's fill, and 2 cost it 0.5 dB).
        progress: called with a :class:`ProgressEvent` after each region and by
            models with long steps (diffusion sampling).
        cancel: a ``threading.Event`` or a callable returning True to stop; the
            fill then raises :class:`~inpaint_models.contract.errors.Cancelled`.
        registry: the plugin registry (default: installed plugins).
        missing_chunks: a zarr ``image`` whose store lacks chunks (zarr reads them
            as the fill value, silently): ``"warn"`` (default, a
            :class:`~inpaint_models.io.zarrio.MissingChunksWarning` naming them),
            ``"error"`` (an InpaintError, before any work) or ``"ignore"`` (no
            check). Only the store's key listing is read. The mask is not checked:
            its unwritten chunks are its empty ones.
        **options: the model's options (see ``model_info(model).options``).

    Returns:
        A new array of the image's shape and dtype: equal to ``image`` bit for
        bit outside the mask, filled inside it, in the image's value range
        (a dask array for a dask or zarr image). An empty mask returns an
        unchanged copy (the dask image itself) with an :class:`EmptyMaskWarning`.

    Raises:
        InpaintError (a ValueError) subclasses naming the problem: shape mismatch,
        NaN/inf, known values spanning more than float32 holds, unsupported dtype,
        unknown model or option, bad volume axis, mask covering a whole plane (a
        whole volume in volume mode), image too small for the model, missing weights,
        missing chunks of a zarr image with ``missing_chunks="error"``, a chunk of a zarr
        input that cannot be decoded (when it is read).
    """
    if is_zarr(image):
        check_chunks(image, missing_chunks, stacklevel=2)
    elif missing_chunks not in MISSING_CHUNKS:
        check_chunks(None, missing_chunks)  # the one message for a bad choice
    request = FillRequest(model=model, weights=weights, device=device, channel_axis=channel_axis,
                          volume_axis=volume_axis, margin=margin, volume_margin=volume_margin, registry=registry,
                          options=options)
    plan = plan_fill(image, mask, request, stacklevel=3)
    report = make_reporter(progress, cancel)
    if plan.lazy:
        from inpaint_models.pipeline.chunked import fill_dask  # dask: only for a dask or zarr image

        return fill_dask(plan, report, stacklevel=3)
    return fill_in_memory(plan, report, stacklevel=3)



def compute_on_active_cluster(collection: Any) -> bool:
    """Compute a dask collection (a lazy fill's ``to_zarr(..., compute=False)`` write) on the active
    ``dask.distributed`` cluster, bounded as a fill is: worker deaths, a cluster without workers or a lost
    scheduler end in a :class:`~inpaint_models.contract.errors.ClusterError`, never a hang.

    Returns False, computing nothing, when no distributed client is active (compute it as usual then).
    """
    from inpaint_models.pipeline.chunked import active_client, compute_on_cluster

    client = active_client()
    if client is None:
        return False
    compute_on_cluster(client, [collection], lambda finished: None, keep=False)
    return True
