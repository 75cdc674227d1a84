"""Several fields optimised together (VSD's particles): each renders its own views, one guidance call scores all."""

from __future__ import annotations

import torch
from jaxtyping import Float
from torch import Tensor

from scoredream.fields import Field
from scoredream.render.background import Background
from scoredream.render.cameras import Cameras
from scoredream.render.shading import Lighting
from scoredream.render.volume import RenderConfig, render


def render_particles(
    fields: list[Field],
    cameras: Cameras,
    resolution: int,
    background: Background,
    config: RenderConfig,
    generator: torch.Generator | None,
    lighting: Lighting | None = None,
    orientation: bool = False,
) -> tuple[Float[Tensor, "B H W 3"], Float[Tensor, "B H W 1"], Tensor | None]:
    """Field i renders cameras [i * k, (i + 1) * k) with k = len(cameras) / len(fields): (rgb, opacity) in that
    order, and the mean orientation penalty (when asked)."""
    k = len(cameras) // len(fields)
    outs = []
    for i, f in enumerate(fields):
        light = None if lighting is None else lighting.for_cameras(slice(i * k, (i + 1) * k))
        outs.append(render(f, cameras[i * k : (i + 1) * k], resolution, resolution, background, config,
                           training=True, generator=generator, lighting=light, orientation=orientation))
    penalty = torch.stack([o.orientation for o in outs]).mean() if orientation else None  # type: ignore[misc]
    return torch.cat([o.rgb for o in outs]), torch.cat([o.opacity for o in outs]), penalty
