"""``python -m napari_inpaint``: napari with a sample, its mask and the Inpaint widget docked.

Options::

    python -m napari_inpaint                 # the astronaut photo and its mask
    python -m napari_inpaint --stack         # the 3D stack with gaps instead
    python -m napari_inpaint --train         # also dock the Train widget
"""

from __future__ import annotations

import argparse
from typing import Optional, Sequence


def main(argv: Optional[Sequence[str]] = None) -> None:
    """Open napari ready to fill: a sample image and mask, the Inpaint widget docked."""
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
    napari.run()


if __name__ == "__main__":
    main()
