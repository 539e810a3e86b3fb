"""napari-inpaint: the napari front end of ``inpaint_models`` (widgets and sample data)."""

__version__ = "0.1.0"
