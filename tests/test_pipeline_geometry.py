"""Crops fit the geometry of the weights in use, for volumes as for planes (issue 20).

A stack-unet's size multiple is ``2 ** (levels - 1)`` of its checkpoint, not
``ModelInfo.size_multiple`` (that of the default options): its volume crops
must be padded to the checkpoint's own.
"""

from __future__ import annotations

import numpy as np
import pytest

import inpaint_models
from inpaint_models.contract.registry import make_registry
from inpaint_models.io.sidecar import WeightsGeometry, info_geometry
from inpaint_models.pipeline.geometry import model_input_shape

REGISTRY = make_registry()


def test_model_input_shape_of_planes_and_volumes():
    geometry = WeightsGeometry(channels=(1,), native_size=None, size_multiple=16)
    assert model_input_shape(geometry, (20, 33)) == (32, 48)
    assert model_input_shape(geometry, (5, 20, 33)) == (16, 32, 48)  # all three axes of a volume
    fixed = WeightsGeometry(channels=(3,), native_size=64, size_multiple=8)
    assert model_input_shape(fixed, (20, 33)) == (64, 64)  # a fixed-size network: resized, then padded
    assert model_input_shape(info_geometry(REGISTRY.info("biharmonic")), (5, 20, 33)) == (5, 20, 33)


@pytest.mark.parametrize("levels", [5, 6])
def test_a_stack_unet_with_more_levels_fills_volume_crops_of_any_size(tmp_path, levels):
    from inpaint_models.models.neural import clear_cache
    from inpaint_models.training import quick_checkpoint

    weights = quick_checkpoint("stack-unet", tmp_path, steps=1, size=32, options={"levels": levels},
                               train={"channels": 1})
    multiple = 2 ** (levels - 1)
    assert REGISTRY.info("stack-unet").size_multiple < multiple  # the model's default geometry would not do
    rng = np.random.default_rng(levels)
    stack = rng.integers(1000, 3000, (7, 42, 37), dtype=np.uint16)
    mask = np.zeros(stack.shape, bool)
    mask[2:5, 15:22, 11:19] = True  # its crop (all planes, the whole plane with the margin) is 7 x 42 x 37
    clear_cache()
    try:
        out = inpaint_models.fill(stack, mask, model="stack-unet", weights=weights, volume_axis=0,
                                  registry=REGISTRY)
        estimate = inpaint_models.estimate_fill_seconds(stack, mask, model="stack-unet", weights=weights,
                                                        volume_axis=0, registry=REGISTRY, use_cache=False)
    finally:
        clear_cache()
    assert out.dtype == stack.dtype and np.array_equal(out[~mask], stack[~mask])
    assert all(n % multiple == 0 for n in estimate.crop_shape) and len(estimate.crop_shape) == 3
    assert estimate.crop_shape == tuple(n + (-n) % multiple for n in (7, 42, 37))
