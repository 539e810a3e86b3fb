"""Example napari-inpaint model plugin (harmonic fill)."""
