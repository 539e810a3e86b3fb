"""The Train dock's data part: a folder of images, or an open image layer with its mask.

:class:`DataPanel` adds its rows to the dock's form and shows the folder row or
the layer rows (image, mask, volume axis) as the data choice says;
:meth:`DataPanel.layer_inputs` checks an "open layer" choice (shapes only, on the
GUI thread) and returns what :class:`~napari_inpaint.layer_training.LayerTrainRequest` needs.
"""

from __future__ import annotations

from typing import Any, Optional

from napari.layers import Image, Labels, Shapes
from qtpy.QtCore import QObject
from qtpy.QtWidgets import QComboBox, QFormLayout, QWidget

from napari_inpaint._widgets import LayerComboBox, PathEdit
from napari_inpaint.layer_training import layer_spatial_shape, mask_source

#: the data sources: a folder of images, or an open image layer and its mask
DATA_FOLDER = "folder"
DATA_LAYER = "open layer"
DATA_SOURCES = (DATA_FOLDER, DATA_LAYER)
#: the volume-axis choice meaning "plane by plane"
NO_VOLUME = "none (plane by plane)"


class DataPanel(QObject):
    """The Data, Data folder, Image layer, Mask layer and Volume axis rows of the Train dock's form."""

    def __init__(self, viewer: Any, form: QFormLayout, dock: QWidget) -> None:
        super().__init__(dock)  # deleted with the dock
        self._form = form
        self._volume_axes_for: Optional[tuple[int, ...]] = None  # the image shape the volume axes list is for
        self.data_source = QComboBox()
        self.data_source.addItems(DATA_SOURCES)
        self.data_source.setToolTip(
            "folder: a folder of training images. open layer: an image layer (2D or a stack) and its mask: "
            "the model learns to fill holes like the mask's from the layer's known pixels (as 'learn from "
            "this layer first' in the Inpaint widget); the mask's pixels are never trained on"
        )
        form.addRow("Data", self.data_source)
        self.data_folder = PathEdit(folder=True, placeholder="folder of training images")
        self.data_folder.setToolTip("Searched recursively for png / jpg / tif images")
        form.addRow("Data folder", self.data_folder)
        self.image_layer = LayerComboBox(viewer, [Image])
        self.image_layer.setToolTip("The image layer to learn from (2D, RGB or a stack); it is read, never changed")
        form.addRow("Image layer", self.image_layer)
        self.mask_layer = MaskLayerComboBox(viewer)
        self.mask_layer.setToolTip(
            "Its holes (Labels, Shapes or an Image; non-zero = unknown): never trained on, and the artificial "
            "holes the model learns from are drawn like them. Empty: no holes, boxes a quarter of the crop side"
        )
        form.addRow("Mask layer", self.mask_layer)
        self.volume_axis_combo = QComboBox()
        self.volume_axis_combo.setToolTip(
            "For a stack: the axis whose neighbouring planes are context for models that fill volumes; "
            "fill with the same choice ('use neighbouring planes' fills along the last stack axis)"
        )
        form.addRow("Volume axis", self.volume_axis_combo)
        self.data_source.currentIndexChanged.connect(self._on_source_changed)
        self.image_layer.currentIndexChanged.connect(self._update_volume_axes)
        self._on_source_changed()

    def mode(self) -> str:
        """``"folder"`` or ``"open layer"``: where the training data comes from."""
        return self.data_source.currentText()

    def set_mode(self, mode: str) -> None:
        """Choose the data source, ``"folder"`` or ``"open layer"``."""
        if mode not in DATA_SOURCES:
            raise ValueError(f"data source must be one of {DATA_SOURCES}, got {mode!r}")
        self.data_source.setCurrentText(mode)

    def _on_source_changed(self, *_args) -> None:
        layer = self.mode() == DATA_LAYER
        self._set_row_visible(self.data_folder, not layer)
        for widget in (self.image_layer, self.mask_layer, self.volume_axis_combo):
            self._set_row_visible(widget, layer)
        self._update_volume_axes()

    def _set_row_visible(self, field: QWidget, visible: bool) -> None:
        label = self._form.labelForField(field)
        if label is not None:
            label.setVisible(visible)
        field.setVisible(visible)

    def _update_volume_axes(self, *_args) -> None:
        """List the chosen image's stack axes (the last one by default), or none for a 2D image."""
        image = self.image_layer.value()
        shape = layer_spatial_shape(image) if image is not None and not image.multiscale else ()
        if self._volume_axes_for == shape:
            return
        self._volume_axes_for = shape
        combo = self.volume_axis_combo
        combo.blockSignals(True)
        combo.clear()
        combo.addItem(NO_VOLUME, None)
        for axis in range(len(shape) - 2):
            combo.addItem(f"axis {axis} ({shape[axis]} planes)", axis)
        combo.setCurrentIndex(combo.count() - 1)  # the innermost stack axis, as the Inpaint widget fills
        combo.blockSignals(False)
        combo.setEnabled(combo.count() > 1)

    def volume_axis(self) -> Optional[int]:
        """The chosen image axis whose neighbouring planes are context, or None (plane by plane, or 2D)."""
        self._update_volume_axes()
        data = self.volume_axis_combo.currentData()
        return int(data) if data is not None else None

    def layer_inputs(self, image_size: int) -> tuple[Image, Any]:
        """``(image layer, mask source)`` of an "open layer" run, checked against the crop size.

        Raises:
            ValueError: no image layer, a multiscale one, a mask layer that does not match
                the image, or an image size larger than the layer's planes.
        """
        image = self.image_layer.value()
        if image is None:
            raise ValueError("no image layer: open an image (or choose one) to train on, or choose 'folder' data")
        if image.multiscale:
            raise ValueError(f"{image.name!r} is a multiscale image; training needs a single-scale layer")
        shape = layer_spatial_shape(image)
        if len(shape) < 2:
            raise ValueError(f"{image.name!r} has shape {tuple(image.data.shape)}; an image needs (H, W) at least")
        mask_layer = self.mask_layer.value()
        if mask_layer is not None and mask_layer == image:
            raise ValueError(f"the mask layer cannot be the image {image.name!r} itself")
        mask = mask_source(mask_layer, shape)
        if image_size > min(shape[-2:]):
            raise ValueError(f"Image size {image_size} px is larger than the planes of {image.name!r} "
                             f"({shape[-2]} x {shape[-1]}); choose at most {min(shape[-2:])} px")
        return image, mask


class MaskLayerComboBox(LayerComboBox):
    """The mask layers (Labels, Shapes, Image) and an empty item for "no mask".

    The empty item is chosen only by the user: while it is not, the first
    Labels or Shapes layer (the top one, as napari lists them) is preselected,
    so an image opened with its mask trains with that mask.
    """

    def __init__(self, viewer, parent=None) -> None:
        super().__init__(viewer, [Labels, Shapes, Image], allow_none=True, parent=parent)
        self.activated.connect(self._on_activated)

    def _on_activated(self, _index: int) -> None:
        self._none_chosen = self.currentText() == ""

    def refresh(self, *_args) -> None:
        """Rebuild the list; with nothing chosen (and "no mask" not chosen by the user) pick a Labels / Shapes layer."""
        super().refresh()
        if self.currentText() or getattr(self, "_none_chosen", False):  # refresh runs in __init__ too
            return
        for layer in reversed(self._viewer.layers):
            if isinstance(layer, (Labels, Shapes)):
                self.setCurrentIndex(self.findText(layer.name))
                return

    def set_value(self, layer) -> None:
        """Choose ``layer``, or None for no mask."""
        self._none_chosen = layer is None
        if layer is None:
            self.refresh()
            self.setCurrentIndex(0)
        else:
            super().set_value(layer)
