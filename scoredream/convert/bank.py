"""What the student is taught at each distillation step: sample points on random rays and the teacher there.

Either the teacher is queried at fresh samples every step, or once, up front, at the samples of a bank of rays
(`TeacherBank`). The bank more than halves an MLP student's step (a teacher query costs as much as the student's
step), lets rays through the object be drawn more often than rays past it, and lets the student skip the samples
where the teacher is empty, which are most of them: the teacher already knows where the object is.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch
from jaxtyping import Bool, Float, Int64
from torch import Tensor

from scoredream.convert.rays import RayTable, sample_points
from scoredream.fields import Field
from scoredream.fields.base import FieldOutputs
from scoredream.render.volume import composite


def _select(out: FieldOutputs, index: Tensor) -> FieldOutputs:
    return FieldOutputs(*(getattr(out, f.name)[index] for f in dataclasses.fields(FieldOutputs)))


def _cat(outs: list[FieldOutputs]) -> FieldOutputs:
    return FieldOutputs(*(torch.cat([getattr(o, f.name) for o in outs]) for f in dataclasses.fields(FieldOutputs)))


@dataclass
class DistillBatch:
    """R rays of S samples; the student is evaluated at `points`, which are all R*S samples (`index` None) or
    those at `index` in the flattened samples, the others counting as empty in the student's render."""

    points: Float[Tensor, "P 3"]
    deltas: Float[Tensor, "R S"]
    teacher: FieldOutputs  # at `points`
    teacher_density: Float[Tensor, " RS"]  # at every sample, for the target pixels
    teacher_rgb: Float[Tensor, "RS 3"]
    index: Int64[Tensor, " P"] | None = None

    @classmethod
    @torch.no_grad()
    def fresh(cls, teacher: Field, rays: RayTable, num_samples: int, generator: torch.Generator) -> DistillBatch:
        samples = sample_points(rays, num_samples, True, generator)
        out = teacher(samples.points)
        return cls(samples.points, samples.deltas, out, out.density, out.rgb)


@dataclass
class TeacherBank:
    """The teacher evaluated once at stratified samples on a bank of rays."""

    points: Float[Tensor, "R S 3"]
    deltas: Float[Tensor, "R S"]
    outputs: FieldOutputs  # at points.reshape(-1, 3)
    occupied: Bool[Tensor, "R S"]  # the teacher has density here or at a neighbouring sample
    probability: Float[Tensor, " R"]  # of drawing each ray (on the CPU)

    @classmethod
    @torch.no_grad()
    def build(cls, teacher: Field, rays: RayTable, num_rays: int, num_samples: int, hit_fraction: float,
              min_density: float, max_density: float, generator: torch.Generator, chunk: int = 65536) -> TeacherBank:
        """`hit_fraction` of the draws follow the teacher's opacity along the ray, the rest are uniform; samples
        with teacher density under `min_density` (and no such neighbour) are unoccupied."""
        samples = sample_points(rays.sample(num_rays, generator), num_samples, True, generator)
        out = _cat([teacher(p) for p in samples.points.split(chunk)])
        density = out.density.nan_to_num(nan=0.0).clamp(0, max_density).reshape(samples.deltas.shape)
        dense = density > min_density
        occupied = dense.clone()
        occupied[:, 1:] |= dense[:, :-1]
        occupied[:, :-1] |= dense[:, 1:]
        opacity = composite(density, samples.deltas).sum(-1)
        uniform = torch.full_like(opacity, 1 / len(opacity))
        probability = (1 - hit_fraction) * uniform + hit_fraction * opacity / opacity.sum().clamp_min(1e-12)
        # Kept on the CPU: the draws use the caller's (CPU) generator.
        return cls(samples.points.reshape(*density.shape, 3), samples.deltas, out, occupied, probability.cpu())

    def draw(self, num_rays: int, empty_fraction: float, generator: torch.Generator) -> DistillBatch:
        """Rays by `probability`; the student sees every occupied sample and `empty_fraction` of the others."""
        rays = torch.multinomial(self.probability, num_rays, replacement=True, generator=generator)
        rays = rays.to(self.deltas.device)
        s = self.deltas.shape[1]
        flat = (rays[:, None] * s + torch.arange(s, device=rays.device)).reshape(-1)
        density, rgb = self.outputs.density[flat], self.outputs.rgb[flat]  # every sample, for the target pixels
        if empty_fraction >= 1:
            return DistillBatch(self.points.reshape(-1, 3)[flat], self.deltas[rays], _select(self.outputs, flat),
                                density, rgb)
        keep = self.occupied[rays].reshape(-1)
        keep |= torch.rand(keep.shape, generator=generator).to(keep.device) < empty_fraction
        index = keep.nonzero().squeeze(1)
        return DistillBatch(self.points.reshape(-1, 3)[flat[index]], self.deltas[rays],
                            _select(self.outputs, flat[index]), density, rgb, index)


def scatter_samples(values: Float[Tensor, "P ..."], index: Tensor | None, total: int) -> Float[Tensor, "RS ..."]:
    """The student's values at all samples of a batch, zero where it was not evaluated."""
    if index is None:
        return values
    return values.new_zeros(total, *values.shape[1:]).index_put((index,), values)
