"""Classifier-free guidance inputs for a batch of cameras, plain or with Perp-Neg (Armandpour et al. 2023).

Perp-Neg (threestudio's prompt processor): the positive embedding is interpolated front <-> side <-> back by
azimuth, the other views' prompts are negatives weighted -(a exp(-b r) + c), and only the component of each
negative direction perpendicular to the positive one is subtracted, so "not the side view" cannot cancel the
object itself. Overhead cameras get no negatives.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from jaxtyping import Float
from torch import Tensor

from scoredream.errors import PerpNegError
from scoredream.priors.prompts import VIEWS, PromptEmbeddings
from scoredream.serialization import ConfigError

FRONT, SIDE, BACK, OVERHEAD = (VIEWS.index(v) for v in ("front", "side", "back", "overhead"))


@dataclass
class PerpNegConfig:
    """Reference setting: threestudio's Perp-Neg decay parameters (a, b, c) of a exp(-b r) + c."""

    enabled: bool = False
    """subtract other views' prompts (perpendicular part); needs view-dependent prompts; guided call 2B -> 4B"""
    front_side: tuple[float, float, float] = (4.0, 0.5, -2.426)
    """(a, b, c) for the front prompt as negative between front and side"""
    side_front: tuple[float, float, float] = (4.0, 0.5, -2.426)
    """(a, b, c) for the side prompt as negative between front and side"""
    side_back: tuple[float, float, float] = (1.0, 0.5, -0.606)
    """(a, b, c) for the side prompt as negative between side and back"""
    front_back: tuple[float, float, float] = (1.0, 0.5, 0.967)
    """(a, b, c) for the front prompt as negative between side and back"""
    weight_scale: float = 1.0
    """multiplies every negative's weight (ScaleDreamer: 0.5)"""

    def validate(self, where: str) -> None:
        if self.weight_scale < 0:
            raise ConfigError(f"{where}.weight_scale must be >= 0, got {self.weight_scale}")


def _decay(abc: tuple[float, float, float], r: float) -> float:
    a, b, c = abc
    return a * math.exp(-b * r) + c


@dataclass
class TextConditions:
    """Per-camera text embeddings for one guided noise prediction: cond, uncond and K negatives per camera."""

    cond: Float[Tensor, "B L D"]
    uncond: Float[Tensor, "B L D"]
    negatives: Float[Tensor, "B K L D"] | None = None
    weights: Float[Tensor, "B K"] | None = None
    camera: Float[Tensor, "B 13"] | None = None  # camera labels, for a prior that reads cameras

    def cameras(self, copies: int) -> Float[Tensor, "N 13"] | None:
        """The camera labels of `copies` stacked batches (the same camera in every branch), or None."""
        return None if self.camera is None else self.camera.repeat(copies, 1)

    @property
    def copies(self) -> int:
        """How many times x_t is repeated in the UNet batch (2 plain, 2 + K with Perp-Neg)."""
        return 2 + (0 if self.negatives is None else self.negatives.shape[1])

    def embeddings(self) -> Float[Tensor, "N L D"]:
        """[cond; uncond; negatives grouped by k], matching x_t repeated `copies` times."""
        parts = [self.cond, self.uncond]
        if self.negatives is not None:
            parts += list(self.negatives.unbind(1))
        return torch.cat(parts)

    def combine(self, eps: Float[Tensor, "N C h w"], scale: float) -> Float[Tensor, "B C h w"]:
        """eps_u + s (e_pos + sum_k w_k perp(e_k, e_pos)); plain CFG when there are no negatives."""
        eps_c, eps_u, *eps_neg = eps.chunk(self.copies)
        e_pos = eps_c - eps_u
        for k, eps_k in enumerate(eps_neg):
            assert self.weights is not None
            w = self.weights[:, k].view(-1, 1, 1, 1).to(eps)
            e_pos = e_pos + w * perpendicular_component(eps_k - eps_u, eps_c - eps_u)
        return eps_u + scale * e_pos


def perpendicular_component(x: Float[Tensor, "B ..."], y: Float[Tensor, "B ..."]) -> Float[Tensor, "B ..."]:
    """x minus its projection on y, per sample (threestudio projects over the whole batch at once)."""
    dims = tuple(range(1, x.ndim))
    coef = (x * y).sum(dims, keepdim=True) / (y * y).sum(dims, keepdim=True).clamp_min(1e-12)
    return x - coef * y


def perp_neg_weights(azimuth_deg: float, config: PerpNegConfig) -> tuple[float, int, int, list[float]]:
    """(r, first view, second view, [w_1, w_2]): the positive is r * first + (1 - r) * second, and the
    negatives are the prompts of views (front, side) or (side, front) with weights w."""
    az = abs((azimuth_deg + 180.0) % 360.0 - 180.0)
    if az < 90:  # between front (r = 1) and side (r = 0)
        r = 1 - az / 90
        return r, FRONT, SIDE, [-_decay(config.front_side, r), -_decay(config.side_front, 1 - r)]
    r = 2 - az / 90  # between side (r = 1) and back (r = 0)
    return r, SIDE, BACK, [-_decay(config.side_back, r), -_decay(config.front_back, r)]


def text_conditions(
    prompt: PromptEmbeddings,
    azimuth_deg: Tensor,
    elevation_deg: Tensor,
    perp_neg: PerpNegConfig | None = None,
    camera: Float[Tensor, "B 13"] | None = None,
) -> TextConditions:
    """The embeddings a guided noise prediction needs for these cameras (and their labels, for a prior that reads
    cameras)."""
    cond, uncond = prompt.for_cameras(azimuth_deg, elevation_deg)
    if perp_neg is None or not perp_neg.enabled:
        return TextConditions(cond, uncond, camera=camera)
    if not prompt.config.view_dependent:
        raise PerpNegError("Perp-Neg needs view-dependent prompts (--prompts.view-dependent True)")
    views = prompt.cond  # V L D, in VIEWS order
    pos, negs, weights = [], [], []
    idx = prompt.views(azimuth_deg.cpu(), elevation_deg.cpu())
    for i, az in zip(idx.tolist(), azimuth_deg.tolist(), strict=True):
        if i == OVERHEAD:
            pos.append(views[OVERHEAD])
            negs.append(torch.stack([uncond[0], uncond[0]]))
            weights.append([0.0, 0.0])
            continue
        r, first, second, w = perp_neg_weights(az, perp_neg)
        pos.append(r * views[first] + (1 - r) * views[second])
        negs.append(torch.stack([views[FRONT], views[SIDE]] if first == FRONT else [views[SIDE], views[FRONT]]))
        weights.append([perp_neg.weight_scale * wk for wk in w])
    return TextConditions(
        torch.stack(pos), uncond, torch.stack(negs), torch.tensor(weights, dtype=torch.float32, device=cond.device),
        camera,
    )
