"""Stack fills: plane by plane vs as a volume, on the "Stack with gaps" sample.

Prints a markdown table per seed of the stack sample
(:func:`inpaint_models.samples.stack_sample_with_truth`): for every classical
(non-trainable) model plane by plane, and for every model that fills volumes
also as a volume, the hole PSNR against the noisy truth and against the
noise-free signal (peak = the truth's maximum), and the median milliseconds
per fill of the whole (24, 128, 128) uint16 stack. Then the gain of the best
volume fill over the best plane-by-plane fill (target: >= 3 dB against the
noisy truth).

    python benchmarks/bench_volume.py [--seed 7 --seed 3] [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np

import inpaint_models
from inpaint_models.api import default_model
from inpaint_models.samples import stack_sample_with_truth
from inpaint_models.training.metrics import psnr


def hole_psnr(out: np.ndarray, reference: np.ndarray, mask: np.ndarray, peak: float) -> float:
    """Hole PSNR over the whole stack (its planes laid end to end as one (Z*H, W) image)."""
    width = reference.shape[-1]
    return psnr(out.reshape(-1, width).astype(np.float64), reference.reshape(-1, width).astype(np.float64),
                mask.reshape(-1, width), data_range=peak)


def timed(model: str, image: np.ndarray, mask: np.ndarray, volume_axis, repeats: int,
          registry=None) -> tuple[np.ndarray, float]:
    """The fill and its median wall time in ms (after one warm-up fill)."""
    out = inpaint_models.fill(image, mask, model=model, volume_axis=volume_axis, registry=registry)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        inpaint_models.fill(image, mask, model=model, volume_axis=volume_axis, registry=registry)
        times.append(time.perf_counter() - start)
    return out, statistics.median(times) * 1000.0


def stack_rows(seed: int, repeats: int = 3) -> tuple[list[dict], dict]:
    """Every classical model on the stack sample of ``seed``, plane by plane and (where it can) as a volume.

    Returns one row per (model, mode) with ``model``, ``mode`` ("planes" or
    "volume"), ``truth_db`` / ``signal_db`` (hole PSNR against the noisy truth /
    the noise-free signal) and ``ms``; and a summary with the best fill of
    each mode, the gain and the model ``fill(model="auto")`` picks.
    """
    infos = [info for info in inpaint_models.api.default_registry().infos() if not info.trainable]
    sample = stack_sample_with_truth(seed)
    peak = float(sample.truth.max())
    rows = []
    best = {"planes": (-np.inf, ""), "volume": (-np.inf, "")}
    for info in infos:
        for mode, axis in (("planes", None), ("volume", 0)):
            if mode == "volume" and not info.fills_volumes:
                continue
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                out, ms = timed(info.name, sample.image, sample.mask, axis, repeats)
            truth_db = hole_psnr(out, sample.truth, sample.mask, peak)
            signal_db = hole_psnr(out, sample.signal, sample.mask, peak)
            best[mode] = max(best[mode], (truth_db, info.name))
            rows.append({"model": info.name, "mode": mode, "truth_db": truth_db, "signal_db": signal_db, "ms": ms})
    rows.append(todays_biharmonic(sample, peak, repeats))
    summary = {
        "shape": sample.image.shape, "dtype": str(sample.image.dtype), "hole_voxels": int(sample.mask.sum()),
        "hole_planes": int(sample.mask.any(axis=(1, 2)).sum()),
        "best_planes": best["planes"], "best_volume": best["volume"],
        "gain_db": best["volume"][0] - best["planes"][0], "auto": default_model(sample.image.shape),
    }
    return rows, summary


def todays_biharmonic(sample, peak: float, repeats: int) -> dict:
    """The biharmonic volume fill with the solver it had before issue 21 (scikit-image's, one LU per region),
    for comparison with today's ``biharmonic`` row (bench_big_stack.skimage_registry)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))  # the benchmarks folder, when imported from elsewhere
    from bench_big_stack import skimage_registry

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out, ms = timed("biharmonic-skimage", sample.image, sample.mask, 0, repeats, registry=skimage_registry())
    return {"model": "biharmonic (scikit-image solver)", "mode": "volume", "ms": ms,
            "truth_db": hole_psnr(out, sample.truth, sample.mask, peak),
            "signal_db": hole_psnr(out, sample.signal, sample.mask, peak)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", type=int, action="append", help="stack sample seeds (default: 7, the napari sample, and 3)")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    for seed in args.seed or [7, 3]:
        rows, summary = stack_rows(seed, args.repeats)
        print(f"\nStack sample, seed {seed}: {summary['shape']} {summary['dtype']}, "
              f"{summary['hole_voxels']} hole voxels in {summary['hole_planes']} planes\n")
        print("| model | mode | hole PSNR vs truth (dB) | hole PSNR vs signal (dB) | ms / fill |")
        print("|---|---|---|---|---|")
        for row in rows:
            print(f"| {row['model']} | {row['mode']} | {row['truth_db']:.2f} | {row['signal_db']:.2f} | {row['ms']:.0f} |")
        (plane_db, plane_name), (volume_db, volume_name) = summary["best_planes"], summary["best_volume"]
        print(f"\nbest volume fill ({volume_name}) {volume_db:.2f} dB vs best plane-by-plane fill ({plane_name}) "
              f"{plane_db:.2f} dB: {summary['gain_db']:+.2f} dB (target >= +3 dB); "
              f"model='auto' picks {summary['auto']!r}")


if __name__ == "__main__":
    main()
