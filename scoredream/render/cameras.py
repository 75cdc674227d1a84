"""Camera model shared by training, evaluation and the embedded world.

World frame: +Z up. A camera at azimuth 0 sits on +X looking at the origin, so +X is the object's front.
Camera frame: OpenGL (looks down -Z, +Y up), as in threestudio and nerfstudio.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from jaxtyping import Float
from torch import Tensor


@dataclass
class Cameras:
    """A batch of pinhole cameras looking at the origin."""

    c2w: Float[Tensor, "B 4 4"]
    fovy: Float[Tensor, " B"]  # radians
    azimuth: Float[Tensor, " B"]  # degrees, in (-180, 180]
    elevation: Float[Tensor, " B"]  # degrees
    distance: Float[Tensor, " B"]

    def __len__(self) -> int:
        return self.c2w.shape[0]

    def to(self, device: torch.device | str) -> Cameras:
        return Cameras(*(getattr(self, f).to(device) for f in ("c2w", "fovy", "azimuth", "elevation", "distance")))

    def __getitem__(self, idx: slice | int | Tensor) -> Cameras:
        if isinstance(idx, int):
            idx = slice(idx, idx + 1)
        return Cameras(self.c2w[idx], self.fovy[idx], self.azimuth[idx], self.elevation[idx], self.distance[idx])


def look_at_origin(
    azimuth_deg: Float[Tensor, " B"], elevation_deg: Float[Tensor, " B"], distance: Float[Tensor, " B"]
) -> Float[Tensor, "B 4 4"]:
    az, el = torch.deg2rad(azimuth_deg), torch.deg2rad(elevation_deg)
    eye = torch.stack([torch.cos(el) * torch.cos(az), torch.cos(el) * torch.sin(az), torch.sin(el)], -1)
    eye = eye * distance[:, None]
    forward = torch.nn.functional.normalize(-eye, dim=-1)
    up_world = torch.tensor([0.0, 0.0, 1.0], dtype=eye.dtype, device=eye.device).expand_as(forward)
    right = torch.nn.functional.normalize(torch.cross(forward, up_world, dim=-1), dim=-1)
    up = torch.cross(right, forward, dim=-1)
    c2w = torch.zeros(eye.shape[0], 4, 4, dtype=eye.dtype, device=eye.device)
    c2w[:, :3, 0], c2w[:, :3, 1], c2w[:, :3, 2], c2w[:, :3, 3] = right, up, -forward, eye
    c2w[:, 3, 3] = 1.0
    return c2w


def make_cameras(azimuth_deg: Tensor, elevation_deg: Tensor, distance: Tensor, fovy_deg: Tensor) -> Cameras:
    azimuth = torch.remainder(azimuth_deg + 180.0, 360.0) - 180.0
    return Cameras(
        c2w=look_at_origin(azimuth, elevation_deg, distance),
        fovy=torch.deg2rad(fovy_deg),
        azimuth=azimuth,
        elevation=elevation_deg,
        distance=distance,
    )


@dataclass
class CameraSamplerConfig:
    """Random training cameras (ranges are inclusive; angles in degrees)."""

    elevation_range: tuple[float, float] = (-10.0, 45.0)
    """camera elevation range in degrees"""
    azimuth_range: tuple[float, float] = (-180.0, 180.0)
    """camera azimuth range in degrees (0: camera on +X, looking at the object's front)"""
    distance_range: tuple[float, float] = (1.5, 2.0)
    """camera distance range from the origin"""
    fovy_range: tuple[float, float] = (40.0, 60.0)
    """vertical field of view range in degrees"""
    uniform_sphere: bool = False
    """sample directions uniformly on the sphere band instead of uniformly in elevation angle"""

    def sample(self, n: int, generator: torch.Generator | None = None) -> Cameras:
        def uniform(lo_hi: tuple[float, float]) -> Tensor:
            lo, hi = lo_hi
            return lo + (hi - lo) * torch.rand(n, generator=generator)

        if self.uniform_sphere:
            s0, s1 = (math.sin(math.radians(e)) for e in self.elevation_range)
            elevation = torch.rad2deg(torch.asin(s0 + (s1 - s0) * torch.rand(n, generator=generator)))
        else:
            elevation = uniform(self.elevation_range)
        return make_cameras(
            uniform(self.azimuth_range), elevation, uniform(self.distance_range), uniform(self.fovy_range)
        )


def orbit_cameras(
    n: int, elevation: float = 15.0, distance: float = 1.75, fovy: float = 50.0, azimuth_start: float = 0.0
) -> Cameras:
    """n cameras evenly spaced in azimuth, for turntables and evaluation."""
    azimuth = azimuth_start + torch.arange(n, dtype=torch.float32) * (360.0 / n)
    full = torch.ones(n)
    return make_cameras(azimuth, full * elevation, full * distance, full * fovy)


def unposed_cameras(n: int) -> Cameras:
    """n images without a camera (a 2D generator's): an all-zero camera-to-world, which VSD's camera-conditioned
    LoRA reads as its null camera (the one camera dropout trains it with), and azimuth/elevation 0 (the front
    view, for view-dependent prompts)."""
    zero = torch.zeros(n)
    return Cameras(c2w=torch.zeros(n, 4, 4), fovy=zero, azimuth=zero.clone(), elevation=zero.clone(),
                   distance=zero.clone())
