"""Voxel grid: 16 feature channels per vertex, read by trilinear interpolation (Plenoxels/DVGO-style).

`sparse` keeps the same dense storage but adds an occupancy mask (`prune`): points in empty cells read zero
features and no density, which is what an editor needs to cut space; the mask travels with the checkpoint.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from jaxtyping import Bool, Float
from torch import Tensor, nn

from scoredream.fields.base import FEATURE_DIM, Field, FieldExtentConfig, density_activation


@dataclass
class VoxelConfig(FieldExtentConfig):
    """CPU default 48^3 (1.8M numbers); the reference PVD size (Plenoxels) is `--voxel.resolution 128`."""

    resolution: int = 48
    """vertices per axis"""
    sparse: bool = False
    """keep an occupancy mask (set by `prune`) that empties masked cells"""
    init_scale: float = 1e-3
    """half-range of the uniform initial stored values"""
    value_scale: float = 10.0
    """features are stored divided by this, so each Adam step (about lr) moves them this much faster: a voxel has
    no MLP to amplify its updates (DVGO trains its grids at lr 0.1 where MLPs use 1e-3)"""

    def setup(self) -> VoxelField:
        return VoxelField(self)


EMPTY_RAW_DENSITY = -30.0
"""raw density of masked-out cells: softplus(-31) is ~3e-14, empty for any step length"""


class VoxelField(Field):
    def __init__(self, config: VoxelConfig) -> None:
        super().__init__(config)
        self.config = config
        r = config.resolution
        self.grid = nn.Parameter(torch.empty(1, FEATURE_DIM, r, r, r).uniform_(-config.init_scale, config.init_scale))
        if config.sparse:
            self.register_buffer("occupancy", torch.ones(1, 1, r, r, r))

    def _sample(self, volume: Tensor, points: Tensor, mode: str) -> Tensor:
        # grid_sample's last coordinate axis indexes the volume's last (W) dimension: store grids as [z, y, x].
        grid = (points / self.bound).reshape(1, -1, 1, 1, 3)
        out = F.grid_sample(volume, grid, mode=mode, align_corners=True, padding_mode="border")
        return out.reshape(volume.shape[1], -1).T

    def occupied(self, points: Float[Tensor, "N 3"]) -> Bool[Tensor, "N 1"]:
        return self._sample(self.occupancy, points, "nearest") > 0

    def encode(self, points: Float[Tensor, "N 3"]) -> Float[Tensor, "N 16"]:
        features = self._sample(self.grid, points, "bilinear") * self.config.value_scale
        if self.config.sparse:
            empty = torch.zeros_like(features)
            empty[:, 0] = EMPTY_RAW_DENSITY
            features = torch.where(self.occupied(points), features, empty)
        return features

    def raw_density_from(self, points: Tensor, features: Tensor) -> Tensor:
        raw = super().raw_density_from(points, features)
        if self.config.sparse:
            # The blob must not refill pruned space.
            raw = torch.where(self.occupied(points)[:, 0], raw, torch.full_like(raw, EMPTY_RAW_DENSITY))
        return raw

    @torch.no_grad()
    def prune(self, threshold: float = 0.1) -> float:
        """Mask cells whose density is below threshold at their vertex; returns the fraction kept."""
        if not self.config.sparse:
            raise ValueError("prune needs a voxel field built with sparse=True")
        r = self.config.resolution
        axis = torch.linspace(-self.bound, self.bound, r, device=self.grid.device)
        z, y, x = torch.meshgrid(axis, axis, axis, indexing="ij")
        points = torch.stack([x, y, z], -1).reshape(-1, 3)
        raw = super().raw_density_from(points, self._sample(self.grid, points, "bilinear") * self.config.value_scale)
        keep = (density_activation(raw) >= threshold).float().reshape(1, 1, r, r, r)
        # Dilate by one vertex so trilinear reads at the surface still see their occupied neighbours.
        self.occupancy.copy_(F.max_pool3d(keep, 3, stride=1, padding=1))
        return self.occupancy.mean().item()

    def param_groups(self) -> dict[str, list[nn.Parameter]]:
        return {"grid": [self.grid], "mlp": list(self.color_head.parameters())}
