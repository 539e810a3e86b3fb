"""PatchMatch's crop margin: hole quality and speed against the context it is given.

The pipeline sends a model each hole region's bounding box plus ``margin``
pixels of context (``ModelInfo.crop_margin`` by default). PatchMatch copies
patches from that context, so too little starves it of sources, and more costs
time (the crop's area). This prints a markdown table: for each margin, the mean
hole PSNR (with its standard error, and the mean per-fill difference to the
default margin on the same holes) and texture ratio
(:func:`inpaint_models.training.metrics.texture_ratio`) and
the median wall and CPU time of one fill through :func:`inpaint_models.fill`,
on real photographs (scikit-image's bundled ones, or ``--data``) centre-cropped
to 512 x 512, each with seeded 128 x 128 holes, plus telea as the reference. The
row at the model's default margin is the speed target's case (<= 1 s for a
128 x 128 hole in a 512 x 512 photo).

    python benchmarks/bench_patchmatch.py [--margins 16 32 64 128] [--holes 2] [--data FOLDER]

CPU time is that of this process: PyPatchMatch is single-threaded, so it is the
wall time the fill takes on an idle core.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path
from typing import Optional

import numpy as np
from skimage import data as skdata

import inpaint_models
from inpaint_models.evaluation import center_crop_resize, load_eval_images, to_float_rgb
from inpaint_models.training.metrics import psnr, texture_ratio

SIZE = 512
HOLE = 128
PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "motorcycle")


def photographs(folder: Optional[Path]) -> list[tuple[str, np.ndarray]]:
    """(name, uint8 RGB SIZE x SIZE) photographs: scikit-image's bundled ones, or the images of ``folder``."""
    if folder is not None:
        loaded, stems = load_eval_images(folder, SIZE)
        return [(stem or str(i), np.rint(image * 255).astype(np.uint8)) for i, (image, stem) in
                enumerate(zip(loaded, stems))]
    out = []
    for name in PHOTOS:
        image = skdata.stereo_motorcycle()[0] if name == "motorcycle" else getattr(skdata, name)()
        unit = center_crop_resize(to_float_rgb(image), SIZE)
        out.append((name, np.rint(unit * 255).astype(np.uint8)))
    return out


def holes(count: int, seed: int) -> list[np.ndarray]:
    """``count`` seeded HOLE x HOLE boxes inside a SIZE x SIZE image (bool masks, True = fill)."""
    rng = np.random.default_rng(seed)
    masks = []
    for _ in range(count):
        top, left = rng.integers(0, SIZE - HOLE + 1, size=2)
        mask = np.zeros((SIZE, SIZE), bool)
        mask[top : top + HOLE, left : left + HOLE] = True
        masks.append(mask)
    return masks


def measure(model: str, margin: Optional[int], cases: list[tuple[np.ndarray, np.ndarray]]) -> dict[str, object]:
    """Hole PSNR / texture ratio per case (mean and standard error), median wall / CPU ms of ``model``."""
    inpaint_models.fill(cases[0][0], cases[0][1], model=model, margin=margin)  # warm-up (imports, library load)
    scores, textures, walls, cpus = [], [], [], []
    for image, mask in cases:
        wall, cpu = time.perf_counter(), time.process_time()
        filled = inpaint_models.fill(image, mask, model=model, margin=margin)
        cpus.append(time.process_time() - cpu)
        walls.append(time.perf_counter() - wall)
        truth = image.astype(np.float64) / 255.0
        result = filled.astype(np.float64) / 255.0
        scores.append(psnr(result, truth, mask))
        textures.append(texture_ratio(result, truth, mask))
    return {
        "scores": np.array(scores),
        "psnr_hole": float(np.mean(scores)),
        "psnr_se": float(np.std(scores, ddof=1) / np.sqrt(len(scores))) if len(scores) > 1 else float("nan"),
        "texture": float(np.nanmean(textures)),
        "wall_ms": statistics.median(walls) * 1000.0,
        "cpu_ms": statistics.median(cpus) * 1000.0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--margins", type=int, nargs="+", default=[16, 32, 48, 64, 96, 128, 256])
    parser.add_argument("--holes", type=int, default=2, help="128 x 128 holes per photograph")
    parser.add_argument("--data", type=Path, help="a folder of photographs (default: scikit-image's)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    photos = photographs(args.data)
    cases = [(image, mask) for index, (_name, image) in enumerate(photos)
             for mask in holes(args.holes, args.seed + index)]
    default = inpaint_models.model_info("patchmatch").crop_margin
    print(f"{len(photos)} photographs ({', '.join(name for name, _ in photos)}), {SIZE} x {SIZE}, "
          f"{args.holes} holes of {HOLE} x {HOLE} each ({len(cases)} fills per row)\n")
    print("| model | margin | hole PSNR (± s.e.) | vs default margin (paired, ± s.e.) | texture ratio "
          "| ms (wall) | ms (CPU) |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    margins = [default] + sorted(set(args.margins) - {default})  # the default first: the rest are paired with it
    reference = None
    rows = [("patchmatch", default), ("telea", None)] + [("patchmatch", m) for m in margins[1:]]
    for model, margin in rows:
        result = measure(model, margin, cases)
        shown = margin if margin is not None else inpaint_models.model_info(model).crop_margin
        mark = " (default)" if model == "patchmatch" and margin == default else ""
        if model == "patchmatch" and reference is None:
            reference = result["scores"]
        paired = "" if reference is None else _paired(result["scores"] - reference)
        print(f"| {model} | {shown}{mark} | {result['psnr_hole']:.2f} ± {result['psnr_se']:.2f} | {paired} "
              f"| {result['texture']:.2f} | {result['wall_ms']:.0f} | {result['cpu_ms']:.0f} |", flush=True)


def _paired(differences: np.ndarray) -> str:
    """Mean ± standard error of per-fill PSNR differences (the same holes, so photo-to-photo spread cancels)."""
    if len(differences) < 2:
        return f"{differences.mean():+.2f}"
    return f"{differences.mean():+.2f} ± {np.std(differences, ddof=1) / np.sqrt(len(differences)):.2f}"


if __name__ == "__main__":
    main()
