"""Triplane field (EG3D / LRM): three axis-aligned feature planes and a small MLP.

A point reads bilinearly from the xy, xz and yz planes; the three C-wide features are concatenated (LRM; EG3D
sums them) and a two-layer MLP maps them to the 16-number field feature. It is the per-prompt output of the
amortized triplane generator (`scoredream.amortized`), and trains per prompt like any other field.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from jaxtyping import Float
from torch import Tensor, nn

from scoredream.fields.base import FEATURE_DIM, Field, FieldExtentConfig


@dataclass
class TriplaneConfig(FieldExtentConfig):
    """CPU defaults (LRM: 3 x 80 x 64 x 64 planes, a 10-layer 64-wide decoder)."""

    resolution: int = 32
    """plane resolution"""
    channels: int = 16
    """feature channels per plane"""
    hidden_dim: int = 64
    """width of the decoder MLP"""
    init_scale: float = 0.1
    """std of the initial plane values"""

    def setup(self) -> TriplaneField:
        return TriplaneField(self)


def sample_triplanes(planes: Float[Tensor, "3 C R R"], points: Float[Tensor, "N 3"]) -> Float[Tensor, "N D"]:
    """Bilinear reads of the xy, xz and yz planes at points in [-1, 1]^3, concatenated per point."""
    coords = torch.stack([points[:, [0, 1]], points[:, [0, 2]], points[:, [1, 2]]])[:, :, None]  # 3 N 1 2
    feats = F.grid_sample(planes, coords, mode="bilinear", align_corners=True, padding_mode="border")  # 3 C N 1
    return feats[..., 0].permute(2, 0, 1).reshape(points.shape[0], -1)


class TriplaneField(Field):
    def __init__(self, config: TriplaneConfig) -> None:
        super().__init__(config)
        self.config = config
        r, c = config.resolution, config.channels
        self.planes = nn.Parameter(config.init_scale * torch.randn(3, c, r, r))
        self.decoder = nn.Sequential(
            nn.Linear(3 * c, config.hidden_dim), nn.ReLU(), nn.Linear(config.hidden_dim, FEATURE_DIM)
        )
        self.start_sdf_at_sphere(self.decoder[-1])

    def encode(self, points: Float[Tensor, "N 3"]) -> Float[Tensor, "N 16"]:
        return self.decoder(sample_triplanes(self.planes, points / self.bound))

    def param_groups(self) -> dict[str, list[nn.Parameter]]:
        return {"grid": [self.planes], "mlp": [*self.decoder.parameters(), *self.color_head.parameters()]}
