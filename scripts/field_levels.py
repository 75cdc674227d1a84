"""How soft a trained field is: its 3D IoU and volume against the true shape at the cut and at fixed density levels.

    .venv/bin/python scripts/field_levels.py SHAPE RUN_DIR_OR_CHECKPOINT [...] [--levels 0.5 1 3 10 30]

The benchmarks score the region inside the surface a render cuts (`field_occupancy`: the density level where rays
reach opacity 0.5, as export places the mesh). For a soft field that region lies inside the one of low density;
this prints, per run, the cut's level, and IoU / volume (as a multiple of the true shape's) at the cut and at each
of --levels, on the benchmarks' 64^3 grid, and the voxels the cut has too many and misses, per slab of height.
SHAPE: cube, sphere, cylinder, cone, torus or mug.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from scoredream.export.extract import auto_threshold
from scoredream.run_folder import RunFolder
from scoredream.train import load_checkpoint
from scoredream.world.evaluate import field_densities, iou
from scoredream.world.shapes import SHAPE_NAMES
from scoredream.world.truth import occupancy


def slabs(voxels: torch.Tensor, size: int = 8) -> str:
    """Counts of set voxels per slab of `size` z layers, bottom first, as a/b/c."""
    return "/".join(str(int(voxels[:, :, z:z + size].sum())) for z in range(0, voxels.shape[2], size))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("shape", choices=SHAPE_NAMES)
    p.add_argument("runs", nargs="+", type=Path, help="run folders or checkpoint files")
    p.add_argument("--levels", nargs="+", type=float, default=[0.5, 1.0, 3.0, 10.0, 30.0])
    args = p.parse_args()
    truth = occupancy(args.shape, 64)
    for run in args.runs:
        path = RunFolder(run).checkpoint if run.is_dir() else run
        grid = field_densities(load_checkpoint(path).build_field())
        density = torch.from_numpy(grid.values)
        cut = auto_threshold(grid)
        cells = [f"cut at {cut:.2f}" if cut is not None else "no cut"]
        for level in ([cut] if cut is not None else []) + args.levels:
            inside = density > level
            volume = inside.sum().item() / truth.sum().item()
            cells.append(f"> {level:.1f}: IoU {iou(inside, truth):.3f}, volume {volume:.2f}x")
        print(f"{run}: " + " | ".join(cells))
        if cut is not None:  # where the cut's misses lie: voxels too many and missing, per height (z) slab of 8
            at_cut = density > cut
            extra, missing = at_cut & ~truth, truth & ~at_cut
            print(f"  at the cut: {int(extra.sum())} voxels too many, {int(missing.sum())} missing of "
                  f"{int(truth.sum())}; by z slab (bottom first) too many {slabs(extra)}, missing {slabs(missing)}")


if __name__ == "__main__":
    torch.set_grad_enabled(False)
    main()
