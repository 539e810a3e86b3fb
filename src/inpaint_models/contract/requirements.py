"""Optional packages a model needs: which are missing, and the error that says how to install them.

A base install (``pip install napari-inpaint``) has no PyTorch: the classical
fills, the content-aware fill and the volume fill need none. A model that does
(every neural model) declares it in :attr:`ModelInfo.requires`; it is still
listed everywhere, and using it raises :class:`MissingDependencyError` naming
the extra that installs it, before any work starts.
"""

from __future__ import annotations

import functools
import importlib.util

from inpaint_models.contract.datatypes import ModelInfo
from inpaint_models.contract.errors import InpaintError

#: the pip extra of this distribution that installs each optional package
EXTRAS = {"torch": "deep", "torchvision": "deep"}


class MissingDependencyError(InpaintError):
    """A model needs an optional package that is not installed (e.g. torch for the neural models)."""


@functools.lru_cache(maxsize=None)
def is_installed(module: str) -> bool:
    """Whether the top-level package ``module`` can be imported (found without importing it).

    Remembered per process: a search of ``sys.path`` is done once per package (a
    front end asks from a worker thread first, so its GUI thread never searches).
    """
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a finder that refuses the name, a broken package
        return False


def missing_requirements(info: ModelInfo) -> list[str]:
    """The packages of ``info.requires`` that are not installed, in declared order."""
    return [module for module in info.requires if not is_installed(module)]


def install_hint(modules: list[str]) -> str:
    """The pip command that installs ``modules``: this package's extra when one provides them."""
    extras = sorted({EXTRAS[module] for module in modules if module in EXTRAS})
    others = [module for module in modules if module not in EXTRAS]
    targets = [f'"napari-inpaint[{",".join(extras)}]"'] if extras else []
    return "pip install " + " ".join(targets + others)


def require_installed(info: ModelInfo) -> None:
    """Raise :class:`MissingDependencyError` when a package the model needs is not installed.

    The message names the model, the packages and the install command, e.g.
    ``model 'glcic' needs torch, which is not installed: pip install "napari-inpaint[deep]"``.
    """
    missing = missing_requirements(info)
    if missing:
        verb = "is" if len(missing) == 1 else "are"
        raise MissingDependencyError(
            f"model {info.name!r} needs {' and '.join(missing)}, which {verb} not installed: {install_hint(missing)}"
        )
