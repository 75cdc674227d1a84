"""TensoRF-VM: density and appearance as sums of plane x line products, plus a basis matrix.

The planes and lines use nerfstudio's `TensorVMEncoding` layout (3 x rank x R x R planes over xy, xz, yz and
3 x rank x R x 1 lines over z, y, x, `grid_sample` with align_corners), and tests check the two agree. It is not
imported because nerfstudio's import chain pulls its viewer (viser) into the library, and because density and
appearance are read here in one `grid_sample` call over stacked channels instead of two encodings.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from jaxtyping import Float
from torch import Tensor, nn

from scoredream.fields.base import FEATURE_DIM, Field, FieldExtentConfig


@dataclass
class TensoRFConfig(FieldExtentConfig):
    """CPU defaults; the reference PVD size is `--tensorf.resolution 300 --tensorf.density-rank 16
    --tensorf.appearance-rank 48` (basis 144 -> 15)."""

    resolution: int = 64
    """plane and line resolution"""
    density_rank: int = 8
    """density components per plane/line pair"""
    appearance_rank: int = 16
    """appearance components per plane/line pair (the basis matrix maps 3 x rank to 15 features)"""
    init_scale: float = 0.1
    """std of the initial plane and line values (TensoRF's default)"""

    def setup(self) -> TensoRFField:
        return TensoRFField(self)


class TensoRFField(Field):
    def __init__(self, config: TensoRFConfig) -> None:
        super().__init__(config)
        self.config = config
        r, channels = config.resolution, config.density_rank + config.appearance_rank
        self.planes = nn.Parameter(config.init_scale * torch.randn(3, channels, r, r))
        self.lines = nn.Parameter(config.init_scale * torch.randn(3, channels, r, 1))
        self.basis = nn.Linear(3 * config.appearance_rank, FEATURE_DIM - 1, bias=False)
        if self.density_kind == "sdf":  # start as the sphere: density lines at zero (the planes still move them)
            with torch.no_grad():
                self.lines[:, : config.density_rank].zero_()

    def components(self, points: Float[Tensor, "N 3"]) -> Float[Tensor, "3 C N"]:
        """Plane x line products per axis pair and channel (density channels first)."""
        x = points / self.bound
        plane_coord = torch.stack([x[:, [0, 1]], x[:, [0, 2]], x[:, [1, 2]]])[:, :, None]  # 3 N 1 2
        line = torch.stack([x[:, 2], x[:, 1], x[:, 0]])
        line_coord = torch.stack([torch.zeros_like(line), line], -1)[:, :, None]  # 3 N 1 2
        planes = F.grid_sample(self.planes, plane_coord, align_corners=True)  # 3 C N 1
        lines = F.grid_sample(self.lines, line_coord, align_corners=True)
        return (planes * lines)[..., 0]

    def encode(self, points: Float[Tensor, "N 3"]) -> Float[Tensor, "N 16"]:
        comp = self.components(points)
        rd = self.config.density_rank
        sigma = comp[:, :rd].sum((0, 1))
        appearance = comp[:, rd:].permute(2, 0, 1).reshape(points.shape[0], -1)
        return torch.cat([sigma[:, None], self.basis(appearance)], -1)

    def plane_l1(self) -> Tensor:
        """TensoRF's sparsity prior on the density factors (PVD weights it 1e-4)."""
        rd = self.config.density_rank
        return self.planes[:, :rd].abs().mean() + self.lines[:, :rd].abs().mean()

    def param_groups(self) -> dict[str, list[nn.Parameter]]:
        return {"grid": [self.planes, self.lines], "mlp": [*self.basis.parameters(), *self.color_head.parameters()]}
