"""The weights of the chosen model, in the Inpaint dock: a list of known checkpoints and what they fix.

:class:`WeightsPicker` lists the chosen model's checkpoints
(:data:`napari_inpaint.checkpoints.store`: shipped defaults, this session's
training runs and fits, browsed files; scanned in a worker thread) plus
"Browse…", and shows on one read-only line what the chosen weights fix (read
from the checkpoint's sidecar, in a worker thread). A model without weights
shows "not needed".
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Optional, Union

from qtpy.QtCore import QObject
from qtpy.QtWidgets import QFileDialog, QFormLayout, QLabel

from inpaint_models.contract.datatypes import ModelInfo
from napari_inpaint._threading import call_in_background
from napari_inpaint._widgets import RefreshingComboBox
from napari_inpaint.checkpoints import store, weights_summary

BROWSE = "Browse…"


class WeightsPicker(QObject):
    """The Weights row and the line under it; ``model_info()`` says which model the weights are for."""

    def __init__(self, form: QFormLayout, model_info: Callable[[], Optional[ModelInfo]], owner: QObject) -> None:
        super().__init__(owner)  # deleted with its owner (then it stops listening to the store)
        self._model_info = model_info
        self._list_generation = 0
        self._summary_generation = 0
        self._wanted: Optional[str] = None  # a file asked for, selected once the list has it
        self.weights_combo = RefreshingComboBox()
        self.weights_combo.setToolTip("Weights of a trainable model: shipped defaults, your training runs, or a file")
        form.addRow("Weights", self.weights_combo)
        self.weights_info = QLabel()
        self.weights_info.setWordWrap(True)
        self.weights_info.setStyleSheet("color: #a0a4aa")
        self.weights_info.setToolTip("Fixed by the chosen weights (read from the checkpoint); train to change them")
        form.addRow(self.weights_info)
        self.weights_combo.about_to_show.connect(self.refresh)
        self.weights_combo.activated.connect(self._on_activated)
        self.weights_combo.currentIndexChanged.connect(self._update_info)
        store.changed.connect(self.refresh)
        refresh = self.refresh
        self.destroyed.connect(lambda *_: store.changed.disconnect(refresh))

    def refresh(self, *_args) -> None:
        """List the chosen model's known checkpoints (plus Browse…), scanning the folders in a worker thread."""
        info = self._model_info()
        self._list_generation += 1
        if info is None or not info.trainable:
            self._fill(info, [])
            return
        generation = self._list_generation
        if self.weights_combo.count() == 0 or self.weights_combo.itemData(0) is None:
            self.weights_combo.blockSignals(True)
            self.weights_combo.clear()
            self.weights_combo.addItem("looking for weights…", None)
            self.weights_combo.blockSignals(False)
        call_in_background(
            lambda: store.for_model(info),
            lambda checkpoints: self._on_listed(generation, info, checkpoints),
            lambda error: self._on_listed(generation, info, []),
            name="list checkpoints",
        )

    def _on_listed(self, generation: int, info: ModelInfo, checkpoints: list) -> None:
        if generation == self._list_generation:
            self._fill(info, checkpoints)

    def _fill(self, info: Optional[ModelInfo], checkpoints: list) -> None:
        combo = self.weights_combo
        current = self._wanted or combo.currentData()
        combo.blockSignals(True)
        combo.clear()
        combo.setEnabled(info is not None and info.trainable)
        if not combo.isEnabled():
            combo.addItem("not needed", None)
        else:
            if not checkpoints:
                combo.addItem("none yet: train one, or Browse…", None)
            for checkpoint in checkpoints:
                combo.addItem(checkpoint.label, str(checkpoint.path))
                combo.setItemData(combo.count() - 1, str(checkpoint.path), 3)  # 3: the tooltip role
            combo.addItem(BROWSE, BROWSE)
            index = combo.findData(current) if current else -1
            combo.setCurrentIndex(max(index, 0))
            if index >= 0:
                self._wanted = None
        combo.blockSignals(False)
        self._update_info()

    def _update_info(self, *_args) -> None:
        """Show what the chosen weights fix (read from the sidecar in a worker thread)."""
        info = self._model_info()
        self._summary_generation += 1
        generation = self._summary_generation
        if info is None or not info.trainable:
            self.weights_info.setText("")
            self.weights_info.setVisible(False)
            return
        weights = self.weights()
        if weights is None and self.weights_combo.currentData() is None and info.default_weights is None:
            self._show_info(generation, weights_summary(None, info))
            return
        call_in_background(
            lambda: weights_summary(weights, info),
            lambda text: self._show_info(generation, text),
            name="read weights sidecar",
        )

    def _show_info(self, generation: int, text: str) -> None:
        if generation == self._summary_generation:
            self.weights_info.setText(text)
            self.weights_info.setVisible(bool(text))

    def weights_paths(self) -> list[str]:
        """The checkpoint paths listed for the chosen model."""
        items = [self.weights_combo.itemData(i) for i in range(self.weights_combo.count())]
        return [item for item in items if item and item != BROWSE]

    def set_weights(self, path: Union[str, Path]) -> None:
        """Choose a weights file (remembering it); it is selected once the list is refreshed."""
        path = Path(path).expanduser().resolve()
        self._wanted = str(path)
        store.add_file(path)  # emits changed: the list is refreshed

    def _on_activated(self, index: int) -> None:
        if self.weights_combo.itemData(index) != BROWSE:
            return
        chosen, _ = QFileDialog.getOpenFileName(self.weights_combo, "Choose weights", "",
                                                "Weights (*.safetensors);;All files (*)")
        if chosen:
            self.set_weights(chosen)
        else:
            self.weights_combo.setCurrentIndex(0)

    def weights(self) -> Optional[Path]:
        """The chosen weights file, or None (the model's default)."""
        data = self.weights_combo.currentData()
        return Path(data) if data and data != BROWSE else None
