""""Learn from this layer first": the fit before a fill, without a GUI (jobs.run_fill) and in the Inpaint widget."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

from test_fit import tiny_stack

from inpaint_models.contract.errors import Cancelled

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # tests/conftest.py


def _request(tmp_path, stack, mask, **kwargs):
    from napari_inpaint.jobs import FillRequest

    return FillRequest(image=stack, mask=mask, model="stack-unet", device="cpu", volume_axis=0,
                       fit_output=tmp_path / "fit", **kwargs)


def test_run_fill_fits_first_and_fills_with_the_fit(tmp_path):
    from inpaint_models.api_fit import fitted_checkpoint
    from napari_inpaint.jobs import fit_folder, run_fill

    stack, mask, _ = tiny_stack()
    events = []
    filled = run_fill(_request(tmp_path, stack, mask, fit_seconds=1.0), events.append)
    assert {"train", "fill"} <= {event.phase for event in events}
    verdicts = [event for event in events if event.extra.get("stage") == "verdict"]
    assert len(verdicts) == 1 and "held-back holes" in verdicts[0].message  # the fit's last event
    assert events.index(verdicts[0]) < min(i for i, event in enumerate(events) if event.phase == "fill")
    assert np.array_equal(filled[~mask], stack[~mask]) and filled[mask].min() > 0
    assert fitted_checkpoint(tmp_path / "fit").name == "best.safetensors"
    assert fit_folder("a/b", tmp_path) == tmp_path / "a_b"


def test_the_fit_preview_is_the_stack_with_one_plane_filled(tmp_path):
    """The preview of a fit is of the stack's shape: the stack itself, the holes of one plane filled."""
    from inpaint_models.api_fit import fitted_checkpoint
    from napari_inpaint.jobs import run_fill, run_fit_preview

    stack, mask, _ = tiny_stack()
    request = _request(tmp_path, stack, mask, fit_seconds=1.0)
    run_fill(request)
    preview = run_fit_preview(request, (2,), fitted_checkpoint(tmp_path / "fit"))
    assert preview.shape == stack.shape and preview.dtype == stack.dtype
    changed = preview != stack
    assert changed[2].any() and not changed[mask == 0].any()  # the holes only...
    assert not np.delete(changed, 2, axis=0).any()  # ...of plane 2 only
    assert np.array_equal(stack, tiny_stack()[0])  # the image itself is never modified


def test_fits_go_to_the_user_data_folder_unless_told(tmp_path, monkeypatch):
    from napari_inpaint.jobs import default_fits_root, fit_folder

    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("XDG_DATA_HOME", raising=False)
    root = default_fits_root()
    assert root == tmp_path / ".local" / "share" / "napari-inpaint" / "fits"  # platformdirs, on Linux
    assert fit_folder("cells") == root / "cells" and not root.exists()  # nothing is made before the fit
    (tmp_path / "taken").mkdir()
    assert fit_folder("taken", tmp_path) == tmp_path / "taken-2"
    (tmp_path / "a file").write_text("")
    with pytest.raises(ValueError, match="a file; choose a folder"):
        fit_folder("cells", tmp_path / "a file")


def test_run_fill_learns_from_a_dask_layer_without_loading_it(tmp_path):
    """'Learn from this layer first' on a dask-backed layer: the fit reads crops window by window, the fill
    and the fit preview stay lazy, and the known pixels are the layer's."""
    import dask.array as da

    from inpaint_models.api_fit import fitted_checkpoint
    from napari_inpaint.jobs import run_fill, run_fit_preview

    stack, mask, _ = tiny_stack()
    reads = []
    lazy = da.from_array(stack, chunks=(1,) + stack.shape[1:]).map_blocks(lambda block: reads.append(block.size) or block)
    events = []
    filled = run_fill(_request(tmp_path, lazy, mask, fit_seconds=1.0), events.append)
    assert isinstance(filled, da.Array)
    assert any(event.extra.get("stage") == "verdict" for event in events)
    assert reads and max(reads) < stack.size  # never the whole stack in one read
    result = filled.compute()
    assert np.array_equal(result[~mask], stack[~mask])
    # the fit preview of a lazy stack: lazy (read as shown), its plane filled
    request = _request(tmp_path, lazy, mask, fit_seconds=1.0)
    request.mask = mask
    preview = run_fit_preview(request, (2,), fitted_checkpoint(tmp_path / "fit"))
    assert isinstance(preview, da.Array) and preview.shape == stack.shape
    shown = preview[2].compute()
    assert np.array_equal(shown[~mask[2]], stack[2][~mask[2]]) and shown[mask[2]].min() > 0
    assert np.array_equal(preview[1].compute(), stack[1])


def test_stopping_the_fit_still_fills_and_cancel_stops_all(tmp_path):
    from napari_inpaint.jobs import run_fill

    stack, mask, _ = tiny_stack()
    stop = threading.Event()
    stop.set()  # ended at once: the fill goes on with what the fit has (its untrained start)
    filled = run_fill(_request(tmp_path, stack, mask, fit_seconds=60.0, stop_fit=stop))
    assert np.array_equal(filled[~mask], stack[~mask])
    cancel = threading.Event()
    cancel.set()
    request = _request(tmp_path, stack, mask, fit_seconds=60.0)
    request.fit_output = tmp_path / "fit-2"
    with pytest.raises(Cancelled):
        run_fill(request, cancel=cancel)


@pytest.mark.gui
def test_learn_from_this_layer_first_in_the_inpaint_widget(make_napari_viewer, qtbot, tmp_path, monkeypatch):
    from napari_inpaint.checkpoints import store

    from napari_inpaint.jobs import default_fits_root

    monkeypatch.setenv("HOME", str(tmp_path))  # nothing goes to the real data folder
    monkeypatch.delenv("XDG_DATA_HOME", raising=False)
    stack, mask, _ = tiny_stack()
    viewer = make_napari_viewer()
    image = viewer.add_image(stack, name="gappy stack", scale=(2.0, 0.5, 0.5), translate=(4.0, 10.0, -3.0))
    viewer.add_labels(mask.astype(np.uint8), name="gaps", scale=(2.0, 0.5, 0.5), translate=(4.0, 10.0, -3.0))
    viewer.dims.set_point(0, 4.0 + 2.0 * 2)  # plane 2 on screen
    _dock, widget = viewer.window.add_plugin_dock_widget("napari-inpaint", "Inpaint")
    qtbot.waitUntil(lambda: widget.loaded, timeout=30_000)
    assert widget.fits_folder.text() == "~/.local/share/napari-inpaint/fits"  # the user's data folder
    assert Path(widget.fits_folder.text()).expanduser() == default_fits_root() == widget.models.fits_root()
    fits = tmp_path / "my fits"
    widget.fits_folder.set_text(str(fits))
    widget.set_model("telea")
    assert not widget.learn_check.isEnabled()  # nothing to learn for a classical fill
    widget.set_model("stack-unet")
    assert widget.learn_check.isEnabled()
    widget.plane_all.setChecked(True)
    widget.volume_check.setChecked(True)
    widget.device_combo.setCurrentText("cpu")
    widget.learn_check.setChecked(True)
    widget.learn_seconds.setValue(widget.learn_seconds.minimum())
    try:
        with qtbot.waitSignal(widget.fill_finished, timeout=120_000) as blocker:
            widget.fill_button.click()
            assert "the fit is saved to ~/my fits/gappy stack…" in widget.status.text()  # under HOME: ~
        assert blocker.args[0] == "done", widget.status.text()
        assert widget.status.text().endswith("Fit saved to ~/my fits/gappy stack.")
        assert (fits / "gappy stack" / "checkpoints" / "best.safetensors").is_file()
        assert "volume fill" in widget.status.text() and "held-back holes" in widget.status.text()  # the verdict
        result = viewer.layers["gappy stack inpainted"].data
        assert np.array_equal(result[~mask], stack[~mask]) and result[mask].min() > 0
        qtbot.waitUntil(lambda: any("gappy stack/best" == widget.weights_combo.itemText(i)
                                    for i in range(widget.weights_combo.count())), timeout=10_000)
        assert widget.weights_combo.currentText() == "gappy stack/best"
        preview = viewer.layers["fit preview"]  # the stack's shape and place, the plane on screen filled
        assert preview.data.shape == stack.shape
        assert np.allclose(preview.scale, image.scale) and np.allclose(preview.translate, image.translate)
        changed = np.asarray(preview.data) != stack
        assert changed[2].any() and not changed[~mask].any() and not np.delete(changed, 2, axis=0).any()
        assert not preview.visible  # hidden once the fill is there: it would cover the result
    finally:
        store.forget_all()
