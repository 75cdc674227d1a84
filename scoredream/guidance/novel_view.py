"""Novel-view SDS (Zero-1-to-3 as threestudio's zero123 system uses it): renders from random cameras are scored by
a novel-view prior conditioned on the input image and on each camera relative to the input view.

    guidance = NovelViewGuidanceConfig().setup(prior)            # prior: a NovelViewPrior
    guidance.set_reference(image, camera)                        # RGB [3, H, W] in [0, 1] on white; one camera
    out = guidance(rgb, cameras, progress, generator)            # rgb [B, H, W, 3]; out.loss to backpropagate

grad = w(t) (eps_u + s (eps_c - eps_u) - eps), where the conditional branch sees the input image and the relative
camera and the unconditional one Zero123's null condition (zero token and zero image latent).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from jaxtyping import Float
from torch import Tensor

from scoredream.guidance.base import DistillationInputs, GuidanceOutput, MethodConfig, ScoreDistillation
from scoredream.priors.novel_view import DISTANCE_FOVY, ImageCondition, NovelViewPrior, relative_camera
from scoredream.render.cameras import Cameras
from scoredream.serialization import ConfigError


@dataclass
class NovelViewGuidanceConfig(MethodConfig):
    """Reference setting (threestudio's zero123 system): CFG 3 over the image condition, w(t) = 1 - alpha_bar,
    t in [0.02, 0.98]. Cost per step: one UNet call on a batch of 2B. (perp_neg is for text prompts: unused.)"""

    distance_fovy: float | None = DISTANCE_FOVY
    """relative distances are compared at this field of view (degrees): a camera's distance counts as
    d tan(fovy/2) / tan(distance_fovy/2), so a zoomed-in render is a closer camera, as the embedded prior was
    trained; None: the plain distances (Zero123's hub models, whose training renders share one fovy)"""

    def validate(self, where: str) -> None:
        super().validate(where)
        if self.perp_neg.enabled:
            raise ConfigError(f"{where}.perp_neg needs text prompts; the novel-view prior reads an image")
        if self.distance_fovy is not None and not 0 < self.distance_fovy < 180:
            raise ConfigError(f"{where}.distance_fovy must be in (0, 180) degrees, got {self.distance_fovy}")

    def setup(self, prior: NovelViewPrior) -> NovelViewGuidance:
        return NovelViewGuidance(self, prior)


@dataclass
class ViewConditions:
    """What the novel-view prior is conditioned on for a batch of renders: the input image, and each render's
    camera relative to the input view (radians; distance change)."""

    image: ImageCondition
    d_elevation: Float[Tensor, " B"]
    d_azimuth: Float[Tensor, " B"]
    d_distance: Float[Tensor, " B"]


class NovelViewGuidance(ScoreDistillation):
    method = "novel_view"

    def __init__(self, config: NovelViewGuidanceConfig, prior: NovelViewPrior) -> None:
        super().__init__(config, prior)
        self.config: NovelViewGuidanceConfig = config
        self.prior: NovelViewPrior = prior
        self.reference: ImageCondition | None = None
        self.reference_camera: Cameras | None = None

    def set_reference(self, image: Float[Tensor, "3 H W"], camera: Cameras) -> None:
        """The input view: RGB in [0, 1] composited on white, and the one camera it was seen from."""
        if len(camera) != 1:
            raise ValueError(f"the input view has one camera, got {len(camera)}")
        if not torch.isfinite(image).all():
            raise ValueError("the input image has non-finite values")
        problems = self.prior.camera_range.problems(camera) if self.prior.camera_range else []
        if problems:
            raise ConfigError(f"the input view's camera is outside what the novel-view prior was trained on: "
                              f"{'; '.join(problems)}")
        device = self.prior.alphas_cumprod.device
        self.reference = self.prior.encode_reference(image[None].to(device).clamp(0, 1))
        self.reference_camera = camera.to(device)

    def __call__(  # type: ignore[override]  (an image, not a prompt, conditions this method)
        self,
        rgb: Float[Tensor, "B H W 3"],
        cameras: Cameras,
        progress: float,
        generator: torch.Generator | None = None,
    ) -> GuidanceOutput:
        if self.reference is None or self.reference_camera is None:
            raise RuntimeError("call set_reference(image, camera) before the novel-view guidance")
        x0 = self.prior.encode_images(rgb.permute(0, 3, 1, 2), generator)
        t, noise = self.draw_noise(x0, progress, generator)
        cams = cameras.to(x0.device)
        d_el, d_az, d_dist = relative_camera(cams, self.reference_camera, self.config.distance_fovy)
        conditions = ViewConditions(self.reference, d_el, d_az, d_dist)
        return self.distill(DistillationInputs(x0, t, noise, conditions, cams, None, progress), generator)

    def gradient(self, inputs: DistillationInputs, generator: torch.Generator | None) -> tuple[Tensor, dict]:
        x0, t, noise, c = inputs.x0, inputs.t, inputs.noise, inputs.conditions
        x_t = self.prior.add_noise(x0, noise, t)
        eps = self.prior.guided_noise(
            x_t, t, c.image, c.d_elevation, c.d_azimuth, c.d_distance, self.scale_at(inputs.progress)
        )
        return self.weight(t) * (eps - noise), {}
