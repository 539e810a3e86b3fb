"""``stack-unet``: a small 2.5D U-Net fitted to the user's own stack (neighbouring planes as input channels)."""
