"""Lazy fills of volumes larger than memory: peak resident memory and wall time (issue 15).

A uint16 volume is generated lazily (``dask.array.map_blocks``, each chunk from
its own seed, never materialised) with three 64 x 64 holes on three planes, and
filled with ``inpaint_models.fill`` (model ``auto``: the biharmonic volume fill).
Each case runs in its own process, so its peak resident set size
(``ru_maxrss``) is its own.

What is measured, per case:
  * fill    -- the ``fill`` call: every mask chunk scanned, the hole regions merged
               across chunks, the crops read and filled;
  * chunks  -- computing the output chunks the crops touch (the data a writer
               would write for the holes);
  * total   -- both, the wall time of the fill;
  * untouched -- checked, not timed: every other output chunk is an alias of
               the input's chunk (the same graph key), so nothing runs for it.
Writing 16 GB of output is not measured: it is a copy whose time is the disk's.

Two masks: "lazy" is ``dask.array.zeros`` with the holes set (what a mask built in
dask, or loaded from a store that keeps empty chunks as a fill value, gives: its
empty chunks are broadcast constants, read from one element); "dense" has every
chunk materialised (np.full per chunk, written to memory), so each is read in
full -- what an in-memory or fully written mask costs to scan (a stored one adds
its decompression).

Targets (issue 15): 16 GB peak RSS <= 1.5 GB; 16 GB wall time <= 1.5x the 1 GB wall time.

    python benchmarks/bench_bigdata.py              # 1 GB and 16 GB, lazy and dense masks
    python benchmarks/bench_bigdata.py --quick      # 0.5 GB and 1 GB
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

GIB = 1 << 30
PLANE = (2048, 2048)
CHUNKS = (64, 512, 512)  # 32 MiB of uint16 per chunk
HOLE = 64


def volume(depth: int):
    """The lazy (depth, 2048, 2048) uint16 volume: a smooth field plus noise, each chunk seeded by its index."""
    import dask.array as da
    import numpy as np

    def make(block_info=None):
        info = block_info[None]
        (z0, _), (y0, y1), (x0, x1) = info["array-location"]
        seed = int(np.ravel_multi_index(info["chunk-location"], info["num-chunks"]))
        shape = info["chunk-shape"]
        y = np.arange(y0, y1, dtype=np.float32)[:, None]
        x = np.arange(x0, x1, dtype=np.float32)[None, :]
        field = 20000 + 8000 * np.sin(y / 150.0) * np.cos(x / 210.0)
        noise = np.random.default_rng(seed).normal(0, 300, shape).astype(np.float32)
        return np.clip(field[None] + noise, 0, 65535).astype(np.uint16)

    shape = (depth,) + PLANE
    chunks = da.core.normalize_chunks(CHUNKS, shape)
    return da.map_blocks(make, chunks=chunks, dtype=np.uint16, meta=np.empty((0, 0, 0), np.uint16))


def holes(depth: int) -> list[tuple[int, int, int]]:
    """Three 64 x 64 holes on three planes, placed alike in every volume (10 chunks touched): the first and
    the last inside one chunk, the middle one across a chunk border in Z and a chunk corner in Y and X."""
    return [(40, 300, 1700), (depth // 2, 512 - 32, 1024 - 32), (depth - 24, 1600, 400)]


def mask_for(depth: int, dense: bool):
    import dask.array as da
    import numpy as np

    shape = (depth,) + PLANE
    if dense:
        mask = da.map_blocks(lambda block_info=None: np.full(block_info[None]["chunk-shape"], False),
                             chunks=da.core.normalize_chunks(CHUNKS, shape), dtype=bool, meta=np.empty((0, 0, 0), bool))
    else:
        mask = da.zeros(shape, chunks=CHUNKS, dtype=bool)
    for z, y, x in holes(depth):
        mask[z, y : y + HOLE, x : x + HOLE] = True
    return mask


def run_case(depth: int, dense: bool) -> dict:
    """One case, in this process: returns its figures."""
    import resource

    import dask
    import numpy as np
    from dask.task_spec import Alias

    import inpaint_models

    image = volume(depth)
    mask = mask_for(depth, dense)
    base_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    start = time.perf_counter()
    out = inpaint_models.fill(image, mask)
    filled = time.perf_counter()
    graph = dict(out.__dask_graph__())
    keys = [(out.name,) + index for index in np.ndindex(*out.numblocks)]
    touched = [key for key in keys if not isinstance(graph[key], Alias)]
    untouched_ok = all(graph[key].target == (image.name,) + key[1:] for key in keys if isinstance(graph[key], Alias))
    blocks = dask.compute(*[out.blocks[key[1:]] for key in touched])
    done = time.perf_counter()
    # the filled holes differ from the input, nothing else does
    changed = 0
    for key, block in zip(touched, blocks):
        changed += int((block != image.blocks[key[1:]].compute()).sum())
    return {
        "depth": depth, "gib": image.nbytes / GIB, "mask": "dense" if dense else "lazy",
        "chunks": len(keys), "touched": len(touched), "untouched_aliased": untouched_ok, "changed": changed,
        "fill_s": filled - start, "chunks_s": done - filled, "total_s": done - start,
        "base_rss_mb": base_rss, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="0.5 GB and 1 GB instead of 1 GB and 16 GB")
    parser.add_argument("--case", nargs=2, metavar=("DEPTH", "MASK"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case:
        print(json.dumps(run_case(int(args.case[0]), args.case[1] == "dense")))
        return
    depths = (64, 128) if args.quick else (128, 2048)
    rows = []
    for dense in (False, True):
        for depth in depths:
            result = subprocess.run([sys.executable, __file__, "--case", str(depth), "dense" if dense else "lazy"],
                                    capture_output=True, text=True, check=True)
            rows.append(json.loads(result.stdout.strip().splitlines()[-1]))
    load = os.getloadavg()
    print(f"load average {load[0]:.2f}, {load[1]:.2f}, {load[2]:.2f} on {os.cpu_count()} cores; chunks {CHUNKS} uint16 "
          f"(32 MiB); three {HOLE}x{HOLE} holes; model auto (biharmonic volume fill)")
    print(f"{'volume':>8} {'mask':>5} {'chunks':>6} {'touched':>7} {'fill s':>7} {'chunks s':>8} {'total s':>7} "
          f"{'peak RSS MB':>11} {'imports MB':>10}  untouched aliased")
    for row in rows:
        print(f"{row['gib']:>6.2f}GB {row['mask']:>5} {row['chunks']:>6} {row['touched']:>7} {row['fill_s']:>7.2f} "
              f"{row['chunks_s']:>8.2f} {row['total_s']:>7.2f} {row['peak_rss_mb']:>11.0f} "
              f"{row['base_rss_mb']:>10.0f}  "
              f"{row['untouched_aliased']}")
    small, big = rows[0], rows[1]
    print(f"lazy mask: {big['gib']:.0f} GB / {small['gib']:.0f} GB wall time {big['total_s'] / small['total_s']:.2f}x "
          f"(target <= 1.5x); {big['gib']:.0f} GB peak RSS {big['peak_rss_mb']:.0f} MB (target <= 1536 MB)")


if __name__ == "__main__":
    main()
