"""What the docks say: the Inpaint dock's questions before and during a long fill, the Train dock's status line.

Plain functions of an estimate (:class:`inpaint_models.api.FillEstimate`, measured
before the fill) or of the time left (:class:`inpaint_models.api.FillClock`,
measured during it), plus :func:`question_box`, the non-modal question they are
asked in. Durations read as :func:`inpaint_models.api.format_duration` says them;
a training run's time left as a clock reads it (:func:`clock_duration`).
"""

from __future__ import annotations

from typing import Any, Optional

from qtpy.QtWidgets import QMessageBox, QWidget

from inpaint_models.api import format_duration
from inpaint_models.contract.datatypes import ModelInfo, ProgressEvent


def estimate_message(estimate: Any, long_fill_seconds: float) -> str:
    """What the question before a long fill says: the estimate, how it was obtained, how to go faster."""
    text = (f"Filling with {estimate.model} on {estimate.device} will take {estimate.describe()}.\n\n"
            "This is an estimate: one network call was timed on this fill's largest crop and multiplied "
            "by the number of calls and regions.")
    lower = estimate.steps_within(long_fill_seconds)
    if lower is not None:
        name = estimate.steps_option.replace("_", " ")
        text += (f"\n\nFewer {name} go faster (and fill with less detail): {lower} instead of "
                 f"{estimate.steps} would take about {format_duration(estimate.seconds_with_steps(lower))}.")
    return text


def lower_steps_label(estimate: Any, lower: int) -> str:
    """The button offering fewer steps, e.g. ``"Lower steps to 20 (about 30 s)"``."""
    seconds = estimate.seconds_with_steps(lower)
    return f"Lower {estimate.steps_option.replace('_', ' ')} to {lower} (about {format_duration(seconds)})"


def long_fill_message(remaining: float, info: Optional[ModelInfo], device: str, regions_known: bool,
                      steps: Optional[tuple[str, Any]]) -> str:
    """What the question during a long fill says: the measured time left and how to go faster.

    Args:
        remaining: seconds left, as measured on the fill's first steps.
        info: the model filling (None: "this model").
        device: the device chosen (``auto`` is not named).
        regions_known: whether the time covers every hole region (else only the first).
        steps: ``(option name, value)`` of the model's steps option, if it has one.
    """
    title = info.title if info is not None else "this model"
    where = f" on {device}" if device != "auto" else ""
    scope = "" if regions_known else ", for its first hole region"
    text = (f"Filling with {title}{where} will take about {format_duration(remaining)} more "
            f"(measured on its first steps{scope}).")
    if steps is not None:
        name, value = steps
        text += (f"\n\nTo go faster, cancel, lower '{name.replace('_', ' ')}' (now {value}) "
                 "in the options and press Fill again.")
    return text


def fit_progress(event: ProgressEvent, stopping: bool) -> tuple[int, Optional[str]]:
    """``(per mille of the time budget spent, status line or None)`` of a progress event of the fit.

    The line names the step, the loss, the held-back holes' PSNR and the time left;
    None while the fit is being stopped (the status says so). The fit's last
    event carries its verdict (:func:`fit_verdict_text`): the line says it.
    """
    verdict = fit_verdict_text(event)
    if verdict is not None:
        return 1000, "Learning done: " + verdict
    elapsed = event.elapsed_seconds or 0.0
    left = event.eta_seconds
    total = elapsed + left if left is not None else None
    done = int(1000 * min(1.0, elapsed / total)) if total else 0
    parts = [f"step {event.step}"]
    if "loss" in event.losses:
        parts.append(f"loss {event.losses['loss']:.3g}")
    psnr = event.extra.get("metrics", {}).get("psnr_hole")
    if psnr is not None:
        parts.append(f"held-back holes {psnr:.2f} dB")
    if left is not None and left >= 1:
        parts.append(f"{format_duration(left)} left")
    return done, None if stopping else "Learning: " + " · ".join(parts)


def fit_verdict_text(event: ProgressEvent) -> Optional[str]:
    """What the verdict of a fit's last event says, e.g. ``"fitted: +1.2 dB over the volume fill on held-back
    holes"`` or ``"kept the volume fill: the fit did not beat it (...)"``; None for any other event."""
    return event.message if event.extra.get("stage") == "verdict" else None


def model_used(model: str, verdict_event: Optional[ProgressEvent]) -> str:
    """The model that filled: ``model``, or the classical one its fit's verdict (``verdict_event``) kept."""
    verdict = verdict_event.extra.get("verdict") if verdict_event is not None else None
    return verdict["compared_with"] if verdict and verdict.get("use") == "classical" else model


def with_verdict(text: str, verdict_event: Optional[ProgressEvent]) -> str:
    """The status line after a fill (``text``), followed by the verdict of the fit before it, if any."""
    verdict = fit_verdict_text(verdict_event) if verdict_event is not None else None
    return f"{text} {verdict[:1].upper()}{verdict[1:]}." if verdict else text


def question_box(parent: QWidget, icon: QMessageBox.Icon, text: str) -> QMessageBox:
    """A non-modal "Long fill" question with ``text``; the caller adds the buttons and shows it."""
    box = QMessageBox(parent)
    box.setIcon(icon)
    box.setWindowTitle("Long fill")
    box.setText(text)
    box.setModal(False)
    return box


def close_box(box: Optional[QMessageBox]) -> None:
    """Close a question (if open) and let Qt delete it."""
    if box is not None:
        box.close()
        box.deleteLater()


# --------------------------------------------------------------------------- training
def clock_duration(seconds: Optional[float]) -> str:
    """A duration as a clock reads it: ``m:ss``, or ``h:mm:ss`` from an hour on; ``?`` when unknown."""
    if seconds is None:
        return "?"
    seconds = int(round(seconds))
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}" if seconds >= 3600 else (
        f"{seconds // 60}:{seconds % 60:02d}"
    )


def describe(event: ProgressEvent) -> str:
    """One status line for a training event: step, losses, speed and time left."""
    parts = [f"{event.phase} {event.step}/{event.total}"]
    if event.losses:
        parts.append(" ".join(f"{name} {value:.4g}" for name, value in event.losses.items()))
    if event.images_per_second is not None:
        parts.append(f"{event.images_per_second:.1f} img/s")
    if event.eta_seconds is not None:
        parts.append(f"ETA {clock_duration(event.eta_seconds)}")
    if event.message:
        parts.append(event.message)
    return " · ".join(parts)
