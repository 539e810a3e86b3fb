"""The one module that runs work in threads.

Nothing slow runs on the GUI thread: building the model registry (which
imports every model plugin), scanning checkpoint folders, reading a
checkpoint's sidecar, rasterising a Shapes mask and the fill itself all run
here. :func:`call_in_background` runs a plain ``function()`` and hands its
result to the GUI thread; :func:`load_models` builds the process-wide registry
that way.

A :class:`Job` runs a plain function ``function(progress, cancel)`` (see
:mod:`napari_inpaint.jobs`) in a napari thread worker and calls back on the GUI
thread (its :class:`JobCallbacks`): ``on_progress(event, extra)`` at most every ``interval`` seconds
(events bringing a new preview or checkpoint, and the last step, always get through), then exactly one
of ``on_done(result)``, ``on_cancelled()`` or ``on_error(exception)``.

The function never raises into Qt: every exception is caught in the worker and
handed to ``on_error``, so a backend error becomes a notification, not a crash;
a warning raised in the worker becomes a napari notification too.
Cancelling sets a :class:`threading.Event` the backend polls between steps.
napari asks every worker to quit when its window closes; a job's worker then
sets that event too, and :meth:`Job.stop` waits for the function to return
(a training run writes its checkpoint first).
"""

from __future__ import annotations

import importlib
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Optional, Sequence

from napari.qt.threading import FunctionWorker, create_worker
from qtpy.QtCore import QObject, Signal

from inpaint_models.contract import registry as plugins
from inpaint_models.contract.datatypes import ProgressEvent
from inpaint_models.contract.errors import Cancelled
from inpaint_models.contract.requirements import missing_requirements

#: ``extra(event)`` runs in the worker thread for events worth loading
#: something for (a preview image); its result goes to ``on_progress``.
ExtraLoader = Callable[[ProgressEvent], Any]


class _Relay(QObject):
    """Carries events from the worker thread to the GUI thread (queued signals)."""

    progress = Signal(object, object)
    outcome = Signal(str, object)


class _JobWorker(FunctionWorker):
    """A function worker whose ``quit`` (called by napari when its window closes) cancels the job."""

    cancel_event: Optional[threading.Event] = None

    def quit(self) -> None:
        if self.cancel_event is not None:
            self.cancel_event.set()
        # no super().quit(): it would suppress the final signals the job relies on


@dataclass
class JobCallbacks:
    """What a :class:`Job` calls on the GUI thread (each optional): ``on_progress(event, extra)``, then one of
    ``on_done(result)``, ``on_cancelled()``, ``on_error(exception)``, and last ``on_finished()``."""

    on_progress: Optional[Callable[[ProgressEvent, Any], None]] = None
    on_done: Optional[Callable[[Any], None]] = None
    on_cancelled: Optional[Callable[[], None]] = None
    on_error: Optional[Callable[[BaseException], None]] = None
    on_finished: Optional[Callable[[], None]] = None

    def handler(self, kind: str) -> Optional[Callable]:
        """The callback for ``"progress"``, ``"done"``, ``"cancelled"``, ``"error"`` or ``"finished"``."""
        return getattr(self, f"on_{kind}")


class Job:
    """One background run of ``function(progress, cancel)``; see the module docstring."""

    def __init__(
        self,
        function: Callable[[Callable[[ProgressEvent], None], threading.Event], Any],
        callbacks: JobCallbacks,
        *,
        extra: Optional[ExtraLoader] = None,
        interval: float = 0.05,
        name: str = "napari-inpaint job",
    ) -> None:
        self.cancel_event = threading.Event()
        self._finished_event = threading.Event()
        self._function = function
        self._extra = extra
        self._interval = interval
        self._callbacks = callbacks
        self._relay = _Relay()
        self._relay.progress.connect(self._deliver_progress)
        self._relay.outcome.connect(self._deliver_outcome)
        self._last_emit = 0.0
        self._last_paths: tuple = (None, None)
        self.name = name
        self.worker = create_worker(self._run, _worker_class=_JobWorker, _start_thread=False)
        self.worker.cancel_event = self.cancel_event
        self.worker.warned.connect(_show_warning)

    # -- control (GUI thread) ----------------------------------------------------
    def start(self) -> "Job":
        """Start the worker thread; returns self."""
        self.worker.start()
        return self

    def cancel(self) -> None:
        """Ask the function to stop at its next progress report."""
        self.cancel_event.set()

    @property
    def running(self) -> bool:
        """Whether the function has not returned yet."""
        return not self._finished_event.is_set()

    def wait(self, timeout: Optional[float] = None) -> bool:
        """Block until the function has returned; False if ``timeout`` seconds passed first."""
        return self._finished_event.wait(timeout)

    def stop(self, timeout: Optional[float] = 60.0) -> bool:
        """Cancel and wait for the function to return (used when a window closes)."""
        self.cancel()
        return self.wait(timeout)

    def disconnect(self) -> None:
        """Drop every callback (their owner is going away); the run itself continues."""
        self._callbacks = JobCallbacks()

    # -- worker thread ---------------------------------------------------------------
    def _report(self, event: ProgressEvent) -> None:
        now = time.monotonic()
        paths = (event.preview_path, event.checkpoint_path)
        important = paths != self._last_paths or event.step >= event.total  # a new preview/checkpoint, or the end
        if important or now - self._last_emit >= self._interval:
            self._last_emit = now
            self._last_paths = paths
            extra = None
            if self._extra is not None:
                try:
                    extra = self._extra(event)
                except Exception:  # noqa: BLE001 - a preview that cannot be read is no reason to stop a run
                    extra = None
            self._relay.progress.emit(event, extra)

    def _run(self) -> None:
        try:
            outcome = ("done", self._function(self._report, self.cancel_event))
        except Cancelled:
            outcome = ("cancelled", None)
        except BaseException as error:  # noqa: BLE001 - shown to the user; the GUI must learn the run ended
            outcome = ("error", error)
        self._function = None  # drop the request (image data) as soon as the run ends
        # mark the job finished *before* the GUI thread hears of it, so handlers see running == False
        self._finished_event.set()
        self._relay.outcome.emit(*outcome)

    # -- GUI thread --------------------------------------------------------------------
    def _deliver_progress(self, event: ProgressEvent, extra: Any) -> None:
        handler = self._callbacks.on_progress
        if handler is not None:
            _call(handler, event, extra)

    def _deliver_outcome(self, kind: str, value: Any) -> None:
        handler = self._callbacks.handler(kind)
        if handler is not None:
            if kind == "cancelled":
                _call(handler)
            else:
                _call(handler, value)
        finished = self._callbacks.on_finished
        if finished is not None:
            _call(finished)


def call_in_background(
    function: Callable[[], Any],
    on_done: Callable[[Any], None],
    on_error: Optional[Callable[[BaseException], None]] = None,
    name: str = "napari-inpaint background call",
) -> Job:
    """Run ``function()`` in a worker thread; ``on_done(result)`` or ``on_error(exception)`` on the GUI thread.

    Warnings raised meanwhile become napari notifications (see :class:`Job`).
    """
    callbacks = JobCallbacks(on_done=on_done, on_error=on_error)
    return Job(lambda _progress, _cancel: function(), callbacks, name=name).start()


def load_models(
    on_loaded: Callable[[Any], None],
    on_error: Optional[Callable[[BaseException], None]] = None,
    warm_up: Sequence[str] = (),
) -> Job:
    """Build (or get) the process-wide model registry in a worker thread and hand it to ``on_loaded``.

    Building it imports every model plugin; a plugin that fails is skipped with a
    ``PluginSkippedWarning``, shown as a napari notification. The modules
    named in ``warm_up`` are imported there too, so that the GUI thread later
    finds them loaded (importing scipy or OpenCV takes a good fraction of a second).
    """

    def load() -> Any:
        registry = plugins.default_registry()
        for module in warm_up:
            importlib.import_module(module)
        for info in registry.infos():  # which optional packages are installed: found here, remembered
            missing_requirements(info)
        return registry

    return call_in_background(load, on_loaded, on_error, name="load inpaint models")


def stop_jobs_when_destroyed(widget: QObject, jobs: dict, timeout: float) -> None:
    """When ``widget`` is deleted (napari closing), stop its running jobs and wait for them.

    ``jobs`` is a dict the widget keeps its current jobs in; only it (not the
    widget) is captured, so the connection keeps nothing else alive. A training
    run writes its checkpoint before :meth:`Job.stop` returns.
    """

    def stop(*_args: Any) -> None:
        for job in jobs.values():
            if job is not None and job.running:
                job.disconnect()  # its widget is gone: no callback may reach it
                job.stop(timeout)

    widget.destroyed.connect(stop)


def _show_warning(show_warning_args: tuple) -> None:
    """A warning raised in a worker thread (a skipped plugin, a plane-by-plane fill), as a napari notification.

    napari's notification manager shows each distinct warning once.
    """
    from napari.utils.notifications import notification_manager

    notification_manager.receive_warning(*show_warning_args)


def _call(handler: Callable, *args: Any) -> None:
    """Call a GUI callback, ignoring the case where its widget was deleted meanwhile."""
    try:
        handler(*args)
    except RuntimeError as error:
        if "deleted" not in str(error):
            raise
