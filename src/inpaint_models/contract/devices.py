"""Compute-device names: ``auto``, ``cpu``, ``cuda``, ``cuda:N`` (and ``mps``)."""

from __future__ import annotations

import re
import sys

from inpaint_models.contract.errors import DeviceError

_DEVICE_PATTERN = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")


def resolve_device(device: str, needs_torch: bool = True) -> str:
    """Turn a user's device choice into a concrete torch device string.

    Args:
        device: ``"auto"`` (CUDA when available, else CPU), ``"cpu"``, ``"cuda"``,
            ``"cuda:N"`` or ``"mps"``.
        needs_torch: False for models that never use torch: ``"auto"`` then
            resolves to ``"cpu"`` without importing torch (which takes seconds).

    Raises:
        DeviceError: an unknown name, or a GPU that is not available.
    """
    if not isinstance(device, str) or not _DEVICE_PATTERN.match(device.strip().lower()):
        raise DeviceError(f"unknown device {device!r}; use auto, cpu, cuda or cuda:N")
    device = device.strip().lower()
    if device == "cpu":
        return "cpu"
    if device == "auto" and not needs_torch and "torch" not in sys.modules:
        return "cpu"
    import torch

    if device == "auto":
        return "cuda:0" if torch.cuda.is_available() else "cpu"
    if device == "mps":
        if not (hasattr(torch.backends, "mps") and torch.backends.mps.is_available()):
            raise DeviceError("device 'mps' was requested but is not available")
        return "mps"
    if not torch.cuda.is_available():
        raise DeviceError(f"device {device!r} was requested but CUDA is not available on this machine; use cpu or auto")
    index = int(device.split(":")[1]) if ":" in device else 0
    if index >= torch.cuda.device_count():
        raise DeviceError(f"device {device!r} does not exist: this machine has {torch.cuda.device_count()} CUDA device(s)")
    return f"cuda:{index}"
