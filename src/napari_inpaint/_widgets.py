"""Small Qt building blocks shared by the Inpaint and Train widgets.

``ModelComboBox`` (models by title, with a tooltip each; "loading models…"
while the registry is built), ``LayerComboBox`` (layers of given types, kept in sync with the viewer),
``RefreshingComboBox`` (asks for fresh items whenever it opens),
``PathEdit`` (a path with a Browse… button) and ``LossPlot`` (loss curves
drawn with QPainter, no plotting library needed).
"""

from __future__ import annotations

import math
from typing import Iterable, Sequence

from qtpy.QtCore import QPointF, Qt, Signal
from qtpy.QtGui import QColor, QPainter, QPen, QPolygonF
from qtpy.QtWidgets import (
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLineEdit,
    QPushButton,
    QSizePolicy,
    QWidget,
)

from inpaint_models.contract.requirements import install_hint, missing_requirements
from inpaint_models.io.sidecar import SMALL_WEIGHTS_NOTE, weights_note  # one wording, the backend's


class RefreshingComboBox(QComboBox):
    """A combo box that emits ``about_to_show`` before its list opens (to refresh the items)."""

    about_to_show = Signal()

    def showPopup(self) -> None:
        self.about_to_show.emit()
        super().showPopup()



LOADING_MODELS = "loading models…"


def ships_small_weights(info) -> bool:
    """Whether the model's shipped weights are the small CPU-trained ones (their sidecar says so)."""
    return weights_note(info) is not None


def model_tooltip(info) -> str:
    """The drop-down tooltip of one model: its description, what to expect of its shipped weights, and
    how to install what it needs when that is missing (a base install without PyTorch)."""
    lines = [info.description]
    if ships_small_weights(info):
        lines.append(f"({SMALL_WEIGHTS_NOTE})")
    missing = missing_requirements(info)
    if missing:
        lines.append(f"Needs {' and '.join(missing)}: {install_hint(missing)}")
    return "\n".join(lines)


def model_label(info) -> str:
    """A model as the drop-down lists it: its title, marked when a package it needs is not installed."""
    missing = missing_requirements(info)
    return f"{info.title} — needs {' and '.join(missing)}" if missing else info.title


_notified_failures: set[str] = set()


def notify_skipped_plugins(failed: dict[str, str]) -> list[str]:
    """Show each skipped plugin's message (``registry.failed``) as a napari warning, once per process.

    A message napari already showed (a warning relayed from the worker thread
    that built the registry) is not shown again. Returns the messages shown now.
    """
    from napari.utils.notifications import notification_manager, show_warning

    already = {str(notification.message) for notification in notification_manager.records}
    shown = []
    for message in failed.values():
        if message in _notified_failures:
            continue
        _notified_failures.add(message)
        if message not in already:
            show_warning(message)
            shown.append(message)
    return shown


class ModelComboBox(RefreshingComboBox):
    """A drop-down of models (title shown, name as item data, :func:`model_tooltip` as tooltip)."""

    #: characters of the title the closed box makes room for (the open list shows whole titles, which
    #: name the paper: up to ~56 characters, too wide for a dock)
    VISIBLE_CHARACTERS = 28

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.setMinimumContentsLength(self.VISIBLE_CHARACTERS)

    def show_loading(self) -> None:
        """One disabled "loading models…" item, while the registry is built in a worker thread."""
        self.blockSignals(True)
        self.clear()
        self.addItem(LOADING_MODELS, None)
        self.setEnabled(False)
        self.blockSignals(False)

    def set_models(self, infos: Iterable, fallback: str | None = None) -> None:
        """Replace the items with ``infos``, keeping the current model (else ``fallback``, else the first).

        Emits no ``currentIndexChanged`` while refilling: callers update once afterwards.
        """
        current = self.currentData() or fallback
        self.blockSignals(True)
        self.clear()
        for info in infos:
            self.addItem(model_label(info), info.name)
            self.setItemData(self.count() - 1, model_tooltip(info), Qt.ItemDataRole.ToolTipRole)
        index = self.findData(current) if current else -1
        self.setCurrentIndex(index if index >= 0 else 0)
        self.setEnabled(True)
        self.blockSignals(False)

    def names(self) -> list[str]:
        """The model names listed, in order."""
        return [name for name in (self.itemData(i) for i in range(self.count())) if name]

    def select(self, name: str) -> bool:
        """Select model ``name``; False when it is not listed."""
        index = self.findData(name)
        if index >= 0:
            self.setCurrentIndex(index)
        return index >= 0


class LayerComboBox(QComboBox):
    """The viewer's layers of some types, by name, updated as layers come, go and get renamed."""

    def __init__(self, viewer, layer_types: Sequence[type], allow_none: bool = False, parent=None) -> None:
        super().__init__(parent)
        self._viewer = viewer
        self._types = tuple(layer_types)
        self._allow_none = allow_none
        self.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.setMinimumContentsLength(12)
        events = viewer.layers.events
        events.inserted.connect(self._on_inserted)
        events.removed.connect(self.refresh)
        events.moved.connect(self.refresh)
        for layer in viewer.layers:
            layer.events.name.connect(self.refresh)
        self.refresh()

    def _on_inserted(self, event) -> None:
        event.value.events.name.connect(self.refresh)
        self.refresh()

    def refresh(self, *_args) -> None:
        """Rebuild the list, keeping the current choice when it still exists."""
        current = self.currentText()
        self.blockSignals(True)
        self.clear()
        if self._allow_none:
            self.addItem("")
        for layer in reversed(self._viewer.layers):  # top of the layer list first, as napari shows it
            if isinstance(layer, self._types):
                self.addItem(layer.name)
        index = self.findText(current)
        self.setCurrentIndex(index if index >= 0 else (0 if self.count() else -1))
        self.blockSignals(False)
        if self.currentText() != current:
            self.currentIndexChanged.emit(self.currentIndex())

    def value(self):
        """The chosen layer, or None."""
        name = self.currentText()
        if name and name in self._viewer.layers:
            layer = self._viewer.layers[name]
            if isinstance(layer, self._types):
                return layer
        return None

    def set_value(self, layer) -> None:
        """Choose ``layer`` (by name)."""
        self.refresh()
        index = self.findText(layer.name)
        if index >= 0:
            self.setCurrentIndex(index)


class PathEdit(QWidget):
    """A path field with a Browse… button (a folder, or a file matching ``file_filter``)."""

    changed = Signal(str)

    def __init__(
        self, folder: bool, file_filter: str = "", placeholder: str = "", save: bool = False, parent=None
    ) -> None:
        super().__init__(parent)
        self._folder = folder
        self._filter = file_filter
        self._save = save
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.edit = QLineEdit()
        self.edit.setPlaceholderText(placeholder)
        self.edit.editingFinished.connect(lambda: self.changed.emit(self.text()))
        self.button = QPushButton("Browse…")
        self.button.clicked.connect(self.browse)
        layout.addWidget(self.edit, 1)
        layout.addWidget(self.button)

    def text(self) -> str:
        """The path as typed (stripped)."""
        return self.edit.text().strip()

    def set_text(self, text: str) -> None:
        """Set the path and emit ``changed``."""
        self.edit.setText(text)
        self.changed.emit(text)

    def browse(self) -> None:
        """Ask for a path with a file dialog."""
        if self._folder:
            chosen = QFileDialog.getExistingDirectory(self, "Choose a folder", self.text())
        elif self._save:
            chosen, _ = QFileDialog.getSaveFileName(self, "Choose a file", self.text(), self._filter)
        else:
            chosen, _ = QFileDialog.getOpenFileName(self, "Choose a file", self.text(), self._filter)
        if chosen:
            self.set_text(chosen)


_PALETTE = ("#f5a623", "#4a90e2", "#7ed321", "#d0021b", "#bd10e0", "#50e3c2", "#f8e71c")


class LossPlot(QWidget):
    """Loss curves against the training step, on a log scale, drawn with QPainter."""

    def __init__(self, parent=None, max_points: int = 2000) -> None:
        super().__init__(parent)
        self._series: dict[str, list[tuple[float, float]]] = {}
        self._max_points = max_points
        self.setMinimumHeight(120)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)

    def clear(self) -> None:
        """Forget every point."""
        self._series.clear()
        self.update()

    def add(self, step: float, losses: dict[str, float]) -> None:
        """Add one point per loss (non-finite or non-positive values are skipped: log scale)."""
        for name, value in losses.items():
            if value is None or not math.isfinite(value) or value <= 0:
                continue
            points = self._series.setdefault(name, [])
            points.append((float(step), float(value)))
            if len(points) > self._max_points:  # keep every other point of the older half
                half = len(points) // 2
                points[:half] = points[:half:2]
        self.update()

    def series(self) -> dict[str, list[tuple[float, float]]]:
        """The points drawn, per loss name."""
        return {name: list(points) for name, points in self._series.items()}

    def paintEvent(self, event) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        rect = self.rect().adjusted(36, 6, -6, -18)
        painter.fillRect(self.rect(), QColor("#262930"))
        painter.setPen(QPen(QColor("#5a626c")))
        painter.drawRect(rect)
        points = [p for series in self._series.values() for p in series]
        if not points or rect.width() < 10 or rect.height() < 10:
            painter.setPen(QColor("#a0a4aa"))
            painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, "losses appear here during training")
            painter.end()
            return
        x_min = min(p[0] for p in points)
        x_max = max(max(p[0] for p in points), x_min + 1)
        y_min = math.log10(min(p[1] for p in points))
        y_max = math.log10(max(p[1] for p in points))
        if y_max - y_min < 1e-6:
            y_min, y_max = y_min - 0.5, y_max + 0.5

        def to_screen(x: float, y: float) -> QPointF:
            fx = (x - x_min) / (x_max - x_min)
            fy = (math.log10(y) - y_min) / (y_max - y_min)
            return QPointF(rect.left() + fx * rect.width(), rect.bottom() - fy * rect.height())

        painter.setPen(QColor("#a0a4aa"))
        painter.drawText(2, rect.top() + 10, f"{10 ** y_max:.3g}")
        painter.drawText(2, rect.bottom(), f"{10 ** y_min:.3g}")
        painter.drawText(rect.left(), self.height() - 4, f"step {int(x_min)}")
        painter.drawText(rect.right() - 80, self.height() - 4, f"step {int(x_max)}")
        legend_x = rect.left() + 6
        for index, (name, series) in enumerate(sorted(self._series.items())):
            color = QColor(_PALETTE[index % len(_PALETTE)])
            painter.setPen(QPen(color, 1.5))
            painter.drawPolyline(QPolygonF([to_screen(x, y) for x, y in series]))
            painter.drawText(legend_x, rect.top() + 14, name)
            legend_x += painter.fontMetrics().horizontalAdvance(name) + 12
        painter.end()

