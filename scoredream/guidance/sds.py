"""Score Distillation Sampling (DreamFusion): grad = w(t) (eps_cfg(x_t, t, y) - eps)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from scoredream.guidance.base import DistillationInputs, MethodConfig, ScoreDistillation
from scoredream.priors.diffusion_prior import DiffusionPrior


@dataclass
class SDSConfig(MethodConfig):
    """Reference setting (threestudio DreamFusion): CFG 100, w(t) = 1 - alpha_bar, t in [0.02, 0.98].
    Cost per step: one UNet call on a batch of 2B (conditional + unconditional); 4B with Perp-Neg."""

    def setup(self, prior: DiffusionPrior) -> SDSGuidance:
        return SDSGuidance(self, prior)


class SDSGuidance(ScoreDistillation):
    method = "sds"

    def gradient(self, inputs: DistillationInputs, generator: torch.Generator | None) -> tuple[Tensor, dict]:
        x0, t, noise = inputs.x0, inputs.t, inputs.noise
        eps = self.guided_noise(self.prior.add_noise(x0, noise, t), t, inputs.conditions, inputs.progress)
        return self.weight(t) * (eps - noise), {}
