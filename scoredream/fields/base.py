"""The one interface every field architecture implements.

A field maps points to a 16-number feature per point (raw density + 15 colour features, the shared width that
progressive volume distillation matches across architectures) and then, through small heads, to density and
colour. Colour is view-independent, which is what score distillation and mesh export both want.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
from jaxtyping import Float
from torch import Tensor, nn

from scoredream.progress import ramp

FEATURE_DIM = 16


@dataclass
class FieldOutputs:
    density: Float[Tensor, " N"]
    rgb: Float[Tensor, "N 3"]
    features: Float[Tensor, "N 16"]
    raw_density: Float[Tensor, " N"]


def blob_density(
    points: Float[Tensor, "N 3"], strength: float, radius: float, inside: float = 1.0
) -> Float[Tensor, " N"]:
    """Magic3D's density bias: a soft ball at the origin, so training starts from an object, not from fog. Its
    positive part (inside `radius`) is scaled by `inside`; the negative part outside keeps far space empty."""
    bias = strength * (1 - points.norm(dim=-1) / radius)
    return bias if inside == 1.0 else torch.where(bias > 0, bias * inside, bias)


DensityKind = Literal["softplus", "sdf"]


def blob_scale_at(fade: float, progress: float) -> float:
    """The share of the initial blob still on at `progress` (a fraction of the run) when it fades over `fade`."""
    return 1.0 if fade <= 0 else max(0.0, 1.0 - progress / fade)


def beta_at(beta: tuple[float, float], anneal_end: float, progress: float) -> float:
    """The SDF density's sharpness at `progress`: geometric from beta[0] at the start to beta[1] at `anneal_end`
    (a fraction of the run), beta[1] from there on."""
    k = ramp(progress, 0.0, anneal_end)
    return beta[0] ** (1 - k) * beta[1] ** k


def sdf_raw_density(sdf: Float[Tensor, " N"], beta: float) -> Float[Tensor, " N"]:
    """VolSDF's density (1/beta) * LaplaceCDF(-sdf; beta) as the raw value `density_activation` turns into it,
    so that every consumer of raw densities (PVD's log-density match, a voxel field's pruning, the amortized
    colour-logit weights) reads an SDF field as it reads any other. Computed in log space, so that neither the
    empty space far outside (density ~ exp(-sdf / beta)) nor the saturated inside gives inf or NaN gradients."""
    outside, inside = sdf.clamp_min(0), sdf.clamp_max(0)
    log_cdf = torch.where(sdf > 0, math.log(0.5) - outside / beta, torch.log1p(-0.5 * torch.exp(inside / beta)))
    log_density = log_cdf - math.log(beta)
    # raw - 1 = softplus^-1(density) = log(expm1(density)): ~log(density) when small, ~density when large.
    small = log_density < -10
    d = log_density.clamp(-10, 30).exp()
    large = d > 15
    middle = torch.log(torch.expm1(d.clamp_max(15)))
    big = d + torch.log(-torch.expm1(-d.clamp_min(15)))
    return 1.0 + torch.where(small, log_density, torch.where(large, big, middle))


@dataclass
class FieldExtentConfig:
    """What every architecture's config shares: the cube the field covers, how raw features become density, and
    the shape training starts from (a density blob, or an SDF sphere)."""

    bound: float = 1.0
    """the field covers [-bound, bound]^3"""
    blob_strength: float = 10.0
    """Magic3D density blob at initialisation: strength * (1 - r / blob_radius) (softplus density only)"""
    blob_radius: float = 0.5
    """radius of the initial density blob"""
    blob_fade: float = 0.0
    """fraction of the run over which the blob's inside (where it adds density) fades linearly to nothing; 0 keeps
    it for good (Magic3D, threestudio). A lasting blob adds `blob_strength` of raw density at the centre, which a
    hollow object (a mug's inside) must learn to cancel. Outside `blob_radius` the bias stays (far space empty);
    a finished or loaded field with a fade has no inside bias"""
    density_kind: DensityKind = "softplus"
    """softplus: feature 0 (+ the blob) is a raw density; sdf: feature 0 offsets the signed distance of a sphere of
    sdf_init_radius, and density is VolSDF's (1/beta) LaplaceCDF(-sdf; beta): a surface as sharp as beta"""
    sdf_init_radius: float = 0.5
    """sdf density: radius of the sphere the field starts as (sdf = |x| - radius + feature 0)"""
    sdf_beta: tuple[float, float] = (0.03, 0.01)
    """sdf density: the Laplace scale beta at the start of training and from sdf_anneal_end on (geometric in
    between); a built or loaded field renders with the second. A start at 0.1 (alpha 10, the blob's interior)
    lets fog show far outside the sphere and SDS grows it into a background wall on the mug (README, abl_sdf)"""
    sdf_anneal_end: float = 0.5
    """sdf density: fraction of the run where beta reaches sdf_beta[1]"""

    def validate_density(self, where: str) -> None:
        from scoredream.serialization import ConfigError

        if min(self.sdf_beta) <= 0 or self.sdf_init_radius <= 0 or not 0 <= self.sdf_anneal_end <= 1:
            raise ConfigError(f"{where}.sdf_beta and {where}.sdf_init_radius must be > 0 and "
                              f"{where}.sdf_anneal_end in [0, 1]")
        if not 0 <= self.blob_fade <= 1:
            raise ConfigError(f"{where}.blob_fade must be in [0, 1] (a fraction of the run), got {self.blob_fade}")


EXTENT_ATTRIBUTES = ("bound", "blob_strength", "blob_radius", "blob_fade", "blob_scale", "density_kind",
                     "sdf_init_radius", "sdf_beta", "sdf_anneal_end", "beta")
"""what a field keeps of its FieldExtentConfig (and the current beta), which a wrapper copies from its template"""


class Field(nn.Module):
    """Base class: subclasses implement `encode` (points -> 16 features); `extent` sets the scene's half-extent,
    the density kind and the initial shape (no blob by default).

    Whatever the kind, `raw_density_from` gives a raw value with density == density_activation(raw): with the sdf
    kind that is the softplus preimage of the SDF density, so code that reads raw densities needs no case."""

    bound: float = 1.0
    blob_strength: float = 0.0
    blob_radius: float = 0.5
    blob_fade: float = 0.0
    blob_scale: float = 1.0
    """how much of the blob's inside is on now: 1 - progress / blob_fade while it fades; 0 on a finished field with
    a fade"""
    density_kind: DensityKind = "softplus"
    sdf_init_radius: float = 0.5
    sdf_beta: tuple[float, float] = (0.03, 0.01)
    sdf_anneal_end: float = 0.5
    beta: float = 0.01
    """the sdf density's current beta: sdf_beta[1] (a finished field) until training sets its progress"""

    def __init__(self, extent: FieldExtentConfig | None = None) -> None:
        super().__init__()
        if extent is not None:
            self.bound, self.blob_strength, self.blob_radius = extent.bound, extent.blob_strength, extent.blob_radius
            self.blob_fade = extent.blob_fade
            self.blob_scale = blob_scale_at(self.blob_fade, 1.0)
            self.density_kind, self.sdf_init_radius = extent.density_kind, extent.sdf_init_radius
            self.sdf_beta, self.sdf_anneal_end = tuple(extent.sdf_beta), extent.sdf_anneal_end
            self.beta = self.sdf_beta[1]
        self.color_head = nn.Sequential(nn.Linear(FEATURE_DIM - 1, 32), nn.ReLU(), nn.Linear(32, 3))

    def encode(self, points: Float[Tensor, "N 3"]) -> Float[Tensor, "N 16"]:
        raise NotImplementedError

    def param_groups(self) -> dict[str, list[nn.Parameter]]:
        """{"grid": tables, planes or voxels; "mlp": networks and heads}: the two learn at different rates."""
        raise NotImplementedError

    def set_progress(self, progress: float) -> None:
        """Where training is (a fraction of the run), for fields that change with it (coarse-to-fine grids, the
        sdf density's beta); subclasses that override it call this one too."""
        self.beta = beta_at(self.sdf_beta, self.sdf_anneal_end, progress)
        self.blob_scale = blob_scale_at(self.blob_fade, progress)

    def start_sdf_at_sphere(self, out: nn.Linear) -> None:
        """With the sdf density, zero the row of the encoder's last layer that gives feature 0, so the field starts
        as the sphere of sdf_init_radius whatever the seed (an output bias of ~0.1 would move its surface by 0.1).
        The row still learns; the random draws, and so every other weight, are as without it."""
        if self.density_kind == "sdf":
            with torch.no_grad():
                out.weight[0].zero_()
                if out.bias is not None:
                    out.bias[0].zero_()

    def sdf_from(self, points: Tensor, features: Tensor) -> Tensor:
        """Signed distance (sdf density only): the sphere of sdf_init_radius offset by feature 0."""
        return points.norm(dim=-1) - self.sdf_init_radius + features[:, 0]

    def sdf(self, points: Float[Tensor, "N 3"]) -> Float[Tensor, " N"]:
        if self.density_kind != "sdf":
            raise ValueError(f"this field's density is {self.density_kind}, not an sdf")
        return self.sdf_from(points, self.encode(points))

    def raw_density_from(self, points: Tensor, features: Tensor) -> Tensor:
        if self.density_kind == "sdf":
            return sdf_raw_density(self.sdf_from(points, features), self.beta)
        raw = features[:, 0]
        if self.blob_strength:
            raw = raw + blob_density(points, self.blob_strength, self.blob_radius, self.blob_scale)
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
        (three). An sdf field's are grad(sdf) / |grad(sdf)| (forward, four queries), which a sharp surface keeps
        away from it, where its density is flat."""
        offsets = torch.eye(3, device=points.device, dtype=points.dtype) * eps
        if self.density_kind == "sdf":
            return torch.nn.functional.normalize(sdf_gradient(self, points, eps), dim=-1)
        if density is not None:
            ahead = self.density((points[:, None] + offsets).reshape(-1, 3)).reshape(-1, 3)
            grad = (ahead - density[:, None]) / eps
        else:
            shifted = torch.cat([points[:, None] + offsets, points[:, None] - offsets], 1).reshape(-1, 3)
            d = self.density(shifted).reshape(-1, 2, 3)
            grad = (d[:, 0] - d[:, 1]) / (2 * eps)
        return -torch.nn.functional.normalize(grad, dim=-1)


def sdf_gradient(field: Field, points: Float[Tensor, "N 3"], eps: float = 1e-2) -> Float[Tensor, "N 3"]:
    """grad(sdf) by forward differences (four sdf queries a point; differentiable without double backward)."""
    offsets = torch.eye(3, device=points.device, dtype=points.dtype) * eps
    sdf = field.sdf(torch.cat([points[:, None], points[:, None] + offsets], 1).reshape(-1, 3)).reshape(-1, 4)
    return (sdf[:, 1:] - sdf[:, :1]) / eps


def density_activation(raw: Tensor) -> Tensor:
    # softplus(x - 1): a gentle start near zero density; exp is what NeRF uses but overflows on CPU fp32 more often.
    return torch.nn.functional.softplus(raw - 1.0)
