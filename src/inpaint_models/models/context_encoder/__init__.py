"""``context-encoder``: Pathak et al. 2016, with an adversarial-only loss and SAGAN self-attention as options.

The options reproduce student report 000's GAN-DDG / GAN-DOG / GAN-AEDOG variants (docs/models.md#references).
"""
