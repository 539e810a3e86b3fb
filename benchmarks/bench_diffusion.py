"""Diffusion model speed: ms per denoising step and full-fill time, per preset and size.

Prints a markdown table: for each preset (``tiny``, ``base``) and image side (64, 128 px),
the parameter count, the median time of one denoising step (one network call at batch 1, in
ms) and the wall time of a whole 50-step DDIM fill of a central hole (``inpaint_array``,
which adds the per-step bookkeeping and the numpy round trip).

    python benchmarks/bench_diffusion.py [--device cpu] [--threads 1] [--steps 50] [--sizes 64 128]

Weights are random: the cost of a step does not depend on their values.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

from inpaint_models.models.diffusion import DiffusionUNet, count_parameters, inpaint_array


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def step_ms(model: DiffusionUNet, size: int, device: torch.device, repeats: int) -> float:
    """Median ms of one network call on a (1, 3, size, size) input, after two warm-up calls."""
    x = torch.randn(1, 3, size, size, device=device)
    mask = torch.zeros(1, 1, size, size, device=device)
    t = torch.tensor([500], device=device)
    times = []
    with torch.no_grad():
        for i in range(repeats + 2):
            _sync(device)
            start = time.perf_counter()
            model(x, t, x, mask)
            _sync(device)
            if i >= 2:
                times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000.0


def fill_seconds(model: DiffusionUNet, size: int, steps: int) -> float:
    """Wall time of one DDIM fill with ``steps`` steps of a (size/2)^2 central hole."""
    rng = np.random.default_rng(0)
    image = rng.random((size, size, 3), dtype=np.float32)
    mask = np.zeros((size, size), bool)
    mask[size // 4 : 3 * size // 4, size // 4 : 3 * size // 4] = True
    device = next(model.parameters()).device
    _sync(device)
    start = time.perf_counter()
    inpaint_array(model, image, mask, steps=steps, seed=0)
    _sync(device)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1: shared machines)")
    parser.add_argument("--steps", type=int, default=50, help="DDIM steps of the full fill")
    parser.add_argument("--repeats", type=int, default=5, help="timed network calls per configuration")
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 128])
    parser.add_argument("--preset", action="append", help="presets to time (default: tiny and base)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    device = torch.device(args.device)
    presets = args.preset or ["tiny", "base"]

    print(f"device: {device}, torch {torch.__version__}, {args.threads} CPU thread(s); batch 1, random weights\n")
    print(f"| preset | params | size | ms / step | fill, {args.steps} DDIM steps (s) |")
    print("|---|---:|---:|---:|---:|")
    for name in presets:
        model = DiffusionUNet(name).to(device).eval()
        params = f"{count_parameters(model) / 1e6:.2f}M"
        for size in args.sizes:
            ms = step_ms(model, size, device, args.repeats)
            seconds = fill_seconds(model, size, args.steps)
            print(f"| {name} | {params} | {size}x{size} | {ms:.1f} | {seconds:.2f} |", flush=True)


if __name__ == "__main__":
    main()
