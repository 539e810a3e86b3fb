"""Channel-width presets shared by the width-scalable networks (torch-free: options dataclasses check them)."""

from __future__ import annotations

from typing import Literal

#: a width preset name, as model options accept it
Width = Literal["paper", "half", "quarter", "tiny"]

#: Named channel-width multipliers; ``paper`` is the published network.
WIDTH_PRESETS: dict[str, float] = {"paper": 1.0, "half": 0.5, "quarter": 0.25, "tiny": 0.125}


def check_width(width: str) -> None:
    """Raise ValueError unless ``width`` is a :data:`WIDTH_PRESETS` name (options' ``__post_init__``)."""
    if width not in WIDTH_PRESETS:
        raise ValueError(f"width must be one of {sorted(WIDTH_PRESETS)}, got {width!r}")
