"""Training configs: TOML/YAML into dataclasses, overrides, and one clear ConfigError for every mistake."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from inpaint_models.contract.errors import ConfigError, NotTrainableError, UnknownModelError
from inpaint_models.contract.registry import make_registry
from inpaint_models.api_train import example_path
from inpaint_models.training import TrainConfig, TrainSettings, config_to_dict, load_config
from inpaint_models.training.config import apply_overrides, parse_value

TRAINABLE = ("autoencoder", "context-encoder", "mlp-gan")


@pytest.fixture(scope="module")
def models():
    return make_registry(allowed=[*TRAINABLE, "telea"])


@pytest.fixture
def data(tmp_path: Path) -> Path:
    folder = tmp_path / "images"
    folder.mkdir()
    return folder


def write(tmp_path: Path, text: str, name: str = "run.toml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def test_toml_is_read_into_dataclasses(tmp_path, data, models):
    path = write(tmp_path, f"""
        [model]
        name = "autoencoder"
        depth = 3
        attention = true
        loss = "l1"

        [train]
        data = "{data}"
        image_size = 48
        steps = 12
        crop_scale = [0.5, 1.0]
        precision = "fp32"
        resume = false
        [train.mask_params]
        count = 2
    """)
    config = load_config(path, registry=models)
    assert isinstance(config, TrainConfig) and isinstance(config.train, TrainSettings)
    assert config.model_name == "autoencoder"
    assert (config.model.depth, config.model.attention, config.model.loss) == (3, True, "l1")
    assert config.model.width == 32  # a default
    assert config.train.data == [data] and config.train.image_size == 48 and config.train.steps == 12
    assert config.train.mask_params == {"count": 2}
    assert config.train.resume is False


def test_yaml_gives_the_same_config(tmp_path, data, models):
    toml = write(tmp_path, f"""
        [model]
        name = "mlp-gan"
        width = 32
        [train]
        data = ["{data}"]
        steps = 5
        learning_rate = 1e-3
    """)
    yaml = write(tmp_path, f"""
        model:
          name: mlp-gan
          width: 32
        train:
          data: [{data}]
          steps: 5
          learning_rate: 1.0e-3
    """, "run.yaml")
    assert config_to_dict(load_config(toml, registry=models)) == config_to_dict(load_config(yaml, registry=models))


@pytest.mark.parametrize(
    ("model", "train", "message"),
    [
        ('name = "autoencoder"', 'stepz = 3', "unknown key 'stepz'"),
        ('name = "autoencoder"\ndepht = 2', '', "no option 'depht'"),
        ('name = "autoencoder"\ndepth = "deep"', '', "'depth' must be an integer"),
        ('name = "autoencoder"\ndepth = 0', '', "depth must be between 1 and 8"),
        ('name = "autoencoder"', 'steps = "ten"', "[train] steps must be an integer"),
        ('name = "autoencoder"', 'steps = 0', "steps must be at least 1"),
        ('name = "autoencoder"', 'precision = "fp8"', "[train] precision must be one of"),
        ('name = "autoencoder"', 'precision = "fp16"\ndevice = "cpu"', "fp16\" needs a CUDA device"),
        ('name = "autoencoder"', 'mask = "blob"', "unknown mask kind 'blob'"),
        ('name = "autoencoder"', 'mask = "box"\nmask_preset = "thin"', "takes no preset"),
        ('name = "autoencoder"', 'device = "tpu"', "unknown device 'tpu'"),
        ('name = "autoencoder"', 'crop_scale = [0.9, 0.1]', "crop_scale"),
        ('name = "autoencoder"', 'channels = 4', "channels must be 1"),
        ('name = "autoencoder"', 'ema_decay = 1.5', "ema_decay"),
        ('name = "autoencoder"', 'colour_jitter = 1.5', "colour_jitter must be in [0, 1]"),
        ('name = "autoencoder"', 'best_metric = "fid"', "best_metric"),
        ('name = "autoencoder"', 'resume = "nowhere.safetensors"', "checkpoint not found"),
        ('name = "context-encoder"\nreconstruction_weight = 0\nadversarial_weight = 0', '', "cannot both be 0"),
        ('depth = 3', '', "[model] name is missing"),
    ],
)
def test_bad_values_fail_with_one_clear_message(tmp_path, data, models, model, train, message):
    path = write(tmp_path, f'[model]\n{model}\n\n[train]\ndata = "{data}"\n{train}\n')
    with pytest.raises(ConfigError) as raised:
        load_config(path, registry=models)
    assert message in str(raised.value)
    assert "\n" not in str(raised.value)


def test_missing_data_folder_and_unknown_section(tmp_path, models):
    path = write(tmp_path, '[model]\nname = "autoencoder"\n[train]\ndata = "no/such/folder"\n')
    with pytest.raises(ConfigError, match="folder not found: no/such/folder"):
        load_config(path, registry=models)
    path = write(tmp_path, '[model]\nname = "autoencoder"\n[trian]\nsteps = 1\n')
    with pytest.raises(ConfigError, match="unknown section 'trian'"):
        load_config(path, registry=models)
    path = write(tmp_path, '[model]\nname = "autoencoder"\n')
    with pytest.raises(ConfigError, match="data is missing"):
        load_config(path, registry=models)


def test_syntax_errors_and_missing_files(tmp_path, models):
    with pytest.raises(ConfigError, match="invalid TOML"):
        load_config(write(tmp_path, "[model\nname="), registry=models)
    with pytest.raises(ConfigError, match="invalid YAML"):
        load_config(write(tmp_path, "model: [unclosed", "bad.yaml"), registry=models)
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "absent.toml", registry=models)
    with pytest.raises(ConfigError, match="unknown config format"):
        load_config(write(tmp_path, "x", "run.ini"), registry=models)


def test_untrainable_and_unknown_models(tmp_path, data, models):
    with pytest.raises(NotTrainableError):
        load_config({"model": {"name": "telea"}, "train": {"data": str(data)}}, registry=models)
    with pytest.raises(UnknownModelError):
        load_config({"model": {"name": "nope"}, "train": {"data": str(data)}}, registry=models)


def test_overrides(tmp_path, data, models):
    base = {"model": {"name": "autoencoder"}, "train": {"data": str(data)}}
    config = load_config(base, overrides=["train.steps=7", "model.attention=true", "train.crop_scale=[0.5, 0.75]",
                                          "train.output=runs/x", "train.mask_params.count=3"], registry=models)
    assert config.train.steps == 7 and config.model.attention is True
    assert config.train.crop_scale == [0.5, 0.75] and config.train.output == Path("runs/x")
    assert config.train.mask_params == {"count": 3}
    config = load_config(config, overrides={"train.steps": 9}, registry=models)
    assert config.train.steps == 9 and config.model.attention is True
    with pytest.raises(ConfigError, match="section.key=value"):
        apply_overrides({}, ["steps"])
    with pytest.raises(ConfigError, match="must name a section"):
        apply_overrides({}, ["steps=3"])
    assert parse_value("12") == 12 and parse_value("true") is True and parse_value("runs/x") == "runs/x"


def test_a_python_train_config_is_checked_too(tmp_path, data, models):
    config = TrainConfig("autoencoder", TrainSettings(data=[data], steps=0))
    with pytest.raises(ConfigError, match="steps must be at least 1"):
        load_config(config, registry=models)
    config = load_config(TrainConfig("autoencoder", TrainSettings(data=[data])), registry=models)
    assert config.model.depth == 4


def test_image_size_must_fit_the_model(tmp_path, data, models):
    from inpaint_models import train

    output = tmp_path / "run"
    with pytest.raises(ConfigError, match="multiple of 2\\*\\*depth"):
        train({"model": {"name": "autoencoder"}, "train": {"data": str(data), "image_size": 40,
                                                           "output": str(output)}}, registry=models)
    with pytest.raises(ConfigError, match="power-of-two"):
        train({"model": {"name": "context-encoder"}, "train": {"data": str(data), "image_size": 48,
                                                               "output": str(output)}}, registry=models)


def test_bad_config_fails_before_any_work(tmp_path, data, models):
    from inpaint_models import train

    output = tmp_path / "run"
    with pytest.raises(ConfigError):
        train({"model": {"name": "autoencoder"}, "train": {"data": str(data), "output": str(output),
                                                           "batch_size": -1}}, registry=models)
    assert not output.exists()


def test_example_configs_exist_and_load(tmp_path, data, models):
    for model in TRAINABLE:
        for kind in ("cpu", "gpu"):
            path = example_path(f"{model}-{kind}")  # the example configs, wherever the models ship them
            assert path.is_file(), f"missing example config {path.name}"
            overrides = [f"train.data={data}"]
            if kind == "gpu":
                overrides.append("train.device=cpu")  # the precision stays auto: fp32 on this machine
            config = load_config(path, overrides=overrides, registry=models)
            assert config.model_name == model
