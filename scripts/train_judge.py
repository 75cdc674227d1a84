"""Train the shapes-world judge (shape, colour and mug side of a 32x32 render) on fresh renders; save to
assets/judge.

    python scripts/train_judge.py            # ~5 min on one CPU core

Images are noised and slightly blurred at random so that the judge also reads the prior's imperfect samples.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from tqdm import tqdm

from scoredream.world.dataset import WorldBatch, render_bank, sample_batch
from scoredream.world.judge import Judge, JudgeOutput, judge_dir, save_judge
from scoredream.world.shapes import SHAPE_NAMES, side_index

MUG = SHAPE_NAMES.index("mug")


def augment(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    b = images.shape[0]
    sigma = 0.06 * torch.rand(b, 1, 1, 1, generator=generator)
    images = images + sigma * torch.randn(images.shape, generator=generator)
    blurred = F.avg_pool2d(F.pad(images, (1, 1, 1, 1), mode="replicate"), 3, stride=1)
    mix = 0.5 * (torch.rand(b, 1, 1, 1, generator=generator) < 0.3)
    return ((1 - mix) * images + mix * blurred).clamp(0, 1)


def losses(out: JudgeOutput, batch: WorldBatch) -> torch.Tensor:
    loss = F.cross_entropy(out.shape_logits, batch.shape) + F.cross_entropy(out.colour_logits, batch.colour)
    mug = batch.shape == MUG
    if mug.any():
        loss = loss + F.cross_entropy(out.side_logits[mug], side_index(batch.azimuth[mug]))
    return loss


@torch.no_grad()
def accuracy(judge: Judge, batch: WorldBatch) -> dict[str, float]:
    judge.eval()
    out = judge(batch.images)
    mug = batch.shape == MUG
    return {
        "shape": (out.shape == batch.shape).float().mean().item(),
        "colour": (out.colour == batch.colour).float().mean().item(),
        "shape_and_colour": ((out.shape == batch.shape) & (out.colour == batch.colour)).float().mean().item(),
        "mug_side": (out.side[mug] == side_index(batch.azimuth[mug])).float().mean().item(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--views-per-shape", type=int, default=1500)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=1, help="differs from the prior's data seed (0)")
    parser.add_argument("--out", type=Path, default=judge_dir())
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    generator = torch.Generator().manual_seed(args.seed)
    start = time.perf_counter()
    bank = render_bank(args.views_per_shape, generator)
    test_bank = render_bank(200, generator)
    print(f"rendered {len(bank)} + {len(test_bank)} views in {time.perf_counter() - start:.0f} s")

    judge = Judge()
    optimizer = torch.optim.AdamW(judge.parameters(), lr=args.lr, weight_decay=1e-4)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, args.lr, total_steps=args.steps)
    for _ in tqdm(range(args.steps), desc="judge", mininterval=5.0):
        judge.train()
        batch = sample_batch(bank, args.batch_size, generator)
        batch.images = augment(batch.images, generator)
        loss = losses(judge(batch.images), batch)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()

    metrics = accuracy(judge, sample_batch(test_bank, 2000, torch.Generator().manual_seed(123)))
    save_judge(judge, args.out, metrics)
    print(f"held-out accuracy {metrics}; trained in {time.perf_counter() - start:.0f} s; saved to {args.out}")


if __name__ == "__main__":
    main()
