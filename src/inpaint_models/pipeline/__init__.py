"""The fill pipeline: layout and value conversion, planning, crops, lazy fills, estimates.

A fill goes through these modules top to bottom (each imports only those below it):

    estimate     how long a planned fill will take (one network call timed)
    run          the in-memory fill: each region cropped, filled, composited
    chunked      the lazy fill of dask / zarr arrays, chunk by chunk
    crops        one crop through one model: values, channels, padding, the plugin, the composite
    plan         FillRequest -> FillPlan: the fill's decisions, passed down whole
    regions      the checks on an in-memory mask and its hole regions
    lazy_inputs  whether an image is lazy, and the inputs as dask arrays
    defaults     which model "auto" means
    geometry     what a crop must look like for the weights in use, and the shape it is sent at
    progress     the one cancel check and the reporter built on it
    layout       planes, volumes, channels and hole boxes
"""
