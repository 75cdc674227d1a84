"""Pixel rays of pinhole cameras."""

from __future__ import annotations

import torch
from jaxtyping import Float
from torch import Tensor

from scoredream.render.cameras import Cameras


def camera_rays(
    cameras: Cameras, height: int, width: int
) -> tuple[Float[Tensor, "B H W 3"], Float[Tensor, "B H W 3"]]:
    """Origins and unit directions through pixel centres (square pixels; fovy sets the vertical extent)."""
    device, dtype = cameras.c2w.device, cameras.c2w.dtype
    ys = (torch.arange(height, device=device, dtype=dtype) + 0.5) / height
    xs = (torch.arange(width, device=device, dtype=dtype) + 0.5) / width
    yy, xx = torch.meshgrid(ys, xs, indexing="ij")
    tan_half = torch.tan(cameras.fovy / 2)[:, None, None]
    aspect = width / height
    dirs_cam = torch.stack(
        [
            (2 * xx - 1)[None] * tan_half * aspect,
            (1 - 2 * yy)[None] * tan_half,
            -torch.ones_like(xx)[None].expand(len(cameras), -1, -1),
        ],
        -1,
    )
    rot = cameras.c2w[:, None, None, :3, :3]
    dirs = torch.nn.functional.normalize((rot @ dirs_cam[..., None])[..., 0], dim=-1)
    origins = cameras.c2w[:, None, None, :3, 3].expand_as(dirs)
    return origins, dirs
