"""The Inpaint dock's third part: running a fill (estimate → fit → fill → undo), its progress and Cancel.

:class:`RunPanel` takes a :class:`~napari_inpaint.jobs.FillRequest` the dock
built and runs it in a worker thread (:mod:`napari_inpaint._threading`): for a
model that runs a network it first estimates the fill's duration
(:func:`~napari_inpaint.jobs.run_estimate`, one network call timed) and asks,
without holding the GUI up, whether to fill anyway, with fewer steps, or not at
all when it is long; then :func:`~napari_inpaint.jobs.run_fill` (with "learn
from this layer first": the fit, its previews in a layer, then the fill with
its best checkpoint, or the classical volume fill when the fit did not beat it on
held-back holes: the status line says which, and by how much). A fill found
long while it runs asks whether to go on.
The result becomes a new layer, or replaces the image's data: the mask layer is then hidden, so the
filled pixels show (Undo restores the data and shows the mask again).
"""

from __future__ import annotations

import time
from typing import Any, Optional

from napari.layers import Image, Layer
from napari.utils.notifications import show_error, show_info, show_warning
from qtpy.QtCore import QObject, Signal
from qtpy.QtWidgets import (
    QButtonGroup,
    QFormLayout,
    QHBoxLayout,
    QMessageBox,
    QPushButton,
    QRadioButton,
    QVBoxLayout,
    QWidget,
)

from inpaint_models.api import LONG_FILL_SECONDS, FillClock, format_duration, measures, with_steps
from inpaint_models.api_fit import fitted_checkpoint
from inpaint_models.contract.datatypes import ModelInfo, ProgressEvent
from inpaint_models.contract.errors import InpaintError
from napari_inpaint._dock import HoldsJobSlot, JobSlot, ProgressStatus, error_text
from napari_inpaint._threading import Job, JobCallbacks
from napari_inpaint.inpaint_model import ModelPanel, home_relative
from napari_inpaint.jobs import FillRequest, run_estimate, run_fill, run_fit_preview
from napari_inpaint.messages import (
    close_box,
    estimate_message,
    fit_progress,
    fit_verdict_text,
    long_fill_message,
    lower_steps_label,
    model_used,
    question_box,
    with_verdict,
)

UNDO_DEPTH = 5
#: the image layer showing the previews of a "learn from this layer first" fit
FIT_PREVIEW_LAYER = "fit preview"
NOT_STARTED = "Fill cancelled before it started; nothing was changed."


class FitPreviewer:
    """(worker thread) When the fit writes a new preview, fill the holes of the plane on screen with its best
    checkpoint so far (:func:`~napari_inpaint.jobs.run_fit_preview`); the GUI thread shows the result as a
    layer of the image's shape at the image's place (:func:`show_fit_preview`).

    The trainer's own preview (a grid of training crops, for the Train widget) is no picture of the stack.
    The fit pauses while the preview fills one plane.
    """

    def __init__(self, request: FillRequest, plane: Optional[tuple[int, ...]]) -> None:
        self._request = request
        self._plane = plane
        self._last: Any = None
        self.cancel: Any = None  # the job's cancel event, once the job exists

    def _stopped(self) -> bool:
        stop_fit = self._request.stop_fit
        return any(event is not None and event.is_set() for event in (self.cancel, stop_fit))

    def __call__(self, event: ProgressEvent) -> Any:
        path = event.preview_path
        if event.phase != "train" or path is None or path == self._last or self._stopped():
            return None
        weights = fitted_checkpoint(self._request.fit_output) or event.checkpoint_path
        if weights is None:
            return None
        self._last = path
        return run_fit_preview(self._request, self._plane, weights, self._stopped)


def show_fit_preview(viewer: Any, image: Image, preview: Any) -> None:
    """Show the fit preview as the layer :data:`FIT_PREVIEW_LAYER`: the image's shape, scale, translation and
    contrast (its data swapped when the layer is there, else the layer made anew)."""
    if FIT_PREVIEW_LAYER in viewer.layers:
        layer = viewer.layers[FIT_PREVIEW_LAYER]
        if layer.data.shape == preview.shape and layer.ndim == image.ndim and layer.rgb == image.rgb:
            layer.data = preview
            layer.scale, layer.translate = image.scale, image.translate  # (an earlier fill's image may differ)
            layer.visible = True
            return
        viewer.layers.remove(layer)
    viewer.add_image(preview, name=FIT_PREVIEW_LAYER, rgb=image.rgb, scale=image.scale, translate=image.translate,
                     contrast_limits=image.contrast_limits, colormap=image.colormap.name, blending=image.blending)


class RunPanel(HoldsJobSlot, QObject):
    """Result (new layer / in place), Fill / Cancel / Undo, the progress bar and the status line.

    ``finished`` is emitted after each press of Fill with ``"done"``, ``"cancelled"`` or ``"error"``.
    """

    finished = Signal(str)

    def __init__(self, viewer: Any, layout: QVBoxLayout, form: QFormLayout, models: ModelPanel,
                 dock: QWidget) -> None:
        super().__init__(dock)  # deleted with the dock: a fill still running is then stopped
        self.dock = dock  # the questions' parent window
        self.viewer = viewer
        self.models = models
        self.slot = JobSlot(self, timeout=60)  # the dock is deleted when napari closes: its fill stops
        self.long_fill_seconds = LONG_FILL_SECONDS
        self.estimate_before_fill = True
        self.last_estimate: Any = None
        self.estimate_dialog: Optional[QMessageBox] = None
        self.estimate_fill_anyway: Any = None
        self.estimate_lower: Any = None
        self.estimate_cancel: Any = None
        self.long_fill_dialog: Optional[QMessageBox] = None
        self.long_fill_cancel: Any = None
        # (layer, data before the fill, the mask layer the fill hid or None); layers are held as napari hands
        # them to plugins (proxies), so they are compared by membership in the layer list, not by identity
        self._undo: list[tuple[Layer, Any, Optional[Layer]]] = []
        self._mask_layer: Optional[Layer] = None  # the mask layer of the fill running (hidden after in place)
        self._preview_plane: Optional[tuple[int, ...]] = None  # the plane the fit preview fills
        self._fill: Optional[FillRequest] = None  # the fill running (or asked about)
        self._fill_model: Optional[ModelInfo] = None
        self._started = 0.0
        self._outcome = ""
        self._clock: Optional[FillClock] = None
        self._asked_long = False
        self._fitting = False
        self._verdict: Optional[ProgressEvent] = None  # the fit's verdict (learn from this layer first), once known
        self._result_row(form)
        self._button_row(layout)
        self.line = ProgressStatus(layout)
        self.progress, self.status = self.line.progress, self.line.status

    def _result_row(self, form: QFormLayout) -> None:
        self.result_new = QRadioButton("new layer")
        self.result_inplace = QRadioButton("replace in place")
        self.result_new.setChecked(True)
        self.result_group = QButtonGroup(self)
        row = QHBoxLayout()
        for button in (self.result_new, self.result_inplace):
            self.result_group.addButton(button)
            row.addWidget(button)
        form.addRow("Result", row)

    def _button_row(self, layout: QVBoxLayout) -> None:
        buttons = QHBoxLayout()
        self.fill_button = QPushButton("Fill")
        self.cancel_button = QPushButton("Cancel")
        self.undo_button = QPushButton("Undo")
        for button in (self.fill_button, self.cancel_button, self.undo_button):
            button.setEnabled(False)  # Fill: until the models are loaded
            buttons.addWidget(button)
        self.undo_button.setToolTip("Restore the image data replaced by the last in-place fill")
        self.cancel_button.clicked.connect(self.cancel)
        self.undo_button.clicked.connect(self.undo)
        layout.addLayout(buttons)

    # -- before the fill: the estimate and its question ---------------------------------------------
    def start(self, image: Image, request: FillRequest, info: ModelInfo, mask_layer: Optional[Layer] = None,
              preview_plane: Optional[tuple[int, ...]] = None) -> Job:
        """Estimate the fill first (a model that runs a network), then fill; returns the job started.

        ``mask_layer`` (the layer the request's mask comes from) is hidden after an in-place fill;
        ``preview_plane`` (stack indices; None for a 2D image) is the plane the fit preview fills.
        """
        self.last_estimate = None
        self._fill, self._fill_model, self._mask_layer = request, info, mask_layer
        self._preview_plane = preview_plane
        close_box(self.long_fill_dialog)
        self.long_fill_dialog = None
        if self.estimate_before_fill and request.fit_seconds is None and measures(info):
            return self._start_estimate(image, info)
        return self._start_fill(image)

    def _start_estimate(self, image: Image, info: ModelInfo) -> Job:
        """Measure how long the fill will take, in a worker; :meth:`_on_estimate` goes on from there."""
        request = self._fill
        device = "" if request.device == "auto" else f" on {request.device}"
        self._outcome = ""
        job = Job(
            lambda _progress, cancel: run_estimate(request, cancel),
            JobCallbacks(on_done=lambda estimate: self._on_estimate(image, estimate),
                         on_cancelled=self._on_estimate_cancelled,
                         on_error=lambda error: self._on_estimate_error(image, error)),
            name=f"estimate inpaint {image.name}",
        )
        self._set_running(True)
        self.line.busy("estimating")
        self.status.setText(f"Estimating how long {info.name}{device} takes: timing one network call…")
        return self.slot.start(job)

    def _on_estimate(self, image: Image, estimate: Any) -> None:
        self.last_estimate = estimate
        if self.job is not None and self.job.cancel_event.is_set():  # Cancel was pressed as it ended
            self._on_estimate_cancelled()
        elif image not in self.viewer.layers:
            self._finish_without_fill("cancelled", f"The layer {image.name!r} was removed; nothing was filled.")
        elif estimate is None or estimate.seconds is None or estimate.seconds <= self.long_fill_seconds:
            self._start_fill(image, estimate)
        else:
            self._ask_before_fill(image, estimate)

    def _on_estimate_cancelled(self) -> None:
        show_info("Inpaint: fill cancelled")
        self._finish_without_fill("cancelled", NOT_STARTED)

    def _on_estimate_error(self, image: Image, error: BaseException) -> None:
        if isinstance(error, InpaintError):  # the fill would fail the same way: say so now
            self._on_error(error)
            self._on_finished()
            return
        show_warning(f"Inpaint: the fill's duration could not be estimated ({type(error).__name__}: {error}); "
                     "filling anyway")
        self._start_fill(image)

    def _ask_before_fill(self, image: Image, estimate: Any) -> None:
        """Ask, before a long fill starts, whether to fill anyway, with fewer steps, or not at all (non-modal)."""
        box = question_box(self.dock, QMessageBox.Icon.Question, estimate_message(estimate, self.long_fill_seconds))
        self.estimate_fill_anyway = box.addButton("Fill anyway", QMessageBox.ButtonRole.AcceptRole)
        lower = estimate.steps_within(self.long_fill_seconds)
        self.estimate_lower = None
        if lower is not None:
            self.estimate_lower = box.addButton(lower_steps_label(estimate, lower), QMessageBox.ButtonRole.ActionRole)
        self.estimate_cancel = box.addButton("Cancel", QMessageBox.ButtonRole.RejectRole)
        box.setEscapeButton(self.estimate_cancel)
        box.buttonClicked.connect(lambda button: self._on_estimate_answer(button, image, estimate, lower))
        self.estimate_dialog = box
        self.line.idle(full=False, bar_format="waiting")
        self.status.setText(f"Estimate: {estimate.describe()}. Fill anyway, lower the steps, or cancel?")
        self.cancel_button.setEnabled(True)
        box.show()

    def _on_estimate_answer(self, button: Any, image: Image, estimate: Any, lower: Optional[int]) -> None:
        self._close_estimate_dialog()
        if button is self.estimate_fill_anyway:
            self._start_fill(image, estimate, asked=True)
        elif button is self.estimate_lower and self.estimate_lower is not None and lower is not None:
            name = estimate.steps_option
            if name in self.models.options.names():
                self.models.options.set_value(name, lower)  # the form says what the fill uses
            self._fill.options = {**self._fill.options, name: lower}
            self._start_fill(image, with_steps(estimate, lower), asked=True)
        else:
            self._finish_without_fill("cancelled", NOT_STARTED)

    def _close_estimate_dialog(self) -> None:
        close_box(self.estimate_dialog)
        self.estimate_dialog = None

    def _finish_without_fill(self, outcome: str, message: str) -> None:
        self._outcome = outcome
        self.status.setText(message)
        self._on_finished()

    # -- the fill -------------------------------------------------------------------------------------
    def _start_fill(self, image: Image, estimate: Any = None, asked: bool = False) -> Job:
        """Start the fill itself in a worker thread (``asked``: the user already said to go on with a long one)."""
        request, in_place = self._fill, self.result_inplace.isChecked()
        self._started, self._clock = time.monotonic(), FillClock()
        close_box(self.long_fill_dialog)
        self.long_fill_dialog = None
        self._asked_long, self._fitting, self._outcome = asked, request.fit_seconds is not None, ""
        self._verdict = None
        previewer = FitPreviewer(request, self._preview_plane) if self._fitting else None
        job = Job(
            lambda progress, cancel: run_fill(request, progress, cancel),
            JobCallbacks(on_progress=lambda event, preview: self._on_progress(image, event, preview),
                         on_done=lambda result: self._on_done(image, result, in_place, request.model),
                         on_cancelled=self._on_cancelled, on_error=self._on_error, on_finished=self._on_finished),
            extra=previewer,
            name=f"inpaint {image.name}",
        )
        if previewer is not None:
            previewer.cancel = job.cancel_event
        self._set_running(True)
        self.line.busy()  # busy until the first event
        if self._fitting:
            self.status.setText(f"Learning from {image.name!r} ({request.model}, {request.fit_seconds:g} s); "
                                f"the fit is saved to {home_relative(request.fit_output)}…")
        else:
            expected = "" if estimate is None or estimate.seconds is None else (
                f" (estimate: about {format_duration(estimate.seconds)})")
            self.status.setText(f"Filling {image.name!r} with {request.model}…{expected}")
        return self.slot.start(job)

    def cancel(self) -> None:
        """Ask the running fill (or its estimate) to stop; answers an open "long fill" question with Cancel.

        During a "learn first" fit, the first Cancel ends the fit (the fill goes on with its best checkpoint).
        """
        if self.estimate_dialog is not None:
            self._close_estimate_dialog()
            self._finish_without_fill("cancelled", NOT_STARTED)
            return
        if not self.running:
            return
        stop_fit = self._fill.stop_fit if self._fill is not None else None
        if self._fitting and stop_fit is not None and not stop_fit.is_set():
            stop_fit.set()
            self.status.setText("Stopping the fit; filling with its best checkpoint (Cancel again to stop)…")
            return
        self.job.cancel()
        self.status.setText("Cancelling…")

    def _on_progress(self, image: Image, event: ProgressEvent, preview: Any) -> None:
        if event.phase == "train":
            self._on_fit_progress(event)
            if preview is not None and image in self.viewer.layers:
                show_fit_preview(self.viewer, image, preview)
            return
        if self._fitting:  # the fit is over: the fill's own progress from here on
            self._fitting = False
            self._clock = FillClock()
            self._add_fitted_weights()
        remaining = self._clock.update(event)
        left = f" · {format_duration(remaining)} left" if remaining is not None and remaining >= 1 else ""
        self.line.steps(event.step, event.total, f"{event.phase} %v / %m{left}")
        if event.message:
            self.status.setText(f"{event.phase}: {event.message}")
        if (remaining is not None and remaining > self.long_fill_seconds and not self._asked_long
                and not self.job.cancel_event.is_set()):
            self._asked_long = True
            self._ask_about_long_fill(remaining)

    def _on_fit_progress(self, event: ProgressEvent) -> None:
        """A progress event of the fit: time spent of the budget, the loss, the validation PSNR."""
        stop_fit = self._fill.stop_fit
        done, text = fit_progress(event, stopping=stop_fit is not None and stop_fit.is_set())
        if fit_verdict_text(event) is not None:
            self._verdict = event
        self.line.steps(done, 1000, "learning %p%")
        if text is not None:
            self.status.setText(text)

    def long_fill_message(self, remaining: float) -> str:
        """What the "long fill" question says: the measured estimate and how to go faster."""
        steps = next((name for name in self.models.options.names() if "steps" in name), None)
        return long_fill_message(
            remaining, self._fill_model, self._fill.device, self._clock is None or self._clock.regions_known,
            (steps, self.models.options.value(steps)) if steps else None,
        )

    def _ask_about_long_fill(self, remaining: float) -> None:
        """Ask (without stopping the fill meanwhile) whether to go on with a long fill."""
        box = question_box(self.dock, QMessageBox.Icon.Information, self.long_fill_message(remaining))
        box.addButton("Keep filling", QMessageBox.ButtonRole.AcceptRole)
        self.long_fill_cancel = box.addButton("Cancel fill", QMessageBox.ButtonRole.RejectRole)
        box.buttonClicked.connect(lambda button: self.cancel() if button is self.long_fill_cancel else None)
        self.long_fill_dialog = box
        self.status.setText(f"About {format_duration(remaining)} left.")
        box.show()

    def _add_fitted_weights(self) -> None:
        """Offer the fit's checkpoint in the Weights list (named after the layer) and select it."""
        output = self._fill.fit_output
        weights = fitted_checkpoint(output) if output is not None else None
        if weights is not None:
            self.models.weights_picker.set_weights(weights)  # the store lists it as "<layer name>/best"

    # -- the outcome ----------------------------------------------------------------------------------
    def _on_done(self, image: Image, result: Any, in_place: bool, model: str) -> None:
        seconds = time.monotonic() - self._started
        model = model_used(model, self._verdict)
        self._outcome = "done"
        self._add_fitted_weights()
        if image not in self.viewer.layers:
            show_warning(f"Inpaint: the layer {image.name!r} was removed during the fill; the result is dropped")
            return
        if FIT_PREVIEW_LAYER in self.viewer.layers:  # the preview of one plane would cover the result
            self.viewer.layers[FIT_PREVIEW_LAYER].visible = False
        if in_place:
            self._replace_in_place(image, result, f"with {model} in {seconds:.1f} s")
            return
        _data, meta, layer_type = image.as_layer_data_tuple()
        meta = dict(meta)
        meta["name"] = f"{image.name} inpainted"
        meta["metadata"] = {**dict(meta.get("metadata") or {}), "inpaint_model": model}
        self.viewer.add_layer(Layer.create(result, meta, layer_type))
        self.status.setText(self._outcome_text(f"Filled {image.name!r} with {model} in {seconds:.1f} s."))

    def _replace_in_place(self, image: Image, result: Any, how: str) -> None:
        """Put the result in the image layer and hide the mask layer over it (both undone by :meth:`undo`)."""
        mask = self._mask_layer
        hidden = mask if (mask is not None and mask in self.viewer.layers and mask.visible
                          and mask.name != image.name) else None  # (names are unique in the layer list)
        self._undo.append((image, image.data, hidden))
        del self._undo[:-UNDO_DEPTH]
        image.data = result
        if hidden is not None:  # a mask over the filled pixels hides the result
            hidden.visible = False
        self.undo_button.setEnabled(True)
        shown = f"; mask {hidden.name!r} hidden" if hidden is not None else ""
        self.status.setText(self._outcome_text(f"Filled {image.name!r} in place {how}{shown} (Undo restores it)."))

    def _outcome_text(self, text: str) -> str:
        """The status line after a fill: ``text``, the verdict of the fit before it and where the fit was saved."""
        output = self._fill.fit_output if self._fill is not None else None
        saved = f" Fit saved to {home_relative(output)}." if output is not None else ""
        return with_verdict(text, self._verdict) + saved

    def _on_cancelled(self) -> None:
        self._outcome = "cancelled"
        self.status.setText("Fill cancelled; nothing was changed.")
        show_info("Inpaint: fill cancelled")

    def _on_error(self, error: BaseException) -> None:
        self._outcome = "error"
        message = error_text(error)
        self.status.setText(f"Fill failed: {message}")
        show_error(f"Inpaint failed: {message}")

    def _on_finished(self) -> None:
        close_box(self.long_fill_dialog)
        self.long_fill_dialog = None
        self._set_running(False)
        self.line.idle(full=True)
        self.finished.emit(self._outcome)

    def _set_running(self, running: bool) -> None:
        self.fill_button.setEnabled(not running)
        self.cancel_button.setEnabled(running)

    def undo(self) -> None:
        """Put back the image data replaced by the last in-place fill, and show the mask layer it hid."""
        while self._undo:
            layer, data, hidden = self._undo.pop()
            if layer in self.viewer.layers:
                layer.data = data
                if hidden is not None and hidden in self.viewer.layers:
                    hidden.visible = True
                self.status.setText(f"Restored {layer.name!r}.")
                break
        self.undo_button.setEnabled(bool(self._undo))
