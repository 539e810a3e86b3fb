"""The "Train inpainting model" dock widget with the real trainer (tiny CPU runs)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import inpaint_models

pytest.importorskip("napari")
pytest.importorskip("torch")

pytestmark = pytest.mark.gui

RUN_TIMEOUT_MS = 180_000
CONFIGS = Path(__file__).resolve().parents[1] / "configs"


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
    from inpaint_models.options import option_kind

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


def test_a_config_file_fills_the_fields(docks):
    _viewer, train, _inpaint = docks
    train.config_path.set_text(str(CONFIGS / "autoencoder-cpu.toml"))
    assert train.model_combo.currentData() == "autoencoder"
    assert train.image_size.value() == 64 and train.batch_size.value() == 16 and train.steps.value() == 4000
    assert float(train.learning_rate.text()) == pytest.approx(2e-4)
    assert train.device_combo.currentText() == "cpu"
    assert train.option_widget("width").value == 16  # [model] width = 16 in the file
    train.set_option("width", 8)
    request = train.request()
    assert request.config == CONFIGS / "autoencoder-cpu.toml"
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
