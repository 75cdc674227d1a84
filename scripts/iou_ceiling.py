"""What 3D IoU a field can reach when its surface is where the prior's renders can put it.

    .venv/bin/python scripts/iou_ceiling.py [--prior-resolution 32]

Two tables, on the 64^3 grid the benchmarks score:
- the mug's ceiling for a solid object: its body filled in (a solid barrel), that barrel with the true handle, and
  the mug without its handle, against the true mug;
- every benchmark shape with its surface moved in or out by a fraction of one pixel of the prior's renders (an SDF
  level set: sdf < -d is the shape shrunk by d, sdf < d grown by d). A pixel is the training cameras' mean view
  height (`CameraSamplerConfig`'s mean distance and field of view) over the prior's resolution: what a prior that
  sees 32x32 images can tell apart.
"""

from __future__ import annotations

import argparse
import math

import torch

from scoredream.render.cameras import CameraSamplerConfig
from scoredream.world.evaluate import iou
from scoredream.world.shapes import SHAPES, mug_body, sdf_mug
from scoredream.world.truth import grid_points

PIXEL_FRACTIONS = (0.25, 0.5, 1.0)


def pixel_size(resolution: int, cameras: CameraSamplerConfig) -> float:
    """World units per render pixel at the origin, for the cameras' mean distance and field of view."""
    distance = sum(cameras.distance_range) / 2
    fovy = math.radians(sum(cameras.fovy_range) / 2)
    return 2 * distance * math.tan(fovy / 2) / resolution


def mug_rows(p: torch.Tensor) -> None:
    mug = sdf_mug(p) < 0
    barrel = mug_body(p) < 0
    rows = {
        "solid barrel (cup filled, no handle)": barrel,
        "solid barrel + the true handle": barrel | mug,
        "hollow cup without its handle": barrel & mug,
    }
    for name, occ in rows.items():
        print(f"{name}: IoU {iou(occ, mug):.3f}, volume {occ.sum().item() / mug.sum().item():.2f}x the mug's")


def shifted_rows(p: torch.Tensor, pixel: float) -> None:
    print(f"\nsurface moved by a fraction of a prior pixel ({pixel:.4f} units): IoU shrunk / grown")
    print("| shape | " + " | ".join(f"{f:g} px" for f in PIXEL_FRACTIONS) + " |")
    print("|---|" + "---|" * len(PIXEL_FRACTIONS))
    means = torch.zeros(len(PIXEL_FRACTIONS), 2)
    for name, sdf in SHAPES.items():
        d = sdf(p)
        truth = d < 0
        cells = []
        for i, fraction in enumerate(PIXEL_FRACTIONS):
            shift = fraction * pixel
            pair = torch.tensor([iou(d < -shift, truth), iou(d < shift, truth)])
            means[i] += pair / len(SHAPES)
            cells.append(f"{pair[0]:.3f} / {pair[1]:.3f}")
        print(f"| {name} | " + " | ".join(cells) + " |")
    print("| mean | " + " | ".join(f"{m[0]:.3f} / {m[1]:.3f}" for m in means) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--prior-resolution", type=int, default=32, help="pixels across the prior's images")
    args = parser.parse_args()
    p = grid_points(64)
    mug_rows(p)
    shifted_rows(p, pixel_size(args.prior_resolution, CameraSamplerConfig()))


if __name__ == "__main__":
    torch.set_grad_enabled(False)
    main()
