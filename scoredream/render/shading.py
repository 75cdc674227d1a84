"""How renders are lit while training (threestudio's `diffuse-with-point-light-material`).

DreamFusion's point: a prior that judges *shaded* renders can only be satisfied by real geometry, since a shaded
colour depends on the surface normal. A batch is drawn as `albedo` (colour alone), `textureless` (white, shading
alone: only geometry can move it) or `lambertian` (albedo * (ambient + diffuse * max(0, n . l))). Renders for
people (previews, turntables, meshes) stay albedo: the light belongs to the viewer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from jaxtyping import Float, Int
from torch import Tensor

from scoredream.render.cameras import Cameras
from scoredream.serialization import ConfigError

ShadingKind = Literal["albedo", "textureless", "lambertian"]
TexturelessColour = Literal["white", "mean"]
DREAMFUSION_ALBEDO_PROBABILITY = 0.25
"""threestudio's diffuse-with-point-light material after its warm-up: albedo in 1 batch of 4 (diffuse_prob 0.75)"""
DREAMFUSION_TEXTURELESS_PROBABILITY = 0.5
"""... and textureless in half of the others (textureless_prob 0.5)"""


@dataclass
class ShadingConfig:
    """Defaults: the embedded prior's own light and renders. Its training images are Lambertian, lit from a fixed
    direction with ambient 0.45 and diffuse 0.55, and never albedo-only or textureless, so after an albedo warm-up
    (the first 20% of the run) every batch is lambertian: renders of a kind the prior never saw only add noise to
    its judgement (README, "What the pieces buy": SDS mean 3D IoU up with them off). Reference setting (threestudio
    dreamfusion-sd, the presets): after the warm-up albedo with p 0.25, else textureless with p 0.5, else
    lambertian, under a point light near the camera (distance 0.8-1.5, direction perturbed by N(0, 1)), ambient
    0.1, diffuse 0.9."""

    enabled: bool = True
    """shade training renders (off: every render is albedo, and light is baked into colour)"""
    light: Literal["camera", "world"] = "world"
    """camera: a point light near the camera (DreamFusion); world: a fixed direction (world_light)"""
    world_light: tuple[float, float, float] = (0.4, 0.3, 1.0)
    """direction towards the light when light = world (the embedded prior's training light)"""
    ambient: float = 0.45
    """shade of surfaces facing away from the light"""
    diffuse: float = 0.55
    """weight of max(0, n . l)"""
    albedo_until: float = 0.2
    """fraction of the run rendered as albedo only (shapes form before light is asked of them)"""
    albedo_probability: float = 0.0
    """after albedo_until: chance that a batch is albedo"""
    textureless_probability: float = 0.0
    """after albedo_until, when not albedo: chance that a batch is textureless (else lambertian)"""
    textureless_colour: TexturelessColour = "white"
    """a textureless render's one colour: white (DreamFusion), or each render's own mean albedo, so that a prior
    that knows colours (the embedded priors never saw a white render of a cyan mug) judges an image of its own kind
    in which, as in a white one, only the geometry shades"""
    light_distance: tuple[float, float] = (0.8, 1.5)
    """light distance range, as a multiple of the camera distance (camera light)"""
    light_perturb: float = 1.0
    """std of the normal noise added to the light's direction from the camera (camera light)"""

    def validate(self, where: str) -> None:
        probabilities = (self.albedo_until, self.albedo_probability, self.textureless_probability)
        if not all(0.0 <= p <= 1.0 for p in probabilities):
            raise ConfigError(f"{where}.albedo_until and the probabilities must be in [0, 1]")
        if min(self.ambient, self.diffuse, self.light_perturb, *self.light_distance) < 0:
            raise ConfigError(f"{where}: ambient, diffuse, light_perturb and light_distance must be >= 0")

    def draw(self, progress: float, cameras: Cameras, generator: torch.Generator | None) -> Lighting | None:
        """The lighting of one training batch (None: albedo)."""
        if not self.enabled or progress < self.albedo_until:
            return None
        u = torch.rand(2, generator=generator).tolist()
        if u[0] < self.albedo_probability:
            return None
        kind: ShadingKind = "textureless" if u[1] < self.textureless_probability else "lambertian"
        return Lighting(kind, self.light_positions(cameras, generator), self.ambient, self.diffuse,
                        self.textureless_colour)

    def light_positions(self, cameras: Cameras, generator: torch.Generator | None) -> Float[Tensor, "B 3"]:
        eye = cameras.c2w[:, :3, 3]
        if self.light == "world":
            direction = torch.tensor(self.world_light, dtype=eye.dtype).expand_as(eye)
            return 1e3 * F.normalize(direction, dim=-1).to(eye)  # far away: a directional light
        noise = torch.randn(eye.shape, generator=generator).to(eye) * self.light_perturb
        direction = F.normalize(F.normalize(eye, dim=-1) + noise, dim=-1)
        lo, hi = self.light_distance
        scale = lo + (hi - lo) * torch.rand(eye.shape[0], 1, generator=generator).to(eye)
        return direction * scale * eye.norm(dim=-1, keepdim=True)


@dataclass
class Lighting:
    kind: ShadingKind
    positions: Float[Tensor, "B 3"]  # one point light per camera
    ambient: float
    diffuse: float
    textureless_colour: TexturelessColour = "white"

    def for_cameras(self, cameras: slice) -> Lighting:
        return Lighting(self.kind, self.positions[cameras], self.ambient, self.diffuse, self.textureless_colour)

    def base_colour(
        self, albedo: Float[Tensor, "R S 3"], weights: Float[Tensor, "R S"], camera: Int[Tensor, " R"]
    ) -> Float[Tensor, "R S 3"]:
        """What the light multiplies, at the samples of rays (of camera index `camera`): the albedo, or for a
        textureless render white or the render's mean albedo (weighted as the image is; no gradient)."""
        if self.kind != "textureless":
            return albedo
        if self.textureless_colour == "white":
            return torch.ones_like(albedo)
        n = len(self.positions)
        with torch.no_grad():
            shown = (weights[..., None] * albedo).sum(1)
            total = albedo.new_zeros(n, 3).index_add(0, camera, shown)
            cover = albedo.new_zeros(n).index_add(0, camera, weights.sum(1))
            mean = total / cover.clamp_min(1e-6)[:, None]
        return mean[camera][:, None].expand_as(albedo)

    def shade(
        self,
        albedo: Float[Tensor, "N 3"],
        normals: Float[Tensor, "N 3"],
        points: Float[Tensor, "N 3"],
        camera: Int[Tensor, " N"],
    ) -> Float[Tensor, "N 3"]:
        """Colour of samples (of camera index `camera`) whose `base_colour` is `albedo` under this light; zero
        normals get ambient only."""
        to_light = F.normalize(self.positions[camera] - points, dim=-1)
        return albedo * (self.ambient + self.diffuse * (normals * to_light).sum(-1, keepdim=True).clamp_min(0))
