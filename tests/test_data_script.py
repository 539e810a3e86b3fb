"""scripts/prepare_training_data.py: the held-out and validation splits are by source photograph."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "prepare_training_data.py"


def load_script():
    spec = importlib.util.spec_from_file_location("prepare_training_data", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def fake_sources() -> list[dict]:
    counts = {"scikit-image": 8, "plasma-workspace-wallpapers": 11, "opencv-doc": 19}
    return [{"name": f"{package}-{i}", "package": package} for package, n in counts.items() for i in range(n)]


def test_heldout_and_validation_photographs_are_disjoint_and_cover_every_package():
    script = load_script()
    sources = fake_sources()
    held = script.split_sources(sources, seed=0)
    validation = script.split_validation(sources, held, seed=0)
    assert held and validation and not held & validation
    for package in {s["package"] for s in sources}:
        names = {s["name"] for s in sources if s["package"] == package}
        assert names & held, package
        assert len(names & validation) == script.VALIDATION_PER_PACKAGE, package
        assert names - held - validation, f"{package}: no training photograph left"
    # seeded: the same seed gives the same split, another seed another one
    assert script.split_validation(sources, held, seed=0) == validation
    assert script.split_sources(sources, seed=0) == held
    others = [script.split_validation(sources, script.split_sources(sources, s), s) for s in range(1, 6)]
    assert any(other != validation for other in others)


def test_random_crops_are_squares_of_the_target_size():
    script = load_script()
    image = np.random.default_rng(0).integers(0, 256, (300, 500, 3), dtype=np.uint8)
    crops = script.random_crops(image, 64, 5, np.random.default_rng(1))
    assert len(crops) == 5 and all(c.shape == (64, 64, 3) and c.dtype == np.uint8 for c in crops)
    small = np.zeros((40, 90, 3), np.uint8)  # shorter than the target size: upscaled first
    assert script.random_crops(small, 64, 1, np.random.default_rng(1))[0].shape == (64, 64, 3)
