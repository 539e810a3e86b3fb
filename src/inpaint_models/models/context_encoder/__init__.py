"""``context-encoder``: Pathak et al. 2016 with report 000's GAN-DDG / GAN-DOG / GAN-AEDOG variants."""
