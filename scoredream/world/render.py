"""Exact renders of the shapes world: sphere tracing of the SDFs with the library's cameras and backgrounds.

Shading is Lambertian under a light fixed in world space plus ambient, so a surface point's colour depends on
its position only and a view-independent radiance field can reproduce a render exactly. Because the shaded colour
is `albedo * shade(x)`, a shape is traced once per camera (`trace_shape`) and any colour and background are
composited afterwards (`composite`): one geometry render serves all eight colours.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from jaxtyping import Bool, Float
from torch import Tensor

from scoredream.render.background import Background, BackgroundConfig
from scoredream.render.cameras import Cameras
from scoredream.render.rays import camera_rays
from scoredream.render.shading import Lighting
from scoredream.world.shapes import BOUND_RADIUS, COLOURS, SDF, SHAPES


@dataclass
class WorldRenderConfig:
    resolution: int = 32
    """output image size (square)"""
    supersample: int = 2
    """rays per pixel along each axis, averaged (anti-aliasing, as a radiance field's soft edges)"""
    light_direction: tuple[float, float, float] = (0.4, 0.3, 1.0)
    """direction towards the light, world frame (normalised); fixed, so shading is view independent"""
    ambient: float = 0.45
    """shade of surfaces facing away from the light"""
    max_steps: int = 96
    """sphere-tracing steps"""
    hit_epsilon: float = 1e-3
    """a ray hits when the SDF is below this"""


@dataclass
class GeometryRender:
    """Colour-free render of a shape: rgb = albedo * shade + (1 - alpha) * background."""

    shade: Float[Tensor, "B 1 H W"]  # premultiplied by coverage
    alpha: Float[Tensor, "B 1 H W"]


def sphere_trace(
    sdf: SDF, origins: Float[Tensor, "N 3"], dirs: Float[Tensor, "N 3"], config: WorldRenderConfig
) -> tuple[Float[Tensor, "N 3"], Bool[Tensor, " N"]]:
    """Surface points and hit flags; only still-marching rays are evaluated at each step."""
    b = (origins * dirs).sum(-1)
    disc = b * b - ((origins * origins).sum(-1) - (BOUND_RADIUS + 0.02) ** 2)
    t = (-b - disc.clamp_min(0).sqrt()).clamp_min(0)
    t_far = -b + disc.clamp_min(0).sqrt()
    hit = torch.zeros_like(t, dtype=torch.bool)
    active = torch.nonzero(disc > 0).squeeze(-1)
    for _ in range(config.max_steps):
        if active.numel() == 0:
            break
        d = sdf(origins[active] + t[active, None] * dirs[active])
        done = d < config.hit_epsilon
        hit[active[done]] = True
        t[active] = t[active] + d.clamp_min(0)
        active = active[~done & (t[active] < t_far[active])]
    return origins + t[:, None] * dirs, hit


def sdf_normal(sdf: SDF, points: Float[Tensor, "N 3"], eps: float = 1e-3) -> Float[Tensor, "N 3"]:
    """Central-difference gradient (exact SDFs have no autograd-friendly kinks to worry about here)."""
    offsets = torch.eye(3, dtype=points.dtype, device=points.device) * eps
    grad = torch.stack([sdf(points + o) - sdf(points - o) for o in offsets], -1)
    return F.normalize(grad, dim=-1)


def trace_shape(
    shape: str | SDF, cameras: Cameras, config: WorldRenderConfig | None = None, chunk: int = 64
) -> GeometryRender:
    """A world shape by name, or any SDF inside BOUND_RADIUS (a variant of one, for diagnostics)."""
    config = config or WorldRenderConfig()
    sdf = SHAPES[shape] if isinstance(shape, str) else shape
    size = config.resolution * config.supersample
    light = F.normalize(torch.tensor(config.light_direction, dtype=torch.float32), dim=0)
    shades, alphas = [], []
    for start in range(0, len(cameras), chunk):
        origins, dirs = camera_rays(cameras[start : start + chunk], size, size)
        o, d = origins.reshape(-1, 3).float(), dirs.reshape(-1, 3).float()
        points, hit = sphere_trace(sdf, o, d, config)
        shade = torch.zeros_like(hit, dtype=torch.float32)
        if hit.any():
            lambert = (sdf_normal(sdf, points[hit]) @ light.to(points)).clamp_min(0)
            shade[hit] = config.ambient + (1 - config.ambient) * lambert
        grid = torch.stack([shade, hit.float()], -1).reshape(-1, size, size, 2).permute(0, 3, 1, 2)
        grid = F.avg_pool2d(grid, config.supersample)
        shades.append(grid[:, :1])
        alphas.append(grid[:, 1:])
    return GeometryRender(torch.cat(shades), torch.cat(alphas))


def composite(
    geometry: GeometryRender, albedo: Float[Tensor, "B 3"], background: Float[Tensor, "B 3 H W"]
) -> Float[Tensor, "B 3 H W"]:
    return albedo[:, :, None, None] * geometry.shade + (1 - geometry.alpha) * background


def world_background(
    cameras: Cameras,
    resolution: int,
    config: BackgroundConfig | None = None,
    training: bool = True,
    generator: torch.Generator | None = None,
) -> Float[Tensor, "B 3 H W"]:
    """The trainer's background (default: white, or with probability 0.5 a random colour, per image)."""
    background: Background = (config or BackgroundConfig()).setup()
    _, dirs = camera_rays(cameras, resolution, resolution)
    with torch.no_grad():
        return background(dirs.float(), training=training, generator=generator).permute(0, 3, 1, 2)


def render_world(
    shape: str,
    colour: str,
    cameras: Cameras,
    config: WorldRenderConfig | None = None,
    background: BackgroundConfig | None = None,
    generator: torch.Generator | None = None,
) -> tuple[Float[Tensor, "B 3 H W"], Float[Tensor, "B 1 H W"]]:
    """RGB in [0, 1] and alpha of `a {colour} {shape}` seen by each camera (default: on white)."""
    config = config or WorldRenderConfig()
    background = background or BackgroundConfig(kind="solid")
    geometry = trace_shape(shape, cameras, config)
    albedo = torch.tensor(COLOURS[colour]).expand(len(cameras), 3)
    bg = world_background(cameras, config.resolution, background, training=True, generator=generator)
    return composite(geometry, albedo, bg), geometry.alpha


def world_lighting(cameras: int, config: WorldRenderConfig | None = None) -> Lighting:
    """The world's own light (fixed direction, ambient + Lambert), for renders of a field whose colour is albedo:
    a field trained with shading is compared with the world as the world renders it."""
    config = config or WorldRenderConfig()
    far = 1e3 * F.normalize(torch.tensor(config.light_direction, dtype=torch.float32), dim=0)
    return Lighting("lambertian", far.expand(cameras, 3).clone(), config.ambient, 1 - config.ambient)
