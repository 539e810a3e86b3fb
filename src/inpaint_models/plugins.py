"""Plugin discovery and dispatch.

Every model — built-in or third-party — is a plugin registered under its model
name through the entry-point group ``inpaint_models``; there is no second path.
:func:`make_registry` builds a fresh registry (tests make their own), and
:func:`default_registry` is the lazily built one the API uses.

Set ``INPAINT_MODELS_PLUGINS`` to a comma-separated list of model names to load
only those plugins (``INPAINT_MODELS_PLUGINS=telea,biharmonic``); an empty value
loads none.
"""

from __future__ import annotations

import importlib.metadata
import os
import threading
import warnings
from pathlib import Path
from typing import Any, Iterable, Optional

import pluggy

from . import hookspecs
from .datatypes import FillContext, ModelInfo, Reporter, ignore_progress
from .errors import NotTrainableError, PluginConflictError, UnknownModelError

ENTRY_POINT_GROUP = "inpaint_models"
PLUGINS_ENV_VAR = "INPAINT_MODELS_PLUGINS"
REQUIRED_HOOKS = ("model_info", "fill")


def allowed_plugins_from_env() -> Optional[set[str]]:
    """The plugin names allowed by ``INPAINT_MODELS_PLUGINS``, or None for all."""
    value = os.environ.get(PLUGINS_ENV_VAR)
    if value is None:
        return None
    return {part.strip() for part in value.split(",") if part.strip()}


class ModelRegistry:
    """The installed model plugins, with dispatch of each call to one of them."""

    def __init__(self) -> None:
        self.plugin_manager = pluggy.PluginManager(hookspecs.PROJECT_NAME)
        self.plugin_manager.add_hookspecs(hookspecs)
        #: where each model came from ("distribution 1.0" or "registered")
        self.origins: dict[str, str] = {}
        #: plugins that failed to load: entry-point name -> error message
        self.failed: dict[str, str] = {}
        self._infos: dict[str, ModelInfo] = {}
        self._callers: dict[tuple[str, str], Any] = {}
        self._lock = threading.RLock()

    # -- registration -------------------------------------------------------
    def register(self, plugin: object, name: Optional[str] = None, origin: str = "registered") -> str:
        """Register a plugin object (module or instance) and return its model name.

        The name defaults to the plugin's ``model_info().name``; registering a
        second plugin under a taken name raises :class:`PluginConflictError`.
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
            self.plugin_manager.register(plugin, name=name)
            self.plugin_manager.check_pending()
            self._infos[name] = info
            self.origins[name] = origin
            self._callers.clear()
            return name

    def unregister(self, name: str) -> None:
        """Remove the model ``name`` (used by tests that register inline plugins)."""
        with self._lock:
            self.plugin_manager.unregister(name=name)
            self._infos.pop(name, None)
            self.origins.pop(name, None)
            self._callers.clear()

    def load_entry_points(self, allowed: Optional[Iterable[str]] = None) -> None:
        """Register every plugin of the ``inpaint_models`` entry-point group.

        Args:
            allowed: names to load; None loads all. Defaults to the environment
                variable ``INPAINT_MODELS_PLUGINS`` when called by :func:`make_registry`.

        Raises:
            PluginConflictError: two entry points (or distributions) claim one name.
        """
        allowed_set = None if allowed is None else set(allowed)
        seen: dict[str, str] = {}
        for entry_point in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
            name = entry_point.name
            dist = entry_point.dist
            origin = f"{dist.name} {dist.version}" if dist is not None else entry_point.value
            if allowed_set is not None and name not in allowed_set:
                continue
            if name in seen:
                if seen[name] == origin:
                    continue  # the same distribution seen twice on sys.path
                raise PluginConflictError(
                    f"two plugins claim the model name {name!r}: {seen[name]} and {origin}; "
                    f"uninstall one of them or restrict loading with {PLUGINS_ENV_VAR}"
                )
            seen[name] = origin
            try:
                plugin = entry_point.load()
            except Exception as error:  # a broken third-party plugin must not break the rest
                self.failed[name] = f"{type(error).__name__}: {error}"
                warnings.warn(f"inpaint model plugin {name!r} ({origin}) failed to load: {error}", stacklevel=2)
                continue
            self.register(plugin, name=name, origin=origin)

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
            raise UnknownModelError(f"unknown model {name!r}; available models: {available}") from None

    def infos(self) -> list[ModelInfo]:
        """Every registered model's info, sorted by name."""
        return [self._infos[name] for name in self.names()]

    # -- dispatch -------------------------------------------------------------
    def _caller(self, hook: str, name: str):
        """A hook caller that reaches only the plugin registered as ``name``."""
        self.info(name)
        key = (hook, name)
        with self._lock:
            caller = self._callers.get(key)
            if caller is None:
                others = [p for n, p in self.plugin_manager.list_name_plugin() if n != name]
                caller = self.plugin_manager.subset_hook_caller(hook, remove_plugins=others)
                self._callers[key] = caller
            return caller

    def has_hook(self, hook: str, name: str) -> bool:
        """Whether the plugin ``name`` implements ``hook``."""
        plugin = self.plugin_manager.get_plugin(name)
        return any(impl.plugin is plugin for impl in getattr(self.plugin_manager.hook, hook).get_hookimpls())

    def call_fill(self, name: str, image, mask, options: Any, context: FillContext):
        """Call ``fill`` on the plugin ``name`` only (arguments as in the hookspec)."""
        return self._caller("fill", name)(image=image, mask=mask, options=options, context=context)

    def call_train(self, name: str, config: Any, report: Reporter = ignore_progress) -> Path:
        """Call ``train`` on the plugin ``name`` only."""
        if not self.info(name).trainable or not self.has_hook("train", name):
            raise NotTrainableError(f"model {name!r} is not trainable")
        return self._caller("train", name)(config=config, report=report)


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
