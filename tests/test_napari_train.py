"""The "Train inpainting model" dock widget with the real trainer (tiny CPU runs)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from qtpy.QtWidgets import QDockWidget

import inpaint_models

pytestmark = pytest.mark.gui

RUN_TIMEOUT_MS = 180_000


@pytest.fixture(scope="module")
def data_folder(tmp_path_factory) -> Path:
    from inpaint_models.training.quick import write_synthetic_images

    folder = tmp_path_factory.mktemp("train-data")
    write_synthetic_images(folder, count=6, size=48)
    return folder


@pytest.fixture
def docks(make_napari_viewer, qtbot):
    from napari_inpaint.checkpoints import store

    store.forget_all()
    viewer = make_napari_viewer()
    _dock, train = viewer.window.add_plugin_dock_widget("napari-inpaint", "Train inpainting model")
    _dock, inpaint = viewer.window.add_plugin_dock_widget("napari-inpaint", "Inpaint")
    qtbot.waitUntil(lambda: train.loaded and inpaint.loaded, timeout=RUN_TIMEOUT_MS)
    yield viewer, train, inpaint
    store.forget_all()


def tiny_run(widget, data_folder: Path, output: Path, steps: int) -> None:
    widget.set_model("autoencoder")
    widget.data_folder.set_text(str(data_folder))
    widget.image_size.setValue(32)
    widget.batch_size.setValue(2)
    widget.steps.setValue(steps)
    widget.preview_every.setValue(3)
    widget.device_combo.setCurrentText("cpu")
    widget.output_folder.set_text(str(output))


def test_train_widget_lists_only_trainable_models(docks):
    _viewer, train, _inpaint = docks
    names = train.model_names()
    assert {"autoencoder", "context-encoder"} <= set(names)
    assert "telea" not in names and "biharmonic" not in names


@pytest.mark.slow  # trains a network
def test_a_short_run_writes_a_checkpoint_that_appears_in_the_inpaint_widget_and_fills(
    qtbot, docks, data_folder, tmp_path
):
    viewer, train, inpaint = docks
    inpaint.set_model("autoencoder")
    shipped = inpaint_models.model_info("autoencoder").default_weights
    # nothing trained yet: at most the weights shipped in the package are listed (after a scan in a worker)
    expected = [str(shipped.resolve())] if shipped else []
    qtbot.waitUntil(lambda: inpaint.weights_paths() == expected, timeout=RUN_TIMEOUT_MS)
    tiny_run(train, data_folder, tmp_path / "run", steps=6)

    with qtbot.waitSignal(train.training_finished, timeout=RUN_TIMEOUT_MS) as blocker:
        train.start_button.click()
        assert train.stop_button.isEnabled() and not train.start_button.isEnabled()
    assert blocker.args == ["done"], train.status.text()

    checkpoint = train.checkpoint
    assert checkpoint is not None and checkpoint.is_file() and checkpoint.suffix == ".safetensors"
    assert checkpoint.parent.parent == tmp_path / "run"
    assert json.loads(checkpoint.with_suffix(".json").read_text())["model"] == "autoencoder"
    assert train.progress.maximum() == 6 and train.progress.value() == 6
    assert "loss" in train.loss_plot.series() and len(train.loss_plot.series()["loss"]) >= 2
    preview = viewer.layers["training preview"]
    assert preview.rgb and preview.data.ndim == 3
    assert "Finished" in train.status.text()

    # the Inpaint widget lists the new checkpoint without being touched
    qtbot.waitUntil(lambda: str(checkpoint.resolve()) in inpaint.weights_paths(), timeout=RUN_TIMEOUT_MS)
    assert inpaint.weights() is not None

    # ... and fills with it
    image = viewer.add_image(np.full((40, 40, 3), 128, np.uint8), rgb=True, name="grey")
    inpaint.image_combo.set_value(image)
    inpaint.new_mask().data[12:20, 12:20] = 1
    inpaint.device_combo.setCurrentText("cpu")
    with qtbot.waitSignal(inpaint.fill_finished, timeout=RUN_TIMEOUT_MS) as filled:
        inpaint.fill_button.click()
    assert filled.args == ["done"], inpaint.status.text()
    result = viewer.layers["grey inpainted"].data
    assert result.shape == (40, 40, 3) and result.dtype == np.uint8
    assert np.array_equal(result[:12], image.data[:12])


def test_stop_writes_a_checkpoint_and_resume_continues(qtbot, docks, data_folder, tmp_path):
    _viewer, train, _inpaint = docks
    tiny_run(train, data_folder, tmp_path / "run", steps=100_000)
    with qtbot.waitSignal(train.training_finished, timeout=RUN_TIMEOUT_MS) as blocker:
        train.start_button.click()
        qtbot.waitUntil(lambda: train.progress.value() >= 2, timeout=RUN_TIMEOUT_MS)
        train.stop_button.click()
        assert not train.stop_button.isEnabled()
    assert blocker.args == ["done"]
    stopped = train.checkpoint
    assert stopped is not None and stopped.is_file()
    step = json.loads(stopped.with_suffix(".json").read_text())["step"]
    assert 2 <= step < 100_000
    assert "Stopped" in train.status.text()
    assert train.resume_button.isEnabled() and train.start_button.isEnabled()

    train.steps.setValue(step + 2)
    with qtbot.waitSignal(train.training_finished, timeout=RUN_TIMEOUT_MS) as resumed:
        train.resume_button.click()
    assert resumed.args == ["done"], train.status.text()
    assert json.loads(train.checkpoint.with_suffix(".json").read_text())["step"] == step + 2


def test_closing_napari_during_a_run_stops_it_and_keeps_a_checkpoint(make_napari_viewer, qtbot, data_folder, tmp_path):
    viewer = make_napari_viewer()
    _dock, train = viewer.window.add_plugin_dock_widget("napari-inpaint", "Train inpainting model")
    qtbot.waitUntil(lambda: train.loaded, timeout=RUN_TIMEOUT_MS)
    tiny_run(train, data_folder, tmp_path / "run", steps=100_000)
    job = train.start()
    assert job is not None
    qtbot.waitUntil(lambda: train.progress.value() >= 1, timeout=RUN_TIMEOUT_MS)
    viewer.close()
    assert job.wait(60), "the training thread did not stop when napari closed"
    assert list((tmp_path / "run" / "checkpoints").glob("step_*.json"))


def test_train_fields_are_the_architecture_and_training_options_not_the_fill_ones(docks):
    from inpaint_models.contract.options import option_kind

    _viewer, train, _inpaint = docks
    for name in ("glcic", "diffusion"):
        train.set_model(name)
        info = inpaint_models.model_info(name)
        shown = train.option_names()
        assert shown and all(option_kind(info, option) in ("architecture", "training") for option in shown)
        assert train.architecture_options.names() and all(
            option_kind(info, option) == "architecture" for option in train.architecture_options.names()
        )
    assert "preset" in train.option_names() and "steps" not in train.option_names()  # diffusion: steps fill


def test_the_dock_tabs_read_inpaint_and_train(qtbot, docks):
    viewer, train, inpaint = docks
    docks_by_widget = {id(dock.widget()): dock for dock in viewer.window._qt_window.findChildren(QDockWidget)}
    for widget, title in ((inpaint, "Inpaint"), (train, "Train")):
        dock = widget.parent()
        while not isinstance(dock, QDockWidget):
            dock = dock.parent()
        assert id(dock.widget()) in docks_by_widget
        qtbot.waitUntil(lambda dock=dock, title=title: dock.windowTitle() == title, timeout=5_000)
        assert dock.title.title.text() == title  # napari's title bar over the dock
        assert dock.name.endswith("(napari-inpaint)")  # napari still finds the dock by its own name
        dock.setFloating(True)  # napari rebuilds its title bar: still the short title
        assert dock.title.title.text() == title
        dock.setFloating(False)
    # the Plugins menu toggles a dock by napari's name for it: the same dock, not a second one
    again, _widget = viewer.window.add_plugin_dock_widget("napari-inpaint", "Inpaint")
    assert again.widget() is not None and again.windowTitle() == "Inpaint"


def test_the_progress_before_start_counts_the_steps_field(docks):
    _viewer, train, _inpaint = docks
    steps = train.steps.value()
    assert steps > 1
    assert train.progress.text() == f"step 0 / {steps}"  # not "step 0 / 1"
    train.steps.setValue(250)
    assert train.progress.text() == "step 0 / 250" and train.progress.value() == 0


def test_a_config_file_fills_the_fields(docks):
    from inpaint_models.api_train import example_path

    _viewer, train, _inpaint = docks
    config = example_path("autoencoder-cpu")  # the example config the autoencoder ships
    train.config_path.set_text(str(config))
    assert train.model_combo.currentData() == "autoencoder"
    assert train.image_size.value() == 64 and train.batch_size.value() == 16 and train.steps.value() == 4000
    assert float(train.learning_rate.text()) == pytest.approx(2e-4)
    assert train.device_combo.currentText() == "cpu"
    assert train.option_widget("width").value == 16  # [model] width = 16 in the file
    assert train.progress.text() == "step 0 / 4000"
    train.set_option("width", 8)
    request = train.request()
    assert request.config == config
    assert request.overrides["model.width"] == 8 and request.overrides["train.image_size"] == 64


def test_a_bad_config_is_a_notification(qtbot, docks, tmp_path):
    from napari.utils.notifications import NotificationSeverity, notification_manager

    _viewer, train, _inpaint = docks
    seen = []
    notification_manager.notification_ready.connect(seen.append)
    try:
        train.set_model("autoencoder")
        train.output_folder.set_text(str(tmp_path / "run"))  # no data folder given
        with qtbot.waitSignal(train.training_finished, timeout=RUN_TIMEOUT_MS) as blocker:
            train.start_button.click()
    finally:
        notification_manager.notification_ready.disconnect(seen.append)
    assert blocker.args == ["error"]
    errors = [n.message for n in seen if n.severity == NotificationSeverity.ERROR]
    assert errors and "data" in errors[-1]


# -- an open layer as the data ------------------------------------------------------------------------
def smooth_photo(size: int = 96) -> np.ndarray:
    """uint8 (size, size, 3): smooth colour waves, something a tiny network can learn a little of."""
    y, x = np.mgrid[0:size, 0:size]
    return np.stack([128 + 60 * np.sin(x / 7 + c) * np.cos(y / 9) for c in range(3)], -1).astype(np.uint8)


def layer_run(widget, output: Path, steps: int) -> None:
    widget.set_model("autoencoder")
    widget.set_data_mode("open layer")
    widget.set_option("width", 8)
    widget.image_size.setValue(32)
    widget.batch_size.setValue(2)
    widget.steps.setValue(steps)
    widget.preview_every.setValue(2)
    widget.device_combo.setCurrentText("cpu")
    widget.output_folder.set_text(str(output))


def test_the_data_choice_shows_the_folder_or_the_layer_pickers(docks):
    viewer, train, _inpaint = docks
    assert train.data_mode() == "folder"
    assert not train.data_folder.isHidden() and train.image_layer.isHidden() and train.mask_layer.isHidden()
    train.set_data_mode("open layer")
    assert train.data_folder.isHidden() and not train.image_layer.isHidden() and not train.mask_layer.isHidden()

    stack = viewer.add_image(np.zeros((5, 40, 48), np.uint16), name="stack")
    gaps = viewer.add_labels(np.zeros((5, 40, 48), np.uint8), name="gaps")
    assert train.image_layer.value() == stack
    assert train.mask_layer.value() == gaps  # a Labels layer is preselected as the mask
    assert train.volume_axis() == 0  # the stack's axis, as the Inpaint widget fills it
    train.volume_axis_combo.setCurrentIndex(0)
    assert train.volume_axis() is None  # plane by plane
    train.mask_layer.set_value(None)
    viewer.add_shapes([[[5, 5], [5, 20], [20, 20]]], shape_type="polygon", name="outline")
    assert train.mask_layer.value() is None  # "no mask", once chosen, stays chosen


def test_open_layer_mistakes_are_clear_errors_before_anything_runs(docks, tmp_path):
    viewer, train, _inpaint = docks
    train.set_model("autoencoder")
    train.set_data_mode("open layer")
    train.output_folder.set_text(str(tmp_path / "run"))
    with pytest.raises(ValueError, match="no image layer"):
        train.request()
    photo = viewer.add_image(smooth_photo(), rgb=True, name="photo")
    wrong = viewer.add_labels(np.zeros((50, 60), np.uint8), name="wrong")
    train.image_layer.set_value(photo)
    train.mask_layer.set_value(wrong)
    with pytest.raises(ValueError, match=r"does not match the image's \(96, 96\)"):
        train.request()
    assert train.start() is None and not (tmp_path / "run").exists()  # a notification, nothing started
    train.mask_layer.set_value(viewer.add_labels(np.zeros((96, 96), np.uint8), name="holes"))
    train.image_size.setValue(128)
    with pytest.raises(ValueError, match="larger than the planes"):
        train.request()
    train.image_size.setValue(32)
    request = train.request()
    assert request.model == "autoencoder" and request.rgb and request.volume_axis is None
    assert request.train["image_size"] == 32 and request.image is photo.data


def test_training_on_a_layer_checks_the_model_and_the_mask_in_the_worker(tmp_path):
    from inpaint_models.contract.errors import NotTrainableError, ShapeMismatchError
    from napari_inpaint.layer_training import LayerTrainRequest, run_layer_training

    photo = smooth_photo(48)
    request = LayerTrainRequest(image=photo, mask=np.zeros((48, 40), bool), rgb=True, model="autoencoder",
                                output=tmp_path / "run", steps=2)
    with pytest.raises(ShapeMismatchError, match="does not match"):
        run_layer_training(request)
    request.mask, request.model = np.zeros((48, 48), bool), "telea"
    with pytest.raises(NotTrainableError, match="not trainable"):
        run_layer_training(request)
    assert not (tmp_path / "run").exists()


# 3 steps of a width-8 autoencoder on 32-px crops: under a second once torch is imported (not `slow`)
def test_training_on_an_open_layer_and_its_labels_writes_a_checkpoint_for_fill(qtbot, docks, tmp_path):
    viewer, train, inpaint = docks
    photo = viewer.add_image(smooth_photo(), rgb=True, name="photo")
    holes = np.zeros((96, 96), np.uint8)
    holes[40:48, 40:52] = 1
    labels = viewer.add_labels(holes, name="holes")
    image_before, labels_before = photo.data.copy(), labels.data.copy()
    layer_run(train, tmp_path / "run", steps=3)
    train.image_layer.set_value(photo)
    train.mask_layer.set_value(labels)

    with qtbot.waitSignal(train.training_finished, timeout=RUN_TIMEOUT_MS) as blocker:
        train.start_button.click()
        assert train.stop_button.isEnabled() and not train.start_button.isEnabled()
    assert blocker.args == ["done"], train.status.text()

    checkpoint = train.checkpoint
    assert checkpoint is not None and checkpoint.is_file() and checkpoint.parent == tmp_path / "run" / "checkpoints"
    sidecar = json.loads(checkpoint.with_suffix(".json").read_text())
    assert sidecar["model"] == "autoencoder" and sidecar["step"] == 3
    assert not (tmp_path / "run" / "data").exists()  # the layer reaches the trainer as a data source, not as files
    assert train.progress.maximum() == 3 and train.progress.value() == 3
    assert "training preview" in viewer.layers
    # the layers are read, never modified
    assert np.array_equal(photo.data, image_before) and np.array_equal(labels.data, labels_before)

    inpaint.set_model("autoencoder")
    qtbot.waitUntil(lambda: str(checkpoint.resolve()) in inpaint.weights_paths(), timeout=RUN_TIMEOUT_MS)


def test_an_empty_mask_trains_on_boxes_as_fit_does(tmp_path):
    from inpaint_models.contract.errors import EmptyMaskWarning
    from napari_inpaint.layer_training import LayerTrainRequest, run_layer_training

    photo = smooth_photo()
    request = LayerTrainRequest(image=photo, mask=lambda: np.zeros((96, 96), bool), rgb=True, model="autoencoder",
                                output=tmp_path / "run", steps=1, device="cpu", options={"width": 8},
                                train={"image_size": 32, "batch_size": 2})
    with pytest.warns(EmptyMaskWarning, match="empty"):
        weights = run_layer_training(request)
    assert weights.is_file() and np.array_equal(photo, smooth_photo())


@pytest.mark.slow  # a run stopped, then resumed
def test_a_layer_run_stops_with_a_checkpoint_and_resumes(qtbot, docks, tmp_path):
    viewer, train, _inpaint = docks
    holes = np.zeros((96, 96), np.uint8)
    holes[10:16, 60:80] = 1
    viewer.add_image(smooth_photo(), rgb=True, name="photo")
    viewer.add_labels(holes, name="holes")
    layer_run(train, tmp_path / "run", steps=100_000)
    with qtbot.waitSignal(train.training_finished, timeout=RUN_TIMEOUT_MS) as blocker:
        train.start_button.click()
        qtbot.waitUntil(lambda: train.progress.value() >= 2, timeout=RUN_TIMEOUT_MS)
        train.stop_button.click()
    assert blocker.args == ["done"], train.status.text()
    assert "Stopped" in train.status.text()

    def newest_step() -> int:
        sidecars = (tmp_path / "run" / "checkpoints").glob("step_*[0-9].json")
        return max(json.loads(path.read_text())["step"] for path in sidecars)

    step = newest_step()
    assert 2 <= step < 100_000
    train.steps.setValue(step + 2)
    with qtbot.waitSignal(train.training_finished, timeout=RUN_TIMEOUT_MS) as resumed:
        train.resume_button.click()
    assert resumed.args == ["done"], train.status.text()
    assert newest_step() == step + 2
