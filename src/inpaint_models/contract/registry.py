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

from inpaint_models.contract import hookspecs
from inpaint_models.contract.datatypes import FillContext, ModelInfo, Reporter, ignore_progress
from inpaint_models.contract.errors import NotTrainableError, PluginConflictError, UnknownModelError

ENTRY_POINT_GROUP = "inpaint_models"
PLUGINS_ENV_VAR = "INPAINT_MODELS_PLUGINS"
REQUIRED_HOOKS = ("model_info", "fill")


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

        A plugin that fails to import, breaks the contract, or claims a model
        name an earlier plugin took is skipped with one
        :class:`PluginSkippedWarning` (and recorded in :attr:`failed`); the
        other plugins keep working.

        Args:
            allowed: names to load; None loads all. Defaults to the environment
                variable ``INPAINT_MODELS_PLUGINS`` when called by :func:`make_registry`.
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
                if seen[name] != origin:  # else: the same distribution seen twice on sys.path
                    self._skip(
                        f"{name} ({origin})",
                        f"inpaint model plugin {name!r} from {origin} skipped: {seen[name]} already provides "
                        f"{name!r}; uninstall one of them or choose with {PLUGINS_ENV_VAR}",
                    )
                continue
            seen[name] = origin
            try:
                plugin = entry_point.load()
            except Exception as error:  # a broken third-party plugin must not break the rest
                self._skip(name, f"inpaint model plugin {name!r} ({origin}) skipped: it failed to load: "
                                 f"{type(error).__name__}: {error}")
                continue
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
            raise UnknownModelError(f"unknown model {name!r}; available models: {available}") from None

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
        plugin = self.plugin_manager.get_plugin(name)
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
        impl = self._hookimpl(hook, name)
        if impl is None:
            raise PluginConflictError(f"plugin {name!r} does not implement the {hook!r} hook")
        return impl.function(*[kwargs[argument] for argument in impl.argnames])

    def call_fill(self, name: str, image, mask, options: Any, context: FillContext):
        """Call ``fill`` on the plugin ``name`` only (arguments as in the hookspec)."""
        return self._call("fill", name, image=image, mask=mask, options=options, context=context)

    def call_train(self, name: str, config: Any, report: Reporter = ignore_progress) -> Path:
        """Call ``train`` on the plugin ``name`` only."""
        if not self.info(name).trainable or not self.has_hook("train", name):
            raise NotTrainableError(f"model {name!r} is not trainable")
        return self._call("train", name, config=config, report=report)


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
