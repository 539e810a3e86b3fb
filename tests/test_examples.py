"""Example training configs are found in the registered plugins' folders: built-ins and third-party alike."""

from __future__ import annotations

import importlib.util
import sys
import types

import pytest

from inpaint_models.contract.datatypes import ModelInfo
from inpaint_models.contract.errors import ConfigError
from inpaint_models.contract.hookspecs import hookimpl
from inpaint_models.contract.registry import make_registry
from inpaint_models.io.examples import example_names, example_path, plugin_folder

PLUGIN_SOURCE = '''
from inpaint_models.contract.datatypes import ModelInfo
from inpaint_models.contract.hookspecs import hookimpl


@hookimpl
def model_info():
    return ModelInfo(name="{name}", title="t", description="d", source="s")


@hookimpl
def fill(image, mask, options, context):
    return image
'''


def module_plugin(tmp_path, name: str, examples: list[str]) -> types.ModuleType:
    """A plugin module in its own folder under ``tmp_path``, with ``configs/<example>.toml`` files."""
    folder = tmp_path / name.replace("-", "_")
    (folder / "configs").mkdir(parents=True)
    (folder / "plugin.py").write_text(PLUGIN_SOURCE.format(name=name))
    for example in examples:
        (folder / "configs" / f"{example}.toml").write_text(f'[model]\nname = "{name}"\n')
    spec = importlib.util.spec_from_file_location(f"example_plugin_{name.replace('-', '_')}", folder / "plugin.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_each_model_s_examples_are_found_in_its_folder_and_train_that_model():
    from inpaint_models.api_train import read_config_file

    registry = make_registry()
    names = example_names(registry)
    found = 0
    for info in registry.infos():
        folder = plugin_folder(registry, info.name) / "configs"
        for path in sorted(folder.glob("*.toml")):
            assert path.stem in names and example_path(path.stem, registry) == path
            assert read_config_file(path)["model"]["name"] == info.name, path
            found += 1
    assert found == len(names) >= 14  # two per built-in trainable model but stack-unet
    assert {"autoencoder-cpu", "autoencoder-gpu"} <= set(names)
    assert example_path("autoencoder-cpu.toml", registry) == example_path("autoencoder-cpu", registry)


def test_a_third_party_plugin_s_examples_are_listed(tmp_path):
    registry = make_registry(load_entry_points=False)
    registry.register(module_plugin(tmp_path, "third-party", ["third-party-laptop"]))
    assert example_names(registry) == ["third-party-laptop"]
    assert example_path("third-party-laptop", registry) == (tmp_path / "third_party" / "configs"
                                                            / "third-party-laptop.toml").resolve()


def test_a_plugin_instance_is_found_through_its_class_s_module(tmp_path):
    module = module_plugin(tmp_path, "instance-model", ["instance-model-cpu"])
    sys.modules[module.__name__] = module
    try:
        namespace: dict = {"ModelInfo": ModelInfo, "hookimpl": hookimpl, "__name__": module.__name__}
        exec(  # noqa: S102 - a class defined in the plugin's module, as a package would
            "class Plugin:\n"
            "    @hookimpl\n"
            "    def model_info(self):\n"
            "        return ModelInfo(name='instance-model', title='t', description='d', source='s')\n"
            "    @hookimpl\n"
            "    def fill(self, image, mask, options, context):\n"
            "        return image\n",
            namespace,
        )
        registry = make_registry(load_entry_points=False)
        registry.register(namespace["Plugin"]())
        assert example_names(registry) == ["instance-model-cpu"]
    finally:
        del sys.modules[module.__name__]


def test_unknown_and_ambiguous_example_names_are_config_errors(tmp_path):
    registry = make_registry(load_entry_points=False)
    registry.register(module_plugin(tmp_path / "a", "model-a", ["shared", "only-a"]))
    registry.register(module_plugin(tmp_path / "b", "model-b", ["shared"]))
    assert example_names(registry) == ["only-a", "shared"]
    with pytest.raises(ConfigError, match="no example config 'nope'; the examples are: only-a, shared"):
        example_path("nope", registry)
    with pytest.raises(ConfigError, match="two plugins ship an example config 'shared'"):
        example_path("shared", registry)
    assert example_names(make_registry(load_entry_points=False)) == []
