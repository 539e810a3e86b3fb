"""Mixed precision: autocast dtype selection and one gradient scaler per optimiser.

On CUDA, ``precision = "auto"`` picks bf16 where the GPU supports it (no
scaler needed) and fp16 with a gradient scaler otherwise; on CPU it is fp32
(``bf16`` may be asked for explicitly: CPU autocast supports it). fp16 is
refused on CPU by the config check.
"""

from __future__ import annotations

import contextlib
from typing import ContextManager, Optional

import torch


def resolve_precision(precision: str, device: torch.device) -> str:
    """The concrete precision (``fp32``, ``bf16`` or ``fp16``) for ``device``."""
    if precision != "auto":
        return precision
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    return "fp32"


class Precision:
    """Autocast context and gradient scalers of a run."""

    def __init__(self, precision: str, device: torch.device) -> None:
        self.name = resolve_precision(precision, device)
        self.device = device
        self.dtype: Optional[torch.dtype] = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(self.name)
        self._scalers: dict[str, torch.amp.GradScaler] = {}

    @property
    def uses_scaler(self) -> bool:
        """Whether fp16 gradient scaling is active."""
        return self.name == "fp16" and self.device.type == "cuda"

    def autocast(self) -> ContextManager:
        """``torch.autocast`` for the run's dtype, or a no-op in fp32."""
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.dtype)

    def scaler(self, optimizer: str) -> torch.amp.GradScaler:
        """The gradient scaler of ``optimizer`` (disabled unless fp16 on CUDA)."""
        scaler = self._scalers.get(optimizer)
        if scaler is None:
            device_type = self.device.type if self.device.type in ("cuda", "cpu") else "cpu"
            scaler = torch.amp.GradScaler(device_type, enabled=self.uses_scaler)
            self._scalers[optimizer] = scaler
        return scaler

    def state(self) -> dict[str, dict]:
        """JSON-able scaler states (for resume)."""
        return {name: scaler.state_dict() for name, scaler in self._scalers.items() if scaler.is_enabled()}

    def load_state(self, states: dict[str, dict]) -> None:
        """Restore :meth:`state`."""
        for name, state in states.items():
            if state:
                self.scaler(name).load_state_dict(state)
