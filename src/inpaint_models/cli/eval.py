"""``inpaint eval``: quality (PSNR, SSIM, texture ratio, L1, MSE, TV) and speed of models on a folder."""

from __future__ import annotations

import argparse
import json
import math
from typing import Any

from inpaint_models.cli._common import EventProgress, add_quiet, check_weights_path, non_negative_int, parse_named_paths

NAME = "eval"


def parse_eval_size(text: str):
    """``256`` -> 256; ``none`` / ``0`` -> None (keep each image's size)."""
    if text.strip().lower() in ("none", "0", "full"):
        return None
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a size in pixels or 'none', got {text!r}") from None
    if value < 8:
        raise argparse.ArgumentTypeError(f"size must be at least 8 pixels, got {text!r}")
    return value


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add ``inpaint eval``."""
    from inpaint_models.io import masks as mask_sets

    parser = subparsers.add_parser(
        NAME,
        help="compare models: quality and speed table on a folder of images",
        description="Fill every image of a folder with each model and print, as a markdown table,\n"
        "the mean PSNR, SSIM, L1, MSE and total variation (whole image and hole only), the\n"
        "hole's texture ratio (1 = as much texture as the truth, well below 1 = a smooth smear)\n"
        "and the median time per image. Images are centre-cropped and resized to --size.",
        epilog="examples:\n"
        "  inpaint eval --model telea --model biharmonic --data photos/ --masks strokes --preset thick\n"
        "  inpaint eval --model telea --data photos/ --masks masks/ --size 512 --json",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "-m", "--model", action="append", required=True, dest="models", metavar="MODEL",
        help="a model to evaluate, repeatable",
    )
    parser.add_argument("--data", required=True, metavar="DIR", help="folder of ground-truth images")
    parser.add_argument(
        "--masks", required=True, metavar="DIR|FILE|KIND",
        help=f"a folder of masks (matched by name, else by order), one mask file, or a kind to generate: "
        f"{', '.join(mask_sets.MASK_KINDS)}",
    )
    parser.add_argument("--preset", choices=list(mask_sets.STROKE_PRESETS), help="stroke preset (--masks strokes)")
    parser.add_argument(
        "--size", type=parse_eval_size, default=256, metavar="N|none",
        help="evaluate at N x N pixels (default: 256); 'none' keeps each image's size",
    )
    parser.add_argument("--seed", type=non_negative_int, default=0, help="seed of generated masks (default: 0)")
    parser.add_argument(
        "--weights", action="append", default=[], metavar="MODEL=PATH", help="weights of a model, repeatable"
    )
    parser.add_argument(
        "--opt", action="append", default=[], metavar="MODEL:KEY=VALUE",
        help="an option of one model, repeatable (e.g. --opt telea:radius=5)",
    )
    parser.add_argument("--device", default="auto", help="auto (default), cpu, cuda or cuda:N")
    parser.add_argument("--json", action="store_true", help="print the rows as JSON instead of a table")
    add_quiet(parser)
    return parser


def parse_model_options(pairs: list[str]) -> dict[str, dict[str, str]]:
    """``["telea:radius=5"]`` -> ``{"telea": {"radius": "5"}}``."""
    from inpaint_models.contract.errors import OptionError
    from inpaint_models.contract.options import parse_option_strings

    options: dict[str, dict[str, str]] = {}
    for pair in pairs:
        model, separator, rest = pair.partition(":")
        if not separator or not model.strip():
            raise OptionError(f"option {pair!r} must look like MODEL:KEY=VALUE")
        options.setdefault(model.strip(), {}).update(parse_option_strings([rest]))
    return options


def _jsonable(row: dict[str, Any]) -> dict[str, Any]:
    return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in row.items()}


def run(args: argparse.Namespace) -> int:
    """Evaluate and print the table (or JSON)."""
    from inpaint_models.evaluation import evaluate, format_markdown

    weights = parse_named_paths(args.weights, "--weights")
    for path in weights.values():
        check_weights_path(path)
    with EventProgress(quiet=args.quiet) as progress:
        rows = evaluate(
            args.models,
            args.data,
            args.masks,
            size=args.size,
            seed=args.seed,
            preset=args.preset,
            weights=weights,
            device=args.device,
            progress=progress,
            options=parse_model_options(args.opt),
        )
    if args.json:
        print(json.dumps([_jsonable(row) for row in rows], indent=2))
    else:
        print(format_markdown(rows))
    return 0
