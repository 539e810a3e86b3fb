"""``diffusion``: mask-conditioned DDPM with DDIM and RePaint sampling (report 002, done properly).

Pieces, kept apart so the shared trainer and the plugin use each on its own:
    network.py    DiffusionUNet / UNetConfig / PRESETS (modules only)
    schedule.py   CosineSchedule (T = 1000) and the forward process q_sample
    objective.py  diffusion_loss (epsilon MSE, masked-image conditioning)
    sampling.py   ddim_sample (DDIM, RePaint, seeds, per-step report), inpaint_array (numpy I/O)

The EMA of the weights is the shared trainer's (``inpaint_models.training.ema``, ``ema_decay``).
"""

from .network import PRESETS, DiffusionUNet, UNetConfig, count_parameters, preset_config
from .objective import default_schedule, diffusion_loss
from .sampling import ddim_sample, ddim_timesteps, inpaint_array, repaint_schedule
from .schedule import CosineSchedule, cosine_betas

__all__ = [
    "PRESETS",
    "CosineSchedule",
    "DiffusionUNet",
    "UNetConfig",
    "count_parameters",
    "cosine_betas",
    "ddim_sample",
    "ddim_timesteps",
    "default_schedule",
    "diffusion_loss",
    "inpaint_array",
    "preset_config",
    "repaint_schedule",
]
