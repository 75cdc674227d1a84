"""Does score distillation keep the true shape? A run started from a field fitted to the world's own object.

    .venv/bin/python scripts/distil_from_truth.py [--prompts "a red cube" ...] [--method sds] [--seed 0]
        [--overrides JSON] [--start "a red cube"] [--fit-steps 400] [--density 30] [--threads 1]
        [--out outputs/from_truth]

For each prompt: the default run's field (the same config as `scripts/bench_methods.py`, with --overrides merged
in) is first fitted to the true shape in 3D (density `--density` inside the SDF, 0 outside, with a 0.005 soft
edge; the true colour as albedo near and inside the surface), saved as the run's step-0 checkpoint, and then
trained by the method's guidance for the run's steps as usual (`generate(..., resume=True)`). Prints and appends
to OUT/results.txt the benchmark's scores (`score_field`: judge accuracy, 3D IoU inside the rendered surface,
colour error, the mug's Janus rate) of the fitted field and of the trained one, and the IoU of the density > 1
region. A prior that keeps the truth leaves the IoU near where it starts; how far it falls is how far the
guidance's own optimum lies from the world's shape, a ceiling that no change to the field, renderer or schedule
lifts. `--start PROMPT` fits every run to that object instead of its own (a control: can the guidance, at
these settings, move a wrong start towards the prompt?); the scores are against the prompt's object as always.
RUN/views.png: 4 views of the fitted field, the trained one and the truth (rows). A finished run folder is
scored again, not retrained.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ablate import config_overrides, save_views, with_overrides  # noqa: E402  (one owner of overrides and pictures)

from scoredream.device import pick_device
from scoredream.fields.base import Field
from scoredream.run_folder import RunFolder
from scoredream.train import GenerateConfig, generate, load_checkpoint
from scoredream.train.trainer import build_run
from scoredream.world.evaluate import BENCHMARK_PROMPTS, FieldScore, field_densities, grid_occupancy, iou, score_field
from scoredream.world.judge import Judge, load_judge
from scoredream.world.shapes import COLOURS, SHAPES, parse_prompt
from scoredream.world.truth import occupancy, surface_points

EDGE = 0.005  # the fitted density's soft edge (SDF units): a fifth of a 64^3 evaluation voxel


def fit_to_truth(field: Field, prompt: str, density: float, steps: int, seed: int) -> float:
    """Fits `field` (density and albedo) to the prompt's true object at random points: half uniform in the
    sampling ball, half within 0.05 of the surface. Returns the last step's loss."""
    colour, shape = parse_prompt(prompt)
    sdf, albedo = SHAPES[shape], torch.tensor(COLOURS[colour])
    g = torch.Generator().manual_seed(seed)
    surface = surface_points(shape, 100_000, g)
    device = next(field.parameters()).device
    opt = torch.optim.Adam(field.parameters(), lr=1e-2)
    loss = torch.zeros(())
    for _ in range(steps):
        uniform = (torch.rand(4096, 3, generator=g) * 2 - 1) * field.bound
        near = surface[torch.randint(len(surface), (4096,), generator=g)] + torch.randn(4096, 3, generator=g) * 0.05
        points = torch.cat([uniform, near])
        d = sdf(points)
        target = density * torch.sigmoid(-d / EDGE)
        out = field(points.to(device))
        coloured = (d < 0.02).to(device)  # the colour that renders see: at and inside the surface
        loss = ((out.density - target.to(device)) / density).square().mean() + (
            (out.rgb[coloured] - albedo.to(device)).square().sum(-1).mean()
        )
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return loss.item()


def scores(field: Field, prompt: str, judge: Judge, shaded: bool) -> tuple[FieldScore, float]:
    """The benchmark's score, and the IoU of the density > 1 region."""
    truth = occupancy(parse_prompt(prompt)[1], 64)
    return score_field(field, prompt, judge, shaded=shaded), iou(grid_occupancy(field_densities(field), 1.0), truth)


def line(name: str, score: FieldScore, iou1: float) -> str:
    janus = "" if score.janus_rate is None else f" janus {score.janus_rate:.2f}"
    return (f"{name}: judge {score.judge_accuracy:.2f} iou {score.iou:.3f} iou@1 {iou1:.3f} "
            f"colour_err {score.colour_error:.3f}{janus}")


def run_prompt(prompt: str, args: argparse.Namespace, judge: Judge) -> str:
    cfg = GenerateConfig(prompt=prompt, method=args.method, output_dir=args.out / args.method)
    cfg = with_overrides(cfg, args.overrides)
    cfg.train.seed, cfg.video.enabled, cfg.export.enabled, cfg.train.preview_every = args.seed, False, False, 0
    folder = RunFolder(cfg.run_dir())
    t0 = time.perf_counter()
    fitted = folder.root / "fitted.safetensors"
    if not folder.checkpoint.exists():
        device = pick_device(cfg.train.device)
        with folder.lock():
            run = build_run(cfg, folder, cfg.prior.setup(device), device)
            for particle in run.particles:  # VSD's extra particles start from the truth too
                fit_loss = fit_to_truth(particle, args.start or prompt, args.density, args.fit_steps, args.seed)
            run.save(0)
        print(f"{prompt}: fitted (loss {fit_loss:.4f}, {time.perf_counter() - t0:.0f}s)", flush=True)
    start = load_checkpoint(folder.checkpoint)
    if start.step == 0:  # keep the fitted field's weights for scoring after the run overwrites the checkpoint
        fitted.write_bytes(folder.checkpoint.read_bytes())
    if start.step < cfg.train.steps:
        generate(cfg, resume=True, progress=False)
    shaded = cfg.shading.enabled
    fields = [load_checkpoint(fitted).build_field(), load_checkpoint(folder.checkpoint).build_field()]
    before, after = (scores(f, prompt, judge, shaded) for f in fields)
    save_views(fields, prompt, shaded, folder.root / "views.png")
    origin = f" from {args.start}" if args.start else ""
    text = (f"{prompt}{origin} {args.method} seed {args.seed} {args.overrides or {}}: "
            f"{line('fitted', *before)} | {line('trained', *after)} | {time.perf_counter() - t0:.0f}s")
    print(text, flush=True)
    return text


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--prompts", nargs="+", default=list(BENCHMARK_PROMPTS))
    p.add_argument("--method", default="sds")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--overrides", type=config_overrides, default=None)
    p.add_argument("--start", default=None, help="fit to this world prompt's object instead of each run's own")
    p.add_argument("--fit-steps", type=int, default=400)
    p.add_argument("--density", type=float, default=30.0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", type=Path, default=Path("outputs/from_truth"))
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    judge = load_judge()
    args.out.mkdir(parents=True, exist_ok=True)
    for prompt in args.prompts:
        text = run_prompt(prompt, args, judge)
        with open(args.out / "results.txt", "a") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
