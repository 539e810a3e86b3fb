"""The plugin system: registration, discovery, dispatch, conflicts, third-party plugins."""

from __future__ import annotations

import inspect
import os
import re
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

import inpaint_models
from inpaint_models.contract import hookspecs
from inpaint_models.contract.datatypes import ModelInfo
from inpaint_models.contract.errors import NotTrainableError, PluginConflictError, UnknownModelError
from inpaint_models.contract.hookspecs import hookimpl
from inpaint_models.contract.registry import PLUGINS_ENV_VAR, make_registry

ROOT = Path(__file__).resolve().parents[1]
BUILT_IN = {"telea", "navier-stokes", "biharmonic"}


def make_plugin(name: str, calls: list | None = None, value: float = 0.5):
    """An inline plugin object that records its fill calls and fills with ``value``."""

    class Plugin:
        @hookimpl
        def model_info(self) -> ModelInfo:
            return ModelInfo(name=name, title=name.title(), description="test", source="tests")

        @hookimpl
        def fill(self, image, mask):
            if calls is not None:
                calls.append(name)
            return np.full_like(image, value)

    return Plugin()


def test_builtins_are_registered_through_entry_points():
    registry = make_registry()
    assert BUILT_IN <= set(registry.names())
    for name in BUILT_IN:
        assert registry.origins[name].startswith("napari-inpaint"), registry.origins[name]


def test_every_hook_is_documented_in_plugins_guide():
    guide = (ROOT / "docs" / "plugins.md").read_text()
    hooks = [name for name, obj in inspect.getmembers(hookspecs, inspect.isfunction) if hasattr(obj, "inpaint_models_spec")]
    assert set(hooks) == {"model_info", "fill", "train"}
    for hook in hooks:
        assert re.search(rf"^#+ .*`{hook}\(", guide, flags=re.MULTILINE), f"hook {hook!r} has no section in docs/plugins.md"


def test_dispatch_reaches_exactly_one_plugin():
    calls: list[str] = []
    registry = make_registry(load_entry_points=False)
    registry.register(make_plugin("first", calls, 0.2))
    registry.register(make_plugin("second", calls, 0.8))
    image = np.zeros((16, 16), np.float32)
    mask = np.zeros((16, 16), bool)
    mask[5:9, 5:9] = True
    out = inpaint_models.fill(image, mask, model="second", registry=registry)
    assert calls == ["second"]
    assert np.allclose(out[mask], 0.8)
    out = inpaint_models.fill(image, mask, model="first", registry=registry)
    assert calls == ["second", "first"]
    assert np.allclose(out[mask], 0.2)


def test_inline_registration_and_unregistration():
    registry = make_registry(load_entry_points=False)
    registry.register(make_plugin("inline"))
    assert registry.names() == ["inline"]
    registry.unregister("inline")
    assert registry.names() == []
    with pytest.raises(UnknownModelError, match="available models: none"):
        registry.info("inline")


def test_two_plugins_claiming_one_name_is_a_clear_error():
    registry = make_registry(load_entry_points=False)
    registry.register(make_plugin("twin"), origin="package-a 1.0")
    with pytest.raises(PluginConflictError, match=r"two plugins claim the model name 'twin': package-a 1.0 and package-b"):
        registry.register(make_plugin("twin"), origin="package-b 2.0")


def test_name_must_match_model_info():
    registry = make_registry(load_entry_points=False)
    with pytest.raises(PluginConflictError, match="must match"):
        registry.register(make_plugin("real-name"), name="other-name")


def test_plugin_without_fill_is_rejected():
    registry = make_registry(load_entry_points=False)
    plugin = SimpleNamespace(model_info=lambda: ModelInfo(name="nofill", title="x", description="x", source="x"))
    with pytest.raises(PluginConflictError, match="'fill'"):
        registry.register(plugin)


def test_unhashable_plugin_object_is_registered_and_dispatched():
    """Any object a third party registers must work: pluggy would hash it in subset_hook_caller."""
    calls: list[str] = []

    @hookimpl
    def model_info():
        return ModelInfo(name="unhashable", title="x", description="x", source="x")

    @hookimpl
    def fill(image, mask):
        calls.append("unhashable")
        return np.full_like(image, 0.25)

    plugin = SimpleNamespace(model_info=model_info, fill=fill)
    with pytest.raises(TypeError):
        hash(plugin)
    registry = make_registry(load_entry_points=False)
    registry.register(make_plugin("hashable", calls, 0.75))
    registry.register(plugin)
    image = np.zeros((12, 12), np.float32)
    mask = np.zeros((12, 12), bool)
    mask[4:8, 4:8] = True
    out = inpaint_models.fill(image, mask, model="unhashable", registry=registry)
    assert calls == ["unhashable"] and np.allclose(out[mask], 0.25)
    out = inpaint_models.fill(image, mask, model="hashable", registry=registry)
    assert calls == ["unhashable", "hashable"] and np.allclose(out[mask], 0.75)
    assert not registry.has_hook("train", "unhashable")
    registry.unregister("unhashable")
    assert registry.names() == ["hashable"]


def test_misspelt_hook_is_caught():
    class Misspelt:
        @hookimpl
        def model_info(self):
            return ModelInfo(name="typo", title="x", description="x", source="x")

        @hookimpl
        def fill(self, image):
            return image

        @hookimpl
        def fil(self, image):  # not a hook of the contract
            return image

    registry = make_registry(load_entry_points=False)
    with pytest.raises(Exception, match="fil"):
        registry.register(Misspelt())


def test_environment_variable_restricts_loading(monkeypatch):
    monkeypatch.setenv(PLUGINS_ENV_VAR, "telea, biharmonic")
    assert make_registry().names() == ["biharmonic", "telea"]
    monkeypatch.setenv(PLUGINS_ENV_VAR, "")
    assert make_registry().names() == []


def test_classical_models_are_not_trainable():
    registry = make_registry()
    with pytest.raises(NotTrainableError, match="'telea' is not trainable"):
        registry.call_train("telea", config=None)


def test_unknown_model_lists_available_ones():
    with pytest.raises(UnknownModelError, match=r"unknown model 'lama'; available models: .*biharmonic.*telea"):
        inpaint_models.fill(np.zeros((8, 8)), np.eye(8, dtype=bool), model="lama")


@pytest.fixture(scope="module")
def installed_example(tmp_path_factory) -> Path:
    """The example plugin really installed (pip, entry points and all) into a target folder."""
    target = tmp_path_factory.mktemp("site")
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
         "--target", str(target), str(ROOT / "examples" / "inpaint-example-plugin")],
        check=True, capture_output=True, text=True,
    )
    assert any(target.glob("inpaint_example_plugin-*.dist-info/entry_points.txt"))
    return target


def _env_with(path: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(path), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env.pop(PLUGINS_ENV_VAR, None)
    return env


def test_third_party_plugin_appears_in_cli_and_fill(installed_example, tmp_path):
    env = _env_with(installed_example)
    listing = subprocess.run([sys.executable, "-m", "inpaint_models.cli", "models"], env=env, capture_output=True, text=True)
    assert listing.returncode == 0, listing.stderr
    assert "example-harmonic" in listing.stdout

    script = (
        "import numpy as np, inpaint_models as im\n"
        "y, x = np.mgrid[0:48, 0:48]\n"
        "image = (x * 4).astype(np.uint8)\n"
        "mask = np.zeros((48, 48), bool); mask[16:32, 16:32] = True\n"
        "out = im.fill(image, mask, model='example-harmonic', iterations=2000)\n"
        "assert 'example-harmonic' in im.available_models()\n"
        "assert (out[~mask] == image[~mask]).all()\n"
        "error = np.abs(out[mask].astype(int) - image[mask].astype(int)).max()\n"
        "print('max error', error)\n"
        "assert error <= 3, error\n"
    )
    result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "max error" in result.stdout


def test_third_party_plugin_in_process(installed_example, monkeypatch):
    monkeypatch.syspath_prepend(str(installed_example))
    import importlib

    importlib.invalidate_caches()
    registry = make_registry()
    assert "example-harmonic" in registry.names()
    assert registry.origins["example-harmonic"] == "inpaint-example-plugin 0.1.0"
    ramp = np.tile(np.linspace(0, 1, 32, dtype=np.float32), (32, 1))
    mask = np.zeros((32, 32), bool)
    mask[10:20, 10:20] = True
    out = inpaint_models.fill(ramp, mask, model="example-harmonic", registry=registry, iterations=1500)
    assert np.abs(out - ramp).max() < 0.02


class _FakeDist:
    def __init__(self, name: str, version: str = "1.0") -> None:
        self.name, self.version = name, version


class _FakeEntryPoint:
    """Stands in for an ``importlib.metadata.EntryPoint`` of the ``inpaint_models`` group."""

    def __init__(self, name: str, dist: str, load) -> None:
        self.name, self.dist, self.value, self._load = name, _FakeDist(dist), f"{dist}:plugin", load

    def load(self):
        return self._load()


def _misspelt_plugin():
    class Misspelt:
        @hookimpl
        def model_info(self):
            return ModelInfo(name="typo", title="x", description="x", source="x")

        @hookimpl
        def fill(self, image):
            return image

        @hookimpl
        def trian(self, config):  # misspelt "train"
            return None

    return Misspelt()


def _broken_import():
    raise ImportError("No module named 'some_missing_dependency'")


@pytest.fixture
def bad_third_party_plugins(monkeypatch):
    """Entry points: a good plugin, a misspelt hook, an import failure and a second claim on 'good'."""
    entry_points = [
        _FakeEntryPoint("good", "good-package", lambda: make_plugin("good", value=0.3)),
        _FakeEntryPoint("typo", "typo-package", _misspelt_plugin),
        _FakeEntryPoint("broken", "broken-package", _broken_import),
        _FakeEntryPoint("good", "copycat-package", lambda: make_plugin("good", value=0.9)),
    ]
    import importlib.metadata

    monkeypatch.setattr(importlib.metadata, "entry_points", lambda group=None: list(entry_points))
    monkeypatch.delenv(PLUGINS_ENV_VAR, raising=False)


def test_bad_plugins_are_skipped_with_one_warning_each(bad_third_party_plugins):
    from inpaint_models.contract.registry import PluginSkippedWarning

    with pytest.warns(PluginSkippedWarning) as record:
        registry = make_registry()
    messages = [str(w.message) for w in record]
    assert registry.names() == []  # two third parties claim "good": neither is loaded (order-independent)
    assert len(messages) == 3, messages
    typo = [m for m in messages if "'typo'" in m]
    assert len(typo) == 1 and "typo-package" in typo[0] and "trian" in typo[0]
    broken = [m for m in messages if "'broken'" in m]
    assert len(broken) == 1 and "broken-package" in broken[0] and "some_missing_dependency" in broken[0]
    twin = [m for m in messages if "copycat-package" in m]
    assert len(twin) == 1 and "good-package" in twin[0] and PLUGINS_ENV_VAR in twin[0]
    assert sorted(registry.failed.values()) == sorted(messages)
    image = np.zeros((10, 10), np.float32)
    mask = np.zeros((10, 10), bool)
    mask[3:6, 3:6] = True
    with pytest.raises(UnknownModelError):
        inpaint_models.fill(image, mask, model="good", registry=registry)


def test_environment_variable_restricts_loading_of_bad_plugins(bad_third_party_plugins, monkeypatch):
    monkeypatch.setenv(PLUGINS_ENV_VAR, "typo,broken")
    with pytest.warns(UserWarning) as record:
        registry = make_registry()
    assert registry.names() == []
    assert len(record) == 2
