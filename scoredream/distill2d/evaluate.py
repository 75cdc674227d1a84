"""How good a 2D sampler is on the shapes world: judged accuracy and sample diversity, on fixed prompts."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch
from jaxtyping import Float
from PIL import Image
from torch import Tensor

from scoredream.world.judge import Judge, judged_right
from scoredream.world.shapes import all_prompts

Sampler = Callable[[list[str], torch.Generator], Float[Tensor, "B 3 H W"]]

TEST_SEED = 0
"""the noise seed `scripts/bench_2d.py` scores a student with; no evaluation during training uses it"""
VALIDATION_SEED = 1000
"""the noise seed of the trainer's periodic evaluations, which choose the kept (best) student: disjoint from the
test's noise, so choosing on it does not select on the test"""


def eval_texts(samples: int) -> list[str]:
    """Every shapes-world prompt `samples` times, a prompt's samples together."""
    return [p for p in all_prompts() for _ in range(samples)]


def diversity(images: Float[Tensor, "B 3 H W"], samples: int) -> float:
    """Mean pairwise RMS distance (RGB in [0, 1]) between the samples of one prompt, over all prompts."""
    groups = images.float().reshape(-1, samples, images[0].numel())
    distance = torch.cdist(groups, groups) / images[0].numel() ** 0.5  # P S S
    pairs = samples * (samples - 1)
    return float(distance.sum() / (groups.shape[0] * pairs)) if pairs else 0.0


def judge_sampler(
    sample: Sampler, judge: Judge, samples: int = 8, seed: int = TEST_SEED, batch: int = 128
) -> tuple[float, float, Tensor]:
    """(accuracy, diversity, images) of `samples` images per shapes-world prompt."""
    texts = eval_texts(samples)
    generator = torch.Generator().manual_seed(seed)
    images = torch.cat([sample(texts[i : i + batch], generator).cpu() for i in range(0, len(texts), batch)])
    right = judged_right(judge, images, texts)
    return float(right.float().mean()), diversity(images, samples), images


def save_grid(images: Float[Tensor, "B 3 H W"], columns: int, path: Path) -> None:
    """Images in [0, 1] as one PNG, `columns` per row (B a multiple of columns)."""
    rows = images.reshape(-1, columns, *images.shape[1:])
    grid = torch.cat([torch.cat(list(r), -1) for r in rows], -2)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray((grid.permute(1, 2, 0) * 255).round().byte().numpy()).save(path)
