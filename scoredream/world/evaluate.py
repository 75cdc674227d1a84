"""Scores of a trained field against the world's ground truth: what the judge sees from many views, 3D IoU,
colour error, and the Janus rate on the mug (views whose judged side does not match the camera)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from jaxtyping import Bool, Float
from torch import Tensor

from scoredream.fields import Field
from scoredream.priors.prompts import view_index
from scoredream.render.background import BackgroundConfig
from scoredream.render.cameras import Cameras, orbit_cameras
from scoredream.render.volume import RenderConfig, render
from scoredream.world.judge import Judge
from scoredream.world.render import render_world
from scoredream.world.shapes import COLOUR_NAMES, SHAPE_NAMES, SIDES, parse_prompt
from scoredream.world.truth import grid_points, occupancy


@dataclass
class FieldScore:
    prompt: str
    judge_accuracy: float  # views judged as the prompt's shape AND colour
    shape_accuracy: float
    colour_accuracy: float
    iou: float
    colour_error: float  # mean L2 distance (RGB in [0, 1]) of foreground colour to the true render's
    janus_rate: float | None  # mug only

    def row(self) -> str:
        janus = "-" if self.janus_rate is None else f"{self.janus_rate:.2f}"
        return (
            f"| {self.prompt} | {self.judge_accuracy:.2f} | {self.shape_accuracy:.2f} | {self.colour_accuracy:.2f} "
            f"| {self.iou:.3f} | {self.colour_error:.3f} | {janus} |"
        )


TABLE_HEADER = (
    "| prompt | judge acc. (shape & colour) | shape acc. | colour acc. | 3D IoU | colour error | Janus rate |\n"
    "|---|---|---|---|---|---|---|"
)


def evaluation_cameras(views: int = 8) -> Cameras:
    """Orbit views at the middle of the training camera ranges, starting at the front."""
    return orbit_cameras(views, elevation=15.0, distance=1.75, fovy=50.0)


@torch.no_grad()
def field_occupancy(
    field: Field, resolution: int = 64, bound: float = 1.0, threshold: float = 10.0, chunk: int = 1 << 17
) -> Bool[Tensor, "R R R"]:
    """Voxels whose density exceeds `threshold` (a density of 10 makes a 1/32-thick layer ~27% opaque)."""
    device = next(field.parameters()).device
    pts = grid_points(resolution, bound).reshape(-1, 3)
    dens = torch.cat([field.density(pts[i : i + chunk].to(device)).cpu() for i in range(0, len(pts), chunk)])
    return (dens > threshold).reshape(resolution, resolution, resolution)


def iou(a: Tensor, b: Tensor) -> float:
    union = (a | b).sum().item()
    return (a & b).sum().item() / union if union else 1.0


def foreground_colour(rgb: Float[Tensor, "B 3 H W"], alpha: Float[Tensor, "B 1 H W"]) -> Float[Tensor, "B 3"]:
    w = (alpha > 0.5).float()
    return (rgb * w).sum((2, 3)) / w.sum((2, 3)).clamp_min(1)


@torch.no_grad()
def score_field(
    field: Field, prompt: str, judge: Judge, views: int = 8, resolution: int = 32, density_threshold: float = 10.0
) -> FieldScore:
    colour, shape = parse_prompt(prompt)
    cams = evaluation_cameras(views)
    white = BackgroundConfig(kind="solid").setup()
    out = render(field, cams.to(next(field.parameters()).device), resolution, resolution, white, RenderConfig(64))
    rgb = out.rgb.permute(0, 3, 1, 2).clamp(0, 1).cpu()
    pred = judge(rgb)
    shape_ok = pred.shape == SHAPE_NAMES.index(shape)
    colour_ok = pred.colour == COLOUR_NAMES.index(colour)
    truth_rgb, truth_alpha = render_world(shape, colour, cams)
    err = (foreground_colour(rgb, out.opacity.permute(0, 3, 1, 2).cpu()) - foreground_colour(truth_rgb, truth_alpha))
    janus = None
    if shape == "mug":
        # view_index gives front/side/back/overhead; evaluation cameras are never overhead.
        expected = view_index(cams.azimuth, cams.elevation)
        janus = (pred.side != torch.tensor([SIDES.index(("front", "side", "back")[i]) for i in expected])).float()
        janus = janus.mean().item()
    occ = field_occupancy(field, threshold=density_threshold)
    return FieldScore(
        prompt=prompt,
        judge_accuracy=(shape_ok & colour_ok).float().mean().item(),
        shape_accuracy=shape_ok.float().mean().item(),
        colour_accuracy=colour_ok.float().mean().item(),
        iou=iou(occ, occupancy(shape, occ.shape[0])),
        colour_error=err.norm(dim=-1).mean().item(),
        janus_rate=janus,
    )
