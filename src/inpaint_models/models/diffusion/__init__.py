"""``diffusion``: mask-conditioned DDPM with DDIM and RePaint sampling
(Ho et al. 2020; Song et al. 2021; Lugmayr et al. 2022).

Pieces, kept apart so the shared trainer and the plugin use each on its own:
    network.py    DiffusionUNet / UNetConfig / PRESETS (modules only)
    schedule.py   CosineSchedule (T = 1000) and the forward process q_sample
    objective.py  diffusion_loss, LossSettings (epsilon MSE, masked-image conditioning)
    sampling.py   ddim_sample, SamplerSettings (DDIM, RePaint, seeds, per-step report), inpaint_array (numpy I/O)

The EMA of the weights is the shared trainer's (``inpaint_models.training.ema``, ``ema_decay``).
"""

from inpaint_models.contract.lazy import lazy_exports

# Imported on first use (PEP 562): the plugin module ``diffusion.plugin`` is loaded while listing
# models, and must not import torch through this package's ``__init__``.
_EXPORTS: dict[str, str] = {
    "PRESETS": "network", "DiffusionUNet": "network", "UNetConfig": "network", "count_parameters": "network",
    "preset_config": "network", "default_schedule": "objective", "diffusion_loss": "objective",
    "LossSettings": "objective", "ddim_sample": "sampling", "ddim_timesteps": "sampling",
    "inpaint_array": "sampling", "SamplerSettings": "sampling",
    "repaint_schedule": "sampling", "CosineSchedule": "schedule", "cosine_betas": "schedule",
}

__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
