"""Backgrounds behind the object: a solid colour, a random solid colour per image, or a small learned
environment MLP over view directions (replaced by a random colour with some probability, as in threestudio,
so that the field cannot hide the object in the background)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from jaxtyping import Float
from torch import Tensor, nn


@dataclass
class BackgroundConfig:
    kind: Literal["solid", "random", "mlp"] = "random"
    """solid colour, a random solid colour per training view, or a learned environment MLP"""
    color: tuple[float, float, float] = (1.0, 1.0, 1.0)
    """the solid colour (RGB in [0, 1]); also used for evaluation renders"""
    random_prob: float = 0.5
    """probability that a training view gets a random colour instead (random and mlp)"""

    def setup(self) -> Background:
        return Background(self)


class Background(nn.Module):
    def __init__(self, config: BackgroundConfig) -> None:
        super().__init__()
        self.config = config
        self.mlp = (
            nn.Sequential(nn.Linear(3, 32), nn.ReLU(), nn.Linear(32, 3), nn.Sigmoid())
            if config.kind == "mlp"
            else None
        )

    def forward(
        self,
        directions: Float[Tensor, "B H W 3"],
        training: bool,
        generator: torch.Generator | None = None,
    ) -> Float[Tensor, "B H W 3"]:
        batch = directions.shape[0]
        fixed = torch.tensor(self.config.color, dtype=directions.dtype, device=directions.device)
        base = self.mlp(directions) if self.mlp is not None else fixed.expand_as(directions)
        if not training or self.config.kind == "solid":
            return base
        rand_color = torch.rand(batch, 3, generator=generator).to(directions)
        use_rand = (torch.rand(batch, generator=generator) < self.config.random_prob).to(directions.device)
        return torch.where(use_rand[:, None, None, None], rand_color[:, None, None, :].expand_as(base), base)
