"""Render the shapes world's colour-free geometry bank (training data for the embedded prior and the judge).

    python scripts/render_world_data.py --views-per-shape 4000 --out data/world_geometry.pt
    python scripts/render_world_data.py --elevation-range -10 80 --out data/world_geometry_el80.pt  # views from
        higher up, where a mug's cavity shows (the trainer's default range is -10 to 45)
    python scripts/render_world_data.py --image-size 64 --out data/world_geometry_64.pt  # for a 64x64 prior
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from scoredream.render.cameras import CameraSamplerConfig
from scoredream.world.dataset import render_bank
from scoredream.world.render import WorldRenderConfig


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--views-per-shape", type=int, default=4000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--elevation-range", type=float, nargs=2, default=CameraSamplerConfig.elevation_range,
                        metavar=("LO", "HI"), help="camera elevations in degrees (default: the trainer's)")
    parser.add_argument("--image-size", type=int, default=32, help="pixels a side (the prior trains at 32 or 64)")
    parser.add_argument("--out", type=Path, default=Path("data/world_geometry.pt"))
    args = parser.parse_args()
    start = time.perf_counter()
    cameras = CameraSamplerConfig(elevation_range=tuple(args.elevation_range))
    config = WorldRenderConfig(resolution=args.image_size)
    bank = render_bank(args.views_per_shape, torch.Generator().manual_seed(args.seed), cameras, config)
    bank.save(args.out)
    print(f"rendered {len(bank)} views to {args.out} in {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
