"""Settings of an image-conditioned run (`scoredream generate --image FILE [PROMPT]`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from scoredream.guidance.novel_view import NovelViewGuidanceConfig
from scoredream.priors.novel_view import NovelViewPriorConfig
from scoredream.serialization import ConfigError


@dataclass
class ImageConfig:
    """The input view and how it steers the run (threestudio's `zero123` system; Magic123 with a prompt).

    The camera defaults are the middle of the shapes world's training cameras (elevation 15, distance 1.75, fovy
    50), the views the embedded priors saw most. Azimuth 0 makes the input view the object's front (+X)."""

    path: Path | None = None
    """the input image (PNG/JPEG): RGBA as is, RGB on a plain background is separated (see image/load.py);
    unset: a text-only run"""
    elevation: float = 15.0
    """assumed camera elevation of the input view, degrees"""
    azimuth: float = 0.0
    """assumed camera azimuth of the input view, degrees (0: the input shows the object's front)"""
    distance: float = 1.75
    """assumed camera distance of the input view"""
    fovy: float = 50.0
    """assumed vertical field of view of the input view, degrees"""
    resolution: int | None = None
    """size the image is resized to and the reference view rendered at (unset: train.resolution)"""
    recenter: bool = False
    """crop to the object and centre it, its larger side object_fraction of the image (for photos whose
    framing does not match the camera above; off: the framing is kept, as the shapes world renders it)"""
    object_fraction: float = 0.6
    """with recenter: the object's larger side as a fraction of the image side"""
    background_threshold: float = 0.12
    """RGB input: a pixel is the object when its colour is farther than this from the border's colour (RGB
    distance, colours in [0, 1])"""
    lambda_rgb: float = 1000.0
    """weight of the reference view's RGB loss (MSE against the image on white; threestudio zero123: 1000)"""
    lambda_mask: float = 1000.0
    """weight of the reference view's mask loss (MSE of opacity against the alpha; threestudio zero123: 50-100).
    Our soft fields need more: at 100 the surface the render cuts lies inside the silhouette (README: image to 3D)"""
    reference_every: int = 1
    """render the reference view every N steps (stable-dreamfusion's known_view_interval)"""
    reference_only: float = 0.0
    """fraction of the run at its start with the reference losses only (threestudio's ref_only_steps)"""
    text_weight: float = 1.0
    """with a prompt: weight of the text prior's guidance loss"""
    novel_view_weight: float = 1.0
    """weight of the novel-view guidance loss (0: not loaded; with a prompt, text and reference losses only)"""
    prior: NovelViewPriorConfig = field(default_factory=NovelViewPriorConfig)
    """the novel-view prior (Zero-1-to-3): embedded, or a Zero123 diffusers folder or hub id"""
    guidance: NovelViewGuidanceConfig = field(default_factory=NovelViewGuidanceConfig)
    """novel-view SDS from the random training cameras"""

    @property
    def enabled(self) -> bool:
        return self.path is not None

    def validate(self, where: str = "image") -> None:
        if not -89.0 <= self.elevation <= 89.0:
            raise ConfigError(f"{where}.elevation must be in [-89, 89] degrees, got {self.elevation}")
        if not 0.0 < self.fovy < 179.0:
            raise ConfigError(f"{where}.fovy must be in (0, 179) degrees, got {self.fovy}")
        if self.distance <= 0:
            raise ConfigError(f"{where}.distance must be positive, got {self.distance}")
        if self.resolution is not None and not 8 <= self.resolution <= 2048:
            raise ConfigError(f"{where}.resolution must be between 8 and 2048 pixels")
        if not 0.05 <= self.object_fraction <= 1.0:
            raise ConfigError(f"{where}.object_fraction must be in [0.05, 1]")
        if not 0.0 < self.background_threshold < 1.7:
            raise ConfigError(f"{where}.background_threshold must be in (0, 1.7)")
        weights = (self.lambda_rgb, self.lambda_mask, self.text_weight, self.novel_view_weight)
        if min(weights) < 0:
            raise ConfigError(f"{where}: lambda_rgb, lambda_mask, text_weight and novel_view_weight must be >= 0")
        if self.reference_every < 1:
            raise ConfigError(f"{where}.reference_every must be at least 1")
        if not 0.0 <= self.reference_only < 1.0:
            raise ConfigError(f"{where}.reference_only must be in [0, 1)")
        self.guidance.validate(f"{where}.guidance")
