""""Learn from this layer first": the fit before a fill, without a GUI (jobs.run_fill) and in the Inpaint widget."""

from __future__ import annotations

import threading

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


def test_run_fill_learns_from_a_dask_layer_without_loading_it(tmp_path):
    """'Learn from this layer first' on a dask-backed layer: the fit reads crops window by window, the fill
    stays lazy, and the known pixels are the layer's."""
    import dask.array as da

    from napari_inpaint.jobs import run_fill

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

    monkeypatch.setenv("HOME", str(tmp_path))  # fits go to ~/napari-inpaint/fits
    stack, mask, _ = tiny_stack()
    viewer = make_napari_viewer()
    viewer.add_image(stack, name="gappy stack")
    viewer.add_labels(mask.astype(np.uint8), name="gaps")
    _dock, widget = viewer.window.add_plugin_dock_widget("napari-inpaint", "Inpaint")
    qtbot.waitUntil(lambda: widget.loaded, timeout=30_000)
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
        assert blocker.args[0] == "done", widget.status.text()
        assert "volume fill" in widget.status.text() and "held-back holes" in widget.status.text()  # the verdict
        result = viewer.layers["gappy stack inpainted"].data
        assert np.array_equal(result[~mask], stack[~mask]) and result[mask].min() > 0
        qtbot.waitUntil(lambda: any("gappy stack/best" == widget.weights_combo.itemText(i)
                                    for i in range(widget.weights_combo.count())), timeout=10_000)
        assert widget.weights_combo.currentText() == "gappy stack/best"
        assert "fit preview" in [layer.name for layer in viewer.layers]
    finally:
        store.forget_all()
