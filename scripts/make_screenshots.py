"""Take the user guide's screenshots of the real napari widgets.

Run under a virtual display from the repository root::

    xvfb-run -a -s "-screen 0 1600x1000x24" python scripts/make_screenshots.py

It writes ``docs/images/``:

* ``inpaint-before.png``  the astronaut sample, its mask and the Inpaint widget;
* ``inpaint-after.png``   the same after the default fill (the new "astronaut inpainted" layer);
* ``stack-after.png``     a plane of the "Stack with gaps" sample before and after a whole-stack fill
  with the default model for stacks;
* ``train-running.png``   the Train widget mid-run (progress, losses, loss plot, preview grid).

The models are the registry's: the default model for the photo and for the
stack (``inpaint_models.api.default_model``), and the first trainable model
for the Train widget. Training data are crops of photographs that ship with
scikit-image, written to a temporary folder; nothing is downloaded. Napari's settings go to a
temporary file, so the user's own settings are left alone.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WINDOW = (1400, 900)


def wait_until(condition, timeout: float, what: str) -> None:
    """Run the Qt event loop until ``condition()`` is true."""
    from qtpy.QtWidgets import QApplication

    end = time.monotonic() + timeout
    while not condition():
        QApplication.processEvents()
        time.sleep(0.02)
        if time.monotonic() > end:
            raise TimeoutError(f"timed out waiting for {what}")


def settle(seconds: float = 0.5) -> None:
    """Let napari draw everything (layouts, canvas) before a grab."""
    from qtpy.QtWidgets import QApplication

    end = time.monotonic() + seconds
    while time.monotonic() < end:
        QApplication.processEvents()
        time.sleep(0.02)


def new_viewer():
    import napari

    viewer = napari.Viewer(title="napari-inpaint", show=True)
    viewer.window.resize(*WINDOW)
    return viewer


def dock_inpaint(viewer):
    """The Inpaint widget, docked, once its model list has loaded (in a worker thread)."""
    _dock, widget = viewer.window.add_plugin_dock_widget("napari-inpaint", "Inpaint")
    wait_until(lambda: widget.loaded, 120, "the model list")
    return widget


def grab(viewer, path: Path) -> None:
    settle()
    viewer.reset_view()  # the docks narrowed the canvas after the layers were added: show all of them
    settle(0.2)
    viewer.screenshot(path=str(path), canvas_only=False, flash=False)
    print(f"wrote {path}")


def training_images(folder: Path, count: int = 48, size: int = 96, seed: int = 0) -> Path:
    """Random crops of scikit-image's bundled photographs (RGB), written as PNG."""
    import numpy as np
    from skimage import data

    from inpaint_models.imageio import write_image

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    photos = [data.astronaut(), data.coffee(), data.chelsea(), data.rocket(), data.immunohistochemistry()]
    for index in range(count):
        photo = photos[index % len(photos)]
        y = rng.integers(0, photo.shape[0] - size)
        x = rng.integers(0, photo.shape[1] - size)
        write_image(folder / f"crop_{index:03d}.png", np.ascontiguousarray(photo[y : y + size, x : x + size]))
    return folder


def default_model_for(image_shape: tuple[int, ...]) -> str:
    """The model ``fill(model="auto")`` picks for an image of this shape (from the registry)."""
    from inpaint_models.api import default_model

    return default_model(image_shape)


def demo_trainable_model() -> str:
    """The first trainable model in the registry (the Train widget's screenshot)."""
    from inpaint_models.plugins import default_registry

    registry = default_registry()
    return next(name for name in registry.names() if registry.info(name).trainable)


def inpaint_shots(out: Path) -> None:
    from inpaint_models.samples import sample_photo_with_mask

    viewer = new_viewer()
    viewer.open_sample("napari-inpaint", "photo-with-mask")
    widget = dock_inpaint(viewer)
    widget.set_model(default_model_for(sample_photo_with_mask()[0].shape))  # what the widget chose itself
    widget.dilation.setValue(3)
    viewer.layers.selection.active = viewer.layers["astronaut mask"]
    grab(viewer, out / "inpaint-before.png")

    outcome = []
    widget.fill_finished.connect(outcome.append)
    widget.fill_button.click()
    wait_until(lambda: outcome, 60, "the fill")
    assert outcome == ["done"], widget.status.text()
    viewer.layers["astronaut mask"].visible = False
    viewer.layers["astronaut"].visible = False
    viewer.layers.selection.active = viewer.layers["astronaut inpainted"]
    grab(viewer, out / "inpaint-after.png")
    viewer.close()


def stack_shots(out: Path) -> None:
    from inpaint_models.samples import STACK_SHAPE

    viewer = new_viewer()
    viewer.open_sample("napari-inpaint", "stack-with-gaps")
    widget = dock_inpaint(viewer)  # "use neighbouring planes" is on for a stack
    widget.set_model(default_model_for(STACK_SHAPE))
    widget.plane_all.setChecked(True)
    viewer.dims.set_current_step(0, 11)  # a plane with lost scan lines
    outcome = []
    widget.fill_finished.connect(outcome.append)
    widget.fill_button.click()
    wait_until(lambda: outcome, 120, "the stack fill")
    assert outcome == ["done"], widget.status.text()
    # the plane on screen before (left, gaps recorded as zeros) and after (right) the fill
    viewer.layers["stack gaps"].visible = False
    viewer.canvas.grid.enabled = True
    viewer.canvas.grid.shape = (1, 2)
    viewer.layers.selection.active = viewer.layers["stack inpainted"]
    viewer.reset_view()
    grab(viewer, out / "stack-after.png")
    viewer.close()


def train_shots(out: Path, work: Path, steps_before_grab: int) -> None:
    import inpaint_models.api_train  # noqa: F401 - fail early where the trainer is missing

    data_folder = training_images(work / "photos")
    viewer = new_viewer()
    dock_inpaint(viewer)
    # tabified after the Inpaint widget, so the Train tab is the one in front
    _dock, widget = viewer.window.add_plugin_dock_widget("napari-inpaint", "Train inpainting model", tabify=True)
    wait_until(lambda: widget.loaded, 120, "the model list")
    widget.set_model(demo_trainable_model())
    widget.data_folder.set_text(str(data_folder))
    widget.image_size.setValue(48)
    widget.batch_size.setValue(8)
    widget.steps.setValue(2000)
    widget.learning_rate.setText("1e-3")
    widget.preview_every.setValue(20)
    widget.device_combo.setCurrentText("cpu")
    widget.output_folder.set_text(str(work / "runs" / "autoencoder-demo"))
    widget.options_toggle.setChecked(True)  # the [model] options: architecture, then training only
    outcome = []
    widget.training_finished.connect(outcome.append)
    widget.start_button.click()
    try:
        wait_until(lambda: widget.progress.value() >= steps_before_grab or outcome, 1200, "training steps")
        assert not outcome, widget.status.text()
        wait_until(lambda: "training preview" in viewer.layers, 60, "a preview grid")
        viewer.reset_view()
        grab(viewer, out / "train-running.png")
    finally:  # also on a timeout: stop the run before napari goes away
        widget.stop_button.click()
        wait_until(lambda: outcome, 300, "the stopped run's checkpoint")
    print(f"training stopped: {widget.status.text()}")
    viewer.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "images")
    parser.add_argument("--only", choices=("inpaint", "stack", "train"), action="append")
    parser.add_argument("--train-steps", type=int, default=60, help="steps to train before the mid-run grab")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)

    with tempfile.TemporaryDirectory(prefix="napari-inpaint-shots-") as tmp:
        work = Path(tmp)
        os.environ["NAPARI_CONFIG"] = str(work / "napari-settings.yaml")  # leave the user's settings alone
        from napari.settings import get_settings

        settings = get_settings()
        settings.application.gui_notification_level = "error"  # no info/warning toasts over the screenshots
        settings.application.confirm_close_window = False
        only = set(args.only or ("inpaint", "stack", "train"))
        if "inpaint" in only:
            inpaint_shots(args.out)
        if "stack" in only:
            stack_shots(args.out)
        if "train" in only:
            train_shots(args.out, work, args.train_steps)
    sys.exit(0)


if __name__ == "__main__":
    main()
