"""Plugin discovery and dispatch.

Every model — built-in or third-party — is a plugin registered under its model
name through the entry-point group ``inpaint_models``; there is no second path.
:func:`make_registry` builds a fresh registry (tests make their own), and
:func:`default_registry` is the lazily built one the API uses.

Set ``INPAINT_MODELS_PLUGINS`` to a comma-separated list of model names to load
only those plugins (``INPAINT_MODELS_PLUGINS=telea,biharmonic``); an empty value
loads none.

Plugins get only what is theirs: a built-in model's name cannot be taken (the
third-party claimant is skipped with a warning), ``fill`` receives a copy of
its mask (and an image made for the call), and whatever goes wrong in
it -- an exception, or an answer the contract does not allow -- is a
:class:`~inpaint_models.contract.errors.PluginError` naming the model and its
distribution (:meth:`ModelRegistry.call_fill`).
"""

from __future__ import annotations

import dataclasses
import functools
import importlib.metadata
import os
import re
import threading
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Optional

import numpy as np
import pluggy

from inpaint_models.contract import hookspecs
from inpaint_models.contract.datatypes import FillContext, ModelInfo, ProgressEvent, Reporter, ignore_progress
from inpaint_models.contract.errors import (
    Cancelled,
    InpaintError,
    NotTrainableError,
    PluginConflictError,
    PluginError,
    UnknownModelError,
)
from inpaint_models.contract.suggest import did_you_mean

ENTRY_POINT_GROUP = "inpaint_models"
PLUGINS_ENV_VAR = "INPAINT_MODELS_PLUGINS"
REQUIRED_HOOKS = ("model_info", "fill")
#: the distribution whose entry points are the built-in models (compared PEP 503-normalised)
BUILTIN_DISTRIBUTION = "napari-inpaint"
#: how far outside [0, 1] a plugin's fill values may stray (float rounding of a network's output) before
#: they are refused as the plugin's error; values within it are clipped to [0, 1]
OUTPUT_TOLERANCE = 1e-3


def allowed_plugins_from_env() -> Optional[set[str]]:
    """The plugin names allowed by ``INPAINT_MODELS_PLUGINS``, or None for all."""
    value = os.environ.get(PLUGINS_ENV_VAR)
    if value is None:
        return None
    return {part.strip() for part in value.split(",") if part.strip()}


class PluginSkippedWarning(UserWarning):
    """A third-party plugin was skipped (failed to import, misspelt a hook, or reused a taken model name)."""


class ModelRegistry:
    """The installed model plugins, with dispatch of each call to one of them.

    pluggy collects and validates the plugins (hook names and signatures
    against :mod:`~inpaint_models.contract.hookspecs`); a call is dispatched to the one
    hook implementation whose plugin owns the model name, found by identity,
    so plugin objects need not be hashable (any object a third party registers
    works: a module, an instance, a ``SimpleNamespace``).
    """

    def __init__(self) -> None:
        self.plugin_manager = pluggy.PluginManager(hookspecs.PROJECT_NAME)
        self.plugin_manager.add_hookspecs(hookspecs)
        #: where each model came from ("distribution 1.0" or "registered")
        self.origins: dict[str, str] = {}
        #: plugins that were skipped: entry-point name -> one message saying why (also warned once)
        self.failed: dict[str, str] = {}
        self._infos: dict[str, ModelInfo] = {}
        self._lock = threading.RLock()

    # -- registration -------------------------------------------------------
    def register(self, plugin: object, name: Optional[str] = None, origin: str = "registered") -> str:
        """Register a plugin object (module or any instance) and return its model name.

        The name defaults to the plugin's ``model_info().name``.

        Raises:
            PluginConflictError: a second plugin under a taken name, a name that
                differs from ``model_info().name``, a missing required hook, or
                a hook pluggy rejects (a misspelt hook name such as ``trian``,
                an argument the hook's spec does not have).
        """
        with self._lock:
            info = _call_model_info(plugin)
            name = name or info.name
            if info.name != name:
                raise PluginConflictError(
                    f"plugin registered as {name!r} reports model name {info.name!r}; they must match"
                )
            if name in self._infos:
                raise PluginConflictError(
                    f"two plugins claim the model name {name!r}: {self.origins[name]} and {origin}; "
                    f"uninstall one of them or restrict loading with {PLUGINS_ENV_VAR}"
                )
            for hook in REQUIRED_HOOKS:
                if not callable(getattr(plugin, hook, None)):
                    raise PluginConflictError(f"plugin {name!r} ({origin}) does not implement the {hook!r} hook")
            try:
                self.plugin_manager.register(plugin, name=name)
            except (pluggy.PluginValidationError, ValueError) as error:
                raise PluginConflictError(f"plugin {name!r} ({origin}) is invalid: {error}") from None
            try:
                self.plugin_manager.check_pending()
            except pluggy.PluginValidationError as error:
                self.plugin_manager.unregister(name=name)
                raise PluginConflictError(
                    f"plugin {name!r} ({origin}) implements a hook the contract does not define: {error}; "
                    f"the hooks are {', '.join(_hook_names())}"
                ) from None
            unmarked = [hook for hook in REQUIRED_HOOKS if self._impl_of(hook, plugin) is None]
            if unmarked:
                self.plugin_manager.unregister(name=name)
                raise PluginConflictError(
                    f"plugin {name!r} ({origin}) has no {unmarked[0]!r} hook implementation: its "
                    f"{unmarked[0]!r} function lacks the @hookimpl decorator "
                    f"(from inpaint_models.contract.hookspecs import hookimpl)"
                )
            self._infos[name] = info
            self.origins[name] = origin
            return name

    def unregister(self, name: str) -> None:
        """Remove the model ``name`` (used by tests that register inline plugins)."""
        with self._lock:
            if self.plugin_manager.has_plugin(name):
                self.plugin_manager.unregister(name=name)
            self._infos.pop(name, None)
            self.origins.pop(name, None)

    def _skip(self, name: str, message: str) -> None:
        """Record a skipped plugin and warn once, in one wording."""
        self.failed[name] = message
        warnings.warn(message, PluginSkippedWarning, stacklevel=3)

    def load_entry_points(self, allowed: Optional[Iterable[str]] = None) -> None:
        """Register every plugin of the ``inpaint_models`` entry-point group.

        A plugin that fails to import or breaks the contract is skipped with one
        :class:`PluginSkippedWarning` (and recorded in :attr:`failed`); the
        other plugins keep working. Names are never taken, whatever the order in
        which entry points are found: a built-in model's name (an entry point
        of this package's distribution, :data:`BUILTIN_DISTRIBUTION`) stays the
        built-in's and a third-party plugin claiming it is skipped; a name two
        third-party distributions claim is loaded from neither (each could be
        the impostor). Both are warnings naming the distributions involved.

        Args:
            allowed: names to load; None loads all. Defaults to the environment
                variable ``INPAINT_MODELS_PLUGINS`` when called by :func:`make_registry`.
        """
        for name, claims in sorted(_claims_by_name(allowed).items()):
            builtins = [claim for claim in claims if claim.builtin]
            if builtins:
                for stranger in (claim for claim in claims if not claim.builtin):
                    self._skip(
                        f"{name} ({stranger.origin})",
                        f"inpaint model plugin {name!r} from {stranger.origin} skipped: {name!r} is a built-in "
                        f"model of {builtins[0].origin}, which a plugin cannot replace; the plugin must choose "
                        f"another name",
                    )
                self._load_one(name, builtins[0])
            elif len(claims) > 1:
                origins = " and ".join(claim.origin for claim in claims)
                self._skip(
                    name,
                    f"inpaint model plugin {name!r} skipped: {origins} each provide {name!r}, so none of them "
                    f"is loaded; uninstall one of them (or leave {name!r} out of {PLUGINS_ENV_VAR})",
                )
            else:
                self._load_one(name, claims[0])

    def _load_one(self, name: str, claim: "_Claim") -> None:
        """Import and register one entry point; any failure skips it with one warning."""
        origin = claim.origin
        try:
            plugin = claim.entry_point.load()
        except Exception as error:  # a broken third-party plugin must not break the rest
            self._skip(name, f"inpaint model plugin {name!r} ({origin}) skipped: it failed to load: "
                             f"{type(error).__name__}: {error}")
            return
        try:
            self.register(plugin, name=name, origin=origin)
        except PluginConflictError as error:
            self._skip(name, f"inpaint model plugin {name!r} ({origin}) skipped: {error}")
        except Exception as error:  # model_info() itself raised
            self._skip(name, f"inpaint model plugin {name!r} ({origin}) skipped: model_info() raised "
                             f"{type(error).__name__}: {error}")

    # -- queries --------------------------------------------------------------
    def names(self) -> list[str]:
        """Registered model names, sorted."""
        return sorted(self._infos)

    def info(self, name: str) -> ModelInfo:
        """The :class:`ModelInfo` of ``name``; :class:`UnknownModelError` lists the alternatives."""
        try:
            return self._infos[name]
        except KeyError:
            available = ", ".join(self.names()) or "none"
            raise UnknownModelError(
                f"unknown model {name!r}{did_you_mean(name, self.names())}; available models: {available}"
            ) from None

    def infos(self) -> list[ModelInfo]:
        """Every registered model's info, sorted by name."""
        return [self._infos[name] for name in self.names()]

    # -- dispatch -------------------------------------------------------------
    def _hookimpl(self, hook: str, name: str) -> Optional[Any]:
        """The pluggy ``HookImpl`` of ``hook`` that belongs to the plugin ``name`` (None: not implemented).

        Found by identity among the hook's implementations, never by hashing
        the plugin object (``subset_hook_caller`` hashes every plugin).
        """
        self.info(name)
        return self._impl_of(hook, self.plugin_manager.get_plugin(name))

    def _impl_of(self, hook: str, plugin: object) -> Optional[Any]:
        """The ``HookImpl`` of ``hook`` whose plugin is ``plugin`` (by identity), or None."""
        for impl in getattr(self.plugin_manager.hook, hook).get_hookimpls():
            if impl.plugin is plugin:
                return impl
        return None

    def has_hook(self, hook: str, name: str) -> bool:
        """Whether the plugin ``name`` implements ``hook``."""
        return self._hookimpl(hook, name) is not None

    def _call(self, hook: str, name: str, **kwargs: Any) -> Any:
        """Call one plugin's implementation of ``hook`` with the arguments it names.

        As in pluggy, an implementation may take fewer arguments than the spec.
        """
        return self._bound(hook, name, **kwargs)()

    def _bound(self, hook: str, name: str, **kwargs: Any) -> Callable[[], Any]:
        """One plugin's implementation of ``hook`` bound to the arguments it names, not called yet."""
        impl = self._hookimpl(hook, name)
        if impl is None:
            raise PluginConflictError(f"plugin {name!r} does not implement the {hook!r} hook")
        return functools.partial(impl.function, *[kwargs[argument] for argument in impl.argnames])

    def call_fill(self, name: str, image: np.ndarray, mask: np.ndarray, options: Any,
                  context: FillContext) -> np.ndarray:
        """Call ``fill`` on the plugin ``name`` only, and hold its answer to the contract.

        Args:
            image: float32 (H, W, C) or (D, H, W, C) in [0, 1], handed to the plugin as it is:
                a buffer that is the caller's to lose (the pipeline passes its own float32
                conversion of each crop, made for this call), which the plugin may change.
            mask: bool (H, W) / (D, H, W), True = fill; the plugin gets a copy, so nothing it
                does to it reaches the caller's mask.
            options, context: as in the hookspec.

        Copies rather than read-only views: plugins that convert their arguments with
        ``torch.from_numpy`` (which warns on read-only arrays) or change them in place
        keep working, and nothing they change is anyone else's.

        Returns:
            float32 of ``image``'s shape in [0, 1]: the plugin's answer, converted from
            another float dtype, values within :data:`OUTPUT_TOLERANCE` outside [0, 1] clipped.

        Raises:
            PluginError: the plugin raised anything but an :class:`InpaintError` (the input or
                weights error it names, e.g. a ``WeightsError`` of the shared neural helper),
                :class:`Cancelled` or ``KeyboardInterrupt`` -- ``SystemExit`` and
                ``RecursionError`` included, chained as ``__cause__`` -- or it returned
                another shape, a non-float dtype, NaN / infinite values, or values
                outside [0, 1] by more than :data:`OUTPUT_TOLERANCE`.
        """
        shape = image.shape
        mask_copy = np.array(mask, dtype=bool, copy=True)
        from_caller: list[BaseException] = []  # what the caller's own progress callback raised

        callers_report = context.report

        def report(event: ProgressEvent) -> None:
            try:
                callers_report(event)
            except BaseException as error:  # noqa: B036 - passed on below as the caller's, whatever it is
                from_caller.append(error)
                raise

        context = dataclasses.replace(context, report=report)
        fill = self._bound("fill", name, image=image, mask=mask_copy, options=options, context=context)
        try:
            result = fill()
        except (InpaintError, Cancelled, KeyboardInterrupt):
            raise  # the caller's input / weights error, or the caller's own stop: never the plugin's fault
        except BaseException as error:  # noqa: B036 - SystemExit, RecursionError: all are the plugin's
            if any(error is raised for raised in from_caller):
                raise  # the caller's progress callback stopped the fill: its exception, not the plugin's
            raise self.plugin_error(name, f"raised {type(error).__name__}: {error}") from error
        return self._checked_output(name, result, shape)

    def plugin_error(self, name: str, problem: str) -> PluginError:
        """A :class:`PluginError` of the model ``name`` (its distribution from :attr:`origins`)."""
        return PluginError(name, self.origins.get(name, "not registered"), problem)

    def _checked_output(self, name: str, result: Any, shape: tuple[int, ...]) -> np.ndarray:
        """A plugin's fill answer as float32 of ``shape`` in [0, 1], or the :class:`PluginError` it earns."""
        contract = "fill must return float32 values in [0, 1] of its image's shape"
        try:
            array = np.asarray(result)
        except Exception as error:  # an object numpy cannot read at all
            raise self.plugin_error(name, f"returned {type(result).__name__}; {contract}") from error
        if array.dtype.kind != "f":
            raise self.plugin_error(name, f"returned {array.dtype} values ({type(result).__name__}); {contract}")
        if array.shape != tuple(shape):
            raise self.plugin_error(name, f"returned shape {array.shape} for an image of shape {tuple(shape)}; "
                                          f"{contract}")
        if array.size == 0:
            return array.astype(np.float32)
        low, high = float(array.min()), float(array.max())  # NaN and infinities show in these two
        if not (np.isfinite(low) and np.isfinite(high)):
            raise self.plugin_error(name, f"returned {int(np.count_nonzero(~np.isfinite(array)))} NaN or "
                                          f"infinite value(s); {contract}")
        if low < -OUTPUT_TOLERANCE or high > 1.0 + OUTPUT_TOLERANCE:
            raise self.plugin_error(name, f"returned values from {low:.6g} to {high:.6g}; {contract} "
                                          f"(an 8-bit 0-255 answer must be divided by 255)")
        if low < 0.0 or high > 1.0:  # within the tolerance: a network's rounding
            return np.clip(array, 0.0, 1.0).astype(np.float32, copy=False)
        return array.astype(np.float32, copy=False)

    def call_train(self, name: str, config: Any, report: Reporter = ignore_progress) -> Path:
        """Call ``train`` on the plugin ``name`` only."""
        if not self.info(name).trainable or not self.has_hook("train", name):
            raise NotTrainableError(f"model {name!r} is not trainable")
        return self._call("train", name, config=config, report=report)


@dataclass(frozen=True)
class _Claim:
    """One entry point's claim on a model name: where it comes from, and whether that is this package."""

    entry_point: Any
    distribution: str  # PEP 503-normalised name, or the entry point's value without a distribution
    origin: str  # "distribution version", for messages and ModelRegistry.origins

    @property
    def builtin(self) -> bool:
        return self.distribution == BUILTIN_DISTRIBUTION


def _normalised(distribution: str) -> str:
    """A distribution name as PEP 503 compares them (``Napari_Inpaint`` = ``napari-inpaint``); the one
    regular expression of the PEP, written here rather than importing ``packaging`` for it."""
    return re.sub(r"[-_.]+", "-", distribution).lower()


def _claims_by_name(allowed: Optional[Iterable[str]]) -> dict[str, list[_Claim]]:
    """The entry points of :data:`ENTRY_POINT_GROUP` by model name, one claim per distribution.

    A distribution found twice (on two ``sys.path`` entries) claims once: its first
    entry point, the one Python would import. Names outside ``allowed`` (None = all) are left out.
    """
    allowed_set = None if allowed is None else set(allowed)
    claims: dict[str, list[_Claim]] = {}
    for entry_point in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        name = entry_point.name
        if allowed_set is not None and name not in allowed_set:
            continue
        dist = entry_point.dist
        if dist is not None:
            claim = _Claim(entry_point, _normalised(dist.name), f"{dist.name} {dist.version}")
        else:
            claim = _Claim(entry_point, entry_point.value, entry_point.value)
        named = claims.setdefault(name, [])
        if all(other.distribution != claim.distribution for other in named):
            named.append(claim)
    return claims


def _hook_names() -> list[str]:
    return sorted(n for n in dir(hookspecs) if getattr(getattr(hookspecs, n), "inpaint_models_spec", None) is not None)


def _call_model_info(plugin: object) -> ModelInfo:
    function = getattr(plugin, "model_info", None)
    if not callable(function):
        raise PluginConflictError(f"plugin {plugin!r} does not implement the 'model_info' hook")
    info = function()
    if not isinstance(info, ModelInfo):
        raise PluginConflictError(f"plugin {plugin!r}: model_info() must return ModelInfo, got {type(info).__name__}")
    return info


def make_registry(load_entry_points: bool = True, allowed: Optional[Iterable[str]] = None) -> ModelRegistry:
    """Build a new registry, loading the entry-point plugins.

    Args:
        load_entry_points: False gives an empty registry (tests register inline).
        allowed: names to load; default from ``INPAINT_MODELS_PLUGINS`` (None = all).
    """
    registry = ModelRegistry()
    if load_entry_points:
        registry.load_entry_points(allowed if allowed is not None else allowed_plugins_from_env())
    return registry


_default: Optional[ModelRegistry] = None
_default_lock = threading.Lock()


def default_registry() -> ModelRegistry:
    """The process-wide registry the API uses, built on first use."""
    global _default
    with _default_lock:
        if _default is None:
            _default = make_registry()
        return _default
