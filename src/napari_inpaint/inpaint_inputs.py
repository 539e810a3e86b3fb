"""The Inpaint dock's first part: the image (and which of its planes) and the mask.

:class:`ImageMaskPanel` holds the layer pickers, "current plane / whole
stack", "use neighbouring planes", New mask (an empty Labels layer matching the
image, in paint mode), the mask layer's brush size and the dilation. It reads
layers on the GUI thread (shapes only); turning a mask layer into mask data is
:func:`napari_inpaint.layer_training.mask_source`, preparing it for a fill is
:mod:`inpaint_models.io.maskops`, in the worker thread.
"""

from __future__ import annotations

from typing import Any, Optional

from napari.layers import Image, Labels, Shapes
from napari.utils.notifications import show_warning
from qtpy.QtCore import QObject, Signal
from qtpy.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QFormLayout,
    QHBoxLayout,
    QPushButton,
    QRadioButton,
    QSpinBox,
    QWidget,
)

from inpaint_models.api import is_lazy
from napari_inpaint._widgets import LayerComboBox
from napari_inpaint.layer_training import layer_spatial_shape as spatial_shape
from napari_inpaint.layer_training import mask_source


def is_stack(layer: Optional[Image]) -> bool:
    """Whether a (single-scale) image layer has more than two spatial axes."""
    return layer is not None and not layer.multiscale and len(spatial_shape(layer)) > 2


def _spin(low: int, high: int, value: int, tooltip: str) -> QSpinBox:
    spin = QSpinBox()
    spin.setRange(low, high)
    spin.setValue(value)
    spin.setSuffix(" px")
    spin.setToolTip(tooltip)
    return spin


class ImageMaskPanel(QObject):
    """Image, planes, mask, brush size and dilation (rows of the dock's form; the dock owns the part).

    ``image_changed`` is emitted when the image (or "use neighbouring planes") changes,
    ``mask_changed`` when the mask layer does.
    """

    image_changed = Signal()
    mask_changed = Signal()

    def __init__(self, viewer: Any, form: QFormLayout, dock: QWidget) -> None:
        super().__init__(dock)  # deleted with the dock
        self.viewer = viewer
        self._brush_layer: Optional[Labels] = None
        self._image_rows(form)
        self._mask_rows(form)
        self.image_combo.currentIndexChanged.connect(self._on_image_changed)
        self.volume_check.toggled.connect(lambda _checked: self.image_changed.emit())
        self.new_mask_button.clicked.connect(self.new_mask)
        self.mask_combo.currentIndexChanged.connect(self._on_mask_changed)
        self.brush_size.valueChanged.connect(self._set_brush_size)
        viewer.dims.events.ndim.connect(self._update_planes_row)
        self._on_image_changed()
        self._on_mask_changed()

    def _image_rows(self, form: QFormLayout) -> None:
        self.image_combo = LayerComboBox(self.viewer, [Image])
        self.image_combo.setToolTip("The image to fill (2D, RGB or an nD stack)")
        form.addRow("Image", self.image_combo)
        self.plane_current = QRadioButton("current plane")
        self.plane_all = QRadioButton("whole stack")
        self.plane_current.setChecked(True)
        self.plane_group = QButtonGroup(self)
        planes = QHBoxLayout()
        for button in (self.plane_current, self.plane_all):
            self.plane_group.addButton(button)
            planes.addWidget(button)
        planes.setContentsMargins(0, 0, 0, 0)
        self.planes_row = QWidget()
        self.planes_row.setLayout(planes)
        self.planes_row.setToolTip("For a stack: fill the holes of the plane on screen only, or of every plane")
        form.addRow("Fill", self.planes_row)
        self.volume_check = QCheckBox("use neighbouring planes")
        self.volume_check.setToolTip(
            "For a stack: fill it as a volume, so the planes above and below a hole are context too "
            "(models that fill 2D images only still get one plane at a time)"
        )
        form.addRow("", self.volume_check)

    def _mask_rows(self, form: QFormLayout) -> None:
        self.mask_combo = LayerComboBox(self.viewer, [Labels, Shapes])
        self.mask_combo.setToolTip("Labels or Shapes layer; every labelled pixel / shape interior is filled")
        self.new_mask_button = QPushButton("New mask")
        self.new_mask_button.setToolTip("Add an empty Labels layer the size of the image and start painting")
        mask_row = QHBoxLayout()
        mask_row.addWidget(self.mask_combo, 1)
        mask_row.addWidget(self.new_mask_button)
        form.addRow("Mask", mask_row)
        self.brush_size = _spin(1, 500, 15, "Brush size of the mask layer's paint brush")
        form.addRow("Brush size", self.brush_size)
        self.dilation = _spin(0, 100, 0, "Grow the mask by this many pixels before filling (covers soft object edges)")
        form.addRow("Dilate mask", self.dilation)

    # -- the image and its planes --------------------------------------------------------------------
    def image(self) -> Optional[Image]:
        """The chosen image layer, or None."""
        return self.image_combo.value()

    def _on_image_changed(self, *_args) -> None:
        self.volume_check.blockSignals(True)
        self.volume_check.setChecked(is_stack(self.image()))  # on by default for stacks
        self.volume_check.blockSignals(False)
        self._update_planes_row()
        self.image_changed.emit()

    def _update_planes_row(self, *_args) -> None:
        stack = is_stack(self.image())
        self.planes_row.setEnabled(stack)
        self.volume_check.setEnabled(stack)

    def volume_axis(self, image: Optional[Image] = None) -> Optional[int]:
        """The image axis to fill as a volume (the innermost stack axis), or None for plane by plane."""
        image = image if image is not None else self.image()
        if not is_stack(image) or not self.volume_check.isChecked():
            return None
        return len(spatial_shape(image)) - 3

    def current_plane(self, image: Image) -> Optional[tuple[int, ...]]:
        """Stack indices of the plane on screen, or None for a 2D image.

        Raises:
            ValueError: the image's last two axes are not the ones displayed.
        """
        shape = spatial_shape(image)
        ndim = len(shape)
        if ndim <= 2:
            return None
        dims = self.viewer.dims
        world = dims.ndim
        if dims.ndisplay != 2 or tuple(dims.displayed) != (world - 2, world - 1):
            raise ValueError(
                "'current plane' needs the image's last two axes on screen in 2D view; choose 'whole stack'"
            )
        position = image.world_to_data(list(dims.point)[-ndim:])
        return tuple(min(max(int(round(position[i])), 0), shape[i] - 1) for i in range(ndim - 2))

    def plane(self, image: Image) -> Optional[tuple[int, ...]]:
        """The plane to fill: the one on screen ("current plane"), or None for every plane."""
        return self.current_plane(image) if self.plane_current.isChecked() else None

    # -- the mask ----------------------------------------------------------------------------------
    def mask_data(self, image: Image) -> Any:
        """The mask layer's data, or (Shapes) a function rasterising a copy of its shapes in the worker.

        Raises:
            ValueError: no mask layer, or one that does not match the image.
        """
        layer = self.mask_combo.value()
        if layer is None:
            raise ValueError("choose a mask layer, or press New mask and paint over what should go")
        return mask_source(layer, spatial_shape(image))

    def new_mask(self) -> Optional[Labels]:
        """Add an empty Labels layer matching the image, select it and switch to the paint brush."""
        image = self.image()
        if image is None:
            show_warning("Open or choose an image first: the mask is made to match it.")
            return None
        if image.multiscale:
            show_warning("Multiscale images cannot be inpainted.")
            return None
        # imported here, not when the dock opens (scipy): the worker loading the models imported it already
        from inpaint_models.io.maskops import empty_mask_like, new_mask

        if is_lazy(image.data):  # a dask layer: the mask's chunks take memory only once painted
            mask_data = empty_mask_like(image.data, rgb=bool(image.rgb))
        else:
            mask_data = new_mask(spatial_shape(image))
        brush = self.brush_size.value()  # adding the layer may select it and show its own brush size
        labels = self.viewer.add_labels(
            mask_data, name=f"{image.name} mask", scale=image.scale, translate=image.translate, opacity=0.6
        )
        labels.brush_size = brush
        labels.selected_label = 1
        self.mask_combo.set_value(labels)
        self.viewer.layers.selection.active = labels
        labels.mode = "paint"
        return labels

    def _on_mask_changed(self, *_args) -> None:
        layer = self.mask_combo.value()
        previous = self._brush_layer
        same = previous is not None and layer is not None and previous == layer
        if previous is not None and not same:
            previous.events.brush_size.disconnect(self._on_layer_brush_size)
        is_labels = isinstance(layer, Labels)
        self.brush_size.setEnabled(is_labels)
        self._brush_layer = layer if is_labels else None
        if is_labels and not same:
            self._on_layer_brush_size()
            layer.events.brush_size.connect(self._on_layer_brush_size)
        self.mask_changed.emit()

    def _on_layer_brush_size(self, *_args) -> None:
        layer = self._brush_layer
        if layer is not None:
            self.brush_size.blockSignals(True)
            self.brush_size.setValue(int(round(layer.brush_size)))
            self.brush_size.blockSignals(False)

    def _set_brush_size(self, value: int) -> None:
        layer = self.mask_combo.value()
        if isinstance(layer, Labels):
            layer.brush_size = value
