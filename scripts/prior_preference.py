"""Which renders does the prior prefer: the true object's, or what score distillation made of it?

    .venv/bin/python scripts/prior_preference.py "a cyan mug" [--runs NAME=PATH ...] [--true-colour]
        [--shapes cylinder ...] [--cavity-fills 0.25 0.5 ...] [--prior embedded] [--views 64] [--noises 1]
        [--bins 8] [--steps 4]
        [--scales 1 2 7.5] [--seed 0] [--threads 2]

Every image set is rendered at the prior's size, on white, from the same random training cameras: `truth` (the
world's own render of the prompt's object, what the embedded prior learnt from); for a mug, the true mug with one
thing changed (`MUG_VARIANTS`: its handle on the other side, no handle, the cup filled, both) and, with
`--cavity-fills`, its cavity filled from the floor to each fraction of the cup's depth (the way from a filled cup
to the open one: does the energy fall all along it, or is there a ridge to cross?); other world shapes
in the prompt's colour (`--shapes`); and the fields of run folders or checkpoints (`--runs NAME=PATH`, rendered as
the judge sees them, under the world's light when the run trained with shading; `--true-colour` adds each field's
shape in the prompt's true colour, to tell shape from colour).

Two measures, every set under the same t (`--bins` equal bins of [20, 980]) and the same noise (`--noises` draws
per view and bin), each view with its view prompt:
- the prior's denoising errors |eps_hat(x_t, t, y) - eps|^2, conditional (L_c; lower = likelier given the text)
  and the text's share L_u - L_c (the implicit classifier's evidence for the prompt);
- the **SDS energy** change from the truth: score distillation moves a render x along -g(x), g = w(t) (eps_u +
  s (eps_c - eps_u) - eps), so the line integral of g along the straight path truth -> set (midpoint rule,
  `--steps` points) is how much energy SDS at CFG s loses by going there. Negative: SDS descends from the truth to
  the set, and no renderer, schedule or field can make SDS keep the truth against it. It is split into the
  unconditional part dE_u (g's eps_u - eps) and the classifier part dE_cls (eps_c - eps_u), so dE = dE_u +
  s dE_cls at any scale.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import Tensor

from scoredream.fields.base import Field
from scoredream.guidance.perp_neg import TextConditions, text_conditions
from scoredream.priors.camera_labels import camera_labels
from scoredream.priors.diffusion_prior import DiffusionPrior, PriorConfig
from scoredream.priors.prompts import PromptEmbeddings
from scoredream.render.background import BackgroundConfig
from scoredream.render.cameras import Cameras, CameraSamplerConfig
from scoredream.train import load_checkpoint
from scoredream.world.evaluate import evaluation_render
from scoredream.world.render import WorldRenderConfig, composite, trace_shape, world_background
from scoredream.world.shapes import (
    COLOURS,
    MUG_FLOOR,
    MUG_TOP,
    SDF,
    SHAPES,
    mug_body,
    mug_cup,
    mug_handle,
    parse_prompt,
    sdf_mug,
)

MUG_VARIANTS: dict[str, SDF] = {
    "mug, handle on the other side": lambda p: sdf_mug(p * torch.tensor([1.0, -1.0, 1.0])),
    "mug without handle": mug_cup,
    "filled mug": lambda p: torch.minimum(mug_body(p), mug_handle(p)),
    "filled mug without handle": mug_body,
}
"""The true mug with one thing changed: where its handle is, whether it has one, whether its cup is hollow."""


def mug_filled_to(fraction: float) -> SDF:
    """The true mug with its cavity filled from the floor up to `fraction` of the cup's inner depth (1: filled)."""
    floor = MUG_FLOOR + fraction * (MUG_TOP - MUG_FLOOR)
    return lambda p: torch.minimum(mug_cup(p, floor), mug_handle(p))


def named_path(text: str) -> tuple[str, Path]:
    name, sep, path = text.partition("=")
    if not sep or not name or not path:
        raise argparse.ArgumentTypeError(f"expected NAME=PATH, got {text}")
    return name, Path(path)


def image_sets(prompt: str, runs: list[tuple[str, Path]], shapes: list[str], cams: Cameras,
               true_colour: bool, size: int, cavity_fills: Sequence[float] = ()) -> dict[str, Tensor]:
    """name -> renders B 3 H W in [0, 1] at the prior's size."""
    colour, shape = parse_prompt(prompt)
    sets = {"truth": world_render(shape, colour, cams, size)}
    for other in shapes:
        if other not in SHAPES:
            raise SystemExit(f"unknown shape '{other}' (choose from {', '.join(SHAPES)})")
        sets[f"true {other}"] = world_render(other, colour, cams, size)
    if shape == "mug":
        sets.update({name: world_render(sdf, colour, cams, size) for name, sdf in MUG_VARIANTS.items()})
        sets.update({f"mug, cavity filled to {f:g} of its depth": world_render(mug_filled_to(f), colour, cams, size)
                     for f in cavity_fills})
    logits = torch.logit(torch.tensor(COLOURS[colour]).clamp(1e-4, 1 - 1e-4))
    for name, path in runs:
        ckpt = load_checkpoint(path)
        field = ckpt.build_field()
        sets[name] = field_render(field, cams, ckpt.config.shading.enabled, size)
        if true_colour:  # the field's shape in the prompt's true colour: separates shape from colour
            field.colour_logits_from = lambda f: logits.expand(len(f), 3)  # type: ignore[method-assign]
            sets[f"{name}, true colour"] = field_render(field, cams, ckpt.config.shading.enabled, size)
    return sets


def world_render(shape: str | SDF, colour: str, cams: Cameras, size: int) -> Tensor:
    white = world_background(cams, size, BackgroundConfig(kind="solid"))
    geometry = trace_shape(shape, cams, WorldRenderConfig(resolution=size))
    return composite(geometry, torch.tensor(COLOURS[colour]).expand(len(cams), 3), white)


def field_render(field: Field, cams: Cameras, shaded: bool, size: int) -> Tensor:
    with torch.no_grad():
        return evaluation_render(field, cams, size, shaded).rgb.permute(0, 3, 1, 2).clamp(0, 1)


@torch.no_grad()
def noise_predictions(
    prior: DiffusionPrior, x0: Tensor, conditions: TextConditions, t: Tensor, noise: Tensor
) -> tuple[Tensor, Tensor]:
    """(eps_c, eps_u) at x_t = sqrt(alpha_bar) x0 + sqrt(1 - alpha_bar) noise, in one UNet call."""
    x_t = prior.add_noise(x0, noise, t)
    eps = prior.predict_noise(torch.cat([x_t, x_t]), torch.cat([t, t]), conditions.embeddings(),
                              conditions.cameras(2))
    return eps.chunk(2)


def per_image(x: Tensor, y: Tensor) -> Tensor:
    return (x * y).flatten(1).sum(1)


def measure(prior: DiffusionPrior, x0: dict[str, Tensor], conditions: TextConditions, bins: int, noises: int,
            steps: int, generator: torch.Generator) -> dict[str, Tensor]:
    """name -> [bins, 4, views * noises]: L_c and L_u (mean squared errors of the noise prediction), and the two
    parts of the SDS energy change from the truth, dE_u and dE_cls, integrated along the straight path truth -> set
    by the midpoint rule with `steps` points; every set and point with the same t and noise."""
    n, truth = len(conditions.cond), x0["truth"]
    edges = torch.linspace(20, 980, bins + 1)
    out = {name: torch.zeros(bins, 4, n * noises) for name in x0}
    for b in range(bins):
        for k in range(noises):
            t = (edges[b] + (edges[b + 1] - edges[b]) * torch.rand(n, generator=generator)).long()
            noise = torch.randn(truth.shape, generator=generator)
            w = (1 - prior.alphas_cumprod[t]).view(-1, 1, 1, 1)
            cols = slice(k * n, (k + 1) * n)
            for name, x in x0.items():
                eps_c, eps_u = noise_predictions(prior, x, conditions, t, noise)
                out[name][b, 0, cols] = (eps_c - noise).square().flatten(1).mean(1)
                out[name][b, 1, cols] = (eps_u - noise).square().flatten(1).mean(1)
                if name == "truth":
                    continue
                for j in range(steps):
                    lam = (j + 0.5) / steps
                    eps_c, eps_u = noise_predictions(prior, truth + lam * (x - truth), conditions, t, noise)
                    out[name][b, 2, cols] += per_image(w * (eps_u - noise), x - truth) / steps
                    out[name][b, 3, cols] += per_image(w * (eps_c - eps_u), x - truth) / steps
    return out


def mean_se(x: Tensor) -> str:
    return f"{x.mean():+.3f} ({x.std() / len(x) ** 0.5:.3f})"


def report(out: dict[str, Tensor], bins: int, scales: list[float]) -> str:
    edges = torch.linspace(20, 980, bins + 1).long().tolist()
    names = [f"t {edges[b]}-{edges[b + 1]}" for b in range(bins)]
    lines = ["Denoising errors, L_c / L_u - L_c (x 1000; L_c lower = likelier given the prompt, L_u - L_c higher = "
             "the text explains more):", "", "| set | " + " | ".join(names) + " |", "|---" * (bins + 1) + "|"]
    for name, e in out.items():
        lines.append(f"| {name} | " + " | ".join(
            f"{1000 * e[b, 0].mean():.1f} / {1000 * (e[b, 1] - e[b, 0]).mean():+.2f}" for b in range(bins)) + " |")
    lines += ["", "SDS energy change from the truth, dE = dE_u + s dE_cls over t uniform in [20, 980] (the line "
              "integral of SDS's own gradient w(t) (eps_cfg - eps); negative = SDS at that scale descends from the "
              "truth to the set; mean (s.e.) over views and noises):", "",
              "| set | dE_u | dE_cls | " + " | ".join(f"dE at CFG {s:g}" for s in scales) + " |",
              "|---" * (len(scales) + 3) + "|"]
    for name, e in out.items():
        if name == "truth":
            continue
        du, dc = e[:, 2].mean(0), e[:, 3].mean(0)
        lines.append(f"| {name} | {mean_se(du)} | {mean_se(dc)} | "
                     + " | ".join(mean_se(du + s * dc) for s in scales) + " |")
    lines += ["", f"The same by t (dE at CFG {scales[-1]:g} / at CFG 1; the bins' means, so the first table's values "
              "are their averages):", "", "| set | " + " | ".join(names) + " |", "|---" * (bins + 1) + "|"]
    for name, e in out.items():
        if name != "truth":
            lines.append(f"| {name} | " + " | ".join(
                f"{(e[b, 2] + scales[-1] * e[b, 3]).mean():+.2f} / {(e[b, 2] + e[b, 3]).mean():+.2f}"
                for b in range(bins)) + " |")
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("prompt")
    p.add_argument("--runs", nargs="*", type=named_path, default=[], metavar="NAME=PATH")
    p.add_argument("--shapes", nargs="*", default=[])
    p.add_argument("--cavity-fills", nargs="*", type=float, default=[], metavar="F",
                   help="for a mug, also the true mug with its cavity filled to each fraction F (0-1) of its depth")
    p.add_argument("--views", type=int, default=64)
    p.add_argument("--noises", type=int, default=1)
    p.add_argument("--bins", type=int, default=8)
    p.add_argument("--prior", default="embedded")
    p.add_argument("--true-colour", action="store_true", help="also each run's shape in the prompt's colour")
    p.add_argument("--steps", type=int, default=4, help="points on each path truth -> set")
    p.add_argument("--scales", type=float, nargs="+", default=[1.0, 2.0, 7.5])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    if not all(0 <= f <= 1 for f in args.cavity_fills):
        p.error("--cavity-fills takes fractions from 0 to 1")
    torch.set_num_threads(args.threads)
    generator = torch.Generator().manual_seed(args.seed)
    cams = CameraSamplerConfig().sample(args.views, generator)
    prior = PriorConfig(model=args.prior).setup()
    prompt = PromptEmbeddings(prior, args.prompt)
    sets = image_sets(args.prompt, args.runs, args.shapes, cams, args.true_colour, prior.image_size,
                      args.cavity_fills)
    labels = camera_labels(cams) if prior.reads_cameras else None
    conditions = text_conditions(prompt, cams.azimuth, cams.elevation, camera=labels)
    x0 = {name: prior.encode_images(rgb) for name, rgb in sets.items()}
    out = measure(prior, x0, conditions, args.bins, args.noises, args.steps, generator)
    print(f"{args.prompt}, prior {args.prior}, {args.views} training views x {args.noises} noises per t bin\n")
    print(report(out, args.bins, args.scales))


if __name__ == "__main__":
    main()
