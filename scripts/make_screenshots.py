"""Take the user guide's screenshots of the real napari widgets.

Run under a virtual display from the repository root::

    xvfb-run -a -s "-screen 0 1600x1000x24" python scripts/make_screenshots.py

It writes ``docs/images/``:

* ``inpaint-before.png``  the astronaut sample, its mask and the Inpaint widget;
* ``inpaint-after.png``   the same after the default fill (the new "astronaut inpainted" layer);
* ``stack-after.png``     a plane of the "Stack with gaps" sample before and after a whole-stack fill
  with the default model for stacks;
* ``train-running.png``   the Train widget mid-run (progress, losses, loss plot, preview grid);
* ``fit-setup.png``, ``fit-running.png``, ``fit-result.png``  "learn from this layer first" on the
  "Stack with gaps" sample: the Inpaint widget set up (the first trainable volume model, whole
  stack, neighbouring planes, learn ticked, a short time budget), the fit running (progress, loss, held-back PSNR, the
  "fit preview" layer) and a plane before and after the fill with the fitted network. These are
  smaller windows (about 1000 px wide); the fit's budget is ``--fit-seconds`` (40 s), and its
  previews and validations come every 10 steps instead of 100 and 50, so both show within it.

The models are the registry's: the default model for the photo and for the
stack (``inpaint_models.api.default_model``), the first trainable model for the
Train widget, and the first trainable model that fills volumes for the fit.
Training data are crops of photographs that ship with scikit-image, written to
a temporary folder; nothing is downloaded. Napari's settings go to a temporary
file, so the user's own settings are left alone.
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

    from inpaint_models.io.imageio import write_image

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
    from inpaint_models import available_models, model_info

    return next(name for name in available_models() if model_info(name).trainable)


def demo_fit_model() -> str:
    """The first trainable model that fills volumes (the "learn from this layer first" screenshots)."""
    from inpaint_models import available_models, model_info

    return next(name for name in available_models()
                if model_info(name).trainable and model_info(name).fills_volumes)


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


#: the window of the fit screenshots: about 1000 px wide, as the user guide shows them
FIT_WINDOW = (1000, 760)
#: a plane of the stack sample with a dropped tile, shown in the fit screenshots
FIT_PLANE = 12


def save_small(viewer, path: Path) -> None:
    """A screenshot of the whole window (layers, canvas, docks), written as an optimised PNG."""
    from PIL import Image

    settle()
    array = viewer.screenshot(canvas_only=False, flash=False)
    Image.fromarray(array[..., :3]).save(path, optimize=True)
    print(f"wrote {path} ({path.stat().st_size // 1024} KB)")


def fit_shots(out: Path, work: Path, seconds: int) -> None:
    """The user guide's "learn from this layer first" walkthrough on the stack sample."""
    from qtpy.QtCore import Qt

    import inpaint_models.api_fit as api_fit
    import napari_inpaint.inpaint_widget as inpaint_widget
    from napari_inpaint.jobs import fit_folder

    # the fit's run folder (~/napari-inpaint/fits/<layer> for a user) in the temporary folder instead
    inpaint_widget.fit_folder = lambda name, root=None: fit_folder(name, work / "fits")
    # previews and validations within a short budget (a fit's defaults: every 100 and 50 steps)
    api_fit.FIT_SETTINGS.update(preview_every=10, validate_every=10)
    viewer = new_viewer()
    viewer.window.resize(*FIT_WINDOW)
    # a wider canvas in the small window: the layer list without the layer controls, in a narrower column
    qt_viewer = viewer.window._qt_viewer
    qt_viewer.dockLayerControls.setVisible(False)
    viewer.open_sample("napari-inpaint", "stack-with-gaps")
    widget = dock_inpaint(viewer)
    viewer.window._qt_window.resizeDocks([qt_viewer.dockLayerList], [200], Qt.Orientation.Horizontal)
    widget.set_model(demo_fit_model())
    widget.plane_all.setChecked(True)
    widget.volume_check.setChecked(True)
    widget.device_combo.setCurrentText("cpu")
    widget.learn_check.setChecked(True)
    widget.learn_seconds.setValue(seconds)
    viewer.dims.set_current_step(0, FIT_PLANE)
    viewer.layers.selection.active = viewer.layers["stack"]
    viewer.reset_view()
    save_small(viewer, out / "fit-setup.png")

    outcome = []
    widget.fill_finished.connect(outcome.append)
    widget.fill_button.click()
    try:
        wait_until(lambda: "fit preview" in viewer.layers and "held-back" in widget.status.text() or outcome,
                   seconds + 120, "the fit's first preview and validation")
        assert not outcome, widget.status.text()
        viewer.layers.selection.active = viewer.layers["fit preview"]
        viewer.reset_view()
        save_small(viewer, out / "fit-running.png")
    finally:
        wait_until(lambda: outcome, seconds + 300, "the fit and the fill")
    assert outcome == ["done"], widget.status.text()
    # the plane before (gaps recorded as zeros) and after the fill with the fitted network, one above the other
    viewer.layers.remove("fit preview")
    viewer.layers["stack gaps"].visible = False
    viewer.canvas.grid.enabled = True
    viewer.canvas.grid.shape = (2, 1)
    viewer.dims.set_current_step(0, FIT_PLANE)
    viewer.layers.selection.active = viewer.layers["stack inpainted"]
    viewer.reset_view()
    save_small(viewer, out / "fit-result.png")
    print(f"fit and fill: {widget.status.text()}")
    viewer.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "images")
    parser.add_argument("--only", choices=("inpaint", "stack", "train", "fit"), action="append")
    parser.add_argument("--train-steps", type=int, default=60, help="steps to train before the mid-run grab")
    parser.add_argument("--fit-seconds", type=int, default=40, help="time budget of the fit screenshots' fit")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)

    with tempfile.TemporaryDirectory(prefix="napari-inpaint-shots-") as tmp:
        work = Path(tmp)
        os.environ["NAPARI_CONFIG"] = str(work / "napari-settings.yaml")  # leave the user's settings alone
        from napari.settings import get_settings

        settings = get_settings()
        settings.application.gui_notification_level = "error"  # no info/warning toasts over the screenshots
        settings.application.confirm_close_window = False
        only = set(args.only or ("inpaint", "stack", "train", "fit"))
        if "inpaint" in only:
            inpaint_shots(args.out)
        if "stack" in only:
            stack_shots(args.out)
        if "train" in only:
            train_shots(args.out, work, args.train_steps)
        if "fit" in only:
            fit_shots(args.out, work, args.fit_seconds)
    sys.exit(0)


if __name__ == "__main__":
    main()
