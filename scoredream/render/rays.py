"""Pixel rays of pinhole cameras."""

from __future__ import annotations

import torch
from jaxtyping import Float
from torch import Tensor

from scoredream.render.cameras import Cameras


def camera_rays(
    cameras: Cameras, height: int, width: int, jitter: Float[Tensor, "B H W 2"] | None = None
) -> tuple[Float[Tensor, "B H W 3"], Float[Tensor, "B H W 3"]]:
    """Origins and unit directions through pixel centres (square pixels; fovy sets the vertical extent), or with
    `jitter` (row and column offsets in pixels, in [-0.5, 0.5)) through those points of each pixel."""
    device, dtype = cameras.c2w.device, cameras.c2w.dtype
    ys = (torch.arange(height, device=device, dtype=dtype) + 0.5) / height
    xs = (torch.arange(width, device=device, dtype=dtype) + 0.5) / width
    yy, xx = (g[None].expand(len(cameras), -1, -1) for g in torch.meshgrid(ys, xs, indexing="ij"))
    if jitter is not None:
        yy, xx = yy + jitter[..., 0].to(yy) / height, xx + jitter[..., 1].to(xx) / width
    tan_half = torch.tan(cameras.fovy / 2)[:, None, None]
    aspect = width / height
    dirs_cam = torch.stack([(2 * xx - 1) * tan_half * aspect, (1 - 2 * yy) * tan_half, -torch.ones_like(xx)], -1)
    rot = cameras.c2w[:, None, None, :3, :3]
    dirs = torch.nn.functional.normalize((rot @ dirs_cam[..., None])[..., 0], dim=-1)
    origins = cameras.c2w[:, None, None, :3, 3].expand_as(dirs)
    return origins, dirs
