"""Fill speed: cost must follow the hole, not the image.

Prints a markdown table: for every model, the median time to fill one 64x64
hole in a 512x512 and in a 4096x4096 RGB uint8 image, and the ratio of the
4096² time to the 512² time plus the extra time needed just to copy the bigger
image (the result is a new array, so one copy is unavoidable; target <= 1.3),
all measured in the same run; then our ``telea`` through the full pipeline
against a direct ``cv2.inpaint`` call on the same 512x512 input (target <= 1.2x).
``bench_startup.py`` prints the same ratio for one model with the start-up figures.

    python benchmarks/bench_fill.py [--repeats 7] [--model telea --model biharmonic] [--weights name=PATH]

Trainable models are timed with their shipped weights, or with ``--weights``;
models with neither are listed as skipped.
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Callable

import cv2
import numpy as np

import inpaint_models
from inpaint_models.contract.errors import MissingWeightsError


def median_ms(function: Callable[[], object], repeats: int) -> float:
    """Median wall time of ``function`` in milliseconds, after one warm-up call."""
    function()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000.0


def test_image(size: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A textured uint8 RGB image (size, size, 3) and a bool mask with one central 64x64 hole."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (size // 8, size // 8, 3), dtype=np.uint8)
    image = cv2.resize(small, (size, size), interpolation=cv2.INTER_CUBIC)
    mask = np.zeros((size, size), bool)
    mask[size // 2 - 32 : size // 2 + 32, size // 2 - 32 : size // 2 + 32] = True
    return image, mask


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--model", action="append", help="models to time (default: all)")
    parser.add_argument("--weights", action="append", default=[], help="name=PATH for trainable models")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    weights = dict(item.split("=", 1) for item in args.weights)
    models = args.model or inpaint_models.available_models()
    small = test_image(512)
    large = test_image(4096)

    extra_copy = median_ms(lambda: large[0].copy(), args.repeats * 3) - median_ms(lambda: small[0].copy(),
                                                                                 args.repeats * 3)
    print(f"## Fill time for one 64x64 hole (median of {args.repeats}, device {args.device})\n")
    print(f"Extra time to copy the 4096² image rather than the 512² one: {extra_copy:.2f} ms.\n")
    print("| model | 512² (ms) | 4096² (ms) | 4096² / (512² + extra copy) |")
    print("|---|---:|---:|---:|")
    for name in models:
        def run(data, name=name):
            return inpaint_models.fill(data[0], data[1], model=name, weights=weights.get(name), device=args.device)

        try:
            run(small)
        except MissingWeightsError:
            print(f"| {name} | skipped: no weights | | |")
            continue
        repeats = args.repeats
        t_small = median_ms(lambda: run(small), repeats)
        t_large = median_ms(lambda: run(large), repeats)
        print(f"| {name} | {t_small:.2f} | {t_large:.2f} | {t_large / (t_small + extra_copy):.2f} |")

    image, mask = small
    mask_u8 = mask.astype(np.uint8) * 255
    direct = median_ms(lambda: cv2.inpaint(image, mask_u8, 3, cv2.INPAINT_TELEA), args.repeats * 3)
    ours = median_ms(lambda: inpaint_models.fill(image, mask, model="telea"), args.repeats * 3)
    big_image, big_mask = large
    big_mask_u8 = big_mask.astype(np.uint8) * 255
    direct_big = median_ms(lambda: cv2.inpaint(big_image, big_mask_u8, 3, cv2.INPAINT_TELEA), 3)
    print("\n## Pipeline overhead: telea vs a direct cv2.inpaint call (uint8 RGB)\n")
    print("| input | direct cv2.inpaint (ms) | inpaint_models.fill (ms) | ratio |")
    print("|---|---:|---:|---:|")
    print(f"| 512² | {direct:.2f} | {ours:.2f} | {ours / direct:.2f} |")
    ours_big = median_ms(lambda: inpaint_models.fill(big_image, big_mask, model="telea"), args.repeats)
    print(f"| 4096² | {direct_big:.2f} | {ours_big:.2f} | {ours_big / direct_big:.2f} |")


if __name__ == "__main__":
    main()
