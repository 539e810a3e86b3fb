"""Keeping torch importable inside a napari process.

napari draws with OpenGL. With Mesa's software renderer (llvmpipe: Xvfb,
virtual machines, remote desktops) or its AMD driver, the process then holds
Mesa's ``libLLVM``. Importing ``triton`` afterwards — torch does so on its
first optimiser step, through ``torch._dynamo`` — runs triton's own LLVM
initialisers against Mesa's already-bound LLVM symbols and crashes the whole
process (a segmentation fault in ``llvm::DebugCounter``; importing triton
*before* the GL context exists is fine). Importing a model plugin that imports
torchvision has the same effect, so the widgets call
:func:`avoid_triton_llvm_clash` before they touch the plugin registry, and
again before each run.

Triton only compiles GPU kernels for ``torch.compile``, which nothing here
uses, so when Mesa's LLVM is loaded and triton is not, triton is marked as
unavailable for this process: torch then falls back exactly as on a machine
without triton.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

log = logging.getLogger(__name__)


def llvm_gl_driver_loaded() -> bool:
    """Whether a shared ``libLLVM`` (Mesa's, loaded by the OpenGL driver) is mapped into this process."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        maps = Path("/proc/self/maps").read_text(errors="replace")
    except OSError:
        return False
    return "/libLLVM" in maps


def avoid_triton_llvm_clash() -> bool:
    """Make ``import triton`` fail cleanly when it would crash the process; returns True if it did so.

    Call on the GUI thread before model plugins are loaded and before a worker imports torch.
    """
    if "triton" in sys.modules:  # already loaded (before the GL context, or already blocked): nothing to do
        return False
    if not llvm_gl_driver_loaded():
        return False
    sys.modules["triton"] = None  # type: ignore[assignment]  # import triton -> ModuleNotFoundError
    log.info("Mesa's libLLVM is loaded by the OpenGL driver; triton is disabled in this napari process")
    return True
