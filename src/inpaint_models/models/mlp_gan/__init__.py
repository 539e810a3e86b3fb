"""``mlp-gan``: a fully connected GAN (Goodfellow et al. 2014) with a repair generator, as student report 002
(Jaramillo & Ghaffari 2024) wrote it (docs/models.md#references)."""
