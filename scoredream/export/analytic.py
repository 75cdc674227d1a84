"""Fields with a known surface, from a signed distance function: ground truth for export tests and benchmarks."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from jaxtyping import Float
from torch import Tensor

from scoredream.fields.base import FEATURE_DIM, Field, FieldOutputs

SDF = Callable[[Float[Tensor, "N 3"]], Float[Tensor, " N"]]
Colour = Callable[[Float[Tensor, "N 3"]], Float[Tensor, "N 3"]]


class SDFField(Field):
    """Density `peak * sigmoid(-(sdf + offset) / width)`: `peak` inside, ~0 outside, a soft edge `width` wide.

    The shift `offset` puts the surface a render sees, where a ray arriving head-on at a flat wall reaches opacity
    0.5, on the SDF's zero level: the optical depth from outside to sdf = s is
    peak * width * softplus(-(s + offset) / width), which equals ln 2 at s = 0.
    """

    def __init__(self, sdf: SDF, colour: Colour, peak: float = 200.0, width: float = 0.01, bound: float = 1.0):
        super().__init__()
        self.sdf, self.colour, self.peak, self.width, self.bound = sdf, colour, peak, width, bound
        self.offset = -width * math.log(math.expm1(math.log(2.0) / (peak * width)))
        # A parameter only to carry the device, as trained fields do.
        self.anchor = torch.nn.Parameter(torch.zeros(()), requires_grad=False)

    def density(self, points: Float[Tensor, "N 3"]) -> Float[Tensor, " N"]:
        return self.peak * torch.sigmoid(-(self.sdf(points) + self.offset) / self.width)

    def forward(self, points: Float[Tensor, "N 3"]) -> FieldOutputs:
        density = self.density(points)
        n = points.shape[0]
        features = torch.zeros(n, FEATURE_DIM, device=points.device)
        return FieldOutputs(density=density, rgb=self.colour(points), features=features, raw_density=density)


def direction_colour(points: Float[Tensor, "N 3"]) -> Float[Tensor, "N 3"]:
    """(unit direction + 1) / 2: every side of an object gets its own colour, so a mis-mapped texture shows."""
    return (torch.nn.functional.normalize(points, dim=-1) + 1) / 2


def constant_colour(rgb: tuple[float, float, float]) -> Colour:
    def colour(points: Float[Tensor, "N 3"]) -> Float[Tensor, "N 3"]:
        return torch.tensor(rgb, dtype=points.dtype, device=points.device).expand(points.shape[0], 3)

    return colour
