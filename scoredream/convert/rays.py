"""Random ray batches and their volume rendering, shared by distillation and photometric fitting.

`render.volume.render` draws whole images; distillation and fitting want a few thousand random rays from many
views per step, and the per-sample quantities of both fields at the same points.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from jaxtyping import Float
from torch import Tensor

from scoredream.render.cameras import Cameras
from scoredream.render.rays import camera_rays
from scoredream.render.volume import composite, sample_along_rays, sphere_interval


@dataclass
class RayTable:
    """Every pixel ray of a set of views that crosses the sampling sphere, with optional target colours."""

    origins: Float[Tensor, "R 3"]
    dirs: Float[Tensor, "R 3"]
    near: Float[Tensor, " R"]
    far: Float[Tensor, " R"]
    colors: Float[Tensor, "R 3"] | None = None

    def __len__(self) -> int:
        return self.origins.shape[0]

    def sample(self, n: int, generator: torch.Generator | None) -> RayTable:
        idx = torch.randint(len(self), (n,), generator=generator).to(self.origins.device)
        colors = None if self.colors is None else self.colors[idx]
        return RayTable(self.origins[idx], self.dirs[idx], self.near[idx], self.far[idx], colors)


def ray_table(
    cameras: Cameras, height: int, width: int, radius: float, images: Float[Tensor, "B H W 3"] | None = None
) -> RayTable:
    origins, dirs = camera_rays(cameras, height, width)
    o, d = origins.reshape(-1, 3), dirs.reshape(-1, 3)
    near, far, hit = sphere_interval(o, d, radius)
    colors = None if images is None else images.reshape(-1, 3)[hit]
    return RayTable(o[hit], d[hit], near[hit], far[hit], colors)


@dataclass
class RaySamples:
    points: Float[Tensor, "P 3"]
    deltas: Float[Tensor, "R S"]

    @property
    def num_samples(self) -> int:
        return self.deltas.shape[1]


def sample_points(rays: RayTable, num_samples: int, perturb: bool, generator: torch.Generator | None) -> RaySamples:
    t, deltas = sample_along_rays(rays.near, rays.far, num_samples, perturb, generator)
    points = (rays.origins[:, None] + rays.dirs[:, None] * t[..., None]).reshape(-1, 3)
    return RaySamples(points, deltas)


def composite_rays(
    density: Float[Tensor, " P"], rgb: Float[Tensor, "P 3"], deltas: Float[Tensor, "R S"], background: Tensor
) -> Float[Tensor, "R 3"]:
    """Pixel colours over a background (one colour, or one per ray)."""
    weights = composite(density.reshape(deltas.shape), deltas)
    fg = (weights[..., None] * rgb.reshape(*deltas.shape, 3)).sum(1)
    return fg + (1 - weights.sum(-1, keepdim=True)) * background
