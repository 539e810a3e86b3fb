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
import time
import warnings

import numpy as np

import inpaint_models
from inpaint_models.api import default_model
from inpaint_models.metrics import psnr
from inpaint_models.samples import stack_sample_with_truth


def hole_psnr(out: np.ndarray, reference: np.ndarray, mask: np.ndarray, peak: float) -> float:
    """Hole PSNR over the whole stack (its planes laid end to end as one (Z*H, W) image)."""
    width = reference.shape[-1]
    return psnr(out.reshape(-1, width).astype(np.float64), reference.reshape(-1, width).astype(np.float64),
                mask.reshape(-1, width), data_range=peak)


def timed(model: str, image: np.ndarray, mask: np.ndarray, volume_axis, repeats: int) -> tuple[np.ndarray, float]:
    """The fill and its median wall time in ms (after one warm-up fill)."""
    out = inpaint_models.fill(image, mask, model=model, volume_axis=volume_axis)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        inpaint_models.fill(image, mask, model=model, volume_axis=volume_axis)
        times.append(time.perf_counter() - start)
    return out, statistics.median(times) * 1000.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", type=int, action="append", help="stack sample seeds (default: 7, the napari sample, and 3)")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    infos = [info for info in inpaint_models.api.default_registry().infos() if not info.trainable]
    for seed in args.seed or [7, 3]:
        sample = stack_sample_with_truth(seed)
        peak = float(sample.truth.max())
        print(f"\nStack sample, seed {seed}: {sample.image.shape} {sample.image.dtype}, "
              f"{int(sample.mask.sum())} hole voxels in {int(sample.mask.any(axis=(1, 2)).sum())} planes\n")
        print("| model | mode | hole PSNR vs truth (dB) | hole PSNR vs signal (dB) | ms / fill |")
        print("|---|---|---|---|---|")
        best = {"planes": (-np.inf, ""), "volume": (-np.inf, "")}
        for info in infos:
            for mode, axis in (("planes", None), ("volume", 0)):
                if mode == "volume" and not info.fills_volumes:
                    continue
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    out, ms = timed(info.name, sample.image, sample.mask, axis, args.repeats)
                truth_db = hole_psnr(out, sample.truth, sample.mask, peak)
                signal_db = hole_psnr(out, sample.signal, sample.mask, peak)
                best[mode] = max(best[mode], (truth_db, info.name))
                print(f"| {info.name} | {mode} | {truth_db:.2f} | {signal_db:.2f} | {ms:.0f} |")
        (plane_db, plane_name), (volume_db, volume_name) = best["planes"], best["volume"]
        print(f"\nbest volume fill ({volume_name}) {volume_db:.2f} dB vs best plane-by-plane fill ({plane_name}) "
              f"{plane_db:.2f} dB: {volume_db - plane_db:+.2f} dB (target >= +3 dB); "
              f"model='auto' picks {default_model(sample.image.shape)!r}")


if __name__ == "__main__":
    main()
