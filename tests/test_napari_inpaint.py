"""The Inpaint dock widget in a real (off-screen, Xvfb) napari viewer."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import pytest

pytest.importorskip("napari")

from inpaint_models import hookimpl
from inpaint_models.datatypes import FillContext, ModelInfo, ProgressEvent
from inpaint_models.plugins import default_registry

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


# --------------------------------------------------------------------------- helpers
def smooth_image(shape=(64, 80), seed=0) -> np.ndarray:
    """A smooth uint8 test image (fills of smooth images are easy to judge)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0 : shape[0], 0 : shape[1]]
    base = 100 + 60 * np.sin(xx / 9.0) + 40 * np.cos(yy / 7.0)
    return np.clip(base + rng.normal(0, 2, shape), 0, 255).astype(np.uint8)


@pytest.fixture
def viewer_widget(make_napari_viewer):
    viewer = make_napari_viewer()
    _dock, widget = viewer.window.add_plugin_dock_widget("napari-inpaint", "Inpaint")
    return viewer, widget


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

    assert fill_and_wait(qtbot, widget) == ["done"]
    assert [layer.name for layer in viewer.layers] == ["img", "img mask"]
    assert image.data[25, 25] < 200
    assert widget.undo_button.isEnabled()

    widget.undo_button.click()
    assert np.array_equal(image.data, original)
    assert not widget.undo_button.isEnabled()


def test_cancel_stops_a_running_fill_and_changes_nothing(qtbot, viewer_widget, slow_model):
    viewer, widget = viewer_widget
    image = viewer.add_image(smooth_image(), name="img")
    widget.image_combo.set_value(image)
    widget.new_mask().data[10:20, 10:20] = 1
    widget.set_model(slow_model)
    widget.options.set_value("steps", 2000)  # ~20 s if not cancelled

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
    assert widget.options.names() == ["split_into_regions"]
    widget.options.widget("split_into_regions").setChecked(False)
    assert widget.request().options == {"split_into_regions": False}


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


def test_closing_napari_during_a_fill_stops_it(make_napari_viewer, slow_model):
    viewer = make_napari_viewer()
    _dock, widget = viewer.window.add_plugin_dock_widget("napari-inpaint", "Inpaint")
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
