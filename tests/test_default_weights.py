"""Default weights shipped inside the package (issue 7).

Every trainable model whose ``model_info().default_weights`` is set must point
to an existing file whose sidecar names that model, and ``fill`` must work
without a ``weights`` argument. The helper that finds shipped weights, and the
float16 storage of shipped weights, are also tested with a temporary weights
folder, so this file tests something even while no weights ship.
"""

from __future__ import annotations

import json
import shutil
import types

import numpy as np
import pytest

import inpaint_models
from inpaint_models.cli.models import weights_available
from inpaint_models.contract.hookspecs import hookimpl
from inpaint_models.contract.registry import make_registry
from inpaint_models.models.neural import SHIPPED_WEIGHTS_NAME, clear_cache, shipped_weights

REGISTRY = make_registry()
TRAINABLE = [name for name in REGISTRY.names() if REGISTRY.info(name).trainable]
#: the trainable models that ship default weights (stack-unet is fitted to each stack instead)
SHIPPED = [name for name in TRAINABLE if REGISTRY.info(name).default_weights is not None]


def _photo(size: int) -> np.ndarray:
    y, x = np.mgrid[0:size, 0:size] / size
    planes = [np.sin(3 * x + c) * np.cos(2 * y - c) for c in range(3)]
    return np.clip((np.stack(planes, -1) + 1) * 127.5, 0, 255).astype(np.uint8)


def _mask(size: int) -> np.ndarray:
    mask = np.zeros((size, size), bool)
    mask[size // 3 : 2 * size // 3, size // 4 : size // 2] = True
    return mask


def test_every_trainable_model_is_checked():
    assert {"autoencoder", "context-encoder", "mlp-gan", "glcic", "pconv-unet", "deepfill", "diffusion"} <= set(
        SHIPPED
    )


@pytest.mark.parametrize("name", sorted(set(TRAINABLE) - set(SHIPPED)))
def test_a_model_without_shipped_weights_says_so(name):
    assert weights_available(REGISTRY.info(name)) is False


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_weights_fit_their_model(name):
    info = REGISTRY.info(name)
    weights = info.default_weights
    assert weights.is_file(), weights
    assert weights.name == SHIPPED_WEIGHTS_NAME
    sidecar = json.loads(weights.with_suffix(".json").read_text(encoding="utf-8"))
    assert sidecar["model"] == name
    assert weights_available(info) is True
    size = max(64, info.min_size * 2, info.native_size or 0)
    image, mask = _photo(size), _mask(size)
    out = inpaint_models.fill(image, mask, model=name, device="cpu", registry=REGISTRY)  # no weights argument
    assert out.shape == image.shape and out.dtype == image.dtype
    assert np.array_equal(out[~mask], image[~mask])


def test_all_shipped_weights_fit_the_size_budget():
    total = sum(
        path.stat().st_size
        for name in TRAINABLE
        if (weights := REGISTRY.info(name).default_weights) is not None
        for path in (weights, weights.with_suffix(".json"))
    )
    assert total <= 60 * 1024 * 1024


def test_shipped_weights_helper_and_half_precision_storage(tmp_path):
    """A plugin folder without, with half of, and with a full shipped weights pair; float16 loads as float32."""
    import torch

    from inpaint_models.io.sidecar import read_sidecar
    from inpaint_models.models.autoencoder import plugin as autoencoder
    from inpaint_models.training import quick_checkpoint
    from inpaint_models.training.checkpoints import load_tensors, save_checkpoint

    plugin_file = tmp_path / "my_model" / "plugin.py"
    plugin_file.parent.mkdir()
    plugin_file.write_text("# a model plugin\n")
    assert shipped_weights(plugin_file) is None  # no weights folder

    trained = quick_checkpoint("autoencoder", tmp_path / "train", steps=2, size=32)
    folder = plugin_file.parent / "weights"
    half = {k: v.half() if v.is_floating_point() else v for k, v in load_tensors(trained).items()}
    sidecar = {k: v for k, v in read_sidecar(trained, "autoencoder").items()
               if k not in ("format", "format_version", "files", "versions", "created")}
    written = save_checkpoint(folder, "default", weights=half, sidecar=sidecar)
    sidecar_file = written.with_suffix(".json")
    moved = sidecar_file.rename(tmp_path / "sidecar.json")
    assert shipped_weights(plugin_file) is None  # weights without their sidecar do not count
    shutil.move(moved, sidecar_file)
    assert shipped_weights(plugin_file) == written.resolve()
    assert all(t.dtype == torch.float16 for t in load_tensors(written).values() if t.is_floating_point())

    info = autoencoder.model_info()
    shipped_info = types.SimpleNamespace()  # a registry holding the autoencoder with "shipped" weights
    shipped_info.model_info = hookimpl(lambda: __import__("dataclasses").replace(
        info, default_weights=shipped_weights(plugin_file)))
    shipped_info.fill = autoencoder.fill
    shipped_info.train = autoencoder.train
    registry = make_registry(load_entry_points=False)
    registry.register(shipped_info)
    assert weights_available(registry.info("autoencoder")) is True

    image, mask = _photo(48), _mask(48)
    clear_cache()
    default = inpaint_models.fill(image, mask, model="autoencoder", device="cpu", registry=registry)
    full = inpaint_models.fill(image, mask, model="autoencoder", weights=trained, device="cpu", registry=registry)
    assert default.dtype == np.uint8 and default.shape == image.shape
    assert np.abs(default.astype(int) - full.astype(int)).max() <= 3  # float16 storage, float32 fill


# report 002's fully connected GAN is kept faithful as the reports' baseline, not tuned to beat the classical
# fills (issue 7 exempts it from the targets too)
QUALITY_EXEMPT = {"mlp-gan"}
# generative samplers draw texture into the hole (the CPU-trained diffusion model's draws are noisy), so they
# are held to looser bounds than the regression models, which predict a mean
SAMPLERS = {"diffusion"}


def _hole_psnr(filled: np.ndarray, truth: np.ndarray, mask: np.ndarray) -> float:
    error = (filled.astype(np.float64) - truth.astype(np.float64))[mask] / 255.0
    return float(10 * np.log10(1.0 / max(np.mean(error**2), 1e-12)))


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_weights_keep_the_colour_of_a_plain_image(name):
    """A plain blue image with a hole comes back blue (the hole's surroundings reach the network)."""
    image = np.zeros((96, 96, 3), np.uint8)
    image[...] = (20, 60, 200)
    mask = np.zeros((96, 96), bool)
    mask[30:62, 36:70] = True
    out = inpaint_models.fill(image, mask, model=name, device="cpu", registry=REGISTRY)
    tolerance = 40 if name in QUALITY_EXEMPT else 20 if name in SAMPLERS else 8
    assert np.abs(out[mask].astype(int) - image[mask].astype(int)).mean() <= tolerance


# (top, left) of a 256 px crop of scikit-image's rocket, and a box hole in it (top, left, height, width)
ROCKET_HOLES = [((100, 200), (90, 70, 80, 96)), ((0, 0), (60, 100, 96, 80)),
                ((171, 384), (40, 40, 100, 100)), ((50, 300), (120, 20, 72, 120))]


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_weights_fill_a_held_out_photograph_like_a_classical_fill(name):
    """scikit-image's rocket is one of the held-out photographs (never trained on): over four box
    holes the default weights clearly beat a mean-colour fill and are not far below Telea
    (mlp-gan, the reports' baseline, is only run: it does lose to a mean-colour fill)."""
    from skimage import data

    rocket = data.rocket()
    model_psnr, telea_psnr, mean_psnr = [], [], []
    for (y, x), (top, left, height, width) in ROCKET_HOLES:
        photo = np.ascontiguousarray(rocket[y : y + 256, x : x + 256])
        mask = np.zeros(photo.shape[:2], bool)
        mask[top : top + height, left : left + width] = True
        out = inpaint_models.fill(photo, mask, model=name, device="cpu", registry=REGISTRY)
        assert np.array_equal(out[~mask], photo[~mask])
        mean_fill = photo.copy()
        mean_fill[mask] = photo[~mask].mean(axis=0).round().astype(np.uint8)
        model_psnr.append(_hole_psnr(out, photo, mask))
        mean_psnr.append(_hole_psnr(mean_fill, photo, mask))
        telea_psnr.append(_hole_psnr(inpaint_models.fill(photo, mask, model="telea", registry=REGISTRY), photo, mask))
    assert np.isfinite(model_psnr).all()
    if name in SAMPLERS:
        assert np.mean(model_psnr) > np.mean(mean_psnr)
    elif name not in QUALITY_EXEMPT:
        # a guard against broken weights or input handling (a grey or unrelated fill), not a quality bar:
        # on these holes Telea scores ~27.4 dB, a mean-colour fill ~23.7 dB, the default weights ~26-28 dB
        assert np.mean(model_psnr) > np.mean(mean_psnr) + 1.5
        assert np.mean(model_psnr) >= np.mean(telea_psnr) - 2.0
