"""Several fields optimised together (VSD's particles): each renders its own views, one guidance call scores all."""

from __future__ import annotations

import torch
from torch import Tensor

from scoredream.fields import Field
from scoredream.render.background import Background
from scoredream.render.cameras import Cameras
from scoredream.render.shading import Lighting
from scoredream.render.volume import RenderConfig, RenderOutput, render


def render_particles(
    fields: list[Field],
    cameras: Cameras,
    resolution: int,
    background: Background,
    config: RenderConfig,
    generator: torch.Generator | None,
    lighting: Lighting | None = None,
    orientation: bool = False,
    distortion: bool = False,
    normal_smoothness: bool = False,
) -> RenderOutput:
    """Field i renders cameras [i * k, (i + 1) * k) with k = len(cameras) / len(fields): the images in that order,
    and the penalties asked for, as means over the fields."""
    k = len(cameras) // len(fields)
    outs = []
    for i, f in enumerate(fields):
        light = None if lighting is None else lighting.for_cameras(slice(i * k, (i + 1) * k))
        outs.append(render(f, cameras[i * k : (i + 1) * k], resolution, resolution, background, config,
                           training=True, generator=generator, lighting=light, orientation=orientation,
                           distortion=distortion, normal_smoothness=normal_smoothness))

    def mean(name: str) -> Tensor | None:
        values = [getattr(o, name) for o in outs]
        return None if values[0] is None else torch.stack(values).mean()

    return RenderOutput(rgb=torch.cat([o.rgb for o in outs]), opacity=torch.cat([o.opacity for o in outs]),
                        depth=torch.cat([o.depth for o in outs]), orientation=mean("orientation"),
                        distortion=mean("distortion"), normal_smoothness=mean("normal_smoothness"))
