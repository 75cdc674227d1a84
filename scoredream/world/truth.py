"""Ground-truth geometry of the shapes world, for 3D IoU and Chamfer distance against a learned field."""

from __future__ import annotations

import torch
from jaxtyping import Bool, Float
from torch import Tensor

from scoredream.world.shapes import SHAPES


def grid_points(resolution: int, bound: float = 1.0) -> Float[Tensor, "R R R 3"]:
    """Voxel centres of the cube [-bound, bound]^3, indexed [x, y, z]."""
    axis = (torch.arange(resolution, dtype=torch.float32) + 0.5) / resolution * 2 * bound - bound
    return torch.stack(torch.meshgrid(axis, axis, axis, indexing="ij"), -1)


def occupancy(shape: str, resolution: int = 64, bound: float = 1.0) -> Bool[Tensor, "R R R"]:
    """Which voxel centres of [-bound, bound]^3 lie inside the shape (same layout as `grid_points`)."""
    return SHAPES[shape](grid_points(resolution, bound)) < 0


def surface_points(
    shape: str, n: int = 10_000, generator: torch.Generator | None = None, resolution: int = 128
) -> Float[Tensor, "n 3"]:
    """Points on the surface, roughly uniform by area.

    Voxel centres within half a voxel of the surface are spread evenly over it; each is moved onto the surface
    along the SDF's gradient (exact for an exact SDF, so one Newton step lands within float error)."""
    sdf = SHAPES[shape]
    voxel = 2 * 0.6 / resolution
    points = grid_points(resolution, 0.6).reshape(-1, 3)
    points = points[sdf(points).abs() < voxel / 2]
    jitter = (torch.rand(points.shape, generator=generator) - 0.5) * voxel
    points = points + jitter
    for _ in range(3):
        p = points.detach().requires_grad_(True)
        d = sdf(p)
        (grad,) = torch.autograd.grad(d.sum(), p)
        points = (p - d[:, None] * grad / grad.norm(dim=-1, keepdim=True).clamp_min(1e-8)).detach()
    points = points[sdf(points).abs() < 1e-4]
    pick = torch.randint(len(points), (n,), generator=generator)
    return points[pick]
