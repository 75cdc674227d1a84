"""Where a trained field misses the world's true shape: vertical slices of its inside against the truth.

    .venv/bin/python scripts/iou_slices.py RUN_DIR [RUN_DIR ...] --out docs/iou_slices.png

For each run (a `generate` run folder of a shapes-world prompt), one row of four 64x64 slices through the centre
of the 64^3 grid the benchmark scores: the planes x = 0 and y = 0, first inside the rendered surface (density above
the level where rays turn 50% opaque, as `scripts/bench_methods.py` and the mesh export cut), then inside density
> 1. White: inside both the field and the true shape; red: true shape only (missed); green: field only (extra).
+Z (up) is up in every slice. Prints each run's level, IoU and volume ratios, and its density at the
centre and largest density.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
import torchvision

from scoredream.export.extract import auto_threshold
from scoredream.run_folder import RunFolder
from scoredream.train import load_checkpoint
from scoredream.world.evaluate import field_densities, grid_occupancy, iou
from scoredream.world.shapes import parse_prompt
from scoredream.world.truth import occupancy


def slices(inside: torch.Tensor, truth: torch.Tensor) -> list[torch.Tensor]:
    """The x = 0 and y = 0 planes of two [x, y, z] occupancy grids as RGB images (truth red, field green)."""
    out = []
    for axis in (0, 1):
        field, true = inside.select(axis, inside.shape[axis] // 2), truth.select(axis, truth.shape[axis] // 2)
        rgb = torch.stack([true, field, field & true]).float()  # [3, u, z]
        out.append(rgb.transpose(1, 2).flip(1))  # rows from +z down: up is up
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("runs", nargs="+", type=Path)
    p.add_argument("--out", type=Path, required=True)
    args = p.parse_args()
    images = []
    for run in args.runs:
        ckpt = load_checkpoint(RunFolder(run).checkpoint)
        _, shape = parse_prompt(ckpt.config.prompt)
        grid, truth = field_densities(ckpt.build_field()), occupancy(shape)
        level = auto_threshold(grid)
        rendered, soft = grid_occupancy(grid, level), grid_occupancy(grid, 1.0)
        images += slices(rendered, truth) + slices(soft, truth)
        n, centre = truth.sum().item(), tuple(size // 2 for size in grid.values.shape)
        print(f"{run}: level {level if level is None else round(level, 2)} | IoU {iou(rendered, truth):.3f} "
              f"(volume {rendered.sum().item() / n:.2f}x) | density > 1: IoU {iou(soft, truth):.3f} "
              f"(volume {soft.sum().item() / n:.2f}x) | density at the centre {grid.values[centre]:.2f}, "
              f"largest {grid.values.max():.2f}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    grid_image = torch.nn.functional.interpolate(torch.stack(images), scale_factor=2, mode="nearest")
    torchvision.utils.save_image(grid_image, args.out, nrow=4, padding=2, pad_value=0.5)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
