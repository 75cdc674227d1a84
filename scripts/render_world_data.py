"""Render the shapes world's colour-free geometry bank (training data for the embedded prior and the judge).

    python scripts/render_world_data.py --views-per-shape 4000 --out data/world_geometry.pt
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from scoredream.world.dataset import render_bank


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--views-per-shape", type=int, default=4000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("data/world_geometry.pt"))
    args = parser.parse_args()
    start = time.perf_counter()
    bank = render_bank(args.views_per_shape, torch.Generator().manual_seed(args.seed))
    bank.save(args.out)
    print(f"rendered {len(bank)} views to {args.out} in {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
