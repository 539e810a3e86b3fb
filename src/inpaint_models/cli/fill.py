"""``inpaint fill``: fill one image, a folder of images, or the bundled sample.

* one image:  ``inpaint fill IMAGE [MASK] -o OUT`` (no MASK: ``IMAGE_mask.*`` beside the image)
* a folder:   ``inpaint fill --image DIR [--mask DIR|FILE] --output DIR`` (IOPaint's
  ``iopaint run`` conventions: masks matched by file stem, also as
  ``<stem>_mask.*`` or ``<stem>.mask.*``; one mask file applies to every image;
  images without a mask and masks without an image are listed on stderr and
  skipped; each output keeps its input's file name and format);
* the sample: ``inpaint fill --sample -o astronaut_filled.png``;
* big data:   ``inpaint fill IMAGE.zarr MASK.zarr -o OUT.zarr [--scheduler ADDRESS]``: a zarr
  store, an OME-Zarr image (its lower levels rebuilt) or a TIFF too big to read whole,
  filled chunk by chunk (:mod:`inpaint_models.io.zarrio`, :mod:`inpaint_models.pipeline.chunked`).

``--model auto`` (the default) lets :func:`inpaint_models.api.default_model`
choose for each input: the content-aware fill for photographs, a volume fill
for stacks filled as volumes (``--volume-axis``).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

from inpaint_models.cli._common import (
    EventProgress,
    add_quiet,
    check_weights_path,
    mask_beside,
    non_negative_int,
    note,
    parse_channel_axis,
    parse_volume_axis,
    progress_bar,
    volume_axis_index,
    warn,
)
from inpaint_models.contract.errors import InpaintError, WeightsError
from inpaint_models.io import mask_files

if TYPE_CHECKING:
    import numpy as np

NAME = "fill"
AUTO = "auto"


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add ``inpaint fill``."""
    parser = subparsers.add_parser(
        NAME,
        help="fill the masked pixels of an image or a folder of images",
        description="Fill the masked pixels (non-zero in the mask) of an image, a TIFF stack,\n"
        "or every image of a folder (masks matched by file stem: a.png, a_mask.png or\n"
        "a.mask.png for a.jpg; or one mask for all). PNG, JPEG and TIFF in and out;\n"
        "16-bit images and multi-page stacks are kept as they are.",
        epilog="examples:\n"
        "  inpaint fill photo.png mask.png -o filled.png\n"
        "  inpaint fill stack.tif stack_mask.tif -o filled.tif --volume-axis z\n"
        "  inpaint fill --image photos/ --mask masks/ --output filled/ --model telea --opt radius=5\n"
        "  inpaint fill stack.tif stack_mask.tif -o filled.tif --fit 60      # learn from the stack first\n"
        "  inpaint fill --sample -o astronaut_filled.png\n"
        "  inpaint fill scan.ome.zarr scan_mask.zarr -o filled.ome.zarr    # chunk by chunk\n"
        "  inpaint fill huge.tif huge_mask.tif -o filled.zarr --scheduler tcp://host:8786",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("image_arg", nargs="?", metavar="IMAGE", help="the image file (or use --image)")
    parser.add_argument("mask_arg", nargs="?", metavar="MASK", help="the mask file, non-zero = fill (or use --mask; default: IMAGE_mask.* beside the image)")
    parser.add_argument("--image", dest="image_opt", metavar="PATH", help="an image file or a folder of images")
    parser.add_argument(
        "--mask", dest="mask_opt", metavar="PATH",
        help="a mask file (used for every image) or a folder of masks matched by file stem "
             "(default: the _mask files beside the images)",
    )
    parser.add_argument(
        "-o", "--output", metavar="PATH", required=True,
        help="output file (one image) or folder (folder mode; created if missing)",
    )
    parser.add_argument("--sample", action="store_true", help="fill the bundled sample photo with its mask")
    parser.add_argument(
        "-m", "--model", default=AUTO,
        help="model name (see 'inpaint models'); default: auto, the best measured fill for the input "
        "(content-aware for photos, a volume fill for stacks)",
    )
    parser.add_argument(
        "--weights", metavar="FILE",
        help="weights of a trainable model: the .safetensors file written by 'inpaint train' (default: its own)",
    )
    parser.add_argument("--device", default="auto", help="auto (default), cpu, cuda or cuda:N")
    parser.add_argument(
        "--opt", action="append", default=[], metavar="KEY=VALUE",
        help="a fill option of the model, repeatable (e.g. --opt radius=5; see 'inpaint models --json')",
    )
    parser.add_argument(
        "--margin", type=non_negative_int, metavar="N",
        help="context pixels around each hole sent to the model (default: the model's)",
    )
    parser.add_argument(
        "--channel-axis", type=parse_channel_axis, default="auto", metavar="N|none|auto",
        help="the image's channel axis; 'none' for a grey stack (default: auto, from the mask's shape)",
    )
    parser.add_argument(
        "--volume-axis", type=parse_volume_axis, default="auto", metavar="auto|none|z|t|N",
        help="fill a stack as a volume along this axis: z or t (the TIFF's Z or T axis; an unlabelled "
        "stack's one stack axis), an axis number, none (plane by plane), or auto (default: a stack's "
        "one stack axis, for models that fill volumes)",
    )
    parser.add_argument(
        "--fit", type=_positive_seconds, metavar="SECONDS",
        help="first fit a trainable model (--model, default stack-unet) to this image for SECONDS, as "
        "'inpaint fit' does, then fill with its best checkpoint, or with the classical volume fill when "
        "the fit did not beat it on held-back holes (it says which); the run goes to --fit-output",
    )
    parser.add_argument("--fit-output", metavar="DIR",
                        help="run folder of --fit (default: the output's name with -fit, next to it)")
    parser.add_argument(
        "--scheduler", metavar="ADDRESS",
        help="fill on a running dask cluster (e.g. tcp://host:8786): the crops go to its workers; for zarr "
        "stores and TIFFs read chunk by chunk (an IMAGE.zarr, -o OUT.zarr, or a TIFF over 2 GiB)",
    )
    parser.add_argument(
        "--missing-chunks", choices=("warn", "error", "ignore"), default="warn",
        help="a zarr IMAGE whose store lacks chunks (zarr reads them as its fill value): warn (default, naming "
        "them), error (stop before filling) or ignore (sparse stores written without empty chunks)",
    )
    add_quiet(parser)
    return parser


def _positive_seconds(text: str) -> float:
    from inpaint_models.cli.fit import positive_seconds

    return positive_seconds(text)


def _one(positional: Optional[str], option: Optional[str], what: str) -> Optional[str]:
    if positional is not None and option is not None:
        raise InpaintError(f"give the {what} either as an argument or with --{what}, not both")
    return positional if positional is not None else option


def check_weights_in_cli_terms(info: Any, weights: Optional[str]) -> None:
    """:func:`inpaint_models.api.resolve_weights`'s checks, their messages in this command's terms.

    Raises:
        MissingWeightsError: a trainable model without shipped weights and no ``--weights``
            (the message says how to get some: ``--fit``, ``inpaint fit``, ``inpaint train``).
        WeightsError: ``--weights`` given to a model that uses none.
    """
    from inpaint_models import api
    from inpaint_models.contract.errors import MissingWeightsError

    if weights is not None and not info.trainable:
        raise WeightsError(f"model {info.name!r} uses no weights: leave out --weights {weights}")
    try:
        api.resolve_weights(info, weights)
    except MissingWeightsError:
        how = ("fit it to this image first with --fit SECONDS (e.g. --fit 60), or give --weights FILE of a "
               "checkpoint written by 'inpaint fit' or 'inpaint train'")
        raise MissingWeightsError(f"model {info.name!r} ships no weights: {how}") from None


class FillJob:
    """The validated model, options, weights and device of one ``inpaint fill`` run.

    Everything that can be checked before reading an image is checked here
    (a named model, its options, ``--weights``, the device). With ``--model
    auto`` the model is chosen per input by :func:`inpaint_models.api.default_model`
    and checked the first time it is chosen.
    """

    def __init__(self, args: argparse.Namespace) -> None:
        from inpaint_models.contract.options import parse_option_strings

        self.args = args
        self.options = parse_option_strings(args.opt)
        self.fit_seconds = getattr(args, "fit", None)
        if self.fit_seconds is not None:  # inpaint fill --fit: the weights come from a fit of the input
            from inpaint_models.cli.fit import check_fit_request

            args.model = check_fit_request(args.model, args.weights, AUTO)
        if args.model == AUTO and args.weights is not None:
            raise InpaintError("--weights belongs to one trainable model: name it with --model")
        check_weights_path(args.weights)
        self._checked: set[str] = set()
        self._announced: set[str] = set()
        if args.model != AUTO:
            self._check(args.model)

    def _check(self, name: str) -> None:
        if name in self._checked:
            return
        from inpaint_models.contract.devices import resolve_device
        from inpaint_models.contract.options import build_fill_options
        from inpaint_models.contract.registry import default_registry

        info = default_registry().info(name)
        build_fill_options(info, self.options)  # a bad option fails here, before any file is read
        if self.fit_seconds is None:
            check_weights_in_cli_terms(info, self.args.weights)
        resolve_device(self.args.device, needs_torch=info.trainable)
        self._checked.add(name)

    def model_for(self, image: np.ndarray, mask: np.ndarray, volume_axis: Any) -> str:
        """The model to fill ``image`` with: ``--model``, or the default for this input."""
        if self.args.model != AUTO:
            return self.args.model
        from inpaint_models import api

        name = api.default_model(
            image.shape, mask_shape=mask.shape, channel_axis=self.args.channel_axis, volume_axis=volume_axis,
            mask=mask,  # a mostly thin hole gets a diffusion fill
        )
        self._check(name)
        if name not in self._announced:
            self._announced.add(name)
            note(f"model: {name} (the default for this input; choose another with --model)", self.args.quiet)
        return name

    def fill(self, image: np.ndarray, mask: np.ndarray, axes: str, name: str, progress: Any = None,
             announce: bool = False) -> np.ndarray:
        """Fill one image read from a file with tifffile ``axes`` (``name`` is the file's name for messages).

        ``announce``: first estimate the fill's duration and say it when it is long (:meth:`announce_estimate`).
        """
        from inpaint_models import api

        args = self.args
        volume_axis = volume_axis_index(args.volume_axis, axes, name)
        model = self.model_for(image, mask, volume_axis)
        weights = args.weights
        if self.fit_seconds is not None:
            from inpaint_models.cli.fit import fit_for_fill

            weights = fit_for_fill(args, image, mask, model, volume_axis, self.fit_seconds)
        elif announce:
            self.announce_estimate(image, mask, model, volume_axis)
        return api.fill(
            image,
            mask,
            model=model,
            weights=weights,
            device=args.device,
            channel_axis=args.channel_axis,
            volume_axis=volume_axis,
            margin=args.margin,
            progress=progress,
            **self.options,
        )


    def announce_estimate(self, image: Any, mask: Any, model: str, volume_axis: Any) -> Any:
        """Say how long a long fill will take, before it starts (not with -q); returns the estimate or None.

        Only models that run a network (or have a ``steps`` option) are timed:
        one network call on the largest crop (:func:`inpaint_models.estimate_fill_seconds`),
        a second or so on a CPU; the note appears when the estimate exceeds
        :data:`inpaint_models.pipeline.api.LONG_FILL_SECONDS`, with the ``--opt steps=N`` that would fit in it.
        """
        from inpaint_models import api
        from inpaint_models.contract.registry import default_registry

        args = self.args
        if args.quiet or api.is_lazy(image) or not api.measures(default_registry().info(model)):
            return None
        result = api.estimate_fill_seconds(
            image, mask, model, args.weights, args.device, channel_axis=args.channel_axis, volume_axis=volume_axis,
            margin=args.margin, **self.options,
        )
        if result.seconds is None or result.seconds <= api.LONG_FILL_SECONDS:
            return result
        text = f"{model} will take {result.describe()}"
        lower = result.steps_within(api.LONG_FILL_SECONDS)
        if lower is not None:
            text += (f"; --opt {result.steps_option}={lower} would take about "
                     f"{api.format_duration(result.seconds_with_steps(lower))}")
        note(text)
        return result


def _single_output(image_path: Path, output: str) -> Path:
    out = Path(output)
    if out.is_dir() or output.endswith(("/", os.sep)):
        out.mkdir(parents=True, exist_ok=True)
        return out / image_path.name
    return out


def _run_single(job: FillJob, image_path: Path, mask_path: Path, output: str) -> int:
    from inpaint_models.io import imageio

    out = _single_output(image_path, output)
    imageio.refuse_overwrite(out, image_path, mask_path)
    if out.suffix.lower() not in imageio.IMAGE_SUFFIXES:
        raise InpaintError(f"output {out} needs an image suffix: {', '.join(imageio.IMAGE_SUFFIXES)}")
    image, axes = imageio.read_image_with_axes(image_path)
    imageio.check_writable(out, image.shape, image.dtype, axes)  # a format that cannot hold it: before the fill
    mask = imageio.read_mask(mask_path)
    with EventProgress(image_path.name, job.args.quiet) as progress:
        filled = job.fill(image, mask, axes, image_path.name, progress, announce=True)
    imageio.write_image(out, filled, axes=axes)
    print(out)
    return 0


def _run_sample(job: FillJob, output: str) -> int:
    from inpaint_models.io import imageio
    from inpaint_models.samples import sample_photo_with_mask

    out = Path(output)
    if out.is_dir():
        out = out / "astronaut_filled.png"
    image, mask = sample_photo_with_mask()
    imageio.check_writable(out, image.shape, image.dtype, "YXS")
    filled = job.fill(image, mask, "YXS", "the sample photo", announce=True)
    imageio.write_image(out, filled)
    print(out)
    return 0


def _run_folder(job: FillJob, image_dir: Path, mask_path: Path, output: str) -> int:
    from inpaint_models.io import imageio

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
    pairs, missing, unmatched = mask_files.pair_folder(image_dir, mask_path)
    if missing:
        warn(
            f"skipping {len(missing)} image(s) without a mask in {mask_path}: "
            + ", ".join(image.name for image in missing)
        )
    if unmatched:
        warn(
            f"skipping {len(unmatched)} mask(s) without an image in {image_dir}: "
            + ", ".join(mask.name for mask in unmatched)
        )
    if not pairs:
        raise InpaintError(
            f"no image in {image_dir} has a mask in {mask_path} (masks are matched by file stem: for a.png "
            f"the mask is a, a_mask or a.mask with any image suffix)"
        )
    out_dir.mkdir(parents=True, exist_ok=True)
    failures = 0
    bar = progress_bar(len(pairs), "fill", job.args.quiet)
    try:
        for image_path, mask_file in pairs:
            out = out_dir / image_path.name
            try:
                imageio.refuse_overwrite(out, image_path, mask_file)
                image, axes = imageio.read_image_with_axes(image_path)
                imageio.check_writable(out, image.shape, image.dtype, axes)
                filled = job.fill(image, imageio.read_mask(mask_file), axes, image_path.name)
                imageio.write_image(out, filled, axes=axes)
            except InpaintError as error:  # one bad file must not stop the rest
                failures += 1
                message = str(error)
                if image_path.name not in message and mask_file.name not in message:
                    message = f"{image_path.name}: {message}"
                if bar is not None:
                    bar.write(f"inpaint: warning: {message}", file=sys.stderr)  # above the bar, not through it
                else:
                    warn(message)
            if bar is not None:
                bar.update(1)
    finally:
        if bar is not None:
            bar.close()
    written = len(pairs) - failures
    note(f"wrote {written} image(s) to {out_dir}", job.args.quiet)
    if failures:
        note(f"error: {failures} of {len(pairs)} image(s) failed")
        return 1
    return 0


def _run_lazy(job: FillJob, image_path: Path, mask_path: Path, output: str) -> int:
    """Fill a zarr store, an OME-Zarr image or a big TIFF chunk by chunk into a new zarr store."""
    import contextlib

    from inpaint_models.io import imageio, zarrio

    args = job.args
    out = Path(output)
    if not zarrio.is_zarr_path(out):
        raise InpaintError(f"{image_path.name} is filled chunk by chunk (a zarr store, or a TIFF over "
                           f"{zarrio.LAZY_TIFF_BYTES >> 30} GiB): write the result to a zarr store, -o OUT.zarr")
    if job.fit_seconds is not None:
        raise InpaintError("--fit reads the whole image: it does not take zarr stores or big TIFFs")
    zarrio.check_output(out)  # before the fill, not after it
    source = zarrio.open_lazy(image_path, missing_chunks=getattr(args, "missing_chunks", "warn"))
    lazy_mask = zarrio.is_zarr_path(mask_path) or zarrio.is_big_tiff(mask_path)
    # a mask's unwritten chunks are its empty ones (zarr writes none for an all-zero chunk): not a loss
    mask = zarrio.open_lazy(mask_path, missing_chunks="ignore").array if lazy_mask else imageio.read_mask(mask_path)
    if args.channel_axis == "auto" and "C" in source.axes:  # OME-Zarr's TCZYX: say where C is
        args.channel_axis = source.axes.index("C")
        if mask.ndim == source.array.ndim and mask.shape[args.channel_axis] == 1:  # a label image's C of 1
            mask = mask[tuple(0 if i == args.channel_axis else slice(None) for i in range(mask.ndim))]
    with contextlib.ExitStack() as stack:
        if getattr(args, "scheduler", None) is not None:
            stack.enter_context(_dask_client(args.scheduler))
        progress = stack.enter_context(EventProgress(image_path.name, args.quiet))  # a bar per phase: scan, fill
        filled = job.fill(source.array, mask, source.axes, image_path.name, progress)
        progress.close()
        report = zarrio.write_zarr(out, filled, source, compute=lambda stored: _compute_write(stored, args.quiet))
    if report.skipped:
        warn(f"{out}: pyramid levels {', '.join(report.skipped)} not written (their shapes are not whole "
             f"fractions of the level above); the metadata lists levels {', '.join(report.written)}")
    print(out)
    return 0


def _compute_write(stored: Any, quiet: bool) -> None:
    """Run one zarr write: on the active dask cluster, bounded (worker deaths end in an error, never a hang);
    else locally, with dask's progress bar on stderr when it takes over a second."""
    from dask.diagnostics import ProgressBar

    from inpaint_models import api

    if api.compute_on_active_cluster(stored):
        return
    if quiet:
        stored.compute()
        return
    with ProgressBar(minimum=1.0, out=sys.stderr):
        stored.compute()


def _dask_client(address: str) -> Any:
    """A ``dask.distributed`` client of the cluster at ``address`` (a context manager)."""
    from distributed import Client

    try:
        return Client(address, timeout="10s")
    except (OSError, TimeoutError, ValueError) as error:
        raise InpaintError(f"cannot reach the dask scheduler at {address}: {error}") from None


def _existing(path: str, what: str) -> Path:
    """``path`` as a Path if something is there (a broken link or a symlink loop is named as such)."""
    from inpaint_models.io.regular_files import file_problem

    found = Path(path)
    if not found.exists():
        problem = file_problem(found, "file or folder")
        if problem is not None and not problem.missing:
            raise InpaintError(f"{what} path {problem.message}")
        raise InpaintError(f"{what} file or folder not found: {found}")
    return found


def run(args: argparse.Namespace) -> int:
    """Fill one image, a folder or the sample, as the arguments say."""

    image = _one(args.image_arg, args.image_opt, "image")
    mask = _one(args.mask_arg, args.mask_opt, "mask")
    if args.sample:
        if image is not None or mask is not None:
            raise InpaintError("--sample brings its own image and mask; do not give IMAGE or MASK with it")
        if getattr(args, "fit", None) is not None:
            raise InpaintError("--fit learns from stacks and similar images; the sample photo has nothing to fit")
        return _run_sample(FillJob(args), args.output)
    if image is None:
        raise InpaintError("give an IMAGE and its MASK (files, or --image DIR --mask DIR|FILE), or --sample")
    image_path = _existing(image, "image")
    mask_path = _existing(mask, "mask") if mask is not None else mask_beside(image_path)
    job = FillJob(args)
    from inpaint_models.io import zarrio

    if zarrio.is_zarr_path(image_path) or zarrio.is_zarr_path(Path(args.output)) or zarrio.is_big_tiff(image_path):
        return _run_lazy(job, image_path, mask_path, args.output)
    if getattr(args, "scheduler", None) is not None:
        raise InpaintError("--scheduler fills zarr stores and big TIFFs chunk by chunk: give an IMAGE.zarr or "
                           "-o OUT.zarr (an image that fits in memory is filled here)")
    if image_path.is_dir():
        if job.fit_seconds is not None:
            raise InpaintError("--fit fits one image or stack at a time; give an IMAGE file, not a folder")
        return _run_folder(job, image_path, mask_path, args.output)
    if mask_path.is_dir():  # one image, its mask looked up by name in the folder
        found = mask_files.find_mask(image_path, mask_path)
        if found is None:
            beside = mask_path.resolve() == image_path.parent.resolve()
            raise InpaintError(f"no mask for {image_path.name} in {mask_path}: expected "
                               f"{mask_files.expected_names(image_path.stem, beside)}")
        mask_path = found
    return _run_single(job, image_path, mask_path, args.output)
