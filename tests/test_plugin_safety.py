"""Plugins get only what is theirs (issue 22, items 3-5): read-only arguments, pixels outside the mask
bit-identical whatever a plugin returns or scribbles, built-in names never taken, a plugin's failure
reported as the plugin's (:class:`PluginError`, its own CLI exit status), ``fill`` without ``@hookimpl``
refused at load."""

from __future__ import annotations

import importlib.metadata
import warnings
from typing import Callable

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import inpaint_models
from inpaint_models.cli import EXIT_INPUT, EXIT_PLUGIN
from inpaint_models.cli import main as cli_main
from inpaint_models.contract.datatypes import ModelInfo
from inpaint_models.contract.errors import (
    Cancelled,
    InpaintError,
    OptionError,
    PluginConflictError,
    PluginError,
    WeightsError,
)
from inpaint_models.contract.hookspecs import hookimpl
from inpaint_models.contract.registry import (
    PLUGINS_ENV_VAR,
    PluginSkippedWarning,
    default_registry,
    make_registry,
)
from inpaint_models.io.imageio import read_image, write_image

Behaviour = Callable[[np.ndarray, np.ndarray], object]


def make_plugin(name: str, behaviour: Behaviour, channels=None, spatial_dims=(2,)):
    """An inline plugin whose ``fill`` is ``behaviour(image, mask)``."""

    class Plugin:
        @hookimpl
        def model_info(self) -> ModelInfo:
            return ModelInfo(name=name, title=name, description="test", source="tests", channels=channels,
                             spatial_dims=spatial_dims)

        @hookimpl
        def fill(self, image, mask):
            return behaviour(image, mask)

    return Plugin()


def registry_with(behaviour: Behaviour, name: str = "stranger", **info):
    registry = make_registry(load_entry_points=False)
    registry.register(make_plugin(name, behaviour, **info))
    return registry


def square_mask(size: int = 48, low: int = 16, high: int = 32) -> np.ndarray:
    mask = np.zeros((size, size), bool)
    mask[low:high, low:high] = True
    return mask


def photo(size: int = 48, channels: int = 3) -> np.ndarray:
    return np.random.default_rng(3).integers(0, 256, (size, size, channels), dtype=np.uint8)


def scribble_on_mask(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """A plugin that marks everything in its mask a hole."""
    mask[...] = True
    return np.full(image.shape, 0.5, np.float32)


# ---------------------------------------------------------------------------------- what a plugin gets
def test_a_plugin_gets_a_copy_of_the_mask_and_an_image_made_for_the_call():
    seen = {}

    def look(image, mask):
        seen["image"], seen["mask"] = image, mask
        return np.full(image.shape, 0.5, np.float32)

    image, mask = photo(), square_mask()
    inpaint_models.fill(image, mask, model="stranger", registry=registry_with(look))
    assert not np.shares_memory(seen["mask"], mask) and not np.shares_memory(seen["image"], image)
    assert seen["mask"].flags.writeable and seen["image"].flags.writeable  # torch.from_numpy takes them quietly


def test_a_plugin_that_scribbles_on_its_mask_changes_no_pixel_outside_the_callers_mask():
    """Issue 22's row: such a plugin changed 2,304 pixels outside the caller's mask, silently."""
    image, mask = photo(), square_mask()
    keep_image, keep_mask = image.copy(), mask.copy()
    out = inpaint_models.fill(image, mask, model="stranger", registry=registry_with(scribble_on_mask))
    assert np.array_equal(out[~mask], image[~mask]), f"{int((out != image).any(-1)[~mask].sum())} pixels changed"
    assert np.array_equal(image, keep_image) and np.array_equal(mask, keep_mask)


def test_a_plugin_that_scribbles_on_its_image_changes_nothing_of_the_callers():
    def scribble(image, mask):
        image[...] = 1.0  # the pipeline's own float copy: nothing the caller sees
        return np.zeros(image.shape, np.float32)

    image, mask = photo(), square_mask()
    keep = image.copy()
    out = inpaint_models.fill(image, mask, model="stranger", registry=registry_with(scribble))
    assert np.array_equal(out[~mask], image[~mask]) and np.array_equal(image, keep)
    assert (out[mask] == 0).all()


DTYPES = [np.uint8, np.uint16, np.int64, np.uint64, np.float32]


def _image(dtype, seed: int, shape: tuple[int, ...], extreme: str) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if np.dtype(dtype).kind == "f":
        return rng.random(shape, dtype=np.float32) * (1.0 if extreme == "unit" else 1e6)
    info = np.iinfo(dtype)
    span = rng.integers(0, 2 ** min(12, info.bits - 1), shape, dtype=np.uint64)
    if extreme == "max":
        return (np.full(shape, info.max, dtype) - span.astype(dtype)).astype(dtype)
    if extreme == "min":
        return (np.full(shape, info.min, dtype) + span.astype(dtype)).astype(dtype)
    return rng.integers(info.min, info.max, shape, dtype=dtype, endpoint=True)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    dtype=st.sampled_from(DTYPES),
    channels=st.sampled_from([1, 3, 4]),
    accepted=st.sampled_from([None, (1,), (3,), (1, 3)]),
    extreme=st.sampled_from(["max", "min", "any", "unit"]),
    seed=st.integers(0, 2**32 - 1),
    scribble=st.booleans(),
)
def test_any_plugin_output_leaves_every_unmasked_pixel_and_alpha_bit_identical(
    dtype, channels, accepted, extreme, seed, scribble,
):
    rng = np.random.default_rng(seed)
    height, width = int(rng.integers(8, 24)), int(rng.integers(8, 24))
    image = _image(dtype, seed, (height, width, channels), extreme)
    mask = rng.random((height, width)) < rng.uniform(0.05, 0.6)
    mask[0, 0] = False  # at least one known pixel

    def answer(unit, hole):
        if scribble:
            hole[...] = True
            unit[...] = 1.0
        return np.random.default_rng(seed + 1).random(unit.shape, dtype=np.float32)

    out = inpaint_models.fill(image, mask, model="stranger", registry=registry_with(answer, channels=accepted))
    assert out.dtype == image.dtype and out.shape == image.shape
    assert np.array_equal(out[~mask].view(np.uint8), image[~mask].view(np.uint8)), "an unmasked pixel changed"
    if channels == 4:
        assert np.array_equal(out[..., 3], image[..., 3]), "alpha changed"
    if image.dtype.kind in "iu" and image.dtype != np.uint8 and mask.any():
        known = image[~mask]
        filled = out[mask][:, :3]
        assert (filled >= known.min()).all() and (filled <= known.max()).all(), "the fill left the known range"


# ---------------------------------------------------------------------------------- RGBA through every split
@pytest.mark.parametrize("accepted", [None, (1,), (3,), (1, 3), (4,)])
@pytest.mark.parametrize("as_volume", [False, True])
def test_rgba_alpha_is_untouched_by_every_channel_split(accepted, as_volume):
    """Issue 22's row: RGBA through a 1-channel stack-unet checkpoint changed alpha inside the hole."""
    stack = np.stack([photo(32, 4) for _ in range(3)])
    stack[..., 3] = 200
    mask = np.zeros(stack.shape[:3], bool)
    mask[:, 8:20, 8:20] = True
    stack[mask, 3] = 17
    registry = registry_with(lambda image, hole: np.full(image.shape, 0.25, np.float32), channels=accepted,
                             spatial_dims=(2, 3) if as_volume else (2,))
    out = inpaint_models.fill(stack, mask, model="stranger", registry=registry,
                              volume_axis=0 if as_volume else None)
    assert np.array_equal(out[..., 3], stack[..., 3]), "alpha changed"
    assert np.array_equal(out[~mask], stack[~mask])
    assert (out[mask][:, :3] == 64).all()  # 0.25 of uint8's 0..255, rounded: the colour was filled


@pytest.mark.parametrize("model", ["telea", "navier-stokes", "biharmonic", "push-pull", "patchmatch"])
def test_rgba_alpha_is_untouched_by_the_classical_models(model, registry):
    rgba = photo(40, 4)
    rgba[..., 3] = 200
    mask = square_mask(40, 12, 24)
    rgba[mask, 3] = 17
    out = inpaint_models.fill(rgba, mask, model=model, registry=registry)
    assert np.array_equal(out[..., 3], rgba[..., 3]), "alpha changed"
    assert np.array_equal(out[~mask], rgba[~mask])


# ---------------------------------------------------------------------------------- a plugin's failure
def _raise(error: BaseException) -> Behaviour:
    def fill(image, mask):
        raise error

    return fill


def _recurse(image, mask):
    return _recurse(image, mask)


FAILURES = {
    "ValueError": (_raise(ValueError("bad radius")), "raised ValueError: bad radius"),
    "SystemExit": (_raise(SystemExit(4)), "raised SystemExit"),
    "RecursionError": (_recurse, "raised RecursionError"),
    "RuntimeError": (_raise(RuntimeError("CUDA error")), "raised RuntimeError: CUDA error"),
    "MemoryError": (_raise(MemoryError()), "raised MemoryError"),
    "wrong shape": (lambda image, mask: np.zeros(image.shape[:2], np.float32), "returned shape"),
    "NaN": (lambda image, mask: np.full(image.shape, np.nan, np.float32), "NaN or infinite"),
    "inf": (lambda image, mask: np.full(image.shape, np.inf, np.float32), "NaN or infinite"),
    "uint8 0-255": (lambda image, mask: (image * 255).astype(np.uint8), "returned uint8 values"),
    "floats around 200": (lambda image, mask: np.full(image.shape, 200.0, np.float32), "values from 200"),
    "negative": (lambda image, mask: np.full(image.shape, -0.5, np.float32), "values from -0.5"),
    "None": (lambda image, mask: None, "returned object values"),
    "bool": (lambda image, mask: np.ones(image.shape, bool), "returned bool values"),
}


@pytest.mark.parametrize("case", list(FAILURES))
def test_every_failure_of_a_plugin_is_a_plugin_error_naming_model_and_distribution(case):
    behaviour, problem = FAILURES[case]
    registry = registry_with(behaviour)
    registry.origins["stranger"] = "stranger-package 6.6"
    with pytest.raises(PluginError) as caught:
        inpaint_models.fill(photo(), square_mask(), model="stranger", registry=registry)
    error = caught.value
    assert not isinstance(error, ValueError), "a plugin's fault reported as the user's input error"
    assert (error.model, error.distribution) == ("stranger", "stranger-package 6.6")
    assert "'stranger'" in str(error) and "stranger-package 6.6" in str(error)
    assert problem in str(error), str(error)
    if "raised" in problem:
        assert error.__cause__ is not None and problem.split()[1].rstrip(":") == type(error.__cause__).__name__


def test_a_plugin_error_survives_pickling_for_dask_workers():
    import pickle

    error = pickle.loads(pickle.dumps(PluginError("m", "d 1.0", "raised X")))
    assert (error.model, error.distribution, error.problem) == ("m", "d 1.0", "raised X") and "'m'" in str(error)


def test_values_within_the_tolerance_are_clipped_and_float64_is_converted():
    out = inpaint_models.fill(photo(), square_mask(), model="stranger",
                              registry=registry_with(lambda image, mask: np.full(image.shape, 1.0009)))
    assert (out[square_mask()] == 255).all()
    out = inpaint_models.fill(photo(), square_mask(), model="stranger",
                              registry=registry_with(lambda image, mask: np.full(image.shape, -0.0009)))
    assert (out[square_mask()] == 0).all()


@pytest.mark.parametrize("error", [KeyboardInterrupt(), Cancelled("stop"), WeightsError("w.safetensors: bad"),
                                   OptionError("radius must be positive")])
def test_ctrl_c_cancel_and_input_errors_pass_through_as_they_are(error):
    with pytest.raises(type(error)) as caught:
        inpaint_models.fill(photo(), square_mask(), model="stranger", registry=registry_with(_raise(error)))
    assert caught.value is error


@pytest.fixture
def cli_plugin(tmp_path):
    """Registers a plugin in the CLI's (default) registry; yields (setter of its behaviour, image, mask)."""
    behaviour: list[Behaviour] = []
    registry = default_registry()
    registry.register(make_plugin("stranger", lambda image, mask: behaviour[0](image, mask)))
    image, mask = tmp_path / "in.png", tmp_path / "mask.png"
    write_image(image, photo())
    write_image(mask, square_mask().astype(np.uint8) * 255)
    yield behaviour.append, image, mask
    registry.unregister("stranger")


@pytest.mark.parametrize("case", ["ValueError", "SystemExit", "wrong shape", "uint8 0-255"])
def test_cli_reports_a_plugins_failure_in_one_line_with_its_own_exit_status(case, cli_plugin, tmp_path, capsys,
                                                                          monkeypatch):
    monkeypatch.delenv("INPAINT_DEBUG", raising=False)
    use, image, mask = cli_plugin
    use(FAILURES[case][0])
    status = cli_main(["fill", str(image), str(mask), "-o", str(tmp_path / "out.png"), "--model", "stranger", "-q"])
    err = capsys.readouterr().err.strip().splitlines()
    assert status == EXIT_PLUGIN != EXIT_INPUT
    assert len(err) == 1 and err[0].startswith("inpaint: error: the 'stranger' model plugin (registered)"), err
    assert not (tmp_path / "out.png").exists()


def test_cli_input_errors_keep_their_exit_status(cli_plugin, tmp_path, capsys):
    use, image, mask = cli_plugin
    use(_raise(WeightsError("w.safetensors: not a checkpoint")))
    status = cli_main(["fill", str(image), str(mask), "-o", str(tmp_path / "out.png"), "--model", "stranger", "-q"])
    assert status == EXIT_INPUT
    assert capsys.readouterr().err.strip() == "inpaint: error: w.safetensors: not a checkpoint"


def test_the_cli_fill_still_works(cli_plugin, tmp_path):
    use, image, mask = cli_plugin
    use(lambda unit, hole: np.full(unit.shape, 0.5, np.float32))
    assert cli_main(["fill", str(image), str(mask), "-o", str(tmp_path / "out.png"), "--model", "stranger",
                     "-q"]) == 0
    out = read_image(tmp_path / "out.png")
    assert np.array_equal(out[~square_mask()], photo()[~square_mask()]) and (out[square_mask()] == 128).all()


# ---------------------------------------------------------------------------------- load time
def _unmarked_fill_plugin(name: str = "unmarked"):
    class Unmarked:
        @hookimpl
        def model_info(self):
            return ModelInfo(name=name, title="x", description="x", source="x")

        def fill(self, image, mask):  # no @hookimpl: pluggy never sees it
            return image

    return Unmarked()


def test_a_fill_without_hookimpl_is_refused_at_registration():
    registry = make_registry(load_entry_points=False)
    with pytest.raises(PluginConflictError, match="@hookimpl"):
        registry.register(_unmarked_fill_plugin())
    assert registry.names() == []
    registry.register(make_plugin("unmarked", lambda image, mask: image))  # the name was left free
    assert registry.names() == ["unmarked"]


class _Dist:
    def __init__(self, name: str, version: str = "1.0") -> None:
        self.name, self.version = name, version


class _EntryPoint:
    def __init__(self, name: str, dist: str, load) -> None:
        self.name, self.dist, self.value, self._load = name, _Dist(dist), f"{dist}:plugin", load

    def load(self):
        return self._load()


@pytest.fixture
def entry_points(monkeypatch):
    """Replace the entry points of the group with the real ones (``real``) plus given fakes, in a given order."""
    real = list(importlib.metadata.entry_points(group="inpaint_models"))
    monkeypatch.delenv(PLUGINS_ENV_VAR, raising=False)

    def use(points):
        monkeypatch.setattr(importlib.metadata, "entry_points", lambda group=None: list(points))

    return real, use


def _fill_value(registry, name: str) -> float:
    image = np.zeros((16, 16), np.float32)
    image[:, 8:] = 1.0
    mask = np.zeros((16, 16), bool)
    mask[6:10, 2:6] = True
    return float(inpaint_models.fill(image, mask, model=name, registry=registry)[mask].mean())


def test_a_fill_without_hookimpl_is_skipped_at_load_with_a_warning(entry_points):
    real, use = entry_points
    use([_EntryPoint("unmarked", "lazy-package", _unmarked_fill_plugin)])
    with pytest.warns(PluginSkippedWarning, match="lazy-package.*@hookimpl"):
        registry = make_registry()
    assert "unmarked" not in registry.names() and "unmarked" in registry.failed


@pytest.mark.parametrize("stranger_first", [True, False])
def test_a_third_party_plugin_cannot_take_a_built_in_name(entry_points, stranger_first):
    real, use = entry_points
    telea = [point for point in real if point.name == "telea"]
    stranger = _EntryPoint("telea", "evil-package",
                           lambda: make_plugin("telea", lambda image, mask: np.full(image.shape, 0.9, np.float32)))
    use([stranger, *telea] if stranger_first else [*telea, stranger])
    with pytest.warns(PluginSkippedWarning) as record:
        registry = make_registry()
    assert registry.names() == ["telea"]
    assert registry.origins["telea"].startswith("napari-inpaint"), registry.origins["telea"]
    messages = [str(warning.message) for warning in record]
    assert len(messages) == 1 and "evil-package 1.0" in messages[0] and "napari-inpaint" in messages[0]
    assert "built-in" in messages[0]
    assert _fill_value(registry, "telea") < 0.5  # the built-in's fill (left half dark), not the stranger's 0.9


@pytest.mark.parametrize("order", [0, 1])
def test_a_name_two_third_parties_claim_is_loaded_from_neither(entry_points, order):
    real, use = entry_points
    claims = [
        _EntryPoint("shared", "first-package", lambda: make_plugin("shared", lambda i, m: np.zeros(i.shape))),
        _EntryPoint("shared", "second-package", lambda: make_plugin("shared", lambda i, m: np.ones(i.shape))),
    ]
    use(claims if order == 0 else claims[::-1])
    with pytest.warns(PluginSkippedWarning) as record:
        registry = make_registry()
    assert "shared" not in registry.names()
    messages = [str(warning.message) for warning in record]
    assert len(messages) == 1 and "first-package 1.0" in messages[0] and "second-package 1.0" in messages[0]


def test_one_distribution_found_twice_loads_once_without_a_warning(entry_points):
    real, use = entry_points
    telea = [point for point in real if point.name == "telea"]
    use(telea + telea)
    with warnings.catch_warnings():
        warnings.simplefilter("error", PluginSkippedWarning)
        registry = make_registry()
    assert registry.names() == ["telea"]


def test_plugin_error_is_not_an_input_error():
    assert not issubclass(PluginError, (ValueError, InpaintError))


@pytest.mark.slow  # trains a network for one step
@pytest.mark.parametrize("as_volume", [False, True])
def test_rgba_through_a_one_channel_stack_unet_checkpoint_keeps_alpha(tmp_path, registry, as_volume):
    """The issue's own case, with a real 1-channel stack-unet checkpoint (one training step)."""
    from inpaint_models.training import quick_checkpoint

    weights = quick_checkpoint("stack-unet", tmp_path, steps=1, size=32, train={"channels": 1})
    stack = np.stack([photo(32, 4) for _ in range(5)])
    stack[..., 3] = 200
    mask = np.zeros(stack.shape[:3], bool)
    mask[1:4, 8:20, 8:20] = True
    stack[mask, 3] = 17
    out = inpaint_models.fill(stack, mask, model="stack-unet", weights=weights, device="cpu", registry=registry,
                              volume_axis=0 if as_volume else None)
    assert np.array_equal(out[..., 3], stack[..., 3]), "alpha changed"
    assert np.array_equal(out[~mask], stack[~mask])


def test_a_slow_plugin_is_cancelled_between_crops():
    calls = []

    def slow(image, mask):
        calls.append(image.shape)
        return np.full(image.shape, 0.5, np.float32)

    image = photo(96)
    mask = np.zeros((96, 96), bool)
    for corner in (4, 36, 68):  # three hole regions far apart: three crops
        mask[corner : corner + 6, corner : corner + 6] = True
    with pytest.raises(Cancelled):
        inpaint_models.fill(image, mask, model="stranger", registry=registry_with(slow), margin=4,
                            cancel=lambda: len(calls) >= 1)
    assert len(calls) == 1


def test_what_the_callers_progress_callback_raises_passes_through_a_plugin_unchanged():
    """A front end's own stop (the estimate's calibration, a cancel) is the caller's, never the plugin's fault."""

    class Stop(Exception):
        pass

    class Reporting:
        @hookimpl
        def model_info(self) -> ModelInfo:
            return ModelInfo(name="reporting", title="Reporting", description="reports steps", source="test")

        @hookimpl
        def fill(self, image, mask, context):
            from inpaint_models.contract.datatypes import ProgressEvent

            for step in range(1, 4):
                context.report(ProgressEvent("sample", step, 3))
            return image

    registry = make_registry(load_entry_points=False)
    registry.register(Reporting())

    def stop_at_step_two(event):
        if event.phase == "sample" and event.step == 2:
            raise Stop

    with pytest.raises(Stop):
        inpaint_models.fill(photo(), square_mask(), model="reporting", registry=registry, progress=stop_at_step_two)
