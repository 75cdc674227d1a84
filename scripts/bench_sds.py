"""Text-to-3D benchmark on the embedded prior: train one field per prompt, then score it against the world's
ground truth (multi-view judge accuracy, 3D IoU, colour error, Janus rate on the mug).

    .venv/bin/python scripts/bench_sds.py [--method sds] [--steps 600] [--seeds 0] [--out outputs/bench]

Every run uses the method's default settings (GenerateConfig()); only prompt, seed and method change (and the
CFG scale or prior, when given). A run whose folder already holds its final checkpoint is scored again, not
retrained. Writes a markdown table to OUT/<method>.md and prints it.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import get_args

import torch
from bench_methods import run_one

from scoredream.train.config import GENERATE_PRIOR, MethodKind
from scoredream.world.evaluate import BENCHMARK_PROMPTS, TABLE_HEADER
from scoredream.world.judge import load_judge


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--method", default="sds", choices=get_args(MethodKind))
    p.add_argument("--steps", type=int, default=None, help="override train.steps (default: the config's)")
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--prompts", nargs="+", default=BENCHMARK_PROMPTS)
    p.add_argument("--out", type=Path, default=Path("outputs/bench"))
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--guidance-scale", type=float, default=None, help="override the method's CFG scale")
    p.add_argument("--prior", default=GENERATE_PRIOR, help=f"prior model (default: {GENERATE_PRIOR}, generate's)")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    judge = load_judge()
    rows, scores = [], []
    for seed in args.seeds:
        for prompt in args.prompts:
            run = run_one(args.method, prompt, seed, args, judge)
            scores.append(run.score)
            rows.append(f"{run.score.row()} {seed} | {run.ms_per_step:.0f} |")
            print(rows[-1], flush=True)
    header = TABLE_HEADER.replace("Janus rate |", "Janus rate | seed | ms/step |").replace("|---|", "|---|---|---|", 1)
    mean = lambda xs: sum(xs) / len(xs)  # noqa: E731
    janus = [s.janus_rate for s in scores if s.janus_rate is not None]
    summary = (
        f"\nmean judge accuracy {mean([s.judge_accuracy for s in scores]):.3f}, "
        f"mean IoU {mean([s.iou for s in scores]):.3f} (density > 10: {mean([s.iou_density10 for s in scores]):.3f}), "
        f"mean colour error {mean([s.colour_error for s in scores]):.3f}, "
        f"mug Janus rate {mean(janus) if janus else float('nan'):.3f}"
    )
    table = "\n".join([header, *rows]) + "\n" + summary + "\n"
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{args.method}.md").write_text(table)
    print("\n" + table)


if __name__ == "__main__":
    main()
