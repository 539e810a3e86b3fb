"""The GUI-free parts behind the napari widgets: mask preparation, the fill job,
the checkpoint list and the option fields' descriptions.

These run without a display: the widgets only gather inputs for these functions.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from inpaint_models.datatypes import ModelInfo
from inpaint_models.errors import Cancelled, MaskCoversImageError, ShapeMismatchError
from inpaint_models.maskops import dilate_mask, new_mask, prepare_mask


# --------------------------------------------------------------------------- maskops
def test_dilate_mask_grows_within_planes_only():
    mask = np.zeros((3, 11, 11), np.uint8)
    mask[1, 5, 5] = 7  # any non-zero label is a hole
    grown = dilate_mask(mask, 2)
    assert grown.dtype == bool
    assert grown[1].sum() == 13  # a radius-2 disk
    assert not grown[0].any() and not grown[2].any()  # never into neighbouring planes
    assert np.array_equal(dilate_mask(mask, 0), mask > 0)
    with pytest.raises(ValueError):
        dilate_mask(mask, -1)


def test_prepare_mask_selects_one_plane_of_a_stack():
    painted = np.zeros((4, 8, 8), bool)
    painted[:, 2:4, 2:4] = True
    one = prepare_mask(painted, (4, 8, 8), plane=(2,))
    assert one.shape == (4, 8, 8)
    assert [bool(one[z].any()) for z in range(4)] == [False, False, True, False]
    # a 2D mask for a stack: every plane, or just the chosen one
    flat = painted[0]
    assert prepare_mask(flat, (4, 8, 8)).shape == (8, 8)
    assert prepare_mask(flat, (4, 8, 8), plane=(3,))[3].sum() == 4
    with pytest.raises(ShapeMismatchError):
        prepare_mask(np.zeros((5, 5)), (4, 8, 8))
    with pytest.raises(ShapeMismatchError):
        prepare_mask(flat, (4, 8, 8), plane=(4,))


def test_new_mask_is_an_empty_labels_array():
    mask = new_mask((3, 5, 7))
    assert mask.shape == (3, 5, 7) and mask.dtype == np.uint8 and not mask.any()


# --------------------------------------------------------------------------- the fill job
def test_run_fill_reports_progress_and_never_touches_its_inputs():
    from napari_inpaint.jobs import FillRequest, run_fill

    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, (2, 32, 32, 3), dtype=np.uint8)
    mask = np.zeros((32, 32), np.uint8)
    mask[10:14, 10:14] = 1
    before = image.copy(), mask.copy()
    events = []
    request = FillRequest(
        image=image, mask=mask, rgb=True, model="telea", options={"radius": 2}, plane=(1,), dilation=1
    )
    result = run_fill(request, progress=events.append)
    assert np.array_equal(image, before[0]) and np.array_equal(mask, before[1])
    assert np.array_equal(result[0], image[0])  # only the chosen plane is filled
    assert not np.array_equal(result[1], image[1])
    assert events and events[-1].phase == "fill" and events[-1].step == events[-1].total


def test_run_fill_errors_and_cancellation_are_exceptions():
    from napari_inpaint.jobs import FillRequest, run_fill

    image = np.zeros((16, 16), np.float32)
    with pytest.raises(MaskCoversImageError):
        run_fill(FillRequest(image=image, mask=np.ones((16, 16), bool)))
    cancel = threading.Event()
    cancel.set()
    mask = np.zeros((16, 16), bool)
    mask[4:6, 4:6] = True
    with pytest.raises(Cancelled):
        run_fill(FillRequest(image=image, mask=mask), cancel=cancel)


# --------------------------------------------------------------------------- checkpoints
def _fake_checkpoint(folder: Path, stem: str, model: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    weights = folder / f"{stem}.safetensors"
    weights.write_bytes(b"weights")
    (folder / f"{stem}.state.safetensors").write_bytes(b"resume state")  # never offered as weights
    (folder / f"{stem}.json").write_text(json.dumps({"format": "napari-inpaint-checkpoint", "model": model}))
    return weights


def test_checkpoint_store_lists_a_models_checkpoints_from_seen_folders(tmp_path):
    from napari_inpaint.checkpoints import CheckpointStore, checkpoint_model

    ours = _fake_checkpoint(tmp_path / "run1" / "checkpoints", "final", "autoencoder")
    other = _fake_checkpoint(tmp_path / "run2" / "checkpoints", "final", "glcic")
    assert checkpoint_model(ours) == "autoencoder"

    store = CheckpointStore()
    changes = []
    store.changed.connect(lambda: changes.append(1))
    info = ModelInfo(name="autoencoder", title="AE", description="", source="", trainable=True)
    assert store.for_model(info) == []
    store.add_folder(tmp_path / "run1")
    store.add_folder(tmp_path / "run2")
    listed = store.for_model(info)
    assert [c.path for c in listed] == [ours.resolve()]
    assert listed[0].label == "run1/final"
    assert other.resolve() in store.files() and len(store.files()) == 2
    # a later checkpoint in a seen folder shows up without telling the store
    later = _fake_checkpoint(tmp_path / "run1" / "checkpoints", "step_00000010", "autoencoder")
    assert later.resolve() in [c.path for c in store.for_model(info)]
    assert len(changes) == 2
    # classical models take no weights
    classical = ModelInfo(name="telea", title="Telea", description="", source="")
    assert store.for_model(classical) == []


# --------------------------------------------------------------------------- option descriptions
def test_option_descriptions_come_from_the_dataclass_docstring():
    pytest.importorskip("qtpy")
    from napari_inpaint.option_fields import field_descriptions

    @dataclass
    class Options:
        """Options.

        Attributes:
            radius: pixels around each
                filled pixel.
            mode (str): how to fill.
        """

        radius: int = 3
        mode: str = "a"

    assert field_descriptions(Options) == {"radius": "pixels around each filled pixel.", "mode": "how to fill."}


# --------------------------------------------------------------------------- Mesa's LLVM and triton
def test_triton_is_marked_unavailable_only_when_mesas_llvm_is_loaded(monkeypatch):
    import sys

    from napari_inpaint import _compat

    monkeypatch.delitem(sys.modules, "triton", raising=False)
    monkeypatch.setattr(_compat, "llvm_gl_driver_loaded", lambda: False)
    assert _compat.avoid_triton_llvm_clash() is False
    assert "triton" not in sys.modules

    monkeypatch.setattr(_compat, "llvm_gl_driver_loaded", lambda: True)
    assert _compat.avoid_triton_llvm_clash() is True
    with pytest.raises(ImportError):
        import triton  # noqa: F401
    assert _compat.avoid_triton_llvm_clash() is False  # once is enough
