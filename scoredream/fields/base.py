"""The one interface every field architecture implements.

A field maps points to a 16-number feature per point (raw density + 15 colour features, the shared width that
progressive volume distillation matches across architectures) and then, through small heads, to density and
colour. Colour is view-independent, which is what score distillation and mesh export both want.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from jaxtyping import Float
from torch import Tensor, nn

FEATURE_DIM = 16


@dataclass
class FieldOutputs:
    density: Float[Tensor, " N"]
    rgb: Float[Tensor, "N 3"]
    features: Float[Tensor, "N 16"]
    raw_density: Float[Tensor, " N"]


def blob_density(points: Float[Tensor, "N 3"], strength: float, radius: float) -> Float[Tensor, " N"]:
    """Magic3D's density bias: a soft ball at the origin, so training starts from an object, not from fog."""
    return strength * (1 - points.norm(dim=-1) / radius)


@dataclass
class FieldExtentConfig:
    """What every architecture's config shares: the cube the field covers and the density blob it starts from."""

    bound: float = 1.0
    """the field covers [-bound, bound]^3"""
    blob_strength: float = 10.0
    """Magic3D density blob at initialisation: strength * (1 - r / blob_radius)"""
    blob_radius: float = 0.5
    """radius of the initial density blob"""


class Field(nn.Module):
    """Base class: subclasses implement `encode` (points -> 16 features); `extent` sets the scene's half-extent
    and the initial density blob (none by default)."""

    bound: float = 1.0
    blob_strength: float = 0.0
    blob_radius: float = 0.5

    def __init__(self, extent: FieldExtentConfig | None = None) -> None:
        super().__init__()
        if extent is not None:
            self.bound, self.blob_strength, self.blob_radius = extent.bound, extent.blob_strength, extent.blob_radius
        self.color_head = nn.Sequential(nn.Linear(FEATURE_DIM - 1, 32), nn.ReLU(), nn.Linear(32, 3))

    def encode(self, points: Float[Tensor, "N 3"]) -> Float[Tensor, "N 16"]:
        raise NotImplementedError

    def param_groups(self) -> dict[str, list[nn.Parameter]]:
        """{"grid": tables, planes or voxels; "mlp": networks and heads}: the two learn at different rates."""
        raise NotImplementedError

    def set_progress(self, progress: float) -> None:
        """Where training is (a fraction of the run), for fields that change with it (coarse-to-fine grids)."""

    def raw_density_from(self, points: Tensor, features: Tensor) -> Tensor:
        raw = features[:, 0]
        if self.blob_strength:
            raw = raw + blob_density(points, self.blob_strength, self.blob_radius)
        return raw

    def forward(self, points: Float[Tensor, "N 3"]) -> FieldOutputs:
        features = self.encode(points)
        raw = self.raw_density_from(points, features)
        rgb = torch.sigmoid(self.colour_logits_from(features))
        return FieldOutputs(density=density_activation(raw), rgb=rgb, features=features, raw_density=raw)

    def colour_logits_from(self, features: Float[Tensor, "N 16"]) -> Float[Tensor, "N 3"]:
        """Colour before the sigmoid (where |logit| is large the sigmoid is flat and colour gradients vanish)."""
        return self.color_head(features[:, 1:])

    def density(self, points: Float[Tensor, "N 3"]) -> Float[Tensor, " N"]:
        return density_activation(self.raw_density_from(points, self.encode(points)))

    def normals(
        self, points: Float[Tensor, "N 3"], eps: float = 1e-2, density: Float[Tensor, " N"] | None = None
    ) -> Float[Tensor, "N 3"]:
        """Outward normals -grad(density) / |grad(density)| by finite differences (no double backward needed):
        central (six density queries a point), or forward from `density`, the density already known at `points`
        (three)."""
        offsets = torch.eye(3, device=points.device, dtype=points.dtype) * eps
        if density is not None:
            ahead = self.density((points[:, None] + offsets).reshape(-1, 3)).reshape(-1, 3)
            grad = (ahead - density[:, None]) / eps
        else:
            shifted = torch.cat([points[:, None] + offsets, points[:, None] - offsets], 1).reshape(-1, 3)
            d = self.density(shifted).reshape(-1, 2, 3)
            grad = (d[:, 0] - d[:, 1]) / (2 * eps)
        return -torch.nn.functional.normalize(grad, dim=-1)


def density_activation(raw: Tensor) -> Tensor:
    # softplus(x - 1): a gentle start near zero density; exp is what NeRF uses but overflows on CPU fp32 more often.
    return torch.nn.functional.softplus(raw - 1.0)
