"""Start-up cost: what a user waits for before anything happens.

Prints a markdown table with, for cold processes (a new Python each run, as a
user typing the command gets):

* ``inpaint models`` — wall time, peak RSS, and whether torch (or napari, Qt,
  matplotlib) got imported (target: <= 0.5 s, no torch);
* ``inpaint fill photo.png mask.png -o out.png --model telea`` on the 512x512
  sample photo — wall time, peak RSS, heavy imports (target: <= 0.6 s, no torch);

and, measured in this process in the same run, "cost follows the hole": the
median time to fill one 64x64 hole in a 4096x4096 RGB uint8 image against the
same hole in a 512x512 image plus the extra time needed just to copy the bigger
image (the output is a new array, so one copy is unavoidable). Target: ratio
<= 1.3.

    python benchmarks/bench_startup.py [--runs 5] [--hole-model telea]

CPU time (user + system) is what the wall time would be on an otherwise idle
machine; on a busy one, the wall time grows and the CPU time barely moves.
Peak RSS is the child's own ``ru_maxrss`` (``os.wait4`` returns the rusage of
that one child: what ``resource.getrusage(RUSAGE_CHILDREN)`` reports after
waiting for it alone). Times are medians of ``--runs`` runs after one warm-up
(so the files are in the OS cache, as on a second use of the command).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

#: Run the CLI's main() exactly as the ``inpaint`` console script does, then
#: record which heavy packages the command imported.
PROBE = """
import json, os, sys
from inpaint_models.cli import main
status = main(sys.argv[1:])
heavy = sorted(m for m in ("torch", "napari", "qtpy", "PyQt5", "PyQt6", "matplotlib", "dask") if m in sys.modules)
with open(os.environ["BENCH_STARTUP_REPORT"], "w") as report:
    json.dump({"status": status, "heavy": heavy}, report)
sys.exit(status)
"""


def run_cold(argv: list[str], cwd: Path) -> tuple[float, float, list[str], float]:
    """Run ``inpaint ARGV`` in a new process: (wall s, peak RSS MB, heavy modules imported, CPU s)."""
    report = cwd / "probe.json"
    env = dict(os.environ, BENCH_STARTUP_REPORT=str(report))
    env.pop("INPAINT_MODELS_PLUGINS", None)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        actions = [(os.POSIX_SPAWN_DUP2, devnull, 1), (os.POSIX_SPAWN_DUP2, devnull, 2)]
        start = time.perf_counter()
        pid = os.posix_spawn(sys.executable, [sys.executable, "-c", PROBE, *argv], env, file_actions=actions)
        _pid, status, usage = os.wait4(pid, 0)
        wall = time.perf_counter() - start
    finally:
        os.close(devnull)
    if os.waitstatus_to_exitcode(status) != 0:
        result = subprocess.run([sys.executable, "-m", "inpaint_models.cli", *argv], cwd=cwd, capture_output=True,
                                text=True, env=env)
        raise SystemExit(f"inpaint {' '.join(argv)} failed: {result.stderr.strip()}")
    heavy = json.loads(report.read_text())["heavy"]
    rss_mb = usage.ru_maxrss / 1024 if sys.platform != "darwin" else usage.ru_maxrss / 2**20
    return wall, rss_mb, heavy, usage.ru_utime + usage.ru_stime


def cold_row(label: str, argv: list[str], cwd: Path, runs: int, target: float) -> str:
    old = os.getcwd()
    os.chdir(cwd)
    try:
        run_cold(argv, cwd)  # warm-up: files in the OS cache, .pyc written
        samples = [run_cold(argv, cwd) for _ in range(runs)]
    finally:
        os.chdir(old)
    wall = statistics.median(s[0] for s in samples)
    rss = statistics.median(s[1] for s in samples)
    cpu = statistics.median(s[3] for s in samples)
    heavy = sorted({m for s in samples for m in s[2]})
    verdict = "ok" if wall <= target and "torch" not in heavy else "MISSED"
    imported = ", ".join(heavy) if heavy else "none"
    return f"| {label} | {wall:.2f} s | {cpu:.2f} s | {rss:.0f} MB | {imported} | <= {target} s, no torch: {verdict} |"


def median_s(function: Callable[[], object], repeats: int) -> float:
    """Median wall time of ``function`` in seconds, after one warm-up call."""
    function()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def hole_rows(model: str, repeats: int) -> list[str]:
    """The 'cost follows the hole' rows: 512² vs 4096² RGB with one central 64² hole."""
    import numpy as np

    import inpaint_models

    def make(size: int) -> tuple[np.ndarray, np.ndarray]:
        rng = np.random.default_rng(0)
        tile = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
        image = np.ascontiguousarray(np.tile(tile, (size // 64, size // 64, 1)))
        mask = np.zeros((size, size), bool)
        mask[size // 2 - 32 : size // 2 + 32, size // 2 - 32 : size // 2 + 32] = True
        return image, mask

    small, large = make(512), make(4096)
    t_small = median_s(lambda: inpaint_models.fill(*small, model=model), repeats)
    t_large = median_s(lambda: inpaint_models.fill(*large, model=model), repeats)
    copy_small = median_s(lambda: small[0].copy(), repeats * 3)
    copy_large = median_s(lambda: large[0].copy(), repeats * 3)
    budget = t_small + (copy_large - copy_small)
    ratio = t_large / budget
    verdict = "ok" if ratio <= 1.3 else "MISSED"
    return [
        f"| fill 512² RGB, one 64² hole ({model}, in-process) | {t_small * 1000:.1f} ms | | | | |",
        f"| fill 4096² RGB, one 64² hole ({model}, in-process) | {t_large * 1000:.1f} ms | | | | |",
        f"| extra copy time, 4096² vs 512² | {(copy_large - copy_small) * 1000:.1f} ms | | | | |",
        f"| 4096² / (512² + extra copy) | {ratio:.2f}x | | | | <= 1.3x: {verdict} |",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5, help="runs per measurement (median; default 5)")
    parser.add_argument("--hole-model", default="telea", help="model of the cost-follows-the-hole rows")
    args = parser.parse_args()

    from inpaint_models.io.imageio import write_image
    from inpaint_models.samples import sample_photo_with_mask

    with tempfile.TemporaryDirectory() as folder:
        cwd = Path(folder)
        photo, mask = sample_photo_with_mask()
        write_image(cwd / "photo.png", photo)
        write_image(cwd / "mask.png", mask)
        rows = [
            cold_row("`inpaint models`", ["models"], cwd, args.runs, 0.5),
            cold_row("`inpaint fill` telea, 512² photo (cold process)",
                     ["fill", "photo.png", "mask.png", "-o", "out.png", "--model", "telea"], cwd, args.runs, 0.6),
        ]
    rows += hole_rows(args.hole_model, args.runs)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"## Start-up (median of {args.runs} runs, {os.cpu_count()} CPUs, load {load:.1f}, "
          f"Python {sys.version.split()[0]})\n")
    print("| measure | wall time | CPU time | peak RSS | heavy imports | target (wall) |")
    print("|---|---:|---:|---:|---|---|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
