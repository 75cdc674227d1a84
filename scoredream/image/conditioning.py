"""What an input image adds to a run (threestudio's `zero123` system, Magic123 with a prompt): the reference
view's losses at the input camera, and the novel-view guidance from the random training cameras.

The trainer stays one loop: it asks `ImageConditioning` for the reference losses of each step, and for the
novel-view guidance of the random views it renders anyway.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from jaxtyping import Float
from torch import Tensor

from scoredream.fields import Field
from scoredream.guidance import GuidanceOutput
from scoredream.guidance.novel_view import NovelViewGuidance
from scoredream.image.config import ImageConfig
from scoredream.image.reference import ReferenceView
from scoredream.render.background import BackgroundConfig
from scoredream.render.cameras import Cameras
from scoredream.render.shading import Lighting, ShadingConfig
from scoredream.render.volume import RenderConfig, RenderOutput, render


@dataclass
class ReferenceLosses:
    rgb: Float[Tensor, ""]  # MSE of the render on white against the image on white
    mask: Float[Tensor, ""]  # MSE of the opacity against the alpha


def reference_lighting(shading: ShadingConfig, camera: Cameras) -> Lighting | None:
    """The light the input image is taken to be lit by: a run shaded under a fixed world light (the shapes world's
    own) sees the image under that light, so the field's colour stays albedo; otherwise the light is baked into
    colour, as in threestudio (the reference view is rendered as albedo)."""
    if not shading.enabled or shading.light != "world":
        return None
    return Lighting("lambertian", shading.light_positions(camera, None), shading.ambient, shading.diffuse)


def render_reference(field: Field, reference: ReferenceView, config: RenderConfig, shading: ShadingConfig,
                     training: bool = True, generator: torch.Generator | None = None) -> RenderOutput:
    """The field seen from the input camera on white, lit as the image is (see reference_lighting)."""
    size = reference.rgb.shape[-1]
    white = BackgroundConfig(kind="solid").setup()
    camera = reference.camera.to(reference.rgb.device)
    return render(field, camera, size, size, white, config, training=training, generator=generator,
                  lighting=reference_lighting(shading, camera))


def reference_losses(out: RenderOutput, reference: ReferenceView) -> ReferenceLosses:
    rgb = F.mse_loss(out.rgb[0], reference.rgb.permute(1, 2, 0))
    mask = F.mse_loss(out.opacity[0], reference.mask.permute(1, 2, 0))
    return ReferenceLosses(rgb, mask)


def psnr(a: Float[Tensor, "..."], b: Float[Tensor, "..."]) -> float:
    mse = F.mse_loss(a.float(), b.float()).item()
    return float("inf") if mse == 0 else -10.0 * torch.log10(torch.tensor(mse)).item()


class ImageConditioning:
    """The reference view's losses on a schedule, and the novel-view guidance (its reference set; None: a run with
    a prompt whose novel-view weight is 0)."""

    def __init__(self, config: ImageConfig, reference: ReferenceView, render_config: RenderConfig,
                 shading: ShadingConfig, novel_view: NovelViewGuidance | None = None) -> None:
        self.config = config
        self.reference = reference
        self.render_config = render_config
        self.shading = shading
        self.novel_view = novel_view

    def guided(self, progress: float) -> bool:
        """Whether this step renders random views for guidance (not in the reference-only start)."""
        return progress >= self.config.reference_only

    def reference_step(self, fields: list[Field], step: int,
                       generator: torch.Generator | None) -> tuple[Tensor | None, dict[str, float]]:
        """The weighted reference losses of every field (VSD's particles each match the image), when due."""
        if step % self.config.reference_every:
            return None, {}
        total, stats = None, {"ref_rgb": 0.0, "ref_mask": 0.0}
        for f in fields:
            losses = reference_losses(render_reference(f, self.reference, self.render_config, self.shading,
                                                       generator=generator), self.reference)
            term = self.config.lambda_rgb * losses.rgb + self.config.lambda_mask * losses.mask
            total = term if total is None else total + term
            stats["ref_rgb"] += losses.rgb.item() / len(fields)
            stats["ref_mask"] += losses.mask.item() / len(fields)
        return total, stats

    def novel_view_step(self, rgb: Float[Tensor, "B H W 3"], cameras: Cameras, progress: float,
                        generator: torch.Generator | None) -> GuidanceOutput | None:
        if self.novel_view is None:
            return None
        return self.novel_view(rgb, cameras, progress, generator)
