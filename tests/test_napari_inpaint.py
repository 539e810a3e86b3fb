"""The Inpaint dock widget in a real (off-screen, Xvfb) napari viewer."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Literal, Optional

import numpy as np
import pytest

from inpaint_models import hookimpl
from inpaint_models.contract.datatypes import FillContext, ModelInfo, ProgressEvent
from inpaint_models.contract.registry import default_registry

pytestmark = pytest.mark.gui

TIMEOUT_MS = 20_000


# --------------------------------------------------------------------------- test models
@dataclass(frozen=True)
class SlowOptions:
    """Options of the slow test model.

    Attributes:
        steps: progress reports per crop.
        delay: seconds between reports.
    """

    steps: int = 400
    delay: float = 0.01


class SlowPlugin:
    """A model that takes a while and reports progress (to test Cancel and responsiveness)."""

    @hookimpl
    def model_info(self) -> ModelInfo:
        return ModelInfo(
            name="test-slow",
            title="Slow test model",
            description="Sleeps between progress reports, then fills with the mean of the known pixels",
            source="tests",
            options=SlowOptions,
        )

    @hookimpl
    def fill(self, image: np.ndarray, mask: np.ndarray, options: SlowOptions, context: FillContext) -> np.ndarray:
        for step in range(1, options.steps + 1):
            time.sleep(options.delay)
            context.report(ProgressEvent("sample", step, options.steps))
        out = image.copy()
        out[mask] = image[~mask].mean(axis=0)
        return out


class ThirdPartyPlugin:
    """A model a separate package could ship; it only has to be registered."""

    @hookimpl
    def model_info(self) -> ModelInfo:
        return ModelInfo(
            name="third-party-flat",
            title="Third-party flat fill",
            description="Fills holes with a constant grey",
            source="tests",
        )

    @hookimpl
    def fill(self, image: np.ndarray, mask: np.ndarray) -> np.ndarray:
        out = image.copy()
        out[mask] = 0.5
        return out


@pytest.fixture
def slow_model():
    registry = default_registry()
    name = registry.register(SlowPlugin(), name="test-slow")
    yield name
    registry.unregister(name)


@pytest.fixture
def third_party_model():
    registry = default_registry()
    name = registry.register(ThirdPartyPlugin(), name="third-party-flat")
    yield name
    registry.unregister(name)


@pytest.fixture(autouse=True)
def own_timings_cache(tmp_path, monkeypatch):
    """Fill estimates (measured before neural fills) go to a cache of the test's own."""
    monkeypatch.setenv("INPAINT_MODELS_CACHE", str(tmp_path / "timings"))


# --------------------------------------------------------------------------- helpers
def smooth_image(shape=(64, 80), seed=0) -> np.ndarray:
    """A smooth uint8 test image (fills of smooth images are easy to judge)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0 : shape[0], 0 : shape[1]]
    base = 100 + 60 * np.sin(xx / 9.0) + 40 * np.cos(yy / 7.0)
    return np.clip(base + rng.normal(0, 2, shape), 0, 255).astype(np.uint8)


def dock_inpaint(qtbot, viewer):
    """The Inpaint widget docked from the manifest, once its model list has loaded (in a worker thread)."""
    _dock, widget = viewer.window.add_plugin_dock_widget("napari-inpaint", "Inpaint")
    qtbot.waitUntil(lambda: widget.loaded, timeout=TIMEOUT_MS)
    return widget


@pytest.fixture
def viewer_widget(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    return viewer, dock_inpaint(qtbot, viewer)


def fill_and_wait(qtbot, widget) -> list[str]:
    outcomes: list[str] = []
    with qtbot.waitSignal(widget.fill_finished, timeout=TIMEOUT_MS) as blocker:
        widget.fill_button.click()
    outcomes.append(blocker.args[0])
    return outcomes


@pytest.fixture
def notifications():
    """Every napari notification dispatched during the test."""
    from napari.utils.notifications import notification_manager

    seen = []
    # napari shows each distinct warning once per process: an earlier test may have shown the same one
    notification_manager._seen_warnings.clear()
    notification_manager.notification_ready.connect(seen.append)
    yield seen
    notification_manager.notification_ready.disconnect(seen.append)


# --------------------------------------------------------------------------- tests
def test_widget_docks_from_the_plugin_manifest(viewer_widget):
    from napari_inpaint.inpaint_widget import InpaintWidget

    _viewer, widget = viewer_widget
    assert type(widget).__name__ == InpaintWidget.__name__
    assert {"telea", "navier-stokes", "biharmonic"} <= set(widget.model_names())


def test_new_mask_is_a_labels_layer_of_the_image_spatial_shape_in_paint_mode(viewer_widget):
    from napari.layers import Labels

    viewer, widget = viewer_widget
    image = viewer.add_image(np.zeros((40, 50, 3), np.uint8), rgb=True, name="photo", scale=(2, 2))
    widget.image_combo.set_value(image)
    widget.brush_size.setValue(7)
    widget.new_mask_button.click()

    mask = viewer.layers["photo mask"]
    assert isinstance(mask, Labels)
    assert mask.data.shape == (40, 50)  # spatial: no RGB axis
    assert tuple(mask.scale) == (2, 2)
    assert viewer.layers.selection.active is mask
    assert mask.mode == "paint"
    assert mask.brush_size == 7
    assert widget.mask_combo.currentText() == "photo mask"
    widget.brush_size.setValue(12)  # the brush-size control drives the layer
    assert mask.brush_size == 12


def test_telea_fill_of_a_painted_mask_adds_a_layer_and_leaves_the_original_untouched(qtbot, viewer_widget):
    viewer, widget = viewer_widget
    data = smooth_image()
    original = data.copy()
    image = viewer.add_image(data, name="cells")
    widget.image_combo.set_value(image)
    mask = widget.new_mask()
    mask.paint((30, 40), 1)  # one brush dab, as a user's click would
    painted = mask.data > 0
    assert painted.sum() > 20
    widget.set_model("telea")

    assert fill_and_wait(qtbot, widget) == ["done"]

    result = viewer.layers["cells inpainted"].data
    assert np.array_equal(image.data, original)  # the source layer is untouched
    assert result.shape == original.shape and result.dtype == original.dtype
    assert np.array_equal(result[~painted], original[~painted])
    assert not np.array_equal(result[painted], original[painted])
    # a smooth image is filled with values close to the truth
    assert np.abs(result[painted].astype(int) - original[painted].astype(int)).mean() < 25
    assert "telea" in widget.status.text()


def test_in_place_fill_and_undo(qtbot, viewer_widget):
    viewer, widget = viewer_widget
    data = smooth_image()
    data[20:30, 20:30] = 255  # a bright blemish to remove
    original = data.copy()
    image = viewer.add_image(data, name="img")
    widget.image_combo.set_value(image)
    labels = widget.new_mask()
    labels.data[18:32, 18:32] = 1
    widget.result_inplace.setChecked(True)
    widget.dilation.setValue(2)

    assert labels.visible
    assert fill_and_wait(qtbot, widget) == ["done"]
    assert [layer.name for layer in viewer.layers] == ["img", "img mask"]
    assert image.data[25, 25] < 200
    assert widget.undo_button.isEnabled()
    assert not labels.visible  # the mask over the filled pixels would hide the result
    assert "mask 'img mask' hidden" in widget.status.text()

    widget.undo_button.click()
    assert np.array_equal(image.data, original)
    assert labels.visible  # back with the data it was painted on
    assert not widget.undo_button.isEnabled()


def test_cancel_stops_a_running_fill_and_changes_nothing(qtbot, viewer_widget, slow_model):
    viewer, widget = viewer_widget
    image = viewer.add_image(smooth_image(), name="img")
    widget.image_combo.set_value(image)
    widget.new_mask().data[10:20, 10:20] = 1
    widget.set_model(slow_model)
    widget.options.set_value("steps", 2000)  # ~20 s if not cancelled
    widget.run.long_fill_seconds = 1e9  # no question asked here (see the long-fill test)

    ticks: list[float] = []
    from qtpy.QtCore import QTimer

    timer = QTimer()
    timer.timeout.connect(lambda: ticks.append(time.monotonic()))
    timer.start(10)
    with qtbot.waitSignal(widget.fill_finished, timeout=TIMEOUT_MS) as blocker:
        widget.fill_button.click()
        assert widget.cancel_button.isEnabled() and not widget.fill_button.isEnabled()
        qtbot.waitUntil(lambda: widget.progress.maximum() == 2000, timeout=TIMEOUT_MS)  # progress arrives
        qtbot.wait(300)
        widget.cancel_button.click()
    timer.stop()
    assert blocker.args == ["cancelled"]
    assert [layer.name for layer in viewer.layers] == ["img", "img mask"]
    assert widget.fill_button.isEnabled() and not widget.cancel_button.isEnabled()
    # the GUI kept running its event loop during the fill (generous bound for shared CI machines)
    gaps = np.diff(ticks)
    assert len(ticks) > 10 and gaps.max() < 0.3, gaps.max()


def test_a_shapes_layer_works_as_mask(qtbot, viewer_widget):
    viewer, widget = viewer_widget
    data = smooth_image()
    image = viewer.add_image(data, name="img")
    square = np.array([[10, 10], [10, 30], [30, 30], [30, 10]])
    shapes = viewer.add_shapes([square], shape_type="polygon", name="outline")
    widget.image_combo.set_value(image)
    widget.mask_combo.set_value(shapes)
    assert not widget.brush_size.isEnabled()  # the brush belongs to labels layers

    assert fill_and_wait(qtbot, widget) == ["done"]
    result = viewer.layers["img inpainted"].data
    changed = result != data
    rows, cols = np.nonzero(changed)
    assert changed.any()
    assert rows.min() >= 10 and rows.max() <= 30 and cols.min() >= 10 and cols.max() <= 30


def test_a_backend_error_becomes_a_notification_not_an_exception(qtbot, viewer_widget, notifications):
    from napari.utils.notifications import NotificationSeverity

    viewer, widget = viewer_widget
    image = viewer.add_image(smooth_image(), name="img")
    widget.image_combo.set_value(image)
    widget.new_mask().data[:] = 1  # nothing left to inpaint from

    assert fill_and_wait(qtbot, widget) == ["error"]
    errors = [n for n in notifications if n.severity == NotificationSeverity.ERROR]
    assert errors and "covers the whole image" in errors[-1].message
    assert "covers the whole image" in widget.status.text()
    assert [layer.name for layer in viewer.layers] == ["img", "img mask"]
    assert widget.fill_button.isEnabled()


def test_missing_inputs_are_notified(viewer_widget, notifications):
    viewer, widget = viewer_widget
    assert widget.fill() is None  # no image at all
    viewer.add_image(smooth_image(), name="img")
    assert widget.fill() is None  # no mask
    messages = [n.message for n in notifications]
    assert any("choose an image" in m for m in messages)
    assert any("mask" in m for m in messages)


def test_a_third_party_model_appears_in_the_dropdown_with_its_fields(qtbot, viewer_widget, third_party_model):
    viewer, widget = viewer_widget
    widget.model_combo.showPopup()  # opening the list refreshes it
    widget.model_combo.hidePopup()
    assert third_party_model in widget.model_names()

    widget.set_model("telea")
    assert widget.options.names() == ["radius"]
    widget.options.set_value("radius", 7)
    widget.set_model(third_party_model)
    assert widget.options.names() == []
    assert not widget.weights_combo.isEnabled()

    image = viewer.add_image(np.full((32, 32), 0.2, np.float32), name="flat")
    widget.image_combo.set_value(image)
    widget.new_mask().data[8:16, 8:16] = 1
    assert fill_and_wait(qtbot, widget) == ["done"]
    result = viewer.layers["flat inpainted"].data
    assert np.allclose(result[8:16, 8:16], 0.5)  # the third-party model did the fill
    result[8:16, 8:16] = 0.2
    assert np.array_equal(result, image.data)


def test_model_options_reach_the_backend(viewer_widget):
    viewer, widget = viewer_widget
    image = viewer.add_image(smooth_image(), name="img")
    widget.image_combo.set_value(image)
    widget.new_mask()
    widget.set_model("telea")
    widget.options.set_value("radius", 9)
    widget.device_combo.setCurrentText("cpu")
    request = widget.request()
    assert request.model == "telea" and request.options == {"radius": 9} and request.device == "cpu"
    widget.set_model("biharmonic")
    assert widget.options.names() == ["split_into_regions", "predict_lost_planes"]
    widget.options.widget("split_into_regions").value = False
    widget.options.widget("predict_lost_planes").value = False
    assert widget.request().options == {"split_into_regions": False, "predict_lost_planes": False}


def test_stack_current_plane_or_whole_stack(qtbot, viewer_widget):
    viewer, widget = viewer_widget
    stack = np.stack([smooth_image(seed=s) for s in range(4)])
    image = viewer.add_image(stack, name="stack")
    widget.image_combo.set_value(image)
    labels = widget.new_mask()
    assert labels.data.shape == (4, 64, 80)
    assert widget.planes_row.isEnabled()
    labels.data[:, 20:30, 20:30] = 1
    viewer.dims.set_current_step(0, 2)

    widget.plane_current.setChecked(True)
    assert fill_and_wait(qtbot, widget) == ["done"]
    one = viewer.layers["stack inpainted"].data
    changed_planes = [z for z in range(4) if not np.array_equal(one[z], stack[z])]
    assert changed_planes == [2]

    widget.plane_all.setChecked(True)
    assert fill_and_wait(qtbot, widget) == ["done"]
    every = viewer.layers["stack inpainted [1]"].data
    assert all(not np.array_equal(every[z], stack[z]) for z in range(4))


def test_sample_data_opens(make_napari_viewer):
    viewer = make_napari_viewer()
    viewer.open_sample("napari-inpaint", "stack-with-gaps")
    assert viewer.layers["stack"].data.ndim == 3
    assert viewer.layers["stack gaps"].data.shape == viewer.layers["stack"].data.shape
    viewer.open_sample("napari-inpaint", "photo-with-mask")
    assert viewer.layers["astronaut"].rgb


def test_closing_napari_during_a_fill_stops_it(make_napari_viewer, qtbot, slow_model):
    viewer = make_napari_viewer()
    widget = dock_inpaint(qtbot, viewer)
    widget.run.long_fill_seconds = 1e9
    image = viewer.add_image(smooth_image(), name="img")
    widget.image_combo.set_value(image)
    widget.new_mask().data[10:20, 10:20] = 1
    widget.set_model(slow_model)
    widget.options.set_value("steps", 5000)
    job = widget.fill()
    assert job is not None and job.running
    started = time.monotonic()
    viewer.close()
    assert job.wait(10)
    assert time.monotonic() - started < 10


# --------------------------------------------------------------------------- option forms (magicgui)
def test_option_form_is_magicgui_fields_with_descriptions_that_read_back_as_values(qtbot):
    from inpaint_models.contract.options import option_fields
    from napari_inpaint.option_form import OptionForm

    @dataclass(frozen=True)
    class Options:
        """Options.

        Attributes:
            radius: pixels around each
                filled pixel.
            rate: a small number.
            mode: how to fill.
            flag: on or off.
            limit: optional cap.
        """

        radius: int = 3
        rate: float = 2e-4
        mode: Literal["a", "b"] = "a"
        flag: bool = True
        limit: Optional[int] = None

    form = OptionForm()
    qtbot.addWidget(form)
    form.set_fields(Options, option_fields(Options))
    assert form.names() == ["radius", "rate", "mode", "flag", "limit"]
    assert form.widget("radius").tooltip == "pixels around each filled pixel."
    assert form.widget("rate").value == "0.0002"  # typed as text: no spin-box rounding
    assert form.values() == {}
    assert form.values(only_changed=False) == {"radius": 3, "rate": 2e-4, "mode": "a", "flag": True, "limit": None}
    form.set_value("radius", 9)
    form.set_value("rate", 1e-5)
    form.set_value("mode", "b")
    form.widget("flag").value = False
    form.widget("limit").value = "7"
    assert form.values() == {"radius": 9, "rate": 1e-5, "mode": "b", "flag": False, "limit": "7"}
    form.widget("rate").value = "fast"  # left to the backend, which names the option in its error
    assert form.value("rate") == "fast"
    form.set_fields(Options, {})
    assert form.names() == [] and form.values() == {}


def test_fill_panel_shows_only_fill_options_and_what_the_weights_fix(qtbot, viewer_widget):
    from inpaint_models.contract.options import option_kind

    _viewer, widget = viewer_widget
    trainable = ("diffusion", "glcic", "autoencoder")  # built in
    assert set(trainable) <= set(widget.model_names())
    for name in trainable:
        widget.set_model(name)
        info = widget.model_info()
        assert all(option_kind(info, option) == "fill" for option in widget.options.names()), name
        # what the weights fix is one read-only line, read from the checkpoint's sidecar in a worker thread
        qtbot.waitUntil(lambda: widget.weights_info.text().startswith("Weights:"), timeout=TIMEOUT_MS)
        assert "trained at" in widget.weights_info.text()
    widget.set_model("diffusion")
    assert "steps" in widget.options.names() and "preset" not in widget.options.names()
    qtbot.waitUntil(lambda: "preset=" in widget.weights_info.text(), timeout=TIMEOUT_MS)
    widget.options.set_value("steps", 5)
    image = _viewer.add_image(smooth_image(), name="img")
    widget.image_combo.set_value(image)
    widget.new_mask()
    assert widget.request().options == {"steps": 5}
    widget.set_model("telea")
    assert widget.options.names() == ["radius"]
    assert not widget.weights_info.isVisible() and widget.weights_info.text() == ""


def test_option_values_are_kept_per_model(viewer_widget):
    _viewer, widget = viewer_widget
    widget.set_model("telea")
    widget.options.set_value("radius", 11)
    widget.set_model("biharmonic")
    widget.set_model("telea")
    assert widget.options.value("radius") == 11


# --------------------------------------------------------------------------- a responsive GUI
DOCK_SPY = r"""
import importlib.abc, json, sys, threading, time

main = threading.main_thread()
events = []


class Spy(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name == "torch" and threading.current_thread() is main:
            events.append("torch imported on the GUI thread")
        return None


sys.meta_path.insert(0, Spy())
import napari
from inpaint_models.contract import registry as plugins

original = plugins.default_registry


def spy_registry():
    if threading.current_thread() is main:
        events.append("registry built on the GUI thread")
    return original()


plugins.default_registry = spy_registry
from qtpy.QtWidgets import QApplication

viewer = napari.Viewer(show=False)
import napari_inpaint.inpaint_widget, napari_inpaint.train_widget  # imported by npe2 when a dock opens

end = time.perf_counter() + 1.0
while time.perf_counter() < end:  # napari's own start-up events first: they are not ours to measure
    QApplication.processEvents()
    time.sleep(0.002)
timings = {}
widgets = []
for name, cls in (("inpaint", napari_inpaint.inpaint_widget.InpaintWidget),
                  ("train", napari_inpaint.train_widget.TrainWidget)):
    wall, cpu = time.perf_counter(), time.thread_time()
    widgets.append(cls(viewer))
    timings[name] = (time.perf_counter() - wall, time.thread_time() - cpu)
ticks = [time.perf_counter()]
busy = [0.0]  # GUI-thread CPU seconds per round of the event loop: what our callbacks cost it
while not all(w.loaded for w in widgets) and ticks[-1] - ticks[0] < 120:
    cpu = time.thread_time()
    QApplication.processEvents()
    busy.append(time.thread_time() - cpu)
    time.sleep(0.002)
    ticks.append(time.perf_counter())
gaps = [b - a for a, b in zip(ticks, ticks[1:])] or [0.0]
print(json.dumps({"events": events, "timings": timings, "loaded": all(w.loaded for w in widgets),
                  "longest_gui_stall_while_loading": max(gaps), "longest_gui_cpu_while_loading": max(busy),
                  "torch_in_worker": "torch" in sys.modules}))
viewer.close()
"""


@pytest.mark.slow  # starts a napari process
def test_opening_the_docks_never_builds_the_registry_or_imports_torch_on_the_gui_thread(tmp_path):
    """In a fresh process (torch not imported yet): the constructors return at once, the registry
    arrives from a worker thread, and the GUI thread neither builds it nor imports torch."""
    import json
    import os
    import subprocess
    import sys

    script = tmp_path / "dock_spy.py"
    script.write_text(DOCK_SPY)
    import importlib.util

    from qtpy import API_NAME

    # the default install's binding (PyQt6); qtpy alone would pick PyQt5 where both are installed
    binding = "pyqt6" if importlib.util.find_spec("PyQt6") is not None else API_NAME.lower()
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=300,
        env={**os.environ, "QT_API": binding}, check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    print(report)
    assert report["events"] == []
    assert report["loaded"]
    # no GUI-thread callback while the models arrive costs 100 ms: listing them and building the first
    # options form (magicgui) run in separate turns of the event loop, magicgui's Qt backend is imported
    # in the loading worker, and the Train widget builds its forms when shown; the wall-clock stall is
    # printed, not asserted: other processes share the CPU
    assert report["longest_gui_cpu_while_loading"] < 0.1, report
    for name, (wall, cpu) in report["timings"].items():
        # GUI-thread CPU time is what the constructor itself costs (wall time also counts the other
        # engineers' processes on a shared CI machine, hence its looser bound)
        assert cpu < 0.1, (name, cpu)
        assert wall < 0.5, (name, wall)


def test_the_constructor_starts_loading_models_in_a_worker(make_napari_viewer, qtbot, monkeypatch):
    import threading

    from inpaint_models.contract import registry as plugins
    from napari_inpaint.inpaint_widget import InpaintWidget

    threads = []
    original = plugins.default_registry
    monkeypatch.setattr(plugins, "default_registry", lambda: threads.append(threading.current_thread()) or original())
    widget = InpaintWidget(make_napari_viewer())
    qtbot.addWidget(widget)
    assert not widget.loaded and widget.model_combo.currentText() == "loading models…"
    assert not widget.fill_button.isEnabled()
    qtbot.waitUntil(lambda: widget.loaded, timeout=TIMEOUT_MS)
    assert threads and all(thread is not threading.main_thread() for thread in threads)
    assert widget.fill_button.isEnabled() and "telea" in widget.model_names()


def test_skipped_plugins_show_as_one_notification(make_napari_viewer, qtbot, monkeypatch, notifications):
    from inpaint_models.contract import registry as plugins
    from napari_inpaint import _widgets
    from napari_inpaint.inpaint_widget import InpaintWidget

    registry = plugins.make_registry(load_entry_points=False)
    registry.register(ThirdPartyPlugin(), name="third-party-flat")
    message = "inpaint model plugin 'broken' (broken-pkg 1.0) skipped: it failed to load: ImportError: nope"
    registry.failed["broken"] = message

    def build():  # as the real registry does: record the failure and warn (here in the worker thread)
        import warnings

        warnings.warn(message, plugins.PluginSkippedWarning, stacklevel=2)
        return registry

    monkeypatch.setattr(plugins, "default_registry", build)
    monkeypatch.setattr(_widgets, "_notified_failures", set())
    viewer = make_napari_viewer()
    for _ in range(2):  # a second dock does not repeat it
        widget = InpaintWidget(viewer)
        qtbot.addWidget(widget)
        qtbot.waitUntil(lambda w=widget: w.loaded, timeout=TIMEOUT_MS)
    assert [n.message for n in notifications].count(message) == 1
    assert widget.model_names() == ["third-party-flat"]


def test_a_shapes_mask_is_rasterised_in_the_worker(viewer_widget):
    viewer, widget = viewer_widget
    image = viewer.add_image(smooth_image(), name="img")
    shapes = viewer.add_shapes([np.array([[10, 10], [10, 30], [30, 30], [30, 10]])], shape_type="polygon")
    widget.image_combo.set_value(image)
    widget.mask_combo.set_value(shapes)
    request = widget.request()
    assert callable(request.mask)  # a function of a copy of the shapes, called by run_fill in the worker
    shapes.data = []  # editing the layer afterwards does not change the fill that was asked for
    mask = request.mask()
    assert mask.shape == image.data.shape and mask[12:28, 12:28].all() and not mask[:8].any()


# --------------------------------------------------------------------------- defaults, volumes, the model list
def test_model_tooltips_say_which_weights_are_the_small_cpu_trained_ones(viewer_widget):
    from qtpy.QtCore import Qt

    from napari_inpaint._widgets import SMALL_WEIGHTS_NOTE

    _viewer, widget = viewer_widget
    combo = widget.model_combo
    tips = {combo.itemData(i): combo.itemData(i, Qt.ItemDataRole.ToolTipRole) for i in range(combo.count())}
    for name in widget.model_names():
        info = widget.registry.info(name)
        assert (SMALL_WEIGHTS_NOTE in tips[name]) == (info.trainable and info.default_weights is not None), name
        assert tips[name].startswith(info.description)
    assert SMALL_WEIGHTS_NOTE not in tips["telea"]


def test_the_default_model_is_the_backends_choice_for_the_image(viewer_widget):
    from inpaint_models import api

    viewer, widget = viewer_widget
    photo = viewer.add_image(np.zeros((64, 64, 3), np.uint8), rgb=True, name="photo")
    widget.image_combo.set_value(photo)
    assert widget.model_combo.currentData() == api.default_model(photo.data.shape, channel_axis=2, volume_axis=None)
    stack = viewer.add_image(np.stack([smooth_image(seed=s) for s in range(4)]), name="stack")
    widget.image_combo.set_value(stack)
    assert widget.volume_check.isChecked() and widget.volume_check.isEnabled()
    assert widget.model_combo.currentData() == api.default_model(stack.data.shape, channel_axis=None, volume_axis=0)
    # once the user picks a model, it stays
    widget.set_model("telea")
    widget.image_combo.set_value(photo)
    assert widget.model_combo.currentData() == "telea"
    assert not widget.volume_check.isChecked() and not widget.volume_check.isEnabled()


def test_fill_reads_the_painted_hole_unless_a_model_was_picked(qtbot, viewer_widget):
    """Thin scratches painted on a photo are filled by the diffusion fill `auto` picks for them; a box by
    patchmatch; a model the user picked is kept."""
    from skimage import data

    viewer, widget = viewer_widget
    photo = viewer.add_image(np.ascontiguousarray(data.astronaut()[::4, ::4]), rgb=True, name="photo")
    widget.image_combo.set_value(photo)
    labels = widget.new_mask()
    labels.data[40:42, :] = 1
    labels.data[80:82, :] = 1
    assert fill_and_wait(qtbot, widget) == ["done"]
    assert widget.model_combo.currentData() == "biharmonic"
    labels.data[:] = 0
    labels.data[48:80, 48:80] = 1
    assert fill_and_wait(qtbot, widget) == ["done"]
    assert widget.model_combo.currentData() == "patchmatch"
    widget.set_model("telea")
    labels.data[:] = 0
    labels.data[40:42, :] = 1
    assert fill_and_wait(qtbot, widget) == ["done"]
    assert widget.model_combo.currentData() == "telea"


def test_a_lost_plane_of_a_2048_stack_shows_progress_and_cancel_stops_it(qtbot, viewer_widget):
    """The default volume fill of a lost 2048 x 2048 plane reports its progress in the dock (hole voxels
    solved), and Cancel stops it between two systems, leaving the stack as it was."""
    viewer, widget = viewer_widget
    rng = np.random.default_rng(0)
    stack = viewer.add_image(rng.integers(1000, 3000, (3, 2048, 2048)).astype(np.uint16), name="stack")
    widget.image_combo.set_value(stack)
    labels = widget.new_mask()
    labels.data[1] = 1  # a dropped frame
    widget.plane_all.setChecked(True)
    widget.run.long_fill_seconds = 1e9  # no question asked here
    assert widget.model_combo.currentData() == "biharmonic"
    before = stack.data.copy()
    with qtbot.waitSignal(widget.fill_finished, timeout=TIMEOUT_MS) as blocker:
        widget.fill_button.click()
        qtbot.waitUntil(lambda: widget.progress.format().startswith("solve"), timeout=TIMEOUT_MS)
        assert widget.progress.maximum() == 2048 * 2048 // 1000 and 0 < widget.progress.value()
        widget.cancel_button.click()
    assert blocker.args == ["cancelled"]
    assert [layer.name for layer in viewer.layers] == ["stack", "stack mask"]
    assert np.array_equal(stack.data, before)


def test_neighbouring_planes_fill_the_stack_as_a_volume(qtbot, viewer_widget, notifications):
    from napari.utils.notifications import NotificationSeverity

    viewer, widget = viewer_widget
    zz, yy, xx = np.mgrid[0:8, 0:40, 0:40]
    field = (1000 + 40 * zz + 10 * yy + 5 * xx).astype(np.uint16)  # smooth in 3D
    image = viewer.add_image(field, name="volume")
    widget.image_combo.set_value(image)
    labels = widget.new_mask()
    labels.data[3:5, 15:25, 15:25] = 1
    widget.plane_all.setChecked(True)
    assert widget.volume_check.isChecked()
    assert widget.request().volume_axis == 0
    widget.volume_check.setChecked(False)
    assert widget.request().volume_axis is None
    widget.volume_check.setChecked(True)

    volume_model = next(name for name in widget.model_names() if widget.registry.info(name).fills_volumes)
    widget.set_model(volume_model)
    assert fill_and_wait(qtbot, widget) == ["done"]
    filled = viewer.layers["volume inpainted"].data
    hole = labels.data > 0
    assert np.abs(filled[hole].astype(float) - field[hole]).mean() < 20

    # a model that fills 2D images only goes plane by plane, and says so
    widget.set_model("telea")
    assert fill_and_wait(qtbot, widget) == ["done"]
    warnings = [n.message for n in notifications if n.severity == NotificationSeverity.WARNING]
    assert any("plane by plane" in message for message in warnings), warnings


def test_the_status_line_does_not_ask_for_a_mask_when_one_is_loaded(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    viewer.open_sample("napari-inpaint", "photo-with-mask")
    widget = dock_inpaint(qtbot, viewer)
    assert widget.mask_combo.currentText() == "astronaut mask"
    assert "Paint" not in widget.status.text() and "New mask" not in widget.status.text()
    assert "Press Fill" in widget.status.text()


# --------------------------------------------------------------------------- long fills
def test_a_long_fill_says_how_long_with_an_eta_and_can_be_cancelled_from_the_question(
    qtbot, viewer_widget, slow_model
):
    viewer, widget = viewer_widget
    image = viewer.add_image(smooth_image(), name="img")
    widget.image_combo.set_value(image)
    widget.new_mask().data[10:20, 10:20] = 1
    widget.set_model(slow_model)
    widget.options.set_value("steps", 1000)
    widget.options.set_value("delay", 0.02)  # ~20 s in all
    widget.run.long_fill_seconds = 5.0
    widget.run.estimate_before_fill = False  # the question asked during the fill (the one before it: below)

    with qtbot.waitSignal(widget.fill_finished, timeout=TIMEOUT_MS) as blocker:
        widget.fill_button.click()
        qtbot.waitUntil(lambda: widget.run.long_fill_dialog is not None, timeout=TIMEOUT_MS)
        text = widget.run.long_fill_dialog.text()
        assert "will take about" in text and "measured on its first steps" in text
        assert "lower 'steps' (now 1000)" in text  # the way to go faster
        assert "left" in widget.progress.format()  # progress shows an ETA
        assert widget.run.job.running  # asking does not hold the fill up
        widget.run.long_fill_cancel.click()
    assert blocker.args == ["cancelled"]
    assert widget.run.long_fill_dialog is None
    assert [layer.name for layer in viewer.layers] == ["img", "img mask"]


def test_a_short_fill_asks_nothing(qtbot, viewer_widget, slow_model):
    viewer, widget = viewer_widget
    image = viewer.add_image(smooth_image(), name="img")
    widget.image_combo.set_value(image)
    widget.new_mask().data[10:20, 10:20] = 1
    widget.set_model(slow_model)
    widget.options.set_value("steps", 20)
    widget.options.set_value("delay", 0.005)
    assert fill_and_wait(qtbot, widget) == ["done"]
    assert widget.run.long_fill_dialog is None and not widget.run._asked_long


def test_python_m_napari_inpaint_opens_with_the_whole_photo_in_view(qtbot):
    from napari_inpaint.__main__ import open_viewer

    viewer = open_viewer([])
    try:
        widget = viewer.window.dock_widgets["Inpaint (napari-inpaint)"]
        qtbot.waitUntil(lambda: widget.loaded, timeout=TIMEOUT_MS)
        qtbot.wait(200)  # the second fit, after the event loop has run
        width, height = viewer.window._qt_viewer.canvas.size  # the canvas left beside the docks
        photo = viewer.layers["astronaut"].data
        zoom = getattr(viewer, "scene", viewer).camera.zoom  # napari 0.9 moved the camera to viewer.scene
        assert photo.shape[0] * zoom <= height + 1 and photo.shape[1] * zoom <= width + 1
        assert "Press Fill" in widget.status.text()
    finally:
        viewer.close()


# --------------------------------------------------------------------------- estimated before the fill
def long_estimate(seconds_per_call=1.5, calls=400):
    """A stand-in for inpaint_models.estimate_fill_seconds: a long measurement of the slow model."""
    from inpaint_models.pipeline.estimate import FillEstimate

    def estimate(image, mask, model="auto", **_kwargs):
        return FillEstimate(seconds=seconds_per_call * calls, method="measured", model=model, device="cpu",
                            regions=1.0, region_count=1, calls=calls, seconds_per_call=seconds_per_call,
                            crop_shape=(64, 80), steps_option="steps", steps=calls)

    return estimate


@pytest.fixture
def slow_fill(viewer_widget, slow_model, monkeypatch):
    """The slow model on a small image, its estimate 600 s, and the fills' requests recorded."""
    import napari_inpaint.inpaint_run as module

    viewer, widget = viewer_widget
    image = viewer.add_image(smooth_image(), name="img")
    widget.image_combo.set_value(image)
    widget.new_mask().data[10:20, 10:20] = 1
    widget.set_model(slow_model)
    widget.options.set_value("delay", 0.001)
    monkeypatch.setattr("inpaint_models.api.estimate_fill_seconds", long_estimate())
    requests = []
    real_fill = module.run_fill

    def recording_fill(request, progress=None, cancel=None):
        requests.append(dict(request.options))
        return real_fill(request, progress, cancel)

    monkeypatch.setattr(module, "run_fill", recording_fill)
    return viewer, widget, requests


def test_a_long_estimate_asks_before_the_fill_and_lower_steps_fills_with_fewer(qtbot, slow_fill):
    viewer, widget, requests = slow_fill
    with qtbot.waitSignal(widget.fill_finished, timeout=TIMEOUT_MS) as blocker:
        widget.fill_button.click()
        qtbot.waitUntil(lambda: widget.run.estimate_dialog is not None, timeout=TIMEOUT_MS)
        assert requests == []  # nothing filled yet
        text = widget.run.estimate_dialog.text()
        assert "about 10 min 00 s" in text and "estimate" in text and "1.50 s per network call" in text
        assert "20 instead of 400 would take about 30 s" in text
        assert widget.run.estimate_lower.text() == "Lower steps to 20 (about 30 s)"
        assert widget.run.estimate_fill_anyway.text() == "Fill anyway" and widget.run.estimate_cancel.text() == "Cancel"
        assert "Estimate: about 10 min" in widget.status.text()
        assert widget.cancel_button.isEnabled() and not widget.fill_button.isEnabled()
        widget.run.estimate_lower.click()
    assert blocker.args == ["done"]
    assert widget.options.value("steps") == 20  # the form shows what the fill used
    assert requests == [{"steps": 20, "delay": 0.001}]
    assert [layer.name for layer in viewer.layers] == ["img", "img mask", "img inpainted"]
    assert widget.run.estimate_dialog is None and widget.run._asked_long  # answered: not asked again during the fill


def test_cancel_in_the_question_before_a_long_fill_changes_nothing(qtbot, slow_fill):
    viewer, widget, requests = slow_fill
    data = viewer.layers["img"].data.copy()
    with qtbot.waitSignal(widget.fill_finished, timeout=TIMEOUT_MS) as blocker:
        widget.fill_button.click()
        qtbot.waitUntil(lambda: widget.run.estimate_dialog is not None, timeout=TIMEOUT_MS)
        widget.run.estimate_cancel.click()
    assert blocker.args == ["cancelled"]
    assert requests == [] and widget.run.estimate_dialog is None
    assert [layer.name for layer in viewer.layers] == ["img", "img mask"]
    assert np.array_equal(viewer.layers["img"].data, data)
    assert "cancelled before it started" in widget.status.text()
    assert widget.fill_button.isEnabled() and not widget.cancel_button.isEnabled()
    # the widget's own Cancel answers the question too
    with qtbot.waitSignal(widget.fill_finished, timeout=TIMEOUT_MS) as blocker:
        widget.fill_button.click()
        qtbot.waitUntil(lambda: widget.run.estimate_dialog is not None, timeout=TIMEOUT_MS)
        widget.cancel_button.click()
    assert blocker.args == ["cancelled"] and requests == []


def test_fill_anyway_fills_with_the_steps_chosen_and_asks_nothing_more(qtbot, slow_fill):
    viewer, widget, requests = slow_fill
    widget.options.set_value("steps", 30)
    widget.run.long_fill_seconds = 0.01  # the measured ETA during the fill would ask again: it does not
    with qtbot.waitSignal(widget.fill_finished, timeout=TIMEOUT_MS) as blocker:
        widget.fill_button.click()
        qtbot.waitUntil(lambda: widget.run.estimate_dialog is not None, timeout=TIMEOUT_MS)
        widget.run.estimate_fill_anyway.click()
    assert blocker.args == ["done"]
    assert requests == [{"steps": 30, "delay": 0.001}]
    assert widget.run.long_fill_dialog is None
    assert [layer.name for layer in viewer.layers] == ["img", "img mask", "img inpainted"]


def test_a_diffusion_fill_is_estimated_in_a_worker_before_it_starts(qtbot, viewer_widget, monkeypatch):
    """The real estimate (one network call timed), off the GUI thread; short, so no question."""
    import threading

    from inpaint_models import api as estimate_module  # the front napari reads the estimate through

    threads = []
    real = estimate_module.estimate_fill_seconds

    def spy(*args, **kwargs):
        threads.append(threading.current_thread() is threading.main_thread())
        return real(*args, **kwargs)

    monkeypatch.setattr(estimate_module, "estimate_fill_seconds", spy)
    viewer, widget = viewer_widget
    image = viewer.add_image(np.dstack([smooth_image((48, 48), seed) for seed in range(3)]), name="rgb", rgb=True)
    widget.image_combo.set_value(image)
    widget.new_mask().data[16:28, 16:28] = 1
    widget.set_model("diffusion")
    widget.options.set_value("steps", 4)
    widget.device_combo.setCurrentText("cpu")
    assert fill_and_wait(qtbot, widget) == ["done"]
    assert threads == [False]
    estimate = widget.run.last_estimate
    assert estimate is not None and estimate.method == "measured" and estimate.calls == 2  # strength 0.5
    assert estimate.seconds < widget.run.long_fill_seconds and widget.run.estimate_dialog is None
    assert "rgb inpainted" in [layer.name for layer in viewer.layers]


def test_a_model_whose_packages_are_missing_is_listed_with_how_to_install_them():
    from inpaint_models.contract.datatypes import ModelInfo
    from napari_inpaint._widgets import model_label, model_tooltip

    info = ModelInfo(name="needy", title="Needy (Someone 2020)", description="needs a package",
                     source="test", requires=("no_such_package_for_inpaint_tests",))
    assert model_label(info) == "Needy (Someone 2020) — needs no_such_package_for_inpaint_tests"
    assert "pip install no_such_package_for_inpaint_tests" in model_tooltip(info)
    installed = ModelInfo(name="fine", title="Fine", description="d", source="s", requires=("numpy",))
    assert model_label(installed) == "Fine" and "pip" not in model_tooltip(installed)
