"""Scores of a trained field against the world's ground truth: what the judge sees from many views, 3D IoU,
colour error, and the Janus rate on the mug (views whose judged side does not match the camera)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from jaxtyping import Bool, Float
from torch import Tensor

from scoredream.export.extract import Grid, auto_threshold, sample_grid
from scoredream.fields import Field
from scoredream.priors.prompts import view_index
from scoredream.render.background import BackgroundConfig
from scoredream.render.cameras import Cameras, orbit_cameras
from scoredream.render.volume import RenderConfig, RenderOutput, render
from scoredream.world.judge import Judge
from scoredream.world.render import render_world, world_lighting
from scoredream.world.shapes import COLOUR_NAMES, SHAPE_NAMES, SIDES, parse_prompt
from scoredream.world.truth import occupancy

BENCHMARK_PROMPTS = ["a red cube", "a blue sphere", "a green cylinder", "a yellow cone", "a purple torus", "a cyan mug"]


@dataclass
class FieldScore:
    prompt: str
    judge_accuracy: float  # views judged as the prompt's shape AND colour
    shape_accuracy: float
    colour_accuracy: float
    iou: float  # inside the surface a render sees (the mesh export's automatic threshold)
    iou_density10: float  # inside the fixed level density > 10
    colour_error: float  # mean L2 distance (RGB in [0, 1]) of foreground colour to the true render's
    janus_rate: float | None  # mug only

    def row(self) -> str:
        janus = "-" if self.janus_rate is None else f"{self.janus_rate:.2f}"
        return (
            f"| {self.prompt} | {self.judge_accuracy:.2f} | {self.shape_accuracy:.2f} | {self.colour_accuracy:.2f} "
            f"| {self.iou:.3f} | {self.iou_density10:.3f} | {self.colour_error:.3f} | {janus} |"
        )


TABLE_HEADER = (
    "| prompt | judge acc. (shape & colour) | shape acc. | colour acc. | 3D IoU | IoU (density > 10) | colour error "
    "| Janus rate |\n|---|---|---|---|---|---|---|---|"
)


def evaluation_cameras(views: int = 8) -> Cameras:
    """Orbit views at the middle of the training camera ranges, starting at the front."""
    return orbit_cameras(views, elevation=15.0, distance=1.75, fovy=50.0)


def janus_cameras(views: int = 8) -> Cameras:
    """The Janus rate's views: `evaluation_cameras` turned by half a step (22.5 deg for 8). Those start at the front
    and so put half their views on the front/side/back boundaries (45 and 135 deg), where which side faces the camera
    is a coin toss: there the world's own mug scored a Janus rate of 0.25 (red) and 0.375 (cyan); on these, 0."""
    return orbit_cameras(views, elevation=15.0, distance=1.75, fovy=50.0, azimuth_start=180.0 / views)


@torch.no_grad()
def field_densities(field: Field, resolution: int = 64, bound: float = 1.0, chunk: int = 1 << 17) -> Grid:
    """Density at the voxel centres of `grid_points` (zero outside the ball renders sample, as export does)."""
    spacing = 2 * bound / resolution
    lo = np.full(3, -bound + spacing / 2)
    return sample_grid(field, lo, spacing, (resolution,) * 3, chunk)


def evaluation_render(field: Field, cams: Cameras, resolution: int, shaded: bool) -> RenderOutput:
    """The field on white, as the judge and the colour error see it."""
    white = BackgroundConfig(kind="solid").setup()
    lighting = world_lighting(len(cams)) if shaded else None
    return render(field, cams.to(next(field.parameters()).device), resolution, resolution, white, RenderConfig(64),
                  lighting=lighting)


def field_occupancy(
    field: Field, resolution: int = 64, bound: float = 1.0, threshold: float | None = None
) -> Bool[Tensor, "R R R"]:
    """Voxels inside the field's surface: density above `threshold`, by default the level where rays reach
    opacity 0.5 (what a render shows, and where `scoredream export` puts the mesh)."""
    return grid_occupancy(field_densities(field, resolution, bound), threshold)


def grid_occupancy(grid: Grid, threshold: float | None = None) -> Bool[Tensor, "R R R"]:
    """`field_occupancy` of an already sampled grid, so that several levels cost one sampling."""
    level = threshold if threshold is not None else auto_threshold(grid)
    if level is None:  # no ray turns opaque: nothing is inside
        return torch.zeros(grid.values.shape, dtype=torch.bool)
    return torch.from_numpy(grid.values > level)


def iou(a: Tensor, b: Tensor) -> float:
    union = (a | b).sum().item()
    return (a & b).sum().item() / union if union else 1.0


def foreground_colour(rgb: Float[Tensor, "B 3 H W"], alpha: Float[Tensor, "B 1 H W"]) -> Float[Tensor, "B 3"]:
    w = (alpha > 0.5).float()
    return (rgb * w).sum((2, 3)) / w.sum((2, 3)).clamp_min(1)


@torch.no_grad()
def janus_rate(field: Field, judge: Judge, views: int = 8, resolution: int = 32, shaded: bool = False) -> float:
    """Fraction of the `janus_cameras` views of a mug whose judged side (front, side, back) is not the camera's."""
    cams = janus_cameras(views)
    rgb = evaluation_render(field, cams, resolution, shaded).rgb.permute(0, 3, 1, 2).clamp(0, 1).cpu()
    # view_index gives front/side/back/overhead; these cameras are never overhead.
    views_seen = view_index(cams.azimuth, cams.elevation)
    expected = torch.tensor([SIDES.index(("front", "side", "back")[i]) for i in views_seen])
    return (judge(rgb).side != expected).float().mean().item()


@torch.no_grad()
def score_field(
    field: Field, prompt: str, judge: Judge, views: int = 8, resolution: int = 32, shaded: bool = False
) -> FieldScore:
    """`shaded`: the field's colour is albedo (it was trained with shading), so it is seen under the world's light."""
    colour, shape = parse_prompt(prompt)
    cams = evaluation_cameras(views)
    out = evaluation_render(field, cams, resolution, shaded)
    rgb = out.rgb.permute(0, 3, 1, 2).clamp(0, 1).cpu()
    pred = judge(rgb)
    shape_ok = pred.shape == SHAPE_NAMES.index(shape)
    colour_ok = pred.colour == COLOUR_NAMES.index(colour)
    truth_rgb, truth_alpha = render_world(shape, colour, cams)
    err = (foreground_colour(rgb, out.opacity.permute(0, 3, 1, 2).cpu()) - foreground_colour(truth_rgb, truth_alpha))
    janus = janus_rate(field, judge, views, resolution, shaded) if shape == "mug" else None
    truth, grid = occupancy(shape, 64), field_densities(field)
    return FieldScore(
        prompt=prompt,
        judge_accuracy=(shape_ok & colour_ok).float().mean().item(),
        shape_accuracy=shape_ok.float().mean().item(),
        colour_accuracy=colour_ok.float().mean().item(),
        iou=iou(grid_occupancy(grid), truth),
        iou_density10=iou(grid_occupancy(grid, threshold=10.0), truth),
        colour_error=err.norm(dim=-1).mean().item(),
        janus_rate=janus,
    )
