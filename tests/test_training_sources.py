"""Data sources: the trainer reads any source through one interface, and the config says which one."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch.utils.data import Dataset

from inpaint_models.contract.errors import ConfigError
from inpaint_models.contract.registry import make_registry
from inpaint_models.training import TrainingSets, load_config, quick_config
from inpaint_models.training.data import Batch, collate
from inpaint_models.training.task import TrainTask

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # tests/conftest.py

SMALL = {"depth": 2, "width": 4}


class Squares(Dataset):
    """Grey squares of one brightness per index, a centred hole; the loss may read only its left half."""

    def __init__(self, length: int, size: int) -> None:
        self.length, self.size = length, size

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, key):
        index, _epoch = key
        image = torch.full((1, self.size, self.size), (index % 7 + 1) / 8.0)
        mask = torch.zeros((1, self.size, self.size))
        quarter = self.size // 4
        mask[:, quarter : 3 * quarter, quarter : 3 * quarter] = 1.0
        weight = mask.clone()
        weight[:, :, self.size // 2 :] = 0.0
        return image, mask, weight, []


class SquareSource:
    """A data source the trainer has never heard of (the protocol is all it needs)."""

    def __init__(self) -> None:
        self.asked: list[tuple[int, int]] = []
        self.measured = 0

    def training_sets(self, settings, context_planes: int) -> TrainingSets:
        self.asked.append((settings.image_size, context_planes))

        def statistics():
            self.measured += 1
            return {"mean": np.full(settings.channels, 0.5, np.float32), "files": 7}

        return TrainingSets(Squares(64, settings.image_size), Squares(3, settings.image_size),
                            Squares(2, settings.image_size), statistics, "seven grey squares", {"squares": 7})


def _config(tmp_path, source, steps: int, **train):
    raw = quick_config("autoencoder", tmp_path, steps=steps, options=SMALL,
                       train={"channels": 1, "validate_every": 2, "checkpoint_every": 1, **train})
    raw["train"]["data"] = []  # the source gives the samples
    return load_config(raw, registry=make_registry(allowed=["autoencoder"]), data_source=source)


def test_the_trainer_reads_any_source(tmp_path):
    import inpaint_models

    source = SquareSource()
    events = []
    weights = inpaint_models.train(_config(tmp_path, source, steps=2), report=events.append,
                                   registry=make_registry(allowed=["autoencoder"]))
    assert weights.is_file()
    assert source.asked == [(32, 0)] and source.measured == 1  # a 2D model: no context planes
    assert events[0].message.startswith("seven grey squares; device cpu")
    log = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert {"kind": "data", "step": 0, "squares": 7}.items() <= log[0].items()
    assert any(record["kind"] == "validation" for record in log)
    sidecar = json.loads(weights.with_suffix(".json").read_text())
    assert sidecar["config"]["train"]["data"] == []

    # a resume asks the source again but measures nothing: the statistics live in the weights
    again = inpaint_models.train(_config(tmp_path, source, steps=4, resume=True),
                                 registry=make_registry(allowed=["autoencoder"]))
    assert again.is_file() and len(source.asked) == 2 and source.measured == 1


def test_a_source_and_data_folders_do_not_mix(tmp_path):
    raw = quick_config("autoencoder", tmp_path, steps=1, options=SMALL)
    with pytest.raises(ConfigError, match="its own data source"):
        load_config(raw, registry=make_registry(allowed=["autoencoder"]), data_source=SquareSource())
    raw["train"]["data"] = []
    with pytest.raises(ConfigError, match="data is missing"):
        load_config(raw, registry=make_registry(allowed=["autoencoder"]))


def test_batches_score_their_weight_and_their_target_plane():
    flat = collate([Squares(4, 8)[(i, 0)] for i in range(2)])
    assert flat.image.shape == (2, 1, 8, 8) and flat.weight is not None
    assert torch.equal(flat.scored, flat.mask * flat.weight) and float(flat.scored.sum()) == 2 * 8
    plain = collate([(torch.zeros(1, 8, 8), torch.ones(1, 8, 8), ["a: broken"])])
    assert plain.weight is None and torch.equal(plain.scored, plain.mask) and plain.bad_files == ["a: broken"]
    volume = Batch(torch.rand(2, 1, 3, 8, 8), torch.zeros(2, 1, 3, 8, 8), [], torch.zeros(2, 1, 3, 8, 8))
    volume.weight[:, :, 1] = 1.0
    plane = volume.target_plane()
    assert plane.image.shape == (2, 1, 8, 8) and torch.equal(plane.image, volume.image[:, :, 1])
    assert float(plane.weight.sum()) == 2 * 64 and plane.target_plane() is plane
    assert TrainTask.context_planes == 0 and TrainTask.progress_unit is None
