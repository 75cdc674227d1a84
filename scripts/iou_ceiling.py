"""What 3D IoU a solid object can reach against the hollow mug: the ceiling of a field that fills the cup.

    .venv/bin/python scripts/iou_ceiling.py

Prints the IoU (64^3 grid, as the benchmarks score) of the mug's own body filled in (a solid barrel), of that
barrel with the true handle, and of the mug without its handle, against the true mug.
"""

from __future__ import annotations

import torch

from scoredream.world.evaluate import iou
from scoredream.world.shapes import sdf_cylinder, sdf_mug
from scoredream.world.truth import grid_points


def main() -> None:
    p = grid_points(64)
    mug = sdf_mug(p) < 0
    barrel = sdf_cylinder(p, radius=0.25, half_height=0.3) < 0  # the cup's outer wall, filled
    rows = {
        "solid barrel (cup filled, no handle)": barrel,
        "solid barrel + the true handle": barrel | mug,
        "hollow cup without its handle": barrel & mug,
    }
    for name, occ in rows.items():
        print(f"{name}: IoU {iou(occ, mug):.3f}, volume {occ.sum().item() / mug.sum().item():.2f}x the mug's")


if __name__ == "__main__":
    torch.set_grad_enabled(False)
    main()
