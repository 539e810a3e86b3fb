"""What the missing-chunk check of a zarr image costs (issue 22): ``zarrio.missing_chunks`` on local stores.

``inpaint fill IMAGE.zarr ...`` and ``inpaint_models.fill(zarr_array, ...)`` list
the image store's keys once and compare them with the chunk grid
(:func:`inpaint_models.io.zarrio.missing_chunks`); no chunk is read. This builds
zarr v3 stores of 4 x 4 uint8 chunks (every chunk file written, one removed) in a
temporary folder and times the check, which must find the one missing chunk.

    python benchmarks/bench_missing_chunks.py            # 10,000 and 100,000 chunks
    python benchmarks/bench_missing_chunks.py --quick    # 10,000 chunks
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import zarr

from inpaint_models.io import zarrio


def make_store(path: Path, side: int) -> zarr.Array:
    """A (4 side, 4 side) uint8 store with every chunk written but c/3/5."""
    array = zarr.create_array(str(path), shape=(side * 4, side * 4), chunks=(4, 4), dtype="u1", fill_value=0)
    array[:4, :4] = 1
    data = (path / "c" / "0" / "0").read_bytes()  # one encoded chunk, copied: writing through zarr is slower
    for i in range(side):
        (path / "c" / str(i)).mkdir(exist_ok=True)
        for j in range(side):
            (path / "c" / str(i) / str(j)).write_bytes(data)
    os.remove(path / "c" / "3" / "5")
    return zarr.open_array(str(path), mode="r")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10,000 chunks only")
    sides = (100,) if parser.parse_args().quick else (100, 316)
    print(f"load average {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print("| chunks | check s | µs per chunk | found |")
    print("|-------:|--------:|-------------:|:------|")
    for side in sides:
        with tempfile.TemporaryDirectory() as folder:
            array = make_store(Path(folder) / "image.zarr", side)
            start = time.perf_counter()
            missing, total = zarrio.missing_chunks(array)
            seconds = time.perf_counter() - start
            assert missing == ["c/3/5"], missing
            print(f"| {total:,} | {seconds:.2f} | {1e6 * seconds / total:.1f} | {', '.join(missing)} |")


if __name__ == "__main__":
    main()
