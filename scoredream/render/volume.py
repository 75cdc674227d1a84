"""Differentiable volume rendering of a field inside its bounding sphere."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from jaxtyping import Float
from torch import Tensor

from scoredream.fields.base import Field
from scoredream.render.background import Background
from scoredream.render.cameras import Cameras
from scoredream.render.occupancy import OccupancyGrid
from scoredream.render.rays import camera_rays


@dataclass
class RenderConfig:
    num_samples: int = 32
    """samples per ray (stratified, jittered while training)"""
    radius: float = 1.0
    """samples lie where rays cross this sphere around the origin"""
    chunk: int = 1 << 18
    """points per field query, so big renders keep memory bounded"""


@dataclass
class RenderOutput:
    rgb: Float[Tensor, "B H W 3"]
    opacity: Float[Tensor, "B H W 1"]
    depth: Float[Tensor, "B H W 1"]
    normal: Float[Tensor, "B H W 3"] | None
    # Per-sample quantities of the rays that hit the sphere, for regularisers and PVD.
    weights: Float[Tensor, "R S"]


def sphere_interval(
    origins: Float[Tensor, "N 3"], dirs: Float[Tensor, "N 3"], radius: float
) -> tuple[Float[Tensor, " N"], Float[Tensor, " N"], Float[Tensor, " N"]]:
    b = (origins * dirs).sum(-1)
    c = (origins * origins).sum(-1) - radius**2
    disc = b * b - c
    hit = disc > 0
    root = disc.clamp_min(0).sqrt()
    near = (-b - root).clamp_min(0)
    far = (-b + root).clamp_min(0)
    return near, far, hit & (far > near)


def sample_along_rays(
    near: Tensor, far: Tensor, num_samples: int, perturb: bool, generator: torch.Generator | None
) -> tuple[Float[Tensor, "N S"], Float[Tensor, "N S"]]:
    """Stratified sample positions (bin midpoints when not perturbed) and the bin lengths."""
    edges = torch.linspace(0, 1, num_samples + 1, device=near.device, dtype=near.dtype)
    if perturb:
        u = torch.rand(near.shape[0], num_samples, generator=generator).to(near)
    else:
        u = torch.full((near.shape[0], num_samples), 0.5, device=near.device, dtype=near.dtype)
    frac = edges[:-1] + (edges[1:] - edges[:-1]) * u
    span = (far - near)[:, None]
    return near[:, None] + frac * span, span.expand(-1, num_samples) / num_samples


def composite(
    density: Float[Tensor, "N S"], deltas: Float[Tensor, "N S"]
) -> Float[Tensor, "N S"]:
    """Alpha-compositing weights: w_i = T_i (1 - exp(-sigma_i delta_i))."""
    tau = density * deltas
    alpha = 1 - torch.exp(-tau)
    transmittance = torch.exp(-torch.cumsum(torch.cat([torch.zeros_like(tau[:, :1]), tau[:, :-1]], -1), -1))
    return alpha * transmittance


def query_field(
    field: Field, points: Float[Tensor, "P 3"], chunk: int, occupancy: OccupancyGrid | None = None
) -> tuple[Float[Tensor, " P"], Float[Tensor, "P 3"]]:
    """Density and colour at every point, in chunks; points outside `occupancy` get zeros without a query."""
    keep = None if occupancy is None else occupancy(points).nonzero()[:, 0]
    queried = points if keep is None else points[keep]
    outs = [field(queried[i : i + chunk]) for i in range(0, queried.shape[0], chunk)]
    density = torch.cat([o.density.reshape(-1) for o in outs]) if outs else queried.new_zeros(0)
    rgb = torch.cat([o.rgb.reshape(-1, 3) for o in outs]) if outs else queried.new_zeros(0, 3)
    if keep is None:
        return density, rgb
    return (points.new_zeros(points.shape[0]).index_put((keep,), density),
            points.new_zeros(points.shape[0], 3).index_put((keep,), rgb))


def render(
    field: Field,
    cameras: Cameras,
    height: int,
    width: int,
    background: Background,
    config: RenderConfig | None = None,
    *,
    training: bool = False,
    with_normals: bool = False,
    generator: torch.Generator | None = None,
    occupancy: OccupancyGrid | None = None,
) -> RenderOutput:
    """`occupancy` (renders without gradients): samples outside its cells count as empty and are not queried."""
    config = config or RenderConfig()
    origins, dirs = camera_rays(cameras, height, width)
    batch = len(cameras)
    o, d = origins.reshape(-1, 3), dirs.reshape(-1, 3)
    near, far, hit = sphere_interval(o, d, config.radius)
    idx = hit.nonzero()[:, 0]
    t, deltas = sample_along_rays(near[idx], far[idx], config.num_samples, training, generator)
    points = (o[idx, None] + d[idx, None] * t[..., None]).reshape(-1, 3)

    s = config.num_samples
    density, colors = query_field(field, points, config.chunk, occupancy)
    sigma, colors = density.reshape(-1, s), colors.reshape(-1, s, 3)
    weights = composite(sigma, deltas)

    n_rays = o.shape[0]
    opacity = torch.zeros(n_rays, 1, dtype=o.dtype, device=o.device)
    rgb_fg = torch.zeros(n_rays, 3, dtype=o.dtype, device=o.device)
    depth = torch.zeros(n_rays, 1, dtype=o.dtype, device=o.device)
    opacity = opacity.index_put((idx,), weights.sum(-1, keepdim=True))
    rgb_fg = rgb_fg.index_put((idx,), (weights[..., None] * colors).sum(1))
    depth = depth.index_put((idx,), (weights * t).sum(-1, keepdim=True))

    bg = background(dirs, training=training, generator=generator).reshape(-1, 3)
    image = rgb_fg + (1 - opacity) * bg
    normal = None
    if with_normals:
        normal = torch.zeros(n_rays, 3, dtype=o.dtype, device=o.device)
        n = torch.cat([field.normals(points[i : i + config.chunk]) for i in range(0, points.shape[0], config.chunk)])
        normal = normal.index_put((idx,), (weights[..., None] * n.reshape(-1, s, 3)).sum(1))
    shape = (batch, height, width)
    return RenderOutput(
        rgb=image.reshape(*shape, 3),
        opacity=opacity.reshape(*shape, 1),
        depth=depth.reshape(*shape, 1),
        normal=None if normal is None else normal.reshape(*shape, 3),
        weights=weights,
    )
