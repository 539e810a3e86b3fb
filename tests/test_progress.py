"""Progress tells the truth: one bar over the whole job, counting regions and the steps inside them,
ending at 100 % of what it counts, with readable units and no meaningless rates."""

from __future__ import annotations

import io

import pytest

from inpaint_models.cli import _common
from inpaint_models.contract.datatypes import ProgressEvent
from inpaint_models.contract.progress import WorkDone


def three_regions_of_four_steps() -> list[ProgressEvent]:
    """What a diffusion fill of three hole regions reports: step events inside each region, then the region."""
    events = [ProgressEvent("fill", 0, 3)]
    for region in range(1, 4):
        events += [ProgressEvent("sample", step, 4, message=f"{step} of 4 steps") for step in range(1, 5)]
        events.append(ProgressEvent("fill", region, 3, message=f"region {region} of 3"))
    return events


def test_work_done_counts_regions_and_the_steps_inside_them():
    work = WorkDone()
    fractions, texts = [], []
    for event in three_regions_of_four_steps():
        work.update(event)
        fractions.append(work.fraction)
        texts.append(work.text)
    assert fractions == sorted(fractions), "the share done never goes back"
    assert fractions[0] == 0.0 and fractions[-1] == 1.0 and work.finished
    assert fractions[2] == pytest.approx(2 / 4 / 3)  # region 1, step 2 of 4
    assert texts[2] == "region 1 of 3, 2 of 4 steps"
    assert texts[5] == "region 2 of 3"  # region 1 done
    assert len(set(fractions)) == len(fractions) - 3  # every step moves the bar (a region's end = its last step)


def test_a_single_region_moves_step_by_step():
    work = WorkDone()
    for step in range(1, 11):
        work.update(ProgressEvent("sample", step, 10, message=f"{step} of 10 steps"))
        assert work.fraction == pytest.approx(step / 10)
    assert work.text == "10 of 10 steps"


def test_a_new_outer_phase_starts_again():
    work = WorkDone()
    for step in range(1, 5):
        work.update(ProgressEvent("scan", step, 4))
    assert work.finished
    work.update(ProgressEvent("fill", 0, 2))
    assert work.fraction == 0.0 and work.phase == "fill"


def test_the_terminal_bar_ends_at_100_percent_and_shows_no_rates(monkeypatch):
    stream = io.StringIO()
    monkeypatch.setattr(_common, "BAR_DELAY", 0)
    monkeypatch.setattr(_common.sys, "stderr", stream)
    with _common.EventProgress("astronaut.png") as progress:
        for event in three_regions_of_four_steps():
            progress(event)
    shown = [part for part in stream.getvalue().replace("\n", "\r").split("\r") if part.strip()]
    assert shown[0].startswith("fill astronaut.png:")
    finals = [part for part in shown if "100%" in part]
    assert finals, shown
    assert not any("/s" in part for part in shown), "no rates such as 172074.01region/s"
    assert any("region 2 of 3, 3 of 4 steps" in part for part in shown)


def test_a_quick_job_prints_no_bar(monkeypatch):
    stream = io.StringIO()
    monkeypatch.setattr(_common.sys, "stderr", stream)
    with _common.EventProgress("x.png") as progress:
        for event in three_regions_of_four_steps():
            progress(event)
    assert stream.getvalue() == ""


def test_a_fill_announces_its_regions_before_any_model_step():
    """With the count known from the start, a three-region fill's share done never runs ahead of itself."""
    import numpy as np

    import inpaint_models

    image = np.zeros((64, 64), np.uint8)
    mask = np.zeros((64, 64), bool)
    for x in (4, 26, 48):
        mask[10:14, x:x + 4] = True
    events, work, shares = [], WorkDone(), []

    def progress(event):
        events.append((event.phase, event.step, event.total))
        work.update(event)
        shares.append(work.fraction)

    inpaint_models.fill(image, mask, model="telea", margin=2, progress=progress)
    assert events[0] == ("fill", 0, 3) and events[-1] == ("fill", 3, 3)
    assert shares == sorted(shares) and shares[-1] == 1.0
