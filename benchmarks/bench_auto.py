"""``model="auto"`` reads the hole: what it picks, how long it takes and what it gets, before and after.

Prints three markdown tables, measured in one run:

1. **Picks.** For each case, the model ``auto`` picked before (by the image's
   shape alone: ``default_model(image.shape)``, which is still today's rule for
   a caller without the mask) and now (``fill(model="auto")``, which passes the
   mask), the median seconds of one fill, the mean hole PSNR and texture ratio
   (``inpaint_models.training.metrics``, as docs/results.md). Photographs: the
   held-out 256 px crops of docs/results.md (``data/heldout/``, built by
   ``scripts/prepare_training_data.py``; bundled scikit-image photographs when
   that folder is missing) with results.md's box and thick-stroke sets and
   thinner masks; fluorescence-like uint16 images (the stack sample's recipe in
   2D: blurred blobs, Poisson noise, gain 40, offset 100; PSNR against the noisy
   truth, peak = the truth's maximum) with lost tiles and 2 px dead rows, four
   full-width dead rows at 2048², and hot pixels.
2. **Thin holes: which fill, up to which width.** Four full-width rows of h px
   on the photographs and on the fluorescence-like images, and scattered hot
   pixels: every candidate's hole PSNR / texture ratio, and the hole's wide share
   (``pipeline.hole_shape.wide_share``).
3. **Mixed holes.** A 64 px box plus k 2 px scratches on the photographs: the
   wide share against patchmatch's and biharmonic's hole PSNR.

    python benchmarks/bench_auto.py [--data data/heldout] [--limit 36] [--sweep-step 2]
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
from scipy import ndimage
from skimage.data import binary_blobs

import inpaint_models
from inpaint_models.api import default_model
from inpaint_models.evaluation import load_eval_images
from inpaint_models.io.masks import generate_masks, strokes_mask
from inpaint_models.pipeline.hole_shape import wide_share
from inpaint_models.training.metrics import psnr, texture_ratio

ROOT = Path(__file__).resolve().parents[1]
SIZE = 256
SEED = 7  # docs/results.md's mask seed
CANDIDATES = ("patchmatch", "biharmonic", "telea", "navier-stokes")

#: a case: images (float32 RGB photographs in [0, 1] or uint16 fluorescence), masks (True = fill), truths
Case = tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray]]


def photographs(folder: Path, limit: int) -> tuple[list[np.ndarray], str]:
    """float32 RGB (256, 256, 3) crops in [0, 1]: the held-out set, or bundled scikit-image photographs."""
    if folder.is_dir():
        images, _ = load_eval_images(folder, SIZE)
        source = f"the held-out crops of docs/results.md ({folder})"
    else:
        from skimage import data

        photos = [getattr(data, name)() for name in ("rocket", "astronaut", "coffee", "chelsea")]
        images, _ = load_eval_images(photos, SIZE)
        source = f"bundled scikit-image photographs ({folder} is missing)"
    return images[:limit] if limit else images, source


def fluorescence(size: int, seed: int) -> np.ndarray:
    """uint16 (size, size) fluorescence-like image: the stack sample's recipe in 2D (samples.py)."""
    rng = np.random.default_rng(seed)
    blobs = binary_blobs(length=size, n_dim=2, blob_size_fraction=0.04, volume_fraction=0.25, rng=seed)
    structure = ndimage.gaussian_filter(blobs.astype(np.float32), 1.8)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    background = 0.15 + 0.1 * np.sin(xx / size * np.pi) * np.cos(yy / size * np.pi / 2)
    counts = rng.poisson(60.0 * (background + structure))
    return np.clip(counts * 40.0 + 100.0, 0, 65535).astype(np.uint16)


def rows_mask(size: int, height: int, count: int, rng: np.random.Generator) -> np.ndarray:
    """``count`` full-width rows ``height`` px high (dead rows of a camera, scan lines), at least 8 px apart."""
    mask = np.zeros((size, size), bool)
    for row in rng.choice(np.arange(4, size - height - 4, height + 8), count, replace=False):
        mask[row : row + height] = True
    return mask


def tiles_mask(size: int, count: int, rng: np.random.Generator) -> np.ndarray:
    """``count`` lost tiles, 14-29 px squares (the stack sample's)."""
    mask = np.zeros((size, size), bool)
    for _ in range(count):
        y, x = rng.integers(8, size - 40, 2)
        mask[y : y + rng.integers(14, 30), x : x + rng.integers(14, 30)] = True
    return mask


def scratches(size: int, count: int, rng: np.random.Generator, mask: np.ndarray | None = None) -> np.ndarray:
    """``count`` 2 px straight scratches from edge to edge, added to ``mask``."""
    canvas = np.zeros((size, size), np.uint8) if mask is None else mask.astype(np.uint8)
    for _ in range(count):
        a, b = (int(v) for v in rng.integers(0, size, 2))
        ends = ((a, 0), (b, size - 1)) if rng.random() < 0.5 else ((0, a), (size - 1, b))
        cv2.line(canvas, ends[0], ends[1], 1, 2)
    return canvas > 0


def hot_pixels(size: int, count: int, rng: np.random.Generator) -> np.ndarray:
    """``count`` scattered hot pixels, a quarter of them 2x2 clusters."""
    mask = np.zeros((size, size), bool)
    y, x = rng.integers(0, size - 1, (2, count))
    mask[y, x] = True
    mask[y[: count // 4] + 1, x[: count // 4] + 1] = True
    return mask


def box_and_scratches(size: int, box: int, count: int, seed: int) -> np.ndarray:
    """One ``box`` px square (its place drawn from ``seed`` alone) and ``count`` scratches."""
    y, x = np.random.default_rng([seed, 1]).integers(0, size - box, 2)
    mask = np.zeros((size, size), bool)
    mask[y : y + box, x : x + box] = True
    return scratches(size, count, np.random.default_rng([seed, 2]), mask)


def photo_cases(photos: list[np.ndarray]) -> dict[str, Case]:
    """The photograph cases of the picks table: results.md's two sets and thinner holes."""
    n = len(photos)
    masks = {
        "photo boxes 64-128 px (results.md)": generate_masks("box", n, SIZE, SEED, min_size=64, max_size=128),
        "photo strokes thick, 10-30 % (results.md)": generate_masks("strokes", n, SIZE, SEED, preset="thick",
                                                                   bucket=(0.10, 0.30)),
        "photo strokes medium": [strokes_mask((SIZE, SIZE), np.random.default_rng([SEED, i]), "medium")
                                 for i in range(n)],
        "photo strokes thin": [strokes_mask((SIZE, SIZE), np.random.default_rng([SEED, i]), "thin")
                               for i in range(n)],
        "photo four 2 px scratches": [scratches(SIZE, 4, np.random.default_rng([SEED, i])) for i in range(n)],
        "photo 64 px box + four 2 px scratches": [box_and_scratches(SIZE, 64, 4, SEED + i) for i in range(n)],
    }
    return {name: (photos, case_masks, photos) for name, case_masks in masks.items()}


def fluorescence_cases() -> dict[str, Case]:
    """The fluorescence-like cases of the picks table (uint16, one channel)."""
    cases: dict[str, Case] = {}
    truths = [fluorescence(512, seed) for seed in range(3)]
    for name, make in (
        ("fluorescence 512² uint16: 4 tiles + 4 2-px dead rows",
         lambda rng: tiles_mask(512, 4, rng) | rows_mask(512, 2, 4, rng)),
        ("fluorescence 512² uint16: 400 hot pixels", lambda rng: hot_pixels(512, 400, rng)),
    ):
        masks = [make(np.random.default_rng(seed)) for seed in range(3)]
        cases[name] = ([gappy(t, m) for t, m in zip(truths, masks)], masks, truths)
    truth = fluorescence(2048, 0)
    mask = rows_mask(2048, 2, 4, np.random.default_rng(0))
    cases["fluorescence 2048² uint16: four full-width 2-px rows"] = ([gappy(truth, mask)], [mask], [truth])
    return cases


def gappy(truth: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The truth with zeros in the hole, as a camera records lost pixels."""
    image = truth.copy()
    image[mask] = 0
    return image


def score(filled: np.ndarray, truth: np.ndarray, mask: np.ndarray) -> tuple[float, float]:
    """(hole PSNR, texture ratio), peak 1 for float photographs and the truth's maximum for integer images."""
    peak = 1.0 if truth.dtype.kind == "f" else float(truth.max())
    filled, truth = filled.astype(np.float64) / peak, truth.astype(np.float64) / peak
    return psnr(filled, truth, mask), texture_ratio(filled, truth, mask)


def run_fills(case: Case, pick: Callable[[np.ndarray, np.ndarray], str]) -> dict:
    """Fill every image of ``case`` with the model ``pick(image, mask)`` names: picks, median s, mean scores."""
    picks, seconds, scores = [], [], []
    for image, mask, truth in zip(*case):
        start = time.perf_counter()
        name = pick(image, mask)
        filled = inpaint_models.fill(image, mask, model=name)
        seconds.append(time.perf_counter() - start)
        picks.append(name)
        scores.append(score(filled, truth, mask))
    counts = {name: picks.count(name) for name in dict.fromkeys(picks)}
    label = ", ".join(name if count == len(picks) else f"{name} ×{count}" for name, count in counts.items())
    return {"picks": label, "s": statistics.median(seconds), "psnr": float(np.mean([s[0] for s in scores])),
            "texture": float(np.nanmean([s[1] for s in scores]))}


def picks_table(cases: dict[str, Case]) -> None:
    """Table 1: auto before (shape alone) and now (the mask read), on every case."""
    print("| case | images | auto before | auto now | s before | s now | PSNR hole before | PSNR hole now "
          "| texture before | texture now |")
    print("|---|---:|---|---|---:|---:|---:|---:|---:|---:|")
    for name, case in cases.items():
        before = run_fills(case, lambda image, mask: default_model(image.shape))
        now = run_fills(case, lambda image, mask: "auto")
        now["picks"] = run_fills_picks(case)
        print(f"| {name} | {len(case[0])} | {before['picks']} | {now['picks']} | {before['s']:.3f} | {now['s']:.3f} "
              f"| {before['psnr']:.2f} | {now['psnr']:.2f} | {before['texture']:.2f} | {now['texture']:.2f} |",
              flush=True)


def run_fills_picks(case: Case) -> str:
    """What ``fill(model="auto")`` picks for each image of ``case`` (the plan's own call)."""
    picks = [default_model(image.shape, mask=mask) for image, mask in zip(case[0], case[1])]
    counts = {name: picks.count(name) for name in dict.fromkeys(picks)}
    return ", ".join(name if count == len(picks) else f"{name} ×{count}" for name, count in counts.items())


def candidates_row(name: str, case: Case) -> None:
    """One row of table 2: the mean wide share and every candidate's hole PSNR / texture."""
    share = float(np.mean([wide_share(mask) for mask in case[1]]))
    cells = []
    for model in CANDIDATES:
        result = run_fills(case, lambda image, mask, model=model: model)
        cells.append(f"{result['psnr']:.2f} / {result['texture']:.2f}")
    print(f"| {name} | {share:.2f} | {' | '.join(cells)} | {run_fills_picks(case)} |", flush=True)


def thin_table(photos: list[np.ndarray]) -> None:
    """Table 2: hole widths against the candidates, photographs and fluorescence-like images."""
    print("| hole | wide share | " + " | ".join(f"{m} PSNR / texture" for m in CANDIDATES) + " | auto now |")
    print("|---|---:|" + "---:|" * len(CANDIDATES) + "---|")
    for height in (1, 2, 3, 4, 5, 6, 8):
        masks = [rows_mask(SIZE, height, 4, np.random.default_rng([SEED, i])) for i in range(len(photos))]
        candidates_row(f"photo: four {height}-px rows", (photos, masks, photos))
    truths = [fluorescence(512, seed) for seed in range(3)]
    for label, make in (("four 2-px rows", lambda rng: rows_mask(512, 2, 4, rng)),
                        ("four 4-px rows", lambda rng: rows_mask(512, 4, 4, rng)),
                        ("400 hot pixels", lambda rng: hot_pixels(512, 400, rng)),
                        ("4 tiles (wide)", lambda rng: tiles_mask(512, 4, rng))):
        masks = [make(np.random.default_rng(seed)) for seed in range(3)]
        candidates_row(f"fluorescence 512²: {label}", ([gappy(t, m) for t, m in zip(truths, masks)], masks, truths))


def mixed_table(photos: list[np.ndarray]) -> None:
    """Table 3: a 64 px box plus k scratches: the wide share against patchmatch and biharmonic."""
    print("| mask | wide share | patchmatch PSNR / texture | biharmonic PSNR / texture | patchmatch - biharmonic "
          "| auto now |")
    print("|---|---:|---:|---:|---:|---|")
    for count in (0, 2, 4, 6, 8, 12):
        masks = [box_and_scratches(SIZE, 64, count, SEED + i) for i in range(len(photos))]
        case = (photos, masks, photos)
        share = float(np.mean([wide_share(mask) for mask in masks]))
        pm = run_fills(case, lambda image, mask: "patchmatch")
        bh = run_fills(case, lambda image, mask: "biharmonic")
        print(f"| 64 px box + {count} scratches | {share:.2f} | {pm['psnr']:.2f} / {pm['texture']:.2f} "
              f"| {bh['psnr']:.2f} / {bh['texture']:.2f} | {pm['psnr'] - bh['psnr']:+.2f} | {run_fills_picks(case)} |",
              flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=ROOT / "data" / "heldout", help="held-out photographs")
    parser.add_argument("--limit", type=int, default=0, help="use only the first N photographs (0 = all)")
    parser.add_argument("--sweep-step", type=int, default=2, help="tables 2 and 3 use every Nth photograph")
    parser.add_argument("--tables", default="1,2,3", help="which tables to print")
    args = parser.parse_args()
    warnings.simplefilter("ignore")  # EmptyMaskWarning cannot happen; plugins' notes are not measured
    photos, source = photographs(args.data, args.limit)
    tables = set(args.tables.split(","))
    print(f"Photographs: {len(photos)} {SIZE} px crops, {source}.\n")
    if "1" in tables:
        print("## Picks: auto before (the image's shape) and now (the hole read)\n")
        picks_table({**photo_cases(photos), **fluorescence_cases()})
    sweep = photos[:: max(args.sweep_step, 1)]
    if "2" in tables:
        print(f"\n## Thin holes: hole PSNR / texture ratio of each candidate ({len(sweep)} photographs)\n")
        thin_table(sweep)
    if "3" in tables:
        print(f"\n## Mixed holes: a 64 px box and 2 px scratches ({len(sweep)} photographs)\n")
        mixed_table(sweep)


if __name__ == "__main__":
    main()
