"""Value conventions of the contract: supported dtypes, value ranges, conversion to float32 [0, 1].

The one owner of how a caller's values become what a model sees: every
crop a plugin receives, and every crop a fit trains on, is float32 in [0, 1]
(:func:`value_range` of the crop's known pixels, :class:`ValueRange` both
ways), and every mask is bool with True = fill (:func:`mask_to_bool`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Union

import numpy as np

from inpaint_models.contract.errors import (
    InvalidValuesError,
    MaskCoversImageError,
    UnsupportedDtypeError,
)

#: dtype kinds that can be inpainted: bool, signed/unsigned integers, floats
SUPPORTED_KINDS = "biuf"


_FLOAT32_MAX = float(np.finfo(np.float32).max)


def check_dtype(array: np.ndarray, what: str) -> None:
    """Raise :class:`UnsupportedDtypeError` unless ``array`` is bool, int or float."""
    if array.dtype.kind not in SUPPORTED_KINDS:
        raise UnsupportedDtypeError(
            f"{what} has unsupported dtype {array.dtype}; use bool, an integer type "
            f"(uint8, uint16, int16...) or a float type (float32, float64)"
        )


def mask_to_bool(mask: np.ndarray) -> np.ndarray:
    """A bool view or copy of ``mask``: True where the mask is non-zero (bool, 0/1, 0/255...).

    Raises:
        UnsupportedDtypeError: complex/object masks.
        InvalidValuesError: a float mask with NaN or infinite values.
    """
    check_dtype(mask, "mask")
    if mask.dtype == np.bool_:
        return mask
    if mask.dtype.kind == "f" and not np.isfinite(mask).all():
        raise InvalidValuesError("mask holds NaN or infinite values")
    return mask != 0


# --------------------------------------------------------------------------- value range
@dataclass(frozen=True)
class ValueRange:
    """Affine map between the caller's values and the [0, 1] floats models see.

    ``unit = (value - offset) / scale``; ``value = unit * scale + offset``,
    clipped to ``[low, high]`` (the stretched range) when those are set: exact
    Python ints for an integer dtype, so a 64-bit fill stays inside the known
    range even where float64 cannot hold its ends.
    """

    dtype: np.dtype
    offset: float
    scale: float
    low: Optional[Union[int, float]] = None
    high: Optional[Union[int, float]] = None

    @property
    def exact(self) -> bool:
        """Whether conversions run in float64: the dtype holds values float32 cannot (float64, int32,
        int64...), or the range is too wide or narrow to scale in float32 (1e39 in a float64 image)."""
        return (
            not np.can_cast(self.dtype, np.float32, "safe")
            or not 1e-30 <= self.scale <= 1e30
            or abs(self.offset) > 1e30
        )

    def to_unit(self, values: np.ndarray) -> np.ndarray:
        """Caller values (any dtype) -> float32 in [0, 1] (hole pixels, not clipped, may hold anything)."""
        if self.exact:
            with np.errstate(over="ignore", invalid="ignore"):  # hole pixels may be NaN or huge
                return ((values.astype(np.float64) - self.offset) / self.scale).astype(np.float32)
        unit = values.astype(np.float32)
        if self.offset != 0.0:
            unit -= np.float32(self.offset)
        if self.scale != 1.0:
            unit *= np.float32(1.0 / self.scale)
        return unit

    def from_unit(self, unit: np.ndarray) -> np.ndarray:
        """float values in [0, 1] (clipped) -> the caller's dtype and range."""
        # one working copy, changed in place: a (16, 2048, 2048) crop is 256 MiB of float32 per copy
        values = np.clip(unit, 0.0, 1.0).astype(np.float64 if self.exact else np.float32, copy=False)
        if self.dtype == np.bool_:
            return values > 0.5
        if self.scale != 1.0:
            values *= self.scale
        if self.offset != 0.0:
            values += self.offset
        if self.low is not None and self.high is not None:
            # unit values in [0, 1] map onto [low, high]; float32 rounding must not step outside it
            np.clip(values, self.low, self.high, out=values)
        if self.dtype.kind not in "iu":
            return values.astype(self.dtype, copy=False)
        result = _to_integers(values, self.dtype)
        if self.low is not None and self.high is not None:  # the exact ends float64 rounded (64-bit ints)
            np.clip(result, self.low, self.high, out=result)
        return result


def _to_integers(values: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """Float values (changed in place) rounded and cast to the integer ``dtype`` without wrapping around.

    Clipped to the dtype's range in float first. The float nearest a 64-bit
    dtype's maximum is above it (``float(2**63 - 1) == 2**63``), where the cast
    would wrap to the minimum (int64) or 0 (uint64): values there are clipped to
    the largest float below it and set to the exact maximum after the cast.
    """
    info = np.iinfo(dtype)
    np.rint(values, out=values)
    top = values.dtype.type(info.max)
    if int(top) <= info.max:  # the maximum is exact in this float type (every dtype up to 32 bits in float64)
        np.clip(values, info.min, top, out=values)
        return values.astype(dtype, copy=False)
    at_max = values >= top
    np.clip(values, info.min, np.nextafter(top, values.dtype.type(0)), out=values)
    result = values.astype(dtype, copy=False)
    result[at_max] = info.max
    return result


def mask_covers(where: str, purpose: str = "inpaint from") -> MaskCoversImageError:
    """The one wording of "the mask covers everything": ``the mask covers {where}: there is nothing to {purpose}``.

    Returned, not raised, for checks that know it without a mask at hand (the
    lazy fill counts hole pixels); :func:`require_known_pixels` raises it.
    """
    return MaskCoversImageError(f"the mask covers {where}: there is nothing to {purpose}")


def require_known_pixels(mask: np.ndarray, where: str = "the whole image", purpose: str = "inpaint from") -> None:
    """Raise :class:`MaskCoversImageError` (:func:`mask_covers`) when ``mask`` has no known pixel.

    Args:
        mask: bool, any shape, True = hole (to fill).
        where: what the mask covers, for the message: ``"the whole image"``,
            ``"the whole of plane 3"``, ``"the whole stack"``...
        purpose: what the known pixels are for: ``"inpaint from"`` (a fill),
            ``"learn from"`` (a fit).
    """
    if bool(np.all(mask)):
        raise mask_covers(where, purpose)


def check_finite(planes: np.ndarray, mask_planes: np.ndarray) -> None:
    """Raise :class:`InvalidValuesError` when a known (unmasked) pixel is NaN or infinite.

    ``planes`` is (..., C) and ``mask_planes`` its (...) hole mask (True = fill):
    (N, H, W, C) planes, or one (h, w, C) / (d, h, w, C) crop. NaN under the mask is fine.
    """
    if planes.dtype.kind != "f":
        return
    finite = np.isfinite(planes)
    if not finite.all():
        bad = ~finite.all(axis=-1) & ~mask_planes
        if bad.any():
            raise InvalidValuesError(
                f"image holds {int(bad.sum())} NaN or infinite value(s) outside the mask; "
                f"replace them or add those pixels to the mask"
            )


def value_range(planes: np.ndarray, mask_planes: np.ndarray) -> ValueRange:
    """Choose how to map the image's values to [0, 1].

    uint8 maps 0..255 and bool 0..1 to [0, 1]; a float image whose known values
    already lie in [0, 1] is used as is; any other image (uint16, int16, float
    of any range...) is stretched from the min to the max of its *known*
    (unmasked) pixels, so hole contents never influence the result (and filled
    values stay inside that range). ``planes`` may be (N, H, W, C) planes or one
    (h, w, C) / (d, h, w, C) crop: ``fill`` calls it on each crop box, so the
    conversion is local (it reads only the pixels around a hole, which is what
    lets a dask array be filled without reading every chunk).

    The conversion runs in float64 where float32 would overflow or lose the
    values (float64 and 32/64-bit integer images, extreme ranges), so a float64
    image around 1e39 is filled like one around 1.

    Raises:
        InvalidValuesError: a known pixel is NaN or infinite (NaN under the mask is
            allowed: those pixels are being replaced), or the known values span
            a range wider than float32's (models compute in float32 [0, 1]: a
            single 1e39 among values near 1 would leave them no resolution).
    """
    dtype = planes.dtype
    if dtype == np.bool_:
        return ValueRange(dtype, 0.0, 1.0)
    if dtype == np.uint8:
        return ValueRange(dtype, 0.0, 255.0)
    known_mask = ~mask_planes
    check_finite(planes, mask_planes)
    if not known_mask.any():
        raise mask_covers("the whole image")
    # reduced in place with where=: indexing planes[known_mask] would build int64 indices of every known
    # voxel (1.5 GiB for a (16, 2048, 2048) crop) and a copy of their values
    known = np.broadcast_to(known_mask[..., np.newaxis], planes.shape)
    if dtype.kind == "f":
        top, bottom = np.inf, -np.inf
    else:
        top, bottom = np.iinfo(dtype).max, np.iinfo(dtype).min
    low = np.min(planes, where=known, initial=top).item()  # exact: a Python int for an integer dtype
    high = np.max(planes, where=known, initial=bottom).item()
    if dtype.kind == "f" and low >= 0.0 and high <= 1.0 and (high == 0.0 or high >= 1e-30):
        return ValueRange(dtype, 0.0, 1.0)  # (values all below 1e-30 are stretched: float32 would flush them)
    scale = float(high - low)
    if not scale <= _FLOAT32_MAX:
        extreme = high if abs(high) >= abs(low) else low
        raise InvalidValuesError(
            f"the image's known values span {low:.6g} to {high:.6g} (e.g. {extreme:.6g}), a range wider than "
            f"float32 can hold ({_FLOAT32_MAX:.3g}), in which the models compute; rescale the image, or add "
            f"the extreme pixels to the mask"
        )
    return ValueRange(dtype, float(low), scale if scale > 0 else 1.0, low, high)


def image_to_unit(image: np.ndarray) -> np.ndarray:
    """A whole image (H, W) or (H, W, C), any dtype, as float32 of the same shape in [0, 1].

    The one conversion of images into model floats outside a fill (training
    data, evaluation images): :func:`value_range` with every pixel known, so a
    model sees the same floats for an image whether it is trained on it,
    evaluated on it or fills it (uint8 / 255, float in [0, 1] as is, any other
    range stretched from its min to its max). A constant image outside those
    ranges has nothing to stretch: integers are divided by their dtype's range,
    floats clipped to [0, 1].

    Raises:
        InvalidValuesError: NaN or infinite values, or a range wider than float32 holds.
    """
    array = np.asarray(image)
    planes = array if array.ndim == 3 else array[..., np.newaxis]
    mapping = value_range(planes[np.newaxis], np.zeros((1,) + planes.shape[:2], dtype=bool))
    if mapping.low is not None and mapping.low == mapping.high:
        if array.dtype.kind in "iu":
            info = np.iinfo(array.dtype)
            unit = (array.astype(np.float64) - info.min) / (float(info.max) - info.min)
        else:
            unit = array
        return np.clip(unit, 0.0, 1.0).astype(np.float32)
    return np.clip(mapping.to_unit(array), 0.0, 1.0).astype(np.float32, copy=False)
