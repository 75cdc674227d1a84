"""Score Distillation Sampling (DreamFusion): grad = w(t) (eps_cfg(x_t, t, y) - eps)."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from jaxtyping import Float
from torch import Tensor

from scoredream.guidance.base import (
    REFERENCE_GUIDANCE_SCALE,
    GuidanceOutput,
    StatelessGuidance,
    TimestepSchedule,
    Weighting,
    clean_gradient,
    draw_inputs,
    recommended_timesteps,
    sds_weight,
    surrogate_loss,
)
from scoredream.priors.diffusion_prior import DiffusionPrior
from scoredream.priors.perp_neg import PerpNegConfig, TextConditions
from scoredream.priors.prompts import PromptEmbeddings
from scoredream.render.cameras import Cameras


@dataclass
class SDSConfig:
    """Reference setting (threestudio DreamFusion): CFG 100, w(t) = 1 - alpha_bar, t in [0.02, 0.98].
    Cost per step: one UNet call on a batch of 2B (conditional + unconditional); 4B with Perp-Neg."""

    guidance_scale: float | None = None
    """classifier-free guidance scale s in eps_u + s (eps_c - eps_u);
    unset: the prior's recommendation (its scoredream_guidance.json), else 100 (DreamFusion)"""
    weighting: Weighting = "sds"
    """w(t): sds = 1 - alpha_bar, uniform = 1, fantasia = sqrt(alpha_bar) (1 - alpha_bar)"""
    timesteps: TimestepSchedule = field(default_factory=TimestepSchedule)
    """range of diffusion timesteps and its annealing; left at the reference, the prior's recommendation (if any)
    replaces it"""
    grad_clip: float | None = None
    """elementwise clamp of the gradient (None: off); NaN/inf entries are always zeroed"""
    perp_neg: PerpNegConfig = field(default_factory=PerpNegConfig)
    """Perp-Neg: the other views' prompts as perpendicular negatives"""

    def setup(self, prior: DiffusionPrior) -> SDSGuidance:
        return SDSGuidance(self, prior)


def cfg_noise(
    prior: DiffusionPrior, x_t: Tensor, t: Tensor, conditions: TextConditions, scale: float
) -> Float[Tensor, "B C h w"]:
    """eps_u + s (eps_c - eps_u) (plus Perp-Neg's negatives), all branches in one UNet call."""
    n = conditions.copies
    eps = prior.predict_noise(x_t.repeat(n, 1, 1, 1), t.repeat(n), conditions.embeddings())
    return conditions.combine(eps, scale)


class SDSGuidance(StatelessGuidance):
    name = "SDS"

    def __init__(self, config: SDSConfig, prior: DiffusionPrior) -> None:
        self.config = config
        self.prior = prior
        self.guidance_scale = prior.guidance_scale("sds", config.guidance_scale, REFERENCE_GUIDANCE_SCALE["sds"])
        self.timesteps = recommended_timesteps(prior, "sds", config.timesteps, TimestepSchedule())

    @torch.no_grad()
    def gradient(self, x0: Tensor, t: Tensor, noise: Tensor, conditions: TextConditions) -> Tensor:
        x_t = self.prior.add_noise(x0, noise, t)
        eps = cfg_noise(self.prior, x_t, t, conditions, self.guidance_scale)
        w = sds_weight(t, self.prior.alphas_cumprod, self.config.weighting).view(-1, 1, 1, 1)
        return w * (eps - noise)

    def __call__(
        self,
        rgb: Float[Tensor, "B H W 3"],
        cameras: Cameras,
        prompt: PromptEmbeddings,
        step: int,
        generator: torch.Generator | None = None,
    ) -> GuidanceOutput:
        c = self.config
        inp = draw_inputs(self.prior, self.timesteps, c.perp_neg, rgb, cameras, prompt, step, generator)
        grad = clean_gradient(self.gradient(inp.x0.detach(), inp.t, inp.noise, inp.conditions), c.grad_clip)
        return GuidanceOutput(loss=surrogate_loss(inp.x0, grad), timesteps=inp.t, grad_norm=float(grad.norm()))
