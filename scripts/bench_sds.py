"""Text-to-3D benchmark on the embedded prior: train one field per prompt, then score it against the world's
ground truth (multi-view judge accuracy, 3D IoU, colour error, Janus rate on the mug).

    .venv/bin/python scripts/bench_sds.py [--method sds] [--steps 600] [--seeds 0] [--out outputs/bench]

Every run uses the method's default settings (GenerateConfig()); only prompt, seed and method change. Writes a
markdown table to OUT/<method>.md and prints it.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import get_args

import torch

from scoredream.train import GenerateConfig, generate, load_checkpoint
from scoredream.train.config import MethodKind
from scoredream.world.evaluate import TABLE_HEADER, score_field
from scoredream.world.judge import load_judge

PROMPTS = ["a red cube", "a blue sphere", "a green cylinder", "a yellow cone", "a purple torus", "a cyan mug"]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--method", default="sds", choices=get_args(MethodKind))
    p.add_argument("--steps", type=int, default=None, help="override train.steps (default: the config's)")
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--prompts", nargs="+", default=PROMPTS)
    p.add_argument("--out", type=Path, default=Path("outputs/bench"))
    p.add_argument("--threads", type=int, default=None)
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    judge = load_judge()
    rows, scores = [], []
    for seed in args.seeds:
        for prompt in args.prompts:
            cfg = GenerateConfig(prompt=prompt, method=args.method, output_dir=args.out / args.method)
            cfg.train.seed = seed
            cfg.video.enabled = False
            cfg.export.enabled = False
            if args.steps:
                cfg.train.steps = args.steps
            t0 = time.perf_counter()
            result = generate(cfg, progress=False)
            seconds = time.perf_counter() - t0
            field = load_checkpoint(result.checkpoint).build_field()
            score = score_field(field, prompt, judge)
            scores.append(score)
            rows.append(f"{score.row()} {seed} | {seconds:.0f} | {1000 * seconds / cfg.train.steps:.0f} |")
            print(rows[-1], flush=True)
    header = TABLE_HEADER.replace("Janus rate |", "Janus rate | seed | seconds | ms/step |")
    header = header.replace("|---|---|---|---|---|---|---|", "|---|---|---|---|---|---|---|---|---|---|")
    mean = lambda xs: sum(xs) / len(xs)  # noqa: E731
    summary = (
        f"\nmean judge accuracy {mean([s.judge_accuracy for s in scores]):.3f}, "
        f"mean IoU {mean([s.iou for s in scores]):.3f}, "
        f"mean colour error {mean([s.colour_error for s in scores]):.3f}, "
        f"mug Janus rate {mean([s.janus_rate for s in scores if s.janus_rate is not None] or [float('nan')]):.3f}"
    )
    table = "\n".join([header, *rows]) + "\n" + summary + "\n"
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{args.method}.md").write_text(table)
    print("\n" + table)


if __name__ == "__main__":
    main()
