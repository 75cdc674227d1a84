"""Field conversion between architectures by Progressive Volume Distillation (see `convert_checkpoint`)."""

from scoredream.convert.checkpoint import ConvertResult, convert_checkpoint
from scoredream.convert.fit import FitConfig, fit_images
from scoredream.convert.metrics import compare, psnr, render_views, ssim
from scoredream.convert.pvd import LOSSES_BY_STAGE, DistillResult, DistillStep, PVDConfig, distill

__all__ = [
    "LOSSES_BY_STAGE",
    "ConvertResult",
    "DistillResult",
    "DistillStep",
    "FitConfig",
    "PVDConfig",
    "compare",
    "convert_checkpoint",
    "distill",
    "fit_images",
    "psnr",
    "render_views",
    "ssim",
]
