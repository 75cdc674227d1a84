"""The world's ground truth as a radiance field: what a perfectly trained field would be.

Density is a sharp sigmoid of the SDF and colour is the world's shaded albedo, so renders of this field match
`render_world` closely. Used to check metrics (a perfect field must score perfectly) and as a PVD/export teacher.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from jaxtyping import Float
from torch import Tensor, nn

from scoredream.fields.base import Field, FieldOutputs
from scoredream.world.render import WorldRenderConfig, sdf_normal
from scoredream.world.shapes import COLOURS, SHAPES


class WorldField(Field):
    def __init__(self, shape: str, colour: str, density: float = 200.0, sharpness: float = 0.005) -> None:
        super().__init__()
        self.sdf, self.peak, self.sharpness = SHAPES[shape], density, sharpness
        self.register_buffer("albedo", torch.tensor(COLOURS[colour]))
        cfg = WorldRenderConfig()
        self.register_buffer("light", F.normalize(torch.tensor(cfg.light_direction), dim=0))
        self.ambient = cfg.ambient
        self.anchor = nn.Parameter(torch.zeros(()))  # so next(parameters()) finds the device

    def density(self, points: Float[Tensor, "N 3"]) -> Float[Tensor, " N"]:
        return self.peak * torch.sigmoid(-self.sdf(points) / self.sharpness)

    def forward(self, points: Float[Tensor, "N 3"]) -> FieldOutputs:
        density = self.density(points)
        lambert = (sdf_normal(self.sdf, points) @ self.light).clamp_min(0)
        shade = self.ambient + (1 - self.ambient) * lambert
        rgb = (self.albedo * shade[:, None]).clamp(0, 1)
        raw = torch.log(density.clamp_min(1e-6))
        features = torch.cat([raw[:, None], torch.zeros(len(points), 15, device=points.device)], -1)
        return FieldOutputs(density=density, rgb=rgb, features=features, raw_density=raw)
