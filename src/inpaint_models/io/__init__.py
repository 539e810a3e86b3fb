"""Files: images, masks, zarr stores; outputs written complete or not at all."""
