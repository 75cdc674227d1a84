"""SDS vs VSD vs ASD on the embedded prior's benchmark prompts, each with its default settings (GenerateConfig()).

    .venv/bin/python scripts/bench_methods.py [--methods sds vsd asd] [--prompts "a red cube" ...] [--seeds 0 1]
        [--steps N] [--threads 1] [--no-recommendations] [--overrides JSON] [--out outputs/bench_methods]

Per method: judge accuracy across 8 orbit views (shape and colour), 3D IoU against the ground-truth occupancy,
foreground colour error, diversity across seeds (RMS pixel distance between the evaluation renders of two seeds of
the same prompt, averaged over prompts and seed pairs), and wall time per step. Writes OUT/methods.md and prints it.
Default settings include the prior's recommendations (its scoredream_guidance.json); `--no-recommendations` runs
the papers' settings instead; `--overrides` merges JSON into every run's config (the keys of config.json). A run
whose folder already holds its final checkpoint is scored again, not retrained. The per-run rows come from
scoredream.world.evaluate.score_field, the same scorer as scripts/bench_sds.py.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import get_args

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ablate import config_overrides, with_overrides  # noqa: E402  (one owner for merging overrides into a config dict)

from scoredream.run_folder import RunFolder
from scoredream.serialization import ConfigError
from scoredream.train import GenerateConfig, generate, load_checkpoint
from scoredream.train.config import GENERATE_PRIOR, MethodKind
from scoredream.world.evaluate import (
    BENCHMARK_PROMPTS,
    TABLE_HEADER,
    FieldScore,
    evaluation_cameras,
    evaluation_render,
    score_field,
)
from scoredream.world.judge import load_judge


@dataclass
class Run:
    method: str
    prompt: str
    seed: int
    score: FieldScore
    views: torch.Tensor  # evaluation renders, V 3 H W
    ms_per_step: float


def run_one(method: str, prompt: str, seed: int, args: argparse.Namespace, judge: object) -> Run:
    cfg = GenerateConfig(prompt=prompt, method=method, output_dir=args.out / method)  # type: ignore[arg-type]
    cfg = with_overrides(cfg, getattr(args, "overrides", None))
    cfg.prior.model = args.prior
    cfg.prior.recommendations = not getattr(args, "no_recommendations", False)
    cfg.train.seed, cfg.video.enabled, cfg.export.enabled = seed, False, False
    cfg.train.preview_every, cfg.train.checkpoint_every = 0, 0
    if args.steps:
        cfg.train.steps = args.steps
    if getattr(args, "guidance_scale", None) is not None:
        cfg.guidance_config().guidance_scale = args.guidance_scale
    ckpt_path, timing = RunFolder(cfg.run_dir()).checkpoint, cfg.run_dir() / "bench_seconds.txt"
    if ckpt_path.exists() and load_checkpoint(ckpt_path).step == cfg.train.steps:  # a finished run: score it again
        seconds = float(timing.read_text()) if timing.exists() else float("nan")
    else:
        t0 = time.perf_counter()
        generate(cfg, progress=False, resume=ckpt_path.exists())  # a killed run continues
        seconds = time.perf_counter() - t0
        timing.write_text(f"{seconds}\n")
    field = load_checkpoint(ckpt_path).build_field()
    shaded = load_checkpoint(ckpt_path).config.shading.enabled
    score = score_field(field, prompt, judge, shaded=shaded)  # type: ignore[arg-type]
    with torch.no_grad():
        views = evaluation_render(field, evaluation_cameras(), 32, shaded)
    return Run(method, prompt, seed, score, views.rgb.clamp(0, 1), 1000 * seconds / cfg.train.steps)


def diversity(runs: list[Run]) -> float:
    """Mean RMS distance between the renders of two seeds of one prompt (0: every seed gives the same object)."""
    dists = [
        (a.views - b.views).pow(2).mean().sqrt().item()
        for a, b in itertools.combinations(runs, 2)
        if a.prompt == b.prompt and a.seed != b.seed
    ]
    return sum(dists) / len(dists) if dists else float("nan")


def table(runs: list[Run], methods: list[str]) -> str:
    mean = lambda xs: sum(xs) / len(xs)  # noqa: E731
    lines = [
        "| method | judge acc. | shape acc. | colour acc. | 3D IoU | IoU (density > 10) | colour error | diversity "
        "| ms/step | runs |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for m in methods:
        rs = [r for r in runs if r.method == m]
        s = [r.score for r in rs]
        lines.append(
            f"| {m} | {mean([x.judge_accuracy for x in s]):.2f} | {mean([x.shape_accuracy for x in s]):.2f} "
            f"| {mean([x.colour_accuracy for x in s]):.2f} | {mean([x.iou for x in s]):.3f} "
            f"| {mean([x.iou_density10 for x in s]):.3f} "
            f"| {mean([x.colour_error for x in s]):.3f} | {diversity(rs):.3f} "
            f"| {mean([r.ms_per_step for r in rs if r.ms_per_step == r.ms_per_step] or [float('nan')]):.0f} "
            f"| {len(rs)} |"
        )
    lines += ["", "| method | seed | ms/step " + TABLE_HEADER.replace("|---|", "|---|---|---|---|", 1)]
    lines += [f"| {r.method} | {r.seed} | {r.ms_per_step:.0f} {r.score.row()}" for r in runs]
    return "\n".join(lines) + "\n"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--methods", nargs="+", default=list(get_args(MethodKind)), choices=get_args(MethodKind))
    p.add_argument("--prompts", nargs="+", default=BENCHMARK_PROMPTS)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    p.add_argument("--steps", type=int, default=None, help="override train.steps (default: the config's)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--prior", default=GENERATE_PRIOR, help=f"prior model (default: {GENERATE_PRIOR}, generate's)")
    p.add_argument("--guidance-scale", type=float, default=None, help="override every method's CFG scale")
    p.add_argument("--no-recommendations", action="store_true",
                   help="ignore the prior's recommended settings (the papers' CFG scales and t schedules)")
    p.add_argument("--overrides", type=config_overrides, default=None,
                   help="JSON merged into each run's config (config.json's keys), e.g. an ablation's settings")
    p.add_argument("--out", type=Path, default=Path("outputs/bench_methods"))
    args = p.parse_args()
    if args.overrides:  # a wrong key fails here, before any run, as a usage error
        try:
            with_overrides(GenerateConfig(prompt=args.prompts[0]), args.overrides).validate()
        except ConfigError as e:
            p.error(f"--overrides: {e}")
    torch.set_num_threads(args.threads)
    judge = load_judge()
    runs = []
    for seed in args.seeds:  # seed-major, so an interrupted benchmark still compares every method
        for prompt in args.prompts:
            for method in args.methods:
                runs.append(run_one(method, prompt, seed, args, judge))
                r = runs[-1]
                print(f"{method} | {prompt} | seed {seed} | judge {r.score.judge_accuracy:.2f} | IoU "
                      f"{r.score.iou:.3f} | colour err {r.score.colour_error:.3f} | {r.ms_per_step:.0f} ms/step",
                      flush=True)
    text = table(runs, args.methods)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "methods.md").write_text(text)
    print("\n" + text)


if __name__ == "__main__":
    main()
