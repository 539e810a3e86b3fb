"""Scaffolding shared by the Inpaint and Train docks, written once.

- :func:`load_registry`: the model registry for a dock, built off the GUI
  thread (the model list says "loading models…" meanwhile); skipped plugins
  become one notification each, a failure empties the list and is notified.
- :class:`JobSlot`: the dock's one background job, stopped (and waited for)
  when the dock is deleted as napari closes.
- :class:`ProgressStatus`: a progress bar and a status line under it.
- :class:`PreviewReader` and :func:`show_preview`: a training run's preview grids (the
  Train widget), read in the worker thread when a new one is written and shown as one image layer.
- :func:`error_text`: how an error from a run reads in the status line.
- :func:`short_dock_title`: the dock's tab reads "Inpaint", not "Inpaint (napari-inpaint)".
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Optional, Sequence

from napari.utils.notifications import show_error
from qtpy.QtCore import QObject, QTimer
from qtpy.QtWidgets import QBoxLayout, QDockWidget, QLabel, QProgressBar, QWidget

from inpaint_models.contract.datatypes import ProgressEvent
from inpaint_models.contract.errors import ClusterError, InpaintError, PluginError
from napari_inpaint._compat import avoid_triton_llvm_clash
from napari_inpaint._threading import Job, load_models, stop_jobs_when_destroyed
from napari_inpaint._widgets import ModelComboBox, notify_skipped_plugins
from napari_inpaint.jobs import read_preview

#: the compute devices a dock offers (``auto``: the GPU when there is one, else the CPU)
DEVICES = ("auto", "cpu", "cuda")


def load_registry(
    title: str,
    combo: ModelComboBox,
    on_loaded: Callable[[Any], None],
    message: QLabel,
    registry: Any = None,
    warm_up: Sequence[str] = (),
) -> None:
    """Hand a dock the model registry: ``registry`` at once when given, else built in a worker thread.

    Args:
        title: the dock's name, at the start of notifications.
        combo: the dock's model list: "loading models…" until the registry arrives; emptied on failure.
        on_loaded: called on the GUI thread with the registry, after its skipped plugins are notified.
        message: the label that says why the models could not be loaded.
        registry: a registry to use (tests, scripts); None builds the installed plugins' one.
        warm_up: modules the worker imports too (so the GUI thread later finds them loaded).
    """
    avoid_triton_llvm_clash()  # before the registry imports model plugins (some import torch)

    def loaded(models: Any) -> None:
        notify_skipped_plugins(models.failed)
        on_loaded(models)

    def failed(error: BaseException) -> None:
        combo.clear()
        message.setText(f"The models could not be loaded: {error}")
        show_error(f"{title}: the models could not be loaded: {type(error).__name__}: {error}")

    if registry is not None:
        loaded(registry)
    else:  # building the registry imports every model plugin: never on the GUI thread
        combo.show_loading()
        load_models(loaded, failed, warm_up=warm_up)


class JobSlot:
    """A dock's current background job; the job still running when ``owner`` (the dock, or a part of it)
    is deleted is stopped.

    A training run writes its checkpoint before the stop returns (``timeout`` seconds at most).
    """

    def __init__(self, owner: QObject, timeout: float) -> None:
        self._jobs: dict[str, Optional[Job]] = {"current": None}
        stop_jobs_when_destroyed(owner, self._jobs, timeout=timeout)

    @property
    def job(self) -> Optional[Job]:
        """The last job started (running or not), or None."""
        return self._jobs["current"]

    @property
    def running(self) -> bool:
        """Whether the last job started has not finished."""
        job = self.job
        return job is not None and job.running

    def start(self, job: Job) -> Job:
        """Start ``job`` as the dock's current one; returns it."""
        self._jobs["current"] = job
        return job.start()


class HoldsJobSlot:
    """``job`` and ``running`` of a dock part whose background jobs go through ``self.slot`` (a :class:`JobSlot`)."""

    slot: JobSlot

    @property
    def job(self) -> Optional[Job]:
        """The last job started (running or not), or None."""
        return self.slot.job

    @property
    def running(self) -> bool:
        """Whether the last job started has not finished."""
        return self.slot.running


class ProgressStatus:
    """A progress bar and a word-wrapped status line, added to a dock's layout."""

    def __init__(self, layout: QBoxLayout, text: str = "", bar_format: str = "%p%") -> None:
        self.progress = QProgressBar()
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress.setTextVisible(True)
        self.progress.setFormat(bar_format)
        layout.addWidget(self.progress)
        self.status = QLabel(text)
        self.status.setWordWrap(True)
        layout.addWidget(self.status)

    def busy(self, bar_format: str = "%p%") -> None:
        """An indeterminate bar (a run that has not reported yet)."""
        self.progress.setRange(0, 0)
        self.progress.setFormat(bar_format)

    def steps(self, step: int, total: int, bar_format: str) -> None:
        """``step`` of ``total``, with ``bar_format`` (Qt's ``%v``, ``%m``, ``%p``)."""
        self.progress.setRange(0, max(total, 1))
        self.progress.setValue(min(step, total))
        self.progress.setFormat(bar_format)

    def idle(self, full: bool, bar_format: str = "%p%") -> None:
        """A still bar: full (a run ended) or empty."""
        self.progress.setRange(0, 1)
        self.progress.setValue(1 if full else 0)
        self.progress.setFormat(bar_format)


class PreviewReader:
    """(worker thread) Reads a training run's preview grid when an event names a new one, so the GUI thread
    only swaps the layer's data (the Train widget; the Inpaint dock's fit preview is
    :class:`~napari_inpaint.inpaint_run.FitPreviewer`'s)."""

    def __init__(self) -> None:
        self._last: Optional[Path] = None

    def __call__(self, event: ProgressEvent) -> Any:
        path = event.preview_path
        if path is None or path == self._last:
            return None
        self._last = path
        return read_preview(path)


def show_preview(viewer: Any, name: str, preview: Any) -> None:
    """Show a preview grid as the image layer ``name``: its data swapped, or the layer made anew."""
    if name in viewer.layers:
        layer = viewer.layers[name]
        if layer.data.shape == preview.shape:
            layer.data = preview
            return
        viewer.layers.remove(layer)
    viewer.add_image(preview, name=name, rgb=preview.ndim == 3 and preview.shape[-1] in (3, 4))


def error_text(error: BaseException) -> str:
    """An error as the status line says it: the message of an error that says itself (an input error, a
    plugin's failure, a cluster's), else its type and message."""
    says_itself = (InpaintError, PluginError, ClusterError)
    return str(error) if isinstance(error, says_itself) else f"{type(error).__name__}: {error}"


def short_dock_title(widget: QWidget, title: str) -> None:
    """Title the dock napari puts ``widget`` in ``title`` (its tab and its title bar), once it is docked.

    napari names a plugin's dock "<widget> (<plugin>)" (``napari.plugins.menu_item_template``), which a
    tab cuts to "Inpaint (napari-inp…"; the manifest cannot shorten it. Only the shown title changes: the
    dock keeps its name, by which napari finds it (the Plugins menu toggles it, ``add_plugin_dock_widget``).
    Called when the widget is built (napari docks it right after, hence the zero-delay timer) and shown.
    """

    def retitle() -> None:
        dock = widget.parent()
        while dock is not None and not isinstance(dock, QDockWidget):
            dock = dock.parent()
        if dock is None or dock.windowTitle() == title:
            return
        dock.setWindowTitle(title)
        _title_bar_text(dock, title)
        if not dock.property("napari_inpaint_titled"):  # napari rebuilds its title bar when the dock floats
            dock.setProperty("napari_inpaint_titled", True)
            dock.topLevelChanged.connect(lambda *_args: _title_bar_text(dock, title))
            dock.dockLocationChanged.connect(lambda *_args: _title_bar_text(dock, title))

    timer = QTimer(widget)  # deleted with the widget: never fires on a dead one
    timer.setSingleShot(True)
    timer.timeout.connect(retitle)
    timer.timeout.connect(timer.deleteLater)
    timer.start(0)
    retitle()


def _title_bar_text(dock: QDockWidget, title: str) -> None:
    """The text of napari's own title bar of ``dock`` (a label named ``title`` in it), when it has one."""
    bar = getattr(dock, "title", None)
    label = getattr(bar, "title", None)
    if isinstance(label, QLabel):
        label.setText(title)
