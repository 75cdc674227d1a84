"""Several fields optimised together (VSD's particles): each renders its own views, one guidance call scores all."""

from __future__ import annotations

import torch
from jaxtyping import Float
from torch import Tensor

from scoredream.fields import Field
from scoredream.render.background import Background
from scoredream.render.cameras import Cameras
from scoredream.render.volume import RenderConfig, render


def render_particles(
    fields: list[Field],
    cameras: Cameras,
    resolution: int,
    background: Background,
    config: RenderConfig,
    generator: torch.Generator | None,
) -> tuple[Float[Tensor, "B H W 3"], Float[Tensor, "B H W 1"]]:
    """Field i renders cameras [i * k, (i + 1) * k) with k = len(cameras) / len(fields); (rgb, opacity) in order."""
    k = len(cameras) // len(fields)
    outs = [
        render(f, cameras[i * k : (i + 1) * k], resolution, resolution, background, config, training=True,
               generator=generator)
        for i, f in enumerate(fields)
    ]
    return torch.cat([o.rgb for o in outs]), torch.cat([o.opacity for o in outs])
