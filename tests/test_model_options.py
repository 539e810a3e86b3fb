"""Option kinds of the built-in models, checkpoint geometry and the torch-free start.

Every field of a model's options dataclass is a fill option (the Inpaint
widget, ``fill(**options)``, ``--opt``), an architecture option (fixed by the
weights: read from the sidecar) or a training option (the ``[model]`` config).
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import inpaint_models
from inpaint_models.contract.errors import OptionError, WeightsError
from inpaint_models.contract.options import ARCHITECTURE, FILL, TRAINING, fields_of_kind, option_kind
from inpaint_models.contract.registry import make_registry
from inpaint_models.io.sidecar import WeightsGeometry, architecture_of, geometry_of, read_sidecar

REGISTRY = make_registry()

#: what a fill may change, per built-in model (everything else is fixed by the weights or training-only)
FILL_OPTIONS = {
    "telea": {"radius"},
    "navier-stokes": {"radius"},
    "autoencoder": set(),
    "context-encoder": set(),
    "mlp-gan": set(),
    "glcic": {"postprocess", "blend_radius"},
    "pconv-unet": set(),
    "deepfill": set(),
    "diffusion": {"steps", "eta", "seed", "repaint", "jump_length", "resample_count", "conditional", "strength"},
}
TRAINABLE = ["autoencoder", "context-encoder", "mlp-gan", "glcic", "pconv-unet", "deepfill", "diffusion"]


@pytest.mark.parametrize("name", sorted(FILL_OPTIONS))
def test_fill_options_are_exactly_the_intended_ones(name):
    info = REGISTRY.info(name)
    assert set(fields_of_kind(info, FILL)) == FILL_OPTIONS[name]


@pytest.mark.parametrize("name", [name for name in REGISTRY.names() if REGISTRY.info(name).trainable])
def test_every_field_of_a_trainable_model_declares_its_kind(name):
    from inpaint_models.contract.options import declared_kind

    info = REGISTRY.info(name)
    undeclared = [f.name for f in dataclasses.fields(info.options) if declared_kind(f) is None]
    assert not undeclared, f"{name}: fields without a kind: {undeclared}"


def test_glcic_kinds():
    info = REGISTRY.info("glcic")
    assert set(fields_of_kind(info, ARCHITECTURE)) == {"width", "residual"}
    assert set(fields_of_kind(info, TRAINING)) == {"completion_steps", "discriminator_steps", "alpha", "local_size",
                                                   "optimizer"}
    assert option_kind(info, "postprocess") == FILL


def test_training_and_architecture_options_are_refused_by_a_fill():
    image = np.zeros((32, 32, 3), np.uint8)
    mask = np.zeros((32, 32), bool)
    mask[10:20, 10:20] = True
    with pytest.raises(OptionError, match="option 'completion_steps' of model 'glcic' is used only in training"):
        inpaint_models.fill(image, mask, model="glcic", completion_steps=5, registry=REGISTRY)
    with pytest.raises(OptionError, match="option 'width' of model 'glcic' is fixed by the weights.*"
                                          "its fill options are: postprocess, blend_radius"):
        inpaint_models.fill(image, mask, model="glcic", width="tiny", registry=REGISTRY)
    with pytest.raises(OptionError, match="option 'width' of model 'autoencoder' is fixed by the weights.*: none"):
        inpaint_models.fill(image, mask, model="autoencoder", width=8, registry=REGISTRY)


@pytest.mark.parametrize("name", TRAINABLE)
def test_architecture_of_the_shipped_weights(name):
    info = REGISTRY.info(name)
    assert info.default_weights is not None
    saved = read_sidecar(info.default_weights, name)["options"]
    shown = architecture_of(None, info)
    assert list(shown) == list(fields_of_kind(info, ARCHITECTURE))
    assert shown == {key: saved[key] for key in shown}
    assert architecture_of(info.default_weights.with_suffix(".json"), info) == shown


def test_architecture_of_a_model_without_weights_and_of_a_foreign_checkpoint():
    assert architecture_of(None, REGISTRY.info("telea")) == {}
    glcic = REGISTRY.info("glcic")
    with pytest.raises(WeightsError, match="checkpoint of model 'autoencoder', not 'glcic'"):
        architecture_of(REGISTRY.info("autoencoder").default_weights, glcic)


def test_merge_options_takes_architecture_and_training_from_the_checkpoint():
    from inpaint_models.training.inference import merge_options

    info = REGISTRY.info("glcic")
    saved = {"width": "tiny", "completion_steps": 1200, "residual": True, "postprocess": False, "blend_radius": 3}
    given = info.options(postprocess=True, blend_radius=5)
    merged = merge_options(info, saved, given)
    assert (merged.width, merged.completion_steps, merged.residual) == ("tiny", 1200, True)
    assert (merged.postprocess, merged.blend_radius) == (True, 5)
    assert merge_options(info, saved).postprocess is False  # no call: the checkpoint's own values
    with pytest.raises(WeightsError, match="width='half' does not match the checkpoint"):
        merge_options(info, saved, info.options(width="half"))


# --- geometry ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", TRAINABLE)
def test_shipped_sidecars_record_the_geometry_of_their_networks(name):
    from inpaint_models.models.neural import clear_cache, loaded_model
    from inpaint_models.models.neural_hooks import task_factory_for

    info = REGISTRY.info(name)
    geometry, recorded = geometry_of(info.default_weights, info)
    assert recorded
    clear_cache()
    task = loaded_model(info, task_factory_for(name), info.default_weights, "cpu").task
    assert task.geometry() == geometry
    clear_cache()


def test_a_sidecar_without_geometry_gets_it_computed(tmp_path):
    import shutil

    from inpaint_models.pipeline.geometry import weights_geometry

    info = REGISTRY.info("pconv-unet")
    weights = tmp_path / "old.safetensors"
    shutil.copyfile(info.default_weights, weights)
    sidecar = json.loads(info.default_weights.with_suffix(".json").read_text())
    recorded = WeightsGeometry.from_dict(sidecar.pop("geometry"))
    weights.with_suffix(".json").write_text(json.dumps(sidecar))
    inferred, was_recorded = geometry_of(weights, info)
    assert not was_recorded and inferred.size_multiple == info.size_multiple == 1
    assert weights_geometry(info, weights) == recorded and recorded.size_multiple > 1  # 2**layers, computed


def test_a_64_px_context_encoder_sees_one_64_px_crop(tmp_path, monkeypatch):
    from inpaint_models.models.context_encoder import task as context_encoder
    from inpaint_models.models.neural import clear_cache
    from inpaint_models.training import quick_checkpoint

    weights = quick_checkpoint("context-encoder", tmp_path, steps=1, size=64)
    assert read_sidecar(weights)["geometry"] == {"channels": 3, "native_size": 64, "size_multiple": 1}
    seen = []
    predict = context_encoder.ContextEncoderTask.predict

    def spy(self, image, mask, **kwargs):
        seen.append(tuple(image.shape))
        return predict(self, image, mask, **kwargs)

    monkeypatch.setattr(context_encoder.ContextEncoderTask, "predict", spy)
    resized = []
    from inpaint_models.pipeline import crops
    from inpaint_models.pipeline.layout import resize_plane

    monkeypatch.setattr(crops, "resize_plane", lambda plane, h, w: resized.append((plane.shape[:2], (h, w)))
                        or resize_plane(plane, h, w))
    image = np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)
    mask = np.zeros((64, 64), bool)
    mask[24:40, 24:40] = True
    clear_cache()
    out = inpaint_models.fill(image, mask, model="context-encoder", weights=weights, margin=100, registry=REGISTRY)
    clear_cache()
    assert seen == [(1, 3, 64, 64)]
    assert resized == []  # 64 x 64 crop, 64 px network: no resampling at all
    np.testing.assert_array_equal(out[~mask], image[~mask])


def test_a_new_seed_does_not_reload_the_checkpoint(monkeypatch):
    from inpaint_models.models import neural

    calls = []
    load_task = neural.load_task
    monkeypatch.setattr(neural, "load_task",
                        lambda *args, **kwargs: calls.append(args[0]) or load_task(*args, **kwargs))
    image = np.random.default_rng(1).integers(0, 255, (32, 32, 3), dtype=np.uint8)
    mask = np.zeros((32, 32), bool)
    mask[8:20, 10:22] = True
    neural.clear_cache()
    first = inpaint_models.fill(image, mask, model="diffusion", steps=2, seed=1, registry=REGISTRY)
    second = inpaint_models.fill(image, mask, model="diffusion", steps=3, seed=2, strength=1.0, registry=REGISTRY)
    again = inpaint_models.fill(image, mask, model="diffusion", steps=2, seed=1, registry=REGISTRY)
    neural.clear_cache()
    assert len(calls) == 1
    assert not np.array_equal(first, second)
    np.testing.assert_array_equal(first, again)  # the fill options of the call, not of the previous one


def test_an_unconditional_fill_needs_weights_with_a_prior():
    image = np.zeros((32, 32, 3), np.uint8)
    mask = np.zeros((32, 32), bool)
    mask[8:20, 10:22] = True
    with pytest.raises(WeightsError, match="uncond_prob"):
        inpaint_models.fill(image, mask, model="diffusion", conditional=False, steps=1, registry=REGISTRY)


# --- start-up without torch -------------------------------------------------------------------------


def _fresh_process(code: str) -> list[str]:
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                            timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_listing_models_and_reading_their_info_does_not_import_torch():
    loaded = _fresh_process("""
        import json, sys
        import inpaint_models
        from inpaint_models.contract.options import fields_of_kind
        from inpaint_models.io.sidecar import architecture_of, geometry_of
        for name in inpaint_models.available_models():
            info = inpaint_models.model_info(name)
            fields_of_kind(info, "fill")
            architecture_of(None, info)
            geometry_of(info.default_weights, info)
        print(json.dumps([m for m in ("torch", "skimage.restoration") if m in sys.modules]))
    """)
    assert loaded == []


def test_a_telea_fill_does_not_import_torch():
    loaded = _fresh_process("""
        import json, sys
        import numpy as np
        import inpaint_models
        image = np.zeros((64, 64, 3), np.uint8)
        mask = np.zeros((64, 64), bool)
        mask[20:30, 20:30] = True
        inpaint_models.fill(image, mask, model="telea")
        print(json.dumps([m for m in ("torch",) if m in sys.modules]))
    """)
    assert loaded == []
