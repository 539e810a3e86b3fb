"""Weights files are validated before use (issue 22, item 6).

A sidecar is checked against its schema (types, sane ranges, nesting, size)
and every failure is a ``WeightsError`` naming the file and the field; only
regular files are read (FIFOs, devices, directories, link loops are refused as
such, never "not found", and never block); a safetensors header is checked and
compared with the networks before any tensor is read or any network built.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import struct
import threading
import tracemalloc
from pathlib import Path
from typing import Any, Callable, ClassVar

import numpy as np
import pytest
import torch
from torch import nn

import inpaint_models
from inpaint_models.contract.datatypes import ModelInfo
from inpaint_models.contract.errors import WeightsError
from inpaint_models.io.regular_files import file_problem, read_regular_file
from inpaint_models.io.sidecar import SIDECAR_MAX_BYTES, read_sidecar
from inpaint_models.training.checkpoints import complete_checkpoints, load_tensors, prune_checkpoints, save_checkpoint
from inpaint_models.training.inference import load_task
from inpaint_models.training.task import TaskSpec, TrainTask

needs_fifo = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this platform")


# --------------------------------------------------------------------------- helpers
def shipped_copy(tmp_path: Path, model: str, edit: Callable[[dict], Any] = lambda data: None,
                 text: str | None = None) -> Path:
    """A checkpoint of ``model`` in ``tmp_path``: a copy of its shipped weights and an edited sidecar."""
    info = inpaint_models.model_info(model)
    weights = tmp_path / "w.safetensors"
    shutil.copy(info.default_weights, weights)
    data = json.loads(Path(info.default_weights).with_suffix(".json").read_text())
    edit(data)
    (tmp_path / "w.json").write_text(text if text is not None else json.dumps(data))
    return weights


def geometry(field: str, value: Any) -> Callable[[dict], None]:
    return lambda data: data["geometry"].__setitem__(field, value)


def top(field: str, value: Any) -> Callable[[dict], None]:
    return lambda data: data.__setitem__(field, value)


def nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value


def finishes(call: Callable[[], Any], seconds: float = 20.0) -> Any:
    """``call()`` in a thread: its exception (or result), or a failure if it blocks."""
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["result"] = call()
        except BaseException as error:  # noqa: BLE001 -- handed to the test
            outcome["error"] = error

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), "the call blocked"
    return outcome.get("error", outcome.get("result"))


# --------------------------------------------------------------------------- the sidecar schema
MALFORMED = {
    "native_size 10**9": (geometry("native_size", 10**9), "geometry.native_size"),
    "native_size 0": (geometry("native_size", 0), "geometry.native_size"),
    "native_size -5": (geometry("native_size", -5), "geometry.native_size"),
    "native_size 2.5": (geometry("native_size", 2.5), "geometry.native_size"),
    "native_size a string": (geometry("native_size", "128"), "geometry.native_size"),
    "native_size true": (geometry("native_size", True), "geometry.native_size"),
    "size_multiple 10**5": (geometry("size_multiple", 10**5), "geometry.size_multiple"),
    "size_multiple 0": (geometry("size_multiple", 0), "geometry.size_multiple"),
    "geometry channels 10**9": (geometry("channels", 10**9), "geometry.channels"),
    "geometry channels [3, 10**9]": (geometry("channels", [3, 10**9]), "geometry.channels"),
    "geometry channels []": (geometry("channels", []), "geometry.channels"),
    "geometry unknown entry": (geometry("native_sise", 64), "geometry"),
    "geometry a list": (top("geometry", [1, 2]), "geometry"),
    "channels 10**9": (top("channels", 10**9), "channels"),
    "channels a string": (top("channels", "abc"), "channels"),
    "image_size 10**9": (top("image_size", 10**9), "image_size"),
    "image_size a string": (top("image_size", "64"), "image_size"),
    "options a list": (top("options", [1, 2]), "options"),
    "options holding an object": (top("options", {"width": {"a": 1}}), "options.width"),
    "options holding NaN": (top("options", {"width": float("nan")}), "options.width"),
    "options holding 10**30": (top("options", {"width": 10**30}), "options.width must be a finite number"),
    "format_version a string": (top("format_version", "x"), "format_version"),
    "model a number": (top("model", 5), "model"),
    "model missing": (lambda data: data.pop("model"), "model"),
    "extra a list": (top("extra", [1]), "extra"),
    "metrics a list": (top("metrics", [1]), "metrics"),
    "metrics holding a string": (top("metrics", {"psnr": "high"}), "metrics.psnr"),
    "files holding a number": (top("files", {"weights": 5}), "files.weights"),
    "step negative": (top("step", -1), "step"),
    "nesting 40 deep": (top("extra", {"deep": nested(40)}), "levels deep"),
}


@pytest.mark.parametrize("case", list(MALFORMED))
def test_a_malformed_sidecar_is_a_weights_error_naming_the_file_and_the_field(tmp_path, case):
    edit, field = MALFORMED[case]
    weights = shipped_copy(tmp_path, "context-encoder", edit)
    with pytest.raises(WeightsError) as caught:
        read_sidecar(weights, "context-encoder")
    message = str(caught.value)
    assert message.startswith(f"weights sidecar {tmp_path / 'w.json'}: ") and field in message
    assert "\n" not in message and len(message) < 400


def test_the_message_says_the_range_and_the_value(tmp_path):
    weights = shipped_copy(tmp_path, "context-encoder", geometry("native_size", 10**9))
    with pytest.raises(WeightsError, match=r"w\.json: geometry\.native_size must be an integer from 8 to 4096, "
                                           r"not 1000000000$"):
        read_sidecar(weights)


@pytest.mark.parametrize("literal", ["1e309", "-1e309", "NaN", "Infinity"])
def test_non_finite_numbers_are_refused(tmp_path, literal):
    text = json.dumps(json.loads(Path(inpaint_models.model_info("context-encoder").default_weights)
                                 .with_suffix(".json").read_text()))
    text = text.replace('"native_size": 128', f'"native_size": {literal}')
    assert literal in text
    weights = shipped_copy(tmp_path, "context-encoder", text=text)
    with pytest.raises(WeightsError, match="geometry.native_size must be an integer"):
        read_sidecar(weights)


def test_nesting_too_deep_for_the_json_parser_is_a_weights_error(tmp_path):
    start = '{"format": "napari-inpaint-checkpoint", "model": "context-encoder", "extra": '
    text = start + "[" * 100_000 + "]" * 100_000 + "}"
    weights = shipped_copy(tmp_path, "context-encoder", text=text)
    with pytest.raises(WeightsError, match="too deeply"):  # Python's json raises RecursionError
        read_sidecar(weights)


def test_a_huge_sidecar_is_refused_before_it_is_parsed(tmp_path):
    weights = shipped_copy(tmp_path, "context-encoder", top("notes", "x" * (SIDECAR_MAX_BYTES + 10)))
    with pytest.raises(WeightsError, match=r"w\.json is [\d,]+ bytes; a weights sidecar is at most 1,048,576 bytes"):
        read_sidecar(weights)


def test_unknown_top_level_fields_are_kept_unchecked(tmp_path):
    weights = shipped_copy(tmp_path, "context-encoder", top("my_notes", {"who": ["me", 1, None]}))
    assert read_sidecar(weights, "context-encoder")["my_notes"] == {"who": ["me", 1, None]}


@pytest.mark.parametrize("model", [name for name in inpaint_models.available_models()
                                   if inpaint_models.model_info(name).default_weights is not None])
def test_every_shipped_sidecar_passes_and_its_geometry_is_its_networks(model):
    from inpaint_models.pipeline.geometry import weights_geometry

    info = inpaint_models.model_info(model)
    data = read_sidecar(info.default_weights, model)
    recorded = data["geometry"]
    found = weights_geometry(info, info.default_weights)
    assert (found.native_size, found.size_multiple) == (recorded["native_size"], recorded["size_multiple"])


# --------------------------------------------------------------------------- native size and the networks
def test_an_edited_native_size_is_refused_before_any_crop_is_cut(tmp_path):
    from inpaint_models.pipeline.geometry import weights_geometry

    weights = shipped_copy(tmp_path, "context-encoder", geometry("native_size", 2048))
    info = inpaint_models.model_info("context-encoder")
    with pytest.raises(WeightsError, match="geometry says native_size 2048, but the network takes 128"):
        weights_geometry(info, weights)


def test_a_fill_with_an_edited_native_size_is_a_weights_error(tmp_path):
    weights = shipped_copy(tmp_path, "context-encoder", geometry("native_size", 2048))
    image = np.zeros((64, 64, 3), np.uint8)
    mask = np.zeros((64, 64), bool)
    mask[20:30, 20:30] = True
    with pytest.raises(WeightsError, match="native_size 2048"):
        inpaint_models.fill(image, mask, model="context-encoder", weights=weights, device="cpu")


def test_a_checkpoint_behind_symbolic_links_fills(tmp_path):
    # the weights and the sidecar as links; a link to a linked folder
    info = inpaint_models.model_info("mlp-gan")
    (tmp_path / "a").mkdir()
    for suffix in (".safetensors", ".json"):
        (tmp_path / "a" / f"w{suffix}").symlink_to(Path(info.default_weights).with_suffix(suffix).resolve())
    (tmp_path / "b").symlink_to(tmp_path / "a")
    image = np.full((40, 40, 3), 128, np.uint8)
    mask = np.zeros((40, 40), bool)
    mask[10:20, 10:20] = True
    for weights in (tmp_path / "a" / "w.safetensors", tmp_path / "b" / "w.safetensors"):
        filled = inpaint_models.fill(image, mask, model="mlp-gan", weights=weights, device="cpu")
        assert filled.shape == image.shape and np.array_equal(filled[~mask], image[~mask])


# a tiny model of its own: its factory records on which device its networks were built
@dataclasses.dataclass
class TinyOptions:
    width: int = 4


TINY = ModelInfo(name="tiny", title="Tiny", description="test", source="test", trainable=True, options=TinyOptions)


class TinyTask(TrainTask):
    builds: ClassVar[list[str]] = []

    def __init__(self, spec: TaskSpec) -> None:
        super().__init__(spec)
        TinyTask.builds.append(str(torch.get_default_device()))
        # a fixed-size network: its size grows with the image size, as mlp-gan's does
        self.networks = {"generator": nn.Linear(spec.channels * spec.image_size**2, spec.options.width)}
        self.native_size = spec.image_size


def tiny_checkpoint(tmp_path: Path, **sidecar: Any) -> Path:
    network = nn.Linear(3 * 8 * 8, 4)
    record = {"model": "tiny", "options": {"width": 4}, "channels": 3, "image_size": 8,
              "geometry": {"channels": 3, "native_size": 8, "size_multiple": 1}, **sidecar}
    return save_checkpoint(tmp_path, "tiny", weights={f"generator.{k}": v for k, v in network.state_dict().items()},
                           sidecar=record)


def test_the_tiny_checkpoint_loads(tmp_path):
    TinyTask.builds = []
    loaded = load_task(tiny_checkpoint(tmp_path), TINY, TinyTask)
    assert loaded.task.networks["generator"].weight.shape == (4, 192)
    assert TinyTask.builds == ["meta", "cpu"]  # checked on the meta device, then built once


@pytest.mark.parametrize("edit", [{"image_size": 4096, "geometry": {"channels": 3, "native_size": 4096}},
                                  {"options": {"width": 10**6}}])
def test_sizes_that_build_a_network_larger_than_the_file_are_refused_before_it_is_built(tmp_path, edit):
    # image_size 4096: a 4 x 50 M Linear (800 MB); width 10**6: 192 M weights. Only meta tensors are made.
    TinyTask.builds = []
    weights = tiny_checkpoint(tmp_path, **edit)
    with pytest.raises(WeightsError, match="does not fit network 'generator'.*shape mismatch"):
        load_task(weights, TINY, TinyTask)
    assert TinyTask.builds == ["meta"]


def test_options_whose_sizes_overflow_are_a_weights_error(tmp_path):
    # 2**60 x 192 weights: more bytes than 64 bits count (torch: "Storage size calculation overflowed")
    TinyTask.builds = []
    with pytest.raises(WeightsError, match="options make sizes too large to exist"):
        load_task(tiny_checkpoint(tmp_path, options={"width": 2**60}), TINY, TinyTask)
    assert TinyTask.builds == ["meta"]


def write_safetensors(path: Path, header: dict, data_bytes: int, length: int | None = None) -> Path:
    text = json.dumps(header).encode()
    with open(path, "wb") as handle:
        handle.write(struct.pack("<Q", len(text) if length is None else length) + text)
        handle.truncate(8 + len(text) + data_bytes)  # sparse: no disk, no memory
    return path


def test_a_header_claiming_10_gb_is_a_weights_error(tmp_path):
    path = write_safetensors(tmp_path / "w.safetensors", {}, 0, length=10 * 2**30)
    with pytest.raises(WeightsError, match=r"its header claims 10,737,418,240 bytes"):
        load_tensors(path)


@pytest.mark.parametrize("entry, words", [
    ({"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 12]}, "needs 16 bytes"),
    ({"dtype": "F32", "shape": [4], "data_offsets": [0, 10**12]}, "outside the file"),
    ({"dtype": "X9", "shape": [4], "data_offsets": [0, 16]}, "has dtype 'X9'"),
    ({"dtype": "F32", "shape": "4", "data_offsets": [0, 16]}, "has shape"),
])
def test_a_header_that_does_not_fit_its_file_is_a_weights_error(tmp_path, entry, words):
    path = write_safetensors(tmp_path / "w.safetensors", {"t": entry}, 16)
    with pytest.raises(WeightsError, match=words):
        load_tensors(path)


def test_only_the_tensors_asked_for_are_read(tmp_path):
    # a 1 GiB tensor beside a small one (a sparse file): reading the small one costs its bytes only
    header = {"small": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]},
              "junk": {"dtype": "U8", "shape": [2**30], "data_offsets": [16, 16 + 2**30]}}
    path = write_safetensors(tmp_path / "w.safetensors", header, 16 + 2**30)
    tracemalloc.start()
    try:
        tensors = load_tensors(path, ["small"])
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert list(tensors) == ["small"] and tensors["small"].shape == (4,)
    assert peak < 16 * 2**20


# --------------------------------------------------------------------------- only regular files
def make_fifo(path: Path) -> Path:
    os.mkfifo(path)
    return path


def make_loop(path: Path) -> Path:
    path.symlink_to(path.name)
    return path


def make_device(path: Path) -> Path:
    path.symlink_to("/dev/zero")
    return path


def make_directory(path: Path) -> Path:
    path.mkdir()
    return path


def make_broken(path: Path) -> Path:
    path.symlink_to("nothing-here")
    return path


KINDS = {
    "fifo": (make_fifo, "is a FIFO"),
    "link loop": (make_loop, "is a symbolic link loop"),
    "device": (make_device, "is a character device"),
    "directory": (make_directory, "is a directory"),
    "broken link": (make_broken, "is a broken symbolic link"),
}


@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize("which", ["weights", "sidecar"])
def test_a_weights_file_or_sidecar_that_is_not_a_regular_file_is_refused_as_such(tmp_path, kind, which):
    make, words = KINDS[kind]
    if kind == "fifo" and not hasattr(os, "mkfifo") or kind == "device" and not os.path.exists("/dev/zero"):
        pytest.skip("not on this platform")
    weights = tmp_path / "w.safetensors"
    if which == "weights":
        make(weights)
        (tmp_path / "w.json").write_text("{}")
    else:
        weights = shipped_copy(tmp_path, "mlp-gan")
        (tmp_path / "w.json").unlink()
        make(tmp_path / "w.json")
    error = finishes(lambda: read_sidecar(weights, "mlp-gan"))
    assert isinstance(error, WeightsError) and words in str(error), error
    assert "not found" not in str(error)


@pytest.mark.parametrize("kind", ["fifo", "link loop", "device", "directory"])
def test_loading_tensors_from_a_file_that_is_not_regular_neither_blocks_nor_says_not_found(tmp_path, kind):
    make, words = KINDS[kind]
    if kind == "fifo" and not hasattr(os, "mkfifo") or kind == "device" and not os.path.exists("/dev/zero"):
        pytest.skip("not on this platform")
    path = make(tmp_path / "w.safetensors")
    try:
        error = finishes(lambda: load_tensors(path), seconds=10)
    finally:
        if kind == "fifo":  # free a reader left blocked in open() (the old code's read_bytes)
            try:
                os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))
            except OSError:  # no reader waiting
                pass
    assert isinstance(error, WeightsError) and words in str(error), error


@needs_fifo
def test_a_fifo_among_checkpoints_does_not_block_a_resume(tmp_path):
    make_fifo(tmp_path / "step_00000100.json")
    assert finishes(lambda: complete_checkpoints(tmp_path), seconds=10) == []


def test_pruning_never_deletes_outside_the_checkpoints_folder(tmp_path):
    folder = tmp_path / "checkpoints"
    folder.mkdir()
    victim = tmp_path / "victim.safetensors"
    victim.write_bytes(b"precious")
    (tmp_path / "victim.json").write_text("precious")
    (folder / "step_00000001.json").write_text(json.dumps({"step": 1, "files": {"weights": "../victim.safetensors"}}))
    assert complete_checkpoints(folder) == []
    prune_checkpoints(folder, keep_last=0)
    assert victim.read_bytes() == b"precious" and (tmp_path / "victim.json").read_text() == "precious"


def test_a_symbolic_link_to_a_regular_file_is_a_regular_file(tmp_path):
    target = tmp_path / "real.bin"
    target.write_bytes(b"abc")
    (tmp_path / "link.bin").symlink_to(target)
    assert file_problem(tmp_path / "link.bin") is None
    assert read_regular_file(tmp_path / "link.bin", 10) == b"abc"
    assert file_problem(tmp_path / "absent.bin").missing


def test_copying_keeps_working(tmp_path):
    # the shipped checkpoint copied as plain files loads as before
    info = inpaint_models.model_info("mlp-gan")
    for suffix in (".safetensors", ".json"):
        shutil.copy(Path(info.default_weights).with_suffix(suffix), tmp_path / f"w{suffix}")
    assert read_sidecar(tmp_path / "w.safetensors", "mlp-gan")["model"] == "mlp-gan"
