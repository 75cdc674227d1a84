"""What an image-to-3D run's unseen sides were asked to be, next to what they became.

    .venv/bin/python scripts/novel_view_vs_field.py RUN [--prompt "a cyan mug"] [--elevation 45] [--samples 2]
        [--guidance 2] [--out PNG]

RUN is a finished run folder of `scoredream generate --image` (or of scripts/bench_image.py). Columns: the input's
azimuth + 0, 90, 180 and 270 degrees, at `--elevation` (default: the input's), the input's distance and fovy.
Rows: the true object (with `--prompt`, for shapes-world inputs: `render_world`), `--samples` rows of the run's
novel-view prior's own samples from the run's input view (DDIM, CFG `--guidance`), and the field (on white, shaded
as the run was). When the field misses a part that the prior's samples show, the run lost it; when the samples
miss it too, the prior is the limit. Writes PNG (default RUN/novel_view_vs_field.png) and prints its path.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
import torch.nn.functional as F

from scoredream.distill2d.evaluate import save_grid
from scoredream.errors import CheckpointError
from scoredream.image.reference import load_reference
from scoredream.priors.novel_view import relative_camera, sample_novel_views
from scoredream.render.cameras import Cameras, make_cameras
from scoredream.train import load_checkpoint
from scoredream.world.evaluate import evaluation_render
from scoredream.world.render import WorldRenderConfig, render_world
from scoredream.world.shapes import parse_prompt

OFFSETS = (0.0, 90.0, 180.0, 270.0)  # degrees of azimuth from the input view


def orbit(input_camera: Cameras, elevation: float | None) -> Cameras:
    """Four cameras around the object at the input's distance and fovy."""
    n = len(OFFSETS)
    el = input_camera.elevation.item() if elevation is None else elevation
    return make_cameras(input_camera.azimuth.item() + torch.tensor(OFFSETS), torch.full((n,), el),
                        input_camera.distance.expand(n), torch.rad2deg(input_camera.fovy).expand(n))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("run", type=Path)
    p.add_argument("--prompt", default=None, help="the shapes-world object the input shows (adds its true views)")
    p.add_argument("--elevation", type=float, default=None, help="degrees (default: the input view's)")
    p.add_argument("--samples", type=int, default=2)
    p.add_argument("--guidance", type=float, default=2.0, help="CFG scale of the samples")
    p.add_argument("--size", type=int, default=128, help="side of each picture in the PNG")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args()

    try:
        ckpt = load_checkpoint(args.run)
    except CheckpointError as e:
        raise SystemExit(f"error: {e}") from e
    config = ckpt.config
    if not config.image.enabled:
        raise SystemExit(f"error: {args.run} is not an image run (its config has no image.path)")
    prior = config.image.prior.setup("cpu")
    resolution = prior.image_size  # the prior's own pixel size: its samples, the input and the field share it
    reference = load_reference(config.image, resolution)
    cams = orbit(reference.camera, args.elevation)

    d_el, d_az, d_dist = relative_camera(cams, reference.camera, config.image.guidance.distance_fovy)
    condition = prior.encode_reference(reference.rgb[None])
    generator = torch.Generator().manual_seed(args.seed)
    k = args.samples
    samples = sample_novel_views(prior, condition, d_el.repeat(k), d_az.repeat(k), d_dist.repeat(k),
                                 args.guidance, generator=generator)
    with torch.no_grad():
        field = evaluation_render(ckpt.build_field(), cams, resolution, config.shading.enabled).rgb
    rows = [samples, field.permute(0, 3, 1, 2)]
    if args.prompt:
        colour, shape = parse_prompt(args.prompt)
        rows.insert(0, render_world(shape, colour, cams, WorldRenderConfig(resolution=resolution))[0])
    images = F.interpolate(torch.cat(rows).clamp(0, 1), size=args.size, mode="nearest")
    out = args.out or args.run / "novel_view_vs_field.png"
    save_grid(images, len(OFFSETS), out)
    print(out)


if __name__ == "__main__":
    main()
