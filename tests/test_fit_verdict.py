"""A fit proves itself: held-back holes decide between the fitted fill and the classical fill, and the user is told.

One tiny fit per module (a few steps: its verdict is forced by a patched PSNR
where a test needs one side to win); the verdicts of the other tests are
written into its sidecar, as a fit writes them.
"""

from __future__ import annotations

import re
import shutil
import warnings

import numpy as np
import pytest

from test_fit import REGISTRY, TINY_OPTIONS, TINY_TRAIN, tiny_stack

import inpaint_models
from inpaint_models.api_fit import fit_verdict, verdict_message
from inpaint_models.contract.datatypes import ProgressEvent
from inpaint_models.contract.errors import ClassicalFillKeptWarning
from inpaint_models.pipeline.fit_verdict import MIN_GAIN_DB, verdict_record
from inpaint_models.training.checkpoints import record_verdict

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # tests/conftest.py

KEPT = re.compile(r"^kept the volume fill: the fit did not beat it \(\d+\.\d dB vs \d+\.\d dB on held-back holes\)$")
FITTED = re.compile(r"^fitted: \+\d+\.\d dB over the volume fill on held-back holes$")


def forced_psnr(fitted: float, classical: float):
    """A stand-in for the judge's PSNR: the fitted fill's score first, then the classical fill's."""
    scores = iter([fitted, classical])
    return lambda prediction, truth: next(scores)


@pytest.fixture(scope="module")
def classical_fit(tmp_path_factory):
    """``(stack, mask, weights, events)`` of a fit whose verdict is forced to "classical"."""
    stack, mask, _ = tiny_stack()
    events = []
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("inpaint_models.pipeline.fit_judge.psnr", forced_psnr(20.0, 30.0))
        weights = inpaint_models.fit(stack, mask, steps=2, output=tmp_path_factory.mktemp("fit") / "run", device="cpu",
                                     options=TINY_OPTIONS, train=TINY_TRAIN, progress=events.append,
                                     registry=REGISTRY)
    return stack, mask, weights, events


def _fill(stack, mask, **kwargs):
    kwargs.setdefault("model", "stack-unet")
    return inpaint_models.fill(stack, mask, device="cpu", volume_axis=0, registry=REGISTRY, **kwargs)


def _copy(weights, folder):
    """A copy of a checkpoint (weights and sidecar) in ``folder``, its verdict to be rewritten."""
    folder.mkdir()
    for path in (weights, weights.with_suffix(".json")):
        shutil.copy(path, folder / path.name)
    return folder / weights.name


def test_a_fit_that_lost_fills_with_the_classical_fill_and_says_so(classical_fit):
    stack, mask, weights, events = classical_fit
    verdict = fit_verdict(weights)
    assert verdict["use"] == "classical" and verdict["compared_with"] == "biharmonic"
    assert verdict["fitted_psnr"] == 20.0 and verdict["classical_psnr"] == 30.0 and verdict["gain_db"] == -10.0
    assert verdict["held_back_pixels"] > 0 and verdict["volume"] is True
    final = events[-1]
    assert final.extra["stage"] == "verdict" and final.extra["verdict"] == verdict
    assert KEPT.match(final.message) and final.checkpoint_path == weights
    with pytest.warns(ClassicalFillKeptWarning) as caught:
        filled = _fill(stack, mask, weights=weights)
    assert KEPT.match(str(caught[0].message)), str(caught[0].message)
    assert caught[0].filename == __file__  # the warning points at the caller's fill
    classical = _fill(stack, mask, model="biharmonic")
    assert filled.dtype == classical.dtype and np.array_equal(filled, classical), "not the classical fill"


def test_a_lazy_fill_follows_the_verdict_too(classical_fit):
    da = pytest.importorskip("dask.array")
    stack, mask, weights, _ = classical_fit
    image, holes = da.from_array(stack, chunks=(3, 16, 16)), da.from_array(mask, chunks=(3, 16, 16))
    with pytest.warns(ClassicalFillKeptWarning):
        filled = _fill(image, holes, weights=weights).compute()
    assert np.array_equal(filled, _fill(stack, mask, model="biharmonic"))


def test_a_fit_that_won_keeps_the_fitted_fill(classical_fit, tmp_path):
    stack, mask, weights, _ = classical_fit
    won = _copy(weights, tmp_path / "won")
    record_verdict(won, verdict_record("biharmonic", 31.25, 30.0, 3, 200, True))
    assert FITTED.match(verdict_message(fit_verdict(won))) and "+1.2 dB" in verdict_message(fit_verdict(won))
    with warnings.catch_warnings():
        warnings.simplefilter("error", ClassicalFillKeptWarning)
        filled = _fill(stack, mask, weights=won)
    record_verdict(won, None)  # without a verdict: the fitted network's own fill
    assert fit_verdict(won) is None
    assert np.array_equal(filled, _fill(stack, mask, weights=won))
    assert not np.array_equal(filled, _fill(stack, mask, model="biharmonic"))


def test_a_tie_keeps_the_classical_fill_and_the_messages_read_as_promised():
    tie = verdict_record("biharmonic", 30.0, 30.0, 1, 10, True)
    assert tie["use"] == "classical" and tie["gain_db"] == 0.0
    assert verdict_record("biharmonic", 30.05, 30.0, 1, 10, True)["use"] == "classical"  # within the margin
    assert verdict_message(tie) == ("kept the volume fill: the fit did not beat it (30.0 dB vs 30.0 dB on "
                                    "held-back holes)")
    flat = verdict_record("biharmonic", 28.0, 26.5, 1, 10, False)
    assert verdict_message(flat) == "fitted: +1.5 dB over the classical fill (biharmonic) on held-back holes"
    assert verdict_record("biharmonic", float("inf"), 20.0, 1, 1, True)["fitted_psnr"] == 999.0  # JSON-able
    assert "no held-back holes" in verdict_message(None)


def test_the_verdict_is_measured_on_the_fits_held_back_holes(tmp_path):
    """Unforced: both fills scored on the same held-back pixels; the verdict follows the scores."""
    stack, mask, _ = tiny_stack(seed=2)
    weights = inpaint_models.fit(stack, mask, steps=2, output=tmp_path / "run", device="cpu", options=TINY_OPTIONS,
                                 train=TINY_TRAIN, registry=REGISTRY)
    verdict = fit_verdict(weights)
    assert 0 < verdict["held_back_pixels"] and verdict["held_back_holes"] >= 1
    assert 5.0 < verdict["classical_psnr"] < 80.0 and 5.0 < verdict["fitted_psnr"] < 80.0
    assert verdict["use"] == ("fitted" if verdict["gain_db"] >= MIN_GAIN_DB else "classical")
    assert abs(verdict["gain_db"] - (verdict["fitted_psnr"] - verdict["classical_psnr"])) < 2e-3


def test_a_fit_with_nothing_held_back_has_no_verdict(tmp_path):
    stack, mask, _ = tiny_stack()
    weights = inpaint_models.fit(stack, mask, steps=1, output=tmp_path / "run", device="cpu", options=TINY_OPTIONS,
                                 train={**TINY_TRAIN, "validation_split": 0.0}, registry=REGISTRY)
    assert fit_verdict(weights) is None
    with warnings.catch_warnings():
        warnings.simplefilter("error", ClassicalFillKeptWarning)
        _fill(stack, mask, weights=weights)


# --------------------------------------------------------------------------- the front ends
def _write_inputs(tmp_path, stack, mask):
    import tifffile

    tifffile.imwrite(tmp_path / "stack.tif", stack)
    tifffile.imwrite(tmp_path / "mask.tif", mask.astype(np.uint8) * 255)
    return [str(tmp_path / "stack.tif"), str(tmp_path / "mask.tif")]


TINY_SET = ["--set", "model.width=4", "--set", "model.levels=2", "--set", "train.batch_size=2"]


@pytest.mark.parametrize("fitted, classical, expected", [(20.0, 30.0, KEPT), (31.0, 30.0, FITTED)])
def test_inpaint_fit_says_the_verdict(tmp_path, capsys, monkeypatch, fitted, classical, expected):
    from inpaint_models.cli import main

    monkeypatch.setattr("inpaint_models.pipeline.fit_judge.psnr", forced_psnr(fitted, classical))
    stack, mask, _ = tiny_stack()
    files = _write_inputs(tmp_path, stack, mask)
    status = main(["fit", *files, "-o", str(tmp_path / "run"), "--steps", "2", "--device", "cpu", *TINY_SET])
    out = capsys.readouterr()
    assert status == 0, out.err
    assert out.out.strip().splitlines()[-1].endswith("best.safetensors")
    said = [line[len("inpaint: "):] for line in out.err.splitlines() if line.startswith("inpaint: ")]
    assert any(expected.match(line) for line in said), out.err


def test_inpaint_fill_fit_says_it_kept_the_volume_fill(tmp_path, capsys, monkeypatch):
    import tifffile

    from inpaint_models.cli import main

    monkeypatch.setattr("inpaint_models.pipeline.fit_judge.psnr", forced_psnr(20.0, 30.0))
    stack, mask, _ = tiny_stack()
    files = _write_inputs(tmp_path, stack, mask)
    status = main(["fill", *files, "-o", str(tmp_path / "out.tif"), "--fit", "0.5", "--device", "cpu", "-q"])
    err = capsys.readouterr().err
    assert status == 0, err
    warned = [line for line in err.splitlines() if line.startswith("inpaint: warning: ")]
    assert len(warned) == 1 and KEPT.match(warned[0][len("inpaint: warning: "):]), err
    expected = inpaint_models.fill(stack, mask, model="biharmonic", registry=REGISTRY)
    assert np.array_equal(tifffile.imread(tmp_path / "out.tif"), expected)


def test_the_napari_status_line_says_the_verdict():
    pytest.importorskip("qtpy")
    from napari_inpaint.messages import fit_progress, fit_verdict_text, model_used, with_verdict

    verdict = verdict_record("biharmonic", 20.0, 30.0, 1, 10, True)
    event = ProgressEvent("train", 8, 100, message=verdict_message(verdict), elapsed_seconds=3.0, eta_seconds=0.0,
                          extra={"stage": "verdict", "verdict": verdict})
    done, line = fit_progress(event, stopping=False)
    assert done == 1000 and line == "Learning done: " + verdict_message(verdict)
    assert fit_verdict_text(ProgressEvent("train", 8, 100, extra={"stage": "train"})) is None
    assert model_used("stack-unet", event) == "biharmonic" and model_used("stack-unet", None) == "stack-unet"
    assert with_verdict("Filled 'x' with biharmonic in 1.0 s.", event) == (
        "Filled 'x' with biharmonic in 1.0 s. Kept the volume fill: the fit did not beat it "
        "(20.0 dB vs 30.0 dB on held-back holes).")
    won = verdict_record("biharmonic", 31.0, 30.0, 1, 10, True)
    won_event = ProgressEvent("train", 8, 100, message=verdict_message(won), extra={"stage": "verdict",
                                                                                    "verdict": won})
    assert model_used("stack-unet", won_event) == "stack-unet"
    assert with_verdict("Filled 'x'.", won_event).endswith("Fitted: +1.0 dB over the volume fill on held-back holes.")
