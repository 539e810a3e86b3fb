"""``pconv-unet``: partial-convolution U-Net for free-form holes (Liu et al. 2018).

``network`` holds :class:`~.network.PartialConv2d` and the U-Net, ``losses``
the valid / hole / total-variation loss (plus perceptual and style terms when a
VGG16 weights file is supplied) and a whole-image MSE variant.
"""
