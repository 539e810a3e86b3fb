"""The GUI-free parts behind the napari widgets: mask preparation, the fill job,
the checkpoint list and the option fields' descriptions.

These run without a display: the widgets only gather inputs for these functions.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np
import pytest

from inpaint_models.contract.datatypes import ModelInfo
from inpaint_models.contract.errors import Cancelled, MaskCoversImageError, ShapeMismatchError
from inpaint_models.io.maskops import dilate_mask, new_mask, prepare_mask


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


# --------------------------------------------------------------------------- the fill clock
def _event(phase: str, step: int, total: int):
    from inpaint_models.contract.datatypes import ProgressEvent

    return ProgressEvent(phase, step, total)


def test_fill_clock_measures_calls_between_events_not_the_model_loading():
    from inpaint_models.api import FillClock

    now = [0.0]
    clock = FillClock(now=lambda: now[0])
    now[0] = 20.0  # torch import and weights loading before the first network call
    assert clock.update(_event("sample", 1, 50)) is None  # one call: nothing to measure yet
    now[0] = 22.0
    assert clock.update(_event("sample", 2, 50)) == pytest.approx(2.0 * 48)  # 2 s per call, 48 calls left
    assert not clock.regions_known
    now[0] = 118.0
    assert clock.update(_event("sample", 50, 50)) == pytest.approx(0.0)


def test_fill_clock_counts_the_regions_left():
    from inpaint_models.api import FillClock

    now = [0.0]
    clock = FillClock(now=lambda: now[0])
    now[0] = 10.0
    assert clock.update(_event("fill", 1, 4)) == pytest.approx(30.0)  # the first region's time x 3 left
    now[0] = 12.0
    assert clock.update(_event("fill", 2, 4)) == pytest.approx(4.0)  # later regions: 2 s each, loading left out
    # a sampler inside the third region: its calls and one more region of the same number of calls
    now[0] = 13.0
    clock.update(_event("sample", 1, 10))
    now[0] = 14.0
    assert clock.update(_event("sample", 2, 10)) == pytest.approx(1.0 * 8 + 1.0 * 10)
    assert clock.regions_known


def test_durations_read_as_a_person_says_them():
    from inpaint_models.api import format_duration

    assert format_duration(0.2) == "1 s"
    assert format_duration(45) == "45 s"
    assert format_duration(334) == "5 min 34 s"
    assert format_duration(3 * 3600 + 300) == "3 h 05 min"


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
