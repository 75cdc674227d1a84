"""Photometric fitting: train a field on posed images (random rays, MSE). Used to make teacher fields from
renders of a scene and as the from-scratch baseline that distillation is measured against."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
from jaxtyping import Float
from torch import Tensor
from tqdm.auto import tqdm

from scoredream.convert.optim import CosineAdamW
from scoredream.convert.rays import composite_rays, ray_table, sample_points
from scoredream.fields import Field
from scoredream.render.cameras import Cameras
from scoredream.render.volume import RenderConfig


@dataclass
class FitConfig:
    steps: int = 500
    """optimisation steps"""
    rays_per_step: int = 512
    """random pixels per step"""
    lr_grid: float = 1e-2
    """learning rate of grids, planes and voxels"""
    lr_mlp: float = 5e-3
    """learning rate of MLPs and heads"""
    lr_final_factor: float = 0.05
    """learning rates decay by a cosine to this fraction"""
    seed: int = 0
    """seeds the ray draws"""


@dataclass
class FitStep:
    step: int
    loss: float
    elapsed: float  # seconds of fitting, not counting time spent in on_step
    field: Field


def fit_images(
    field: Field,
    cameras: Cameras,
    images: Float[Tensor, "B H W 3"],
    background: Float[Tensor, "3"],
    config: FitConfig | None = None,
    render: RenderConfig | None = None,
    *,
    on_step: Callable[[FitStep], None] | None = None,
    progress: bool = True,
) -> Field:
    config, render = config or FitConfig(), render or RenderConfig()
    device = next(field.parameters()).device
    rays = ray_table(cameras.to(device), images.shape[1], images.shape[2], render.radius, images.to(device))
    optimizer = CosineAdamW(field, config.lr_grid, config.lr_mlp, config.steps, config.lr_final_factor)
    generator = torch.Generator().manual_seed(config.seed)
    background = background.to(device)
    elapsed = 0.0
    for step in tqdm(range(config.steps), disable=not progress, desc="fit", unit="step"):
        t0 = time.perf_counter()
        batch = rays.sample(config.rays_per_step, generator)
        samples = sample_points(batch, render.num_samples, True, generator)
        out = field(samples.points)
        loss = (composite_rays(out.density, out.rgb, samples.deltas, background) - batch.colors).square().mean()
        optimizer.step(loss)
        elapsed += time.perf_counter() - t0
        if on_step is not None:
            on_step(FitStep(step + 1, loss.item(), elapsed, field))
    return field.eval()
