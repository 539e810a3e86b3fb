"""``python -m napari_inpaint``: napari with a sample, its mask and the Inpaint widget docked.

Options::

    python -m napari_inpaint                 # the astronaut photo and its mask
    python -m napari_inpaint --stack         # the 3D stack with gaps instead
    python -m napari_inpaint --train         # also dock the Train widget
"""

from __future__ import annotations

import argparse
from typing import Optional, Sequence


def fit_view_when_laid_out(viewer) -> None:
    """Show the whole image once the window has its final layout.

    napari fits the camera to the canvas when the first layer is added; docking
    a widget afterwards narrows the canvas, which would leave the sides of the
    image (and the mask's object) off-screen until Home is pressed. The view is
    fitted again as soon as the event loop has laid the window out.
    """
    from qtpy.QtCore import QTimer
    from qtpy.QtWidgets import QApplication

    QApplication.processEvents()  # lay the window out with its dock
    viewer.reset_view()
    QTimer.singleShot(0, viewer.reset_view)  # and again once napari.run() has shown it


def open_viewer(argv: Optional[Sequence[str]] = None):
    """The viewer ``python -m napari_inpaint`` opens (without entering the event loop)."""
    parser = argparse.ArgumentParser(prog="python -m napari_inpaint", description=main.__doc__)
    parser.add_argument("--stack", action="store_true", help="open the 3D 'Stack with gaps' sample")
    parser.add_argument("--train", action="store_true", help="also dock the 'Train inpainting model' widget")
    args = parser.parse_args(argv)

    import napari

    viewer = napari.Viewer(title="napari-inpaint")
    viewer.open_sample("napari-inpaint", "stack-with-gaps" if args.stack else "photo-with-mask")
    viewer.window.add_plugin_dock_widget("napari-inpaint", "Inpaint")
    if args.train:
        viewer.window.add_plugin_dock_widget("napari-inpaint", "Train inpainting model", tabify=True)
    fit_view_when_laid_out(viewer)
    return viewer


def main(argv: Optional[Sequence[str]] = None) -> None:
    """Open napari ready to fill: a sample image and mask, the Inpaint widget docked."""
    import napari

    open_viewer(argv)
    napari.run()


if __name__ == "__main__":
    main()
