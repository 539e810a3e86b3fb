"""``inpaint sample -o DIR``: write the bundled sample data as files to try the other commands on.

Writes, into ``DIR`` (created if missing):

* ``astronaut.png`` and ``astronaut_mask.png`` — the sample photograph
  (scikit-image's astronaut, public domain) and a mask over the shuttle model
  and the name tag (255 = fill);
* ``cells.tif`` and ``cells_mask.tif`` — a uint16 (24, 128, 128) microscopy-like
  Z-stack with gaps (dropped tiles, lost scan lines) and its mask, recorded as
  ``ZYX``, for ``inpaint fill ... --volume-axis z``.

The mask names follow ``inpaint fill``'s rule (``<stem>_mask``), so the folder
can be filled at once: ``inpaint fill --image DIR --mask DIR --output OUT``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from inpaint_models.cli._common import add_quiet, note
from inpaint_models.contract.errors import InpaintError

NAME = "sample"

#: the files written, in order
FILES = ("astronaut.png", "astronaut_mask.png", "cells.tif", "cells_mask.tif")


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add ``inpaint sample``."""
    parser = subparsers.add_parser(
        NAME,
        help="write the sample photo, a sample Z-stack and their masks as files",
        description="Write the bundled sample data into a folder: astronaut.png with astronaut_mask.png\n"
        "(a photo and a mask over the shuttle model and the name tag) and cells.tif with\n"
        "cells_mask.tif (a 16-bit Z-stack with gaps). Existing files of these names are replaced.",
        epilog="examples:\n"
        "  inpaint sample -o .\n"
        "  inpaint fill astronaut.png astronaut_mask.png -o astronaut_filled.png\n"
        "  inpaint fill cells.tif cells_mask.tif -o cells_filled.tif --volume-axis z",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("-o", "--output", required=True, metavar="DIR", help="output folder (created if missing)")
    add_quiet(parser)
    return parser


def run(args: argparse.Namespace) -> int:
    """Write the sample files and print their paths."""
    from inpaint_models.io import imageio
    from inpaint_models.samples import sample_photo_with_mask, stack_sample_with_truth

    folder = Path(args.output)
    if folder.exists() and not folder.is_dir():
        raise InpaintError(f"--output {folder} is a file, not a folder")
    folder.mkdir(parents=True, exist_ok=True)
    photo, mask = sample_photo_with_mask()
    stack = stack_sample_with_truth()
    arrays = (photo, mask, stack.image, stack.mask)
    axes = (None, None, "ZYX", "ZYX")
    for name, array, axis_names in zip(FILES, arrays, axes):
        print(imageio.write_image(folder / name, array, axes=axis_names))
    note(f"wrote the sample photo and Z-stack with their masks to {folder}", args.quiet)
    return 0
