"""The novel-view prior's 2D check: from held-out views of every shapes-world object, draw the OPPOSITE view
(d_azimuth 180 degrees, same elevation and distance) and judge it; write a per-prompt table.

    python scripts/eval_novel_view.py                             # the embedded prior, 8 inputs per prompt, CFG 1.5
    python scripts/eval_novel_view.py --prior /path/to/zero123 --samples 4 --guidance 3

Inputs are exact renders of the world composited on white (the input a user gives), from cameras of the
trainer's distribution drawn with a seed the training data never used. Right = the judge names the input's shape
AND colour in the generated back view; for mugs it also reports how often the judge sees the side the opposite
camera faces (the handle flips sides: the back side is where image-to-3D fails). Bar: >= 90% right.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from eval_prior import save_grid  # noqa: E402  (one owner for sample grids)

from scoredream.priors.novel_view import NovelViewPriorConfig, sample_novel_views  # noqa: E402
from scoredream.render.cameras import CameraSamplerConfig  # noqa: E402
from scoredream.world.judge import load_judge  # noqa: E402
from scoredream.world.render import composite, trace_shape  # noqa: E402
from scoredream.world.shapes import COLOUR_NAMES, COLOURS, SHAPE_NAMES, SIDES, all_prompts, parse_prompt, side_index  # noqa: E402,E501

HELD_OUT_SEED = 1_000_003  # training data uses seeds 0.. (render_world_data, train_novel_view)


def held_out_inputs(samples: int, seed: int) -> tuple[torch.Tensor, list[str], torch.Tensor]:
    """(images on white [N 3 32 32], prompt per image, the input camera's azimuth [N]) for every prompt."""
    generator = torch.Generator().manual_seed(seed)
    images, texts, azimuths = [], [], []
    for text in all_prompts():
        colour, shape = parse_prompt(text)
        cams = CameraSamplerConfig().sample(samples, generator)
        geometry = trace_shape(shape, cams)
        albedo = torch.tensor(COLOURS[colour]).expand(samples, 3)
        images.append(composite(geometry, albedo, torch.ones(samples, 3, 32, 32)))
        texts += [text] * samples
        azimuths.append(cams.azimuth)
    return torch.cat(images), texts, torch.cat(azimuths)


def shape_labels(texts: list[str]) -> torch.Tensor:
    """The index in SHAPE_NAMES of each prompt's shape."""
    return torch.tensor([SHAPE_NAMES.index(parse_prompt(t)[1]) for t in texts])


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--prior", default="embedded")
    parser.add_argument("--samples", type=int, default=8, help="held-out input views per prompt")
    parser.add_argument("--guidance", type=float, default=1.5, help="classifier-free guidance scale (its best, README)")
    parser.add_argument("--steps", type=int, default=25, help="DDIM steps")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("assets/novel_view/EVAL.md"))
    parser.add_argument("--grid", type=Path, default=Path("data/eval_novel_view_samples.png"))
    parser.add_argument("--json", type=Path, default=None, help="also write the numbers here")
    return parser.parse_args()


def generate_opposite(prior: object, images: torch.Tensor, args: argparse.Namespace) -> torch.Tensor:
    generator = torch.Generator().manual_seed(args.seed)
    out = []
    for i in range(0, len(images), args.batch):
        chunk = images[i : i + args.batch].to(args.device)
        n = len(chunk)
        condition = prior.encode_reference(chunk)
        zeros = torch.zeros(n)
        out.append(sample_novel_views(prior, condition, zeros, torch.full((n,), torch.pi), zeros,
                                      args.guidance, args.steps, generator).cpu())
    return torch.cat(out)


def main() -> None:
    args = parse_args()
    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    prior = NovelViewPriorConfig(model=args.prior).setup(args.device)
    judge = load_judge(device=args.device)
    images, texts, azimuth = held_out_inputs(args.samples, HELD_OUT_SEED)
    views = generate_opposite(prior, images, args)
    save_grid(torch.stack([images, views], 1).reshape(-1, 3, 32, 32), 2 * args.samples, args.grid)
    verdict = judge(views.to(args.device))
    shape_ok = verdict.shape.cpu() == shape_labels(texts)
    colour_ok = verdict.colour.cpu() == torch.tensor([COLOUR_NAMES.index(parse_prompt(t)[0]) for t in texts])
    both = shape_ok & colour_ok
    rows = []
    for i, text in enumerate(all_prompts()):
        sl = slice(i * args.samples, (i + 1) * args.samples)
        rows.append(f"| {text} | {int(shape_ok[sl].sum())}/{args.samples} | {int(colour_ok[sl].sum())}/{args.samples}"
                    f" | {int(both[sl].sum())}/{args.samples} |")
    mugs = torch.tensor([parse_prompt(t)[1] == "mug" for t in texts])
    opposite = torch.remainder(azimuth + 360.0, 360.0) - 180.0
    side_ok = (verdict.side.cpu() == side_index(opposite)) & shape_ok
    side_rows = [f"| {side} | {int((side_ok & mugs & (side_index(opposite) == s)).sum())}/"
                 f"{int((mugs & (side_index(opposite) == s)).sum())} |" for s, side in enumerate(SIDES)]
    minutes = (time.perf_counter() - start) / 60
    total, hits = len(texts), int(both.sum())
    report = "\n".join([
        f"# Novel-view prior evaluation: {args.prior}",
        "",
        f"For each of the {len(all_prompts())} prompts, {args.samples} held-out input views (exact renders on white, "
        f"cameras from `CameraSamplerConfig()` with seed {HELD_OUT_SEED}); the OPPOSITE view (d_azimuth 180 deg) "
        f"drawn with DDIM {args.steps} steps, CFG {args.guidance}, seed {args.seed}; judged by assets/judge. "
        f"{minutes:.1f} min on {args.device} ({args.threads} threads). Command: "
        f"`python scripts/eval_novel_view.py --prior {args.prior} --samples {args.samples} --guidance {args.guidance}`",
        "",
        f"**Shape and colour right in the opposite view: {hits}/{total} = {100 * hits / total:.1f}%** (bar: 90%)",
        "",
        f"Mug side right (judged mug and the side the opposite camera faces): {int((side_ok & mugs).sum())}/"
        f"{int(mugs.sum())}",
        "",
        "| asked side | right |",
        "|---|---|",
        *side_rows,
        "",
        "| input object | shape | colour | both |",
        "|---|---|---|---|",
        *rows,
        "",
    ])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(report)
    if args.json:
        args.json.write_text(json.dumps({"accuracy": hits / total, "shape": float(shape_ok.float().mean()),
                                         "colour": float(colour_ok.float().mean()),
                                         "mug_side": float((side_ok & mugs).sum() / mugs.sum()), "minutes": minutes}))
    print(report)


if __name__ == "__main__":
    main()
