"""``mlp-gan``: report 002's fully connected GAN with a repair generator."""
