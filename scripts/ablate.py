"""One `generate` run with config overrides, scored against the embedded world's truth: for ablations of a setting.

    .venv/bin/python scripts/ablate.py NAME "a blue sphere" '{"method": "asd", "asd": {"guidance_scale": 15}}'
        [--out outputs/ablate] [--threads 1]

The overrides are a JSON object merged into GenerateConfig's dict (the same keys as config.json). Prints and appends
to OUT/results.txt one line: judge accuracy, IoU inside the rendered surface (as bench_methods), IoU and volume
ratio of the density > 1 and > 10 regions against the true shape, colour error, seconds, and for a mug the Janus
rate; writes OUT/NAME.png (4 orbit views of the field over the world's true renders). A finished run folder is scored
again, not retrained.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
import torch.nn.functional as F
import torchvision

from scoredream.fields.base import Field
from scoredream.run_folder import RunFolder
from scoredream.serialization import from_dict, to_dict
from scoredream.train import GenerateConfig, generate, load_checkpoint
from scoredream.world.evaluate import (
    evaluation_cameras,
    evaluation_render,
    field_densities,
    grid_occupancy,
    iou,
    score_field,
)
from scoredream.world.judge import load_judge
from scoredream.world.render import render_world
from scoredream.world.shapes import parse_prompt
from scoredream.world.truth import occupancy


def config_overrides(text: str) -> dict:
    """argparse type of an overrides argument: a JSON object, else a usage error instead of a traceback."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as e:
        raise argparse.ArgumentTypeError(f"not JSON ({e}): {text}") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"a JSON object of config keys is needed, got {text}")
    return value


def merge(base: dict, overrides: dict) -> dict:
    """`base` with `overrides` merged in, nested dicts key by key; neither argument is changed."""
    out = dict(base)
    for key, value in overrides.items():
        nested = isinstance(value, dict) and isinstance(out.get(key), dict)
        out[key] = merge(out[key], value) if nested else value
    return out


def with_overrides(cfg: GenerateConfig, overrides: dict | None) -> GenerateConfig:
    """`cfg` with a partial config.json (`overrides`) merged in; `cfg` itself when there is none."""
    return from_dict(GenerateConfig, merge(to_dict(cfg), overrides)) if overrides else cfg


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("name")
    parser.add_argument("prompt")
    parser.add_argument("overrides", nargs="?", type=config_overrides, default={})
    parser.add_argument("--out", type=Path, default=Path("outputs/ablate"))
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    overrides = args.overrides

    d = merge(to_dict(GenerateConfig(prompt=args.prompt)), {"output_dir": str(args.out), "run_name": args.name})
    d = merge(d, {"video": {"enabled": False}, "export": {"enabled": False}, "train": {"preview_every": 0}})
    cfg = from_dict(GenerateConfig, merge(d, overrides))
    ckpt = RunFolder(cfg.run_dir()).checkpoint
    t0 = time.perf_counter()
    if not (ckpt.exists() and load_checkpoint(ckpt).step == cfg.train.steps):
        generate(cfg, progress=False, resume=ckpt.exists())  # a killed run continues
    seconds = time.perf_counter() - t0
    field = load_checkpoint(ckpt).build_field()

    score = score_field(field, args.prompt, load_judge(), shaded=cfg.shading.enabled)
    shape = parse_prompt(args.prompt)[1]
    truth = occupancy(shape, 64)
    grid = field_densities(field)
    regions = {th: grid_occupancy(grid, th) for th in (1.0, 10.0)}
    ious = " ".join(f"iou@{th:g} {iou(occ, truth):.3f}" for th, occ in regions.items())
    vols = " ".join(f"vol@{th:g} {occ.sum().item() / truth.sum().item():.2f}" for th, occ in regions.items())
    line = (
        f"{args.name}: {args.prompt} {json.dumps(overrides)} judge {score.judge_accuracy:.2f} iou {score.iou:.3f} "
        f"{ious} {vols} colour_err {score.colour_error:.3f} {seconds:.0f}s"
        + ("" if score.janus_rate is None else f" janus {score.janus_rate:.2f}")
    )
    print(line, flush=True)
    with open(args.out / "results.txt", "a") as f:
        f.write(line + "\n")

    save_views([field], args.prompt, cfg.shading.enabled, args.out / f"{args.name}.png")


def save_views(fields: list[Field], prompt: str, shaded: bool, path: Path) -> None:
    """4 orbit views (64 px) of each field, a row each, over a row of the world's true renders."""
    colour, shape = parse_prompt(prompt)
    cams = evaluation_cameras(4)
    with torch.no_grad():
        rows = [evaluation_render(f, cams, 64, shaded).rgb.permute(0, 3, 1, 2).clamp(0, 1).cpu() for f in fields]
    true_rgb, _ = render_world(shape, colour, cams)
    torchvision.utils.save_image(torch.cat([*rows, F.interpolate(true_rgb, size=64)]), path, nrow=4)


if __name__ == "__main__":
    main()
