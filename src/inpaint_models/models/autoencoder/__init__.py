"""``autoencoder``: encoder-decoder CNN (report 000's CNN-RG / CNN-ARG, report 004's baseline)."""
