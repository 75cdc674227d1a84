"""Image agreement between a student and its teacher: PSNR and SSIM on held-out renders."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from jaxtyping import Float
from torch import Tensor

from scoredream.fields import Field
from scoredream.render.background import Background, BackgroundConfig
from scoredream.render.cameras import Cameras
from scoredream.render.volume import RenderConfig, render


def psnr(a: Float[Tensor, "B H W 3"], b: Float[Tensor, "B H W 3"]) -> float:
    mse = (a.clamp(0, 1) - b.clamp(0, 1)).square().mean().item()
    return float("inf") if mse == 0 else -10 * math.log10(mse)


def ssim(a: Float[Tensor, "B H W 3"], b: Float[Tensor, "B H W 3"], window: int = 7, sigma: float = 1.5) -> float:
    """Mean SSIM (Wang et al. 2004) with a Gaussian window; 7 px rather than 11 because renders here are small."""
    x, y = a.clamp(0, 1).permute(0, 3, 1, 2), b.clamp(0, 1).permute(0, 3, 1, 2)
    g = torch.exp(-((torch.arange(window, dtype=x.dtype) - window // 2) ** 2) / (2 * sigma**2))
    g = (g / g.sum()).to(x.device)
    kernel = (g[:, None] * g[None]).expand(3, 1, window, window)

    def blur(t: Tensor) -> Tensor:
        return F.conv2d(t, kernel, groups=3)

    mx, my = blur(x), blur(y)
    vx, vy, cov = blur(x * x) - mx**2, blur(y * y) - my**2, blur(x * y) - mx * my
    c1, c2 = 0.01**2, 0.03**2
    s = ((2 * mx * my + c1) * (2 * cov + c2)) / ((mx**2 + my**2 + c1) * (vx + vy + c2))
    return s.mean().item()


@torch.no_grad()
def render_views(field: Field, cameras: Cameras, resolution: int, render_config: RenderConfig | None = None,
                 background: Background | None = None) -> Float[Tensor, "B H W 3"]:
    background = background or BackgroundConfig(kind="solid").setup()
    device = next(field.parameters()).device
    return render(field, cameras.to(device), resolution, resolution, background.to(device), render_config).rgb


def compare(student: Field, reference: Float[Tensor, "B H W 3"], cameras: Cameras,
            render_config: RenderConfig | None = None) -> tuple[float, float]:
    """(PSNR, SSIM) of the student's renders against reference images of the same cameras (white background)."""
    out = render_views(student, cameras, reference.shape[1], render_config).cpu()
    return psnr(out, reference), ssim(out, reference)
