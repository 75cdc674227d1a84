"""Where a generator's colours go: per prompt, the judge's colour verdicts over 8 orbit views (under the world's
light when the run shaded, as the benchmark scores it), the mean albedo of the foreground, and the mean colour
logits (before the sigmoid) inside the object; then right views per colour.

    .venv/bin/python scripts/amortized_colours.py GENERATOR_RUN_OR_SNAPSHOT [--split train test]

With --probe PROMPT R G B [--cfg S ...]: instead, the run's guidance update (minus its gradient, the way the render's
pixels are pushed; mean over the foreground pixels of 32 random training cameras x 4 draws) at the world's exact
render of the prompt's shape with albedo (R, G, B), under the world's light: zero where that colour is a fixed point
of the guidance.
"""

from __future__ import annotations

import argparse
import dataclasses
from collections import defaultdict

import torch

from scoredream.amortized.corpus import load_corpus
from scoredream.amortized.sample import LoadedGenerator
from scoredream.fields import Field
from scoredream.priors import PromptEmbeddings
from scoredream.render.cameras import CameraSamplerConfig
from scoredream.world.evaluate import evaluation_cameras, evaluation_render, foreground_colour
from scoredream.world.judge import load_judge
from scoredream.world.render import composite, trace_shape
from scoredream.world.shapes import COLOUR_NAMES, parse_prompt


def inside_logits(field: Field, points: int = 20000, density: float = 10.0) -> list[float]:
    """Mean colour logits where density > `density` (random points in the world's ball's cube)."""
    xyz = (torch.rand(points, 3, generator=torch.Generator().manual_seed(0)) * 2 - 1) * 0.55
    out = field(xyz)
    inside = out.density > density
    return field.colour_logits_from(out.features[inside]).mean(0).tolist() if inside.any() else [float("nan")] * 3


def fmt(xs: list[float]) -> str:
    return " ".join(f"{x:+.2f}" if abs(x) < 100 else f"{x:+.0f}" for x in xs)


def probe(loaded: LoadedGenerator, prompt: str, albedo: list[float], scales: list[float]) -> None:
    c, g = loaded.checkpoint.config, torch.Generator().manual_seed(0)
    cams = CameraSamplerConfig().sample(32, g)
    geometry = trace_shape(parse_prompt(prompt)[1], cams)
    x0 = composite(geometry, torch.tensor(albedo).expand(32, 3), torch.ones(32, 3, 32, 32)) * 2 - 1
    fg = (geometry.alpha > 0.5).float()
    embeddings = PromptEmbeddings(loaded.prior, prompt, c.negative_prompt, c.prompts)
    for scale in scales:
        guidance = dataclasses.replace(c.guidance_config(), guidance_scale=scale).setup(loaded.prior)
        update = sum((-guidance.gradient(guidance.draw_inputs(x0, cams, embeddings, 0.5, g), g)[0] * fg).sum((0, 2, 3))
                     for _ in range(4)) / (4 * fg.sum())
        print(f"{prompt}, albedo {fmt(albedo)}, CFG {scale}: update {fmt(update.tolist())}")


@torch.no_grad()
def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run", help="amortized run folder or checkpoints/step_*.safetensors")
    p.add_argument("--split", nargs="+", default=["train", "test"])
    p.add_argument("--probe", nargs=4, metavar=("PROMPT", "R", "G", "B"))
    p.add_argument("--cfg", type=float, nargs="+", default=[7.5, 3.0, 1.0], help="CFG scales of --probe")
    args = p.parse_args()
    torch.set_num_threads(1)
    judge, loaded, cams = load_judge(), LoadedGenerator.load(args.run, "cpu"), evaluation_cameras(8)
    if args.probe:
        return probe(loaded, args.probe[0], [float(v) for v in args.probe[1:]], args.cfg)
    shaded = loaded.checkpoint.config.shading.enabled
    right: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    print("| split | prompt | colour right (8 views) | judged instead | albedo RGB | colour logits inside |")
    print("|---|---|---|---|---|---|")
    for split in args.split:
        for prompt in load_corpus(loaded.checkpoint.config.corpus).split(split):
            colour, _ = parse_prompt(prompt)
            field = loaded.field(prompt)
            seen = evaluation_render(field, cams, 32, shaded)
            verdict = [COLOUR_NAMES[i] for i in judge(seen.rgb.permute(0, 3, 1, 2).clamp(0, 1)).colour.tolist()]
            albedo = evaluation_render(field, cams, 32, False)
            rgb = foreground_colour(albedo.rgb.permute(0, 3, 1, 2), albedo.opacity.permute(0, 3, 1, 2)).mean(0)
            ok = verdict.count(colour)
            right[colour][0] += ok
            right[colour][1] += len(verdict)
            instead = ", ".join(sorted({v for v in verdict if v != colour})) or "-"
            print(f"| {split} | {prompt} | {ok}/8 | {instead} | {fmt(rgb.tolist())} | {fmt(inside_logits(field))} |")
    print("\n" + ", ".join(f"{c} {right[c][0]}/{right[c][1]}" for c in COLOUR_NAMES if right[c][1]))


if __name__ == "__main__":
    main()
