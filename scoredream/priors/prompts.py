"""View-dependent prompting: the text a camera's render should match (threestudio's rules)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from jaxtyping import Float, Int
from torch import Tensor

from scoredream.priors.diffusion_prior import DiffusionPrior

VIEWS = ("front", "side", "back", "overhead")
VIEW_SUFFIXES = {view: f", {view} view" for view in VIEWS}


@dataclass
class PromptConfig:
    view_dependent: bool = True
    """append ", front view" / ", side view" / ", back view" / ", overhead view" by camera"""
    front_threshold: float = 45.0
    """|azimuth| below this is front, above 180 minus this is back (degrees)"""
    overhead_threshold: float = 60.0
    """elevation above this is overhead (degrees)"""


def view_index(
    azimuth_deg: Float[Tensor, " B"], elevation_deg: Float[Tensor, " B"], config: PromptConfig | None = None
) -> Int[Tensor, " B"]:
    """Index into VIEWS for each camera."""
    config = config or PromptConfig()
    az = azimuth_deg.abs()
    idx = torch.full_like(az, VIEWS.index("side"), dtype=torch.long)
    idx[az < config.front_threshold] = VIEWS.index("front")
    idx[az > 180 - config.front_threshold] = VIEWS.index("back")
    idx[elevation_deg > config.overhead_threshold] = VIEWS.index("overhead")
    return idx


def view_suffix(azimuth_deg: float, elevation_deg: float, config: PromptConfig | None = None) -> str:
    """The suffix a camera's render is captioned with, e.g. ", front view"."""
    i = view_index(torch.tensor([float(azimuth_deg)]), torch.tensor([float(elevation_deg)]), config)
    return VIEW_SUFFIXES[VIEWS[int(i)]]


class PromptEmbeddings:
    """Text embeddings of one prompt for each view, and of the negative prompt, computed once."""

    def __init__(
        self, prior: DiffusionPrior, prompt: str, negative_prompt: str = "", config: PromptConfig | None = None
    ) -> None:
        config = config or PromptConfig()
        longest = max(VIEW_SUFFIXES.values(), key=len) if config.view_dependent else ""
        self.prompt = prior.check_prompt(prompt, longest)
        self.negative_prompt = negative_prompt.strip()
        if self.negative_prompt:
            prior.check_prompt(self.negative_prompt)
        self.config = config
        texts = [self.prompt + VIEW_SUFFIXES[v] for v in VIEWS] if config.view_dependent else [self.prompt]
        self.texts = texts
        self.cond = prior.encode_text(texts)  # V L D
        self.plain = prior.encode_text([self.prompt])  # 1 L D, without a view suffix (VSD's camera-aware LoRA)
        self.uncond = prior.encode_text([self.negative_prompt])  # 1 L D

    def views(self, azimuth_deg: Tensor, elevation_deg: Tensor) -> Int[Tensor, " B"]:
        if not self.config.view_dependent:
            return torch.zeros_like(azimuth_deg, dtype=torch.long)
        return view_index(azimuth_deg, elevation_deg, self.config)

    def for_cameras(self, azimuth_deg: Tensor, elevation_deg: Tensor) -> tuple[Tensor, Tensor]:
        """(conditional, unconditional) embeddings, one row per camera."""
        idx = self.views(azimuth_deg.cpu(), elevation_deg.cpu()).to(self.cond.device)
        return self.cond[idx], self.uncond.expand(len(idx), -1, -1)


class PromptBatch(PromptEmbeddings):
    """One prompt per image, without view suffixes: what a 2D generator trains on (scoredream.distill2d). It
    answers the guidance as PromptEmbeddings does, row i of every embedding belonging to image i."""

    def __init__(self, prior: DiffusionPrior, prompts: list[str], negative_prompt: str = "") -> None:
        if not prompts:
            raise ValueError("a prompt batch needs at least one prompt")
        self.texts = [prior.check_prompt(p) for p in prompts]
        self.prompt = self.texts[0]
        self.negative_prompt = negative_prompt.strip()
        if self.negative_prompt:
            prior.check_prompt(self.negative_prompt)
        self.config = PromptConfig(view_dependent=False)
        self.cond = prior.encode_text(self.texts)  # B L D
        self.plain = self.cond
        self.uncond = prior.encode_text([self.negative_prompt])  # 1 L D

    def views(self, azimuth_deg: Tensor, elevation_deg: Tensor) -> Int[Tensor, " B"]:
        if len(azimuth_deg) != len(self.texts):
            raise ValueError(f"{len(self.texts)} prompts for {len(azimuth_deg)} images")
        return torch.arange(len(self.texts))
