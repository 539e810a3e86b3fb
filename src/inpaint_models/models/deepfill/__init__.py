"""``deepfill``: coarse-to-fine inpainting with contextual attention (Yu et al. 2018).

``network`` holds the generator (coarse + refinement) and the WGAN-GP critics,
``contextual_attention`` the attention layer, ``losses`` the spatially
discounted L1, WGAN-GP terms and the critic-step schedule, ``inputs`` the
input variants (``hole``, ``mosaic``, ``hole_ns`` of student report 004; ``hole_smooth``).
"""
