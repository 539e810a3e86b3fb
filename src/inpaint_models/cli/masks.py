"""``inpaint masks``: write a reproducible mask set (box, centre, strokes, mosaic).

The output folder must be new or empty: a set written over an older one (say
10 masks over 100) would silently leave a mixed set behind. ``--overwrite``
replaces the ``mask_*.png`` files of an earlier set instead.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import Union

from inpaint_models.cli._common import add_quiet, non_negative_int, note
from inpaint_models.contract.errors import InpaintError

NAME = "masks"


def parse_size(text: str) -> Union[int, tuple[int, int]]:
    """``256`` -> 256, ``256x320`` -> (256, 320) (height x width)."""
    match = re.fullmatch(r"\s*(\d+)\s*(?:[xX]\s*(\d+)\s*)?", text)
    if not match:
        raise argparse.ArgumentTypeError(f"expected a size like 256 or 256x320 (height x width), got {text!r}")
    height = int(match.group(1))
    width = int(match.group(2)) if match.group(2) else None
    if height < 1 or (width is not None and width < 1):
        raise argparse.ArgumentTypeError(f"sizes must be positive, got {text!r}")
    return height if width is None else (height, width)


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add ``inpaint masks``."""
    parser = subparsers.add_parser(
        NAME,
        help="write a set of generated masks (PNG, 255 = hole)",
        description="Write COUNT masks as mask_0000.png, mask_0001.png, ... (0 = keep, 255 = fill).\n"
        "The same seed always gives the same masks.",
        epilog="examples:\n"
        "  inpaint masks --kind strokes --preset thick --count 100 -o masks/\n"
        "  inpaint masks --kind box --count 50 --size 512 --bucket 10-20 --seed 1 -o masks_10_20/",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    from inpaint_models.io import masks as mask_sets

    kinds = list(mask_sets.MASK_KINDS)
    presets = list(mask_sets.STROKE_PRESETS)
    parser.add_argument(
        "--kind", default="strokes", choices=kinds + ["center"], metavar="KIND",
        help=f"mask kind: {', '.join(kinds)} (default: strokes)",
    )
    parser.add_argument(
        "--preset", choices=presets, metavar="PRESET",
        help=f"stroke preset for --kind strokes: {', '.join(presets)} (default: medium)",
    )
    parser.add_argument("-n", "--count", type=non_negative_int, default=10, help="number of masks (default: 10)")
    parser.add_argument(
        "--size", type=parse_size, default=256, metavar="N|HxW", help="mask size in pixels (default: 256)"
    )
    parser.add_argument("--seed", type=non_negative_int, default=0, help="random seed (default: 0)")
    parser.add_argument(
        "--bucket", metavar="LOW-HIGH",
        help="keep the hole ratio in this range of percent, e.g. 10-20 (evaluation sets)",
    )
    parser.add_argument(
        "-o", "--output", required=True, metavar="DIR", help="output folder (created if missing; must be empty)"
    )
    parser.add_argument(
        "--overwrite", action="store_true",
        help="write into a folder that holds an earlier set: its mask_*.png files are deleted first",
    )
    add_quiet(parser)
    return parser


def _mask_file(path: Path) -> bool:
    return re.fullmatch(r"mask_\d+\.png", path.name) is not None


def prepare_folder(folder: Path, overwrite: bool) -> int:
    """Make sure ``folder`` can take a new set; returns how many old mask files were deleted.

    Raises:
        InpaintError: the path is a file, or a non-empty folder without ``overwrite``
            (or with files other than an earlier mask set, which ``overwrite`` does not touch).
    """
    if folder.exists() and not folder.is_dir():
        raise InpaintError(f"--output {folder} is a file, not a folder")
    if not folder.is_dir():
        return 0
    entries = sorted(folder.iterdir())
    if not entries:
        return 0
    if not overwrite:
        raise InpaintError(
            f"--output {folder} is not empty ({len(entries)} entries, e.g. {entries[0].name}): a new set "
            f"would mix with them; choose a new folder, or pass --overwrite to replace an earlier mask set"
        )
    others = [entry for entry in entries if not _mask_file(entry)]
    if others:
        raise InpaintError(
            f"--output {folder} holds files that are not masks of an earlier set ({others[0].name}"
            f"{', ...' if len(others) > 1 else ''}); choose a new or empty folder"
        )
    for entry in entries:
        entry.unlink()
    return len(entries)


def run(args: argparse.Namespace) -> int:
    """Generate and save the masks; print the folder."""
    from inpaint_models.io import masks as mask_sets

    folder = Path(args.output)
    generated = mask_sets.generate_masks(
        args.kind, args.count, args.size, args.seed, preset=args.preset, bucket=args.bucket
    )
    generated = list(generated)  # any generation error comes before the folder is touched
    deleted = prepare_folder(folder, args.overwrite)
    paths = mask_sets.save_masks(generated, folder)
    replaced = f" (replacing {deleted} earlier mask file(s))" if deleted else ""
    note(f"wrote {len(paths)} {args.kind} mask(s) to {args.output}{replaced}", args.quiet)
    print(args.output)
    return 0
