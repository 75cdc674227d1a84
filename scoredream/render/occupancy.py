"""Empty-space skipping for renders without gradients (turntables): a coarse grid of the cells where the field
has density, so that samples elsewhere are not queried."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from jaxtyping import Bool, Float
from torch import Tensor

from scoredream.fields.base import Field


@dataclass
class OccupancyGrid:
    mask: Bool[Tensor, "R R R"]
    """cells of the cube [-bound, bound]^3 where the field may have density"""
    bound: float

    @classmethod
    @torch.no_grad()
    def of(cls, field: Field, bound: float = 1.0, resolution: int = 64, threshold: float = 0.01,
           chunk: int = 1 << 18) -> OccupancyGrid:
        """Density at the cell centres, dilated by one cell so that thin parts between centres stay.

        A skipped sample has density below `threshold` at the nearest centres: at the default 32 samples over a
        ~2-unit chord its alpha is under 7e-4, so a skipped ray loses at most ~2% opacity (measured: tests)."""
        device = next(field.parameters()).device
        axis = (torch.arange(resolution, device=device) + 0.5) / resolution * 2 * bound - bound
        centres = torch.stack(torch.meshgrid(axis, axis, axis, indexing="ij"), -1).reshape(-1, 3)
        density = torch.cat([field(centres[i : i + chunk]).density.reshape(-1)
                             for i in range(0, len(centres), chunk)])
        occupied = (density > threshold).float().reshape(1, 1, resolution, resolution, resolution)
        return cls(F.max_pool3d(occupied, 3, stride=1, padding=1)[0, 0] > 0, bound)

    def __call__(self, points: Float[Tensor, "N 3"]) -> Bool[Tensor, " N"]:
        r = self.mask.shape[0]
        idx = ((points / self.bound + 1) / 2 * r).long().clamp(0, r - 1)
        return self.mask[idx[:, 0], idx[:, 1], idx[:, 2]]

    @property
    def fraction(self) -> float:
        return float(self.mask.float().mean())
