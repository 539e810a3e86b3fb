"""``inpaint fill``: fill one image, a folder of images, or the bundled sample.

* one image:  ``inpaint fill IMAGE MASK -o OUT``
* a folder:   ``inpaint fill --image DIR --mask DIR|FILE --output DIR`` (IOPaint's
  ``iopaint run`` conventions: masks matched by file stem, also as
  ``<stem>_mask.*`` or ``<stem>.mask.*``; one mask file applies to every image;
  images without a mask are listed on stderr and skipped; each output keeps its
  input's file name and format);
* the sample: ``inpaint fill --sample -o astronaut_filled.png``.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any, Optional

import numpy as np

from .. import api, imageio
from ..devices import resolve_device
from ..errors import InpaintError
from ..options import build_options, parse_option_strings
from ..plugins import default_registry
from ._common import EventProgress, add_quiet, non_negative_int, note, parse_channel_axis, progress_bar

NAME = "fill"


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add ``inpaint fill``."""
    parser = subparsers.add_parser(
        NAME,
        help="fill the masked pixels of an image or a folder of images",
        description="Fill the masked pixels (non-zero in the mask) of an image, a TIFF stack,\n"
        "or every image of a folder (masks matched by file name: a.png, a_mask.png or\n"
        "a.mask.png for a.jpg; or one mask for all). PNG, JPEG and TIFF in and out;\n"
        "16-bit images and multi-page stacks are kept as they are.",
        epilog="examples:\n"
        "  inpaint fill photo.png mask.png -o filled.png\n"
        "  inpaint fill stack.tif mask.png -o filled.tif --model biharmonic\n"
        "  inpaint fill --image photos/ --mask masks/ --output filled/ --opt radius=5\n"
        "  inpaint fill --sample -o astronaut_filled.png",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("image_arg", nargs="?", metavar="IMAGE", help="the image file (or use --image)")
    parser.add_argument("mask_arg", nargs="?", metavar="MASK", help="the mask file, non-zero = fill (or use --mask)")
    parser.add_argument("--image", dest="image_opt", metavar="PATH", help="an image file or a folder of images")
    parser.add_argument(
        "--mask", dest="mask_opt", metavar="PATH",
        help="a mask file (used for every image) or a folder of masks matched by file name",
    )
    parser.add_argument(
        "-o", "--output", metavar="PATH", required=True,
        help="output file (one image) or folder (folder mode; created if missing)",
    )
    parser.add_argument("--sample", action="store_true", help="fill the bundled sample photo with its mask")
    parser.add_argument("-m", "--model", default="telea", help="model name (see 'inpaint models'; default: telea)")
    parser.add_argument("--weights", metavar="FILE", help="weights file of a trainable model (default: its own)")
    parser.add_argument("--device", default="auto", help="auto (default), cpu, cuda or cuda:N")
    parser.add_argument(
        "--opt", action="append", default=[], metavar="KEY=VALUE",
        help="a model option, repeatable (e.g. --opt radius=5; see 'inpaint models --json')",
    )
    parser.add_argument(
        "--margin", type=non_negative_int, metavar="N",
        help="context pixels around each hole sent to the model (default: the model's)",
    )
    parser.add_argument(
        "--channel-axis", type=parse_channel_axis, default="auto", metavar="N|none|auto",
        help="the image's channel axis; 'none' for a grey stack (default: auto, from the mask's shape)",
    )
    add_quiet(parser)
    return parser


def _one(positional: Optional[str], option: Optional[str], what: str) -> Optional[str]:
    if positional is not None and option is not None:
        raise InpaintError(f"give the {what} either as an argument or with --{what}, not both")
    return positional if positional is not None else option


def mask_names(stem: str) -> tuple[str, ...]:
    """The mask file stems accepted for an image stem, in order of preference."""
    return (stem, f"{stem}_mask", f"{stem}.mask")


class FillJob:
    """The validated model, options, weights and device of one ``inpaint fill`` run."""

    def __init__(self, args: argparse.Namespace) -> None:
        registry = default_registry()
        info = registry.info(args.model)
        self.options = parse_option_strings(args.opt)
        build_options(info, self.options)  # a bad option fails here, before any file is read
        api.resolve_weights(info, args.weights)
        resolve_device(args.device, needs_torch=info.trainable)
        self.args = args

    def fill(self, image: np.ndarray, mask: np.ndarray, progress: Any = None) -> np.ndarray:
        args = self.args
        return api.fill(
            image,
            mask,
            model=args.model,
            weights=args.weights,
            device=args.device,
            channel_axis=args.channel_axis,
            margin=args.margin,
            progress=progress,
            **self.options,
        )


def _single_output(image_path: Path, output: str) -> Path:
    out = Path(output)
    if out.is_dir() or output.endswith(("/", os.sep)):
        out.mkdir(parents=True, exist_ok=True)
        return out / image_path.name
    return out


def _run_single(job: FillJob, image_path: Path, mask_path: Path, output: str) -> int:
    out = _single_output(image_path, output)
    imageio.refuse_overwrite(out, image_path, mask_path)
    if out.suffix.lower() not in imageio.IMAGE_SUFFIXES:
        raise InpaintError(f"output {out} needs an image suffix: {', '.join(imageio.IMAGE_SUFFIXES)}")
    image = imageio.read_image(image_path)
    mask = imageio.read_mask(mask_path)
    with EventProgress(f"fill {image_path.name}", job.args.quiet, unit="region") as progress:
        filled = job.fill(image, mask, progress)
    imageio.write_image(out, filled)
    print(out)
    return 0


def _run_sample(job: FillJob, output: str) -> int:
    from ..samples import sample_photo_with_mask

    out = Path(output)
    if out.is_dir():
        out = out / "astronaut_filled.png"
    image, mask = sample_photo_with_mask()
    filled = job.fill(image, mask)
    imageio.write_image(out, filled)
    print(out)
    return 0


def pair_folder(image_dir: Path, mask_path: Path) -> tuple[list[tuple[Path, Path]], list[Path]]:
    """Pair each image of ``image_dir`` with its mask.

    Args:
        image_dir: folder of images.
        mask_path: one mask file for every image, or a folder of masks named
            like the images (``a.png``, ``a_mask.png`` or ``a.mask.png`` for
            ``a.jpg``). Masks may sit in the image folder itself when they use
            the ``_mask`` / ``.mask`` names.

    Returns:
        (image, mask) pairs and the images that have no mask, both sorted.
    """
    images = imageio.list_images(image_dir)
    if mask_path.is_file():
        return [(image, mask_path) for image in images if image.resolve() != mask_path.resolve()], []
    if not mask_path.is_dir():
        raise InpaintError(f"mask file or folder not found: {mask_path}")
    masks = imageio.list_images(mask_path)
    same_folder = mask_path.resolve() == image_dir.resolve()
    if same_folder:  # the mask files are not images to fill, and an image is not its own mask
        mask_stems = {name for image in images for name in mask_names(image.stem)[1:]}
        images = [image for image in images if image.stem not in mask_stems]
    by_stem: dict[str, Path] = {}
    for mask in masks:
        by_stem.setdefault(mask.stem, mask)
    pairs, missing = [], []
    for image in images:
        candidates = mask_names(image.stem)[1:] if same_folder else mask_names(image.stem)
        match = next((by_stem[name] for name in candidates if name in by_stem), None)
        if match is None:
            missing.append(image)
        else:
            pairs.append((image, match))
    return pairs, missing


def _run_folder(job: FillJob, image_dir: Path, mask_path: Path, output: str) -> int:
    out_dir = Path(output)
    if out_dir.exists() and not out_dir.is_dir():
        raise InpaintError(f"--output must be a folder when --image is a folder; {out_dir} is a file")
    if out_dir.exists() and out_dir.resolve() == image_dir.resolve():
        raise InpaintError(
            f"refusing to write into the input folder {image_dir}: the outputs would overwrite the input "
            f"images; choose another --output folder"
        )
    if not imageio.list_images(image_dir):
        raise InpaintError(f"no images ({', '.join(imageio.IMAGE_SUFFIXES)}) in {image_dir}")
    pairs, missing = pair_folder(image_dir, mask_path)
    if missing:
        note(
            f"skipping {len(missing)} image(s) without a mask in {mask_path}: "
            + ", ".join(image.name for image in missing)
        )
    if not pairs:
        raise InpaintError(
            f"no image in {image_dir} has a mask in {mask_path} (for a.png the mask is named "
            f"a.png, a_mask.png or a.mask.png; any image suffix)"
        )
    out_dir.mkdir(parents=True, exist_ok=True)
    failures = 0
    bar = progress_bar(len(pairs), "fill", job.args.quiet)
    try:
        for image_path, mask_file in pairs:
            out = out_dir / image_path.name
            try:
                imageio.refuse_overwrite(out, image_path, mask_file)
                filled = job.fill(imageio.read_image(image_path), imageio.read_mask(mask_file))
                imageio.write_image(out, filled)
            except InpaintError as error:  # one bad file must not stop the rest
                failures += 1
                message = str(error)
                if image_path.name not in message and mask_file.name not in message:
                    message = f"{image_path.name}: {message}"
                if bar is not None:
                    bar.write(f"inpaint: warning: {message}", file=sys.stderr)
                else:
                    note(f"warning: {message}")
            if bar is not None:
                bar.update(1)
    finally:
        if bar is not None:
            bar.close()
    written = len(pairs) - failures
    if not job.args.quiet:
        note(f"wrote {written} image(s) to {out_dir}")
    if failures:
        note(f"error: {failures} of {len(pairs)} image(s) failed")
        return 1
    return 0


def run(args: argparse.Namespace) -> int:
    """Fill one image, a folder or the sample, as the arguments say."""
    image = _one(args.image_arg, args.image_opt, "image")
    mask = _one(args.mask_arg, args.mask_opt, "mask")
    if args.sample:
        if image is not None or mask is not None:
            raise InpaintError("--sample brings its own image and mask; do not give IMAGE or MASK with it")
        return _run_sample(FillJob(args), args.output)
    if image is None or mask is None:
        raise InpaintError("give an IMAGE and a MASK (files, or --image DIR --mask DIR|FILE), or --sample")
    image_path, mask_path = Path(image), Path(mask)
    if not image_path.exists():
        raise InpaintError(f"image file or folder not found: {image_path}")
    if not mask_path.exists():
        raise InpaintError(f"mask file or folder not found: {mask_path}")
    job = FillJob(args)
    if image_path.is_dir():
        return _run_folder(job, image_path, mask_path, args.output)
    if mask_path.is_dir():  # one image, its mask looked up by name in the folder
        found = [mask_path / f"{name}{suffix}" for name in mask_names(image_path.stem) for suffix in
                 imageio.IMAGE_SUFFIXES]
        mask_path = next((p for p in found if p.is_file() and p.resolve() != image_path.resolve()), None)
        if mask_path is None:
            raise InpaintError(f"no mask for {image_path.name} in {mask}: expected {image_path.stem}.png, "
                               f"{image_path.stem}_mask.png or {image_path.stem}.mask.png")
    return _run_single(job, image_path, mask_path, args.output)
