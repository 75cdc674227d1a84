"""Training images of the shapes world: traced geometry once, colours, backgrounds and captions per batch.

Images follow the trainer's distribution: cameras from `CameraSamplerConfig()` and the default random
background (white, or a random solid colour with probability 0.5). Captions use the library's view suffixes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from jaxtyping import Float, Int
from torch import Tensor

from scoredream.priors.prompts import view_suffix
from scoredream.render.background import BackgroundConfig
from scoredream.render.cameras import Cameras, CameraSamplerConfig, make_cameras
from scoredream.world.render import (
    GeometryRender,
    WorldRenderConfig,
    composite,
    trace_shape,
    world_background,
)
from scoredream.world.shapes import COLOURS, SHAPE_NAMES, prompt


@dataclass
class GeometryBank:
    """Colour-free renders of every shape from many random cameras."""

    shade: Float[Tensor, "N 1 H W"]
    alpha: Float[Tensor, "N 1 H W"]
    shape: Int[Tensor, " N"]  # index into SHAPE_NAMES
    azimuth: Float[Tensor, " N"]
    elevation: Float[Tensor, " N"]
    distance: Float[Tensor, " N"]
    fovy: Float[Tensor, " N"]  # degrees

    def __len__(self) -> int:
        return self.shape.shape[0]

    @property
    def resolution(self) -> int:
        return self.shade.shape[-1]

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        data = {k: v.half() if k in ("shade", "alpha") else v for k, v in vars(self).items()}
        torch.save(data, path)

    @classmethod
    def load(cls, path: Path) -> GeometryBank:
        data = torch.load(path, weights_only=True)
        return cls(**{k: v.float() if k in ("shade", "alpha") else v for k, v in data.items()})

    def stale_shapes(
        self, views: int = 4, tolerance: float = 0.02, config: WorldRenderConfig | None = None
    ) -> list[str]:
        """Shapes whose stored renders no longer match the world's SDFs (a bank rendered before a shape changed).

        Re-traces the first `views` stored cameras of each shape and compares silhouettes (mean |alpha| change).
        """
        stale = []
        for index, name in enumerate(SHAPE_NAMES):
            idx = (self.shape == index).nonzero()[:views, 0]
            if len(idx) == 0:
                continue
            cams = make_cameras(self.azimuth[idx], self.elevation[idx], self.distance[idx], self.fovy[idx])
            fresh = trace_shape(name, cams, config or WorldRenderConfig(resolution=self.resolution))
            if (fresh.alpha - self.alpha[idx]).abs().mean() > tolerance:
                stale.append(name)
        return stale


def render_bank(
    views_per_shape: int,
    generator: torch.Generator,
    cameras: CameraSamplerConfig | None = None,
    config: WorldRenderConfig | None = None,
) -> GeometryBank:
    cameras = cameras or CameraSamplerConfig()
    parts: list[tuple[GeometryRender, object, int]] = []
    for index, shape in enumerate(SHAPE_NAMES):
        cams = cameras.sample(views_per_shape, generator)
        parts.append((trace_shape(shape, cams, config), cams, index))
    return GeometryBank(
        shade=torch.cat([g.shade for g, _, _ in parts]),
        alpha=torch.cat([g.alpha for g, _, _ in parts]),
        shape=torch.cat([torch.full((views_per_shape,), i) for _, _, i in parts]),
        azimuth=torch.cat([c.azimuth for _, c, _ in parts]),
        elevation=torch.cat([c.elevation for _, c, _ in parts]),
        distance=torch.cat([c.distance for _, c, _ in parts]),
        fovy=torch.cat([torch.rad2deg(c.fovy) for _, c, _ in parts]),
    )


@dataclass
class CaptionConfig:
    view_prob: float = 0.7
    """caption with the view suffix ("a red mug, side view")"""
    empty_prob: float = 0.1
    """empty caption, for classifier-free guidance; the rest get the plain prompt"""


@dataclass
class WorldBatch:
    images: Float[Tensor, "B 3 H W"]  # in [0, 1]
    shape: Int[Tensor, " B"]
    colour: Int[Tensor, " B"]
    azimuth: Float[Tensor, " B"]
    captions: list[str]
    cameras: Cameras


def draw_views(
    bank: GeometryBank, n: int, generator: torch.Generator, shape_weights: Float[Tensor, " S"] | None = None
) -> Int[Tensor, " n"]:
    """Indices of `n` views of the bank, uniform over views, or with each shape drawn in proportion to its entry
    of `shape_weights` (one per `SHAPE_NAMES` entry): training oversamples the shape a prior draws worst (the mug,
    whose opening and handle are a few pixels)."""
    if shape_weights is None:  # the draws of the runs before the option
        return torch.randint(len(bank), (n,), generator=generator)
    return torch.multinomial(shape_weights[bank.shape], n, replacement=True, generator=generator)


def sample_batch(
    bank: GeometryBank,
    batch_size: int,
    generator: torch.Generator,
    captions: CaptionConfig | None = None,
    background: BackgroundConfig | None = None,
    shape_weights: Float[Tensor, " S"] | None = None,
) -> WorldBatch:
    captions = captions or CaptionConfig()
    idx = draw_views(bank, batch_size, generator, shape_weights)
    colour = torch.randint(len(COLOURS), (batch_size,), generator=generator)
    albedo = torch.tensor(list(COLOURS.values()))[colour]
    cams = make_cameras(bank.azimuth[idx], bank.elevation[idx], bank.distance[idx], bank.fovy[idx])
    bg = world_background(cams, bank.shade.shape[-1], background, training=True, generator=generator)
    images = composite(GeometryRender(bank.shade[idx], bank.alpha[idx]), albedo, bg)
    names = list(COLOURS)
    u = torch.rand(batch_size, generator=generator).tolist()
    texts = []
    for i, j, r in zip(idx.tolist(), colour.tolist(), u, strict=True):
        base = prompt(names[j], SHAPE_NAMES[int(bank.shape[i])])
        if r < captions.view_prob:
            texts.append(base + view_suffix(float(bank.azimuth[i]), float(bank.elevation[i])))
        elif r < 1 - captions.empty_prob:
            texts.append(base)
        else:
            texts.append("")
    return WorldBatch(images, bank.shape[idx], colour, bank.azimuth[idx], texts, cams)
