"""``inpaint masks``: write a reproducible mask set (box, centre, strokes, mosaic)."""

from __future__ import annotations

import argparse
import re
from typing import Union

from .. import masks as mask_sets
from ._common import add_quiet, non_negative_int, note

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
    kinds = list(mask_sets.MASK_KINDS)
    parser.add_argument(
        "--kind", default="strokes", choices=kinds + ["center"], metavar="KIND",
        help=f"mask kind: {', '.join(kinds)} (default: strokes)",
    )
    parser.add_argument(
        "--preset", choices=list(mask_sets.STROKE_PRESETS), metavar="PRESET",
        help=f"stroke preset for --kind strokes: {', '.join(mask_sets.STROKE_PRESETS)} (default: medium)",
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
    parser.add_argument("-o", "--output", required=True, metavar="DIR", help="output folder (created if missing)")
    add_quiet(parser)
    return parser


def run(args: argparse.Namespace) -> int:
    """Generate and save the masks; print the folder."""
    generated = mask_sets.generate_masks(
        args.kind, args.count, args.size, args.seed, preset=args.preset, bucket=args.bucket
    )
    paths = mask_sets.save_masks(generated, args.output)
    if not args.quiet:
        note(f"wrote {len(paths)} {args.kind} mask(s) to {args.output}")
    print(args.output)
    return 0
