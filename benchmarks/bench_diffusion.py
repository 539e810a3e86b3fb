"""Diffusion model speed: ms per denoising step and full-fill time, per preset and size.

Prints a markdown table: for each preset (``tiny``, ``base``) and image side (64, 128 px),
the parameter count, the median time of one denoising step (one network call at batch 1, in
ms), the wall time of a whole 50-step DDIM fill of a central (size/2)^2 hole with
``inpaint_array`` (the sampler plus the numpy round trip, on the whole image), and the same
fill through the public API, ``inpaint_models.fill(..., model="diffusion", steps=50)``: the
first call (which loads the checkpoint) and a second one (checkpoint cached). The API sends
the model only the crop around the hole (hole + the model's ``crop_margin``), shown as "crop".

    python benchmarks/bench_diffusion.py [--device cpu] [--threads 1] [--steps 50] [--sizes 64 128] [--no-api]

Weights are random for the step and ``inpaint_array`` columns: the cost of a step does not
depend on their values. Every network is built for the size it is timed at
(``preset_config(preset, image_size=size)``), so self-attention sits on the 16x16 and 8x8 maps
that exist at that size, as in a checkpoint trained there. The API columns use a checkpoint
trained one step at that size (``quick_checkpoint``).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

import inpaint_models
from inpaint_models.contract.registry import make_registry
from inpaint_models.models.diffusion import DiffusionUNet, SamplerSettings, count_parameters, inpaint_array, preset_config
from inpaint_models.pipeline.layout import hole_boxes


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


def test_image(size: int) -> tuple[np.ndarray, np.ndarray]:
    """A random (size, size, 3) float32 image and a bool mask with a (size/2)^2 central hole."""
    rng = np.random.default_rng(0)
    image = rng.random((size, size, 3), dtype=np.float32)
    mask = np.zeros((size, size), bool)
    mask[size // 4 : 3 * size // 4, size // 4 : 3 * size // 4] = True
    return image, mask


def fill_seconds(model: DiffusionUNet, size: int, steps: int) -> float:
    """Wall time of one DDIM fill with ``steps`` steps of a (size/2)^2 central hole."""
    image, mask = test_image(size)
    device = next(model.parameters()).device
    _sync(device)
    start = time.perf_counter()
    inpaint_array(model, image, mask, SamplerSettings(steps=steps, seed=0))
    _sync(device)
    return time.perf_counter() - start


def api_fill_seconds(preset: str, size: int, steps: int, device: str, folder: Path) -> tuple[str, float, float]:
    """(crop, first, second): ``inpaint_models.fill`` of the central hole with a 1-step checkpoint of
    ``preset`` trained at ``size`` px; the first call loads the checkpoint, the second finds it cached."""
    from inpaint_models.models.neural import clear_cache
    from inpaint_models.training import quick_checkpoint

    registry = make_registry(allowed=["diffusion"])
    multiple = preset_config(preset).size_multiple
    weights = quick_checkpoint("diffusion", folder / f"{preset}-{size}", steps=1, size=size - size % multiple,
                               options={"preset": preset}, registry=registry, train={"batch_size": 1})
    image, mask = test_image(size)
    info = registry.info("diffusion")
    (box,) = hole_boxes(mask, info.crop_margin, info.min_size)
    crop = f"{box.height}x{box.width}"
    clear_cache()
    times = []
    for _ in range(2):
        _sync(torch.device(device))
        start = time.perf_counter()
        inpaint_models.fill(image, mask, model="diffusion", weights=weights, device=device, registry=registry,
                            steps=steps, seed=0)
        _sync(torch.device(device))
        times.append(time.perf_counter() - start)
    clear_cache()
    return crop, times[0], times[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1: shared machines)")
    parser.add_argument("--steps", type=int, default=50, help="DDIM steps of the full fill")
    parser.add_argument("--repeats", type=int, default=5, help="timed network calls per configuration")
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 128])
    parser.add_argument("--preset", action="append", help="presets to time (default: tiny and base)")
    parser.add_argument("--no-api", action="store_true", help="skip the inpaint_models.fill columns")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    device = torch.device(args.device)
    presets = args.preset or ["tiny", "base"]

    print(f"device: {device}, torch {torch.__version__}, {args.threads} CPU thread(s); batch 1, random weights\n")
    header = f"| preset | params | size | ms / step | inpaint_array, {args.steps} steps (s) |"
    rule = "|---|---:|---:|---:|---:|"
    if not args.no_api:
        header += f" crop | inpaint_models.fill, {args.steps} steps: first / cached (s) |"
        rule += "---:|---:|"
    print(header)
    print(rule)
    with tempfile.TemporaryDirectory() as folder:
        for name in presets:
            for size in args.sizes:
                # attention placed as in a checkpoint trained at this size (UNetConfig.image_size)
                model = DiffusionUNet(preset_config(name, image_size=size)).to(device).eval()
                params = f"{count_parameters(model) / 1e6:.2f}M"
                ms = step_ms(model, size, device, args.repeats)
                seconds = fill_seconds(model, size, args.steps)
                row = f"| {name} | {params} | {size}x{size} | {ms:.1f} | {seconds:.2f} |"
                if not args.no_api:
                    crop, first, cached = api_fill_seconds(name, size, args.steps, str(device), Path(folder))
                    row += f" {crop} | {first:.2f} / {cached:.2f} |"
                print(row, flush=True)


if __name__ == "__main__":
    main()
