"""``glcic``: globally and locally consistent image completion (Iizuka et al. 2017).

``network`` holds the completion network and the context discriminators,
``losses`` the masked MSE + alpha * GAN objective and the three-phase schedule,
``postprocess`` the optional Telea + Poisson blending.
"""
