"""``autoencoder``: encoder-decoder CNN with a reconstruction loss (Pathak et al. 2016 without the GAN term).

Optional SAGAN self-attention at the bottleneck (Zhang et al. 2019). Student reports 000 (CNN-RG / CNN-ARG)
and 004 (their baseline) asked for it; docs/models.md#references maps them.
"""
