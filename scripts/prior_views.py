"""What the camera-conditioned prior draws from given cameras, next to the truth and to trained fields.

    .venv/bin/python scripts/prior_views.py "a cyan mug" [RUN ...] [--elevation 45] [--samples 2] [--guidance 3]
        [--prior embedded-camera] [--resolution 32] [--out outputs/prior_views.png]

Columns: 8 cameras around the object at `--elevation` (azimuth 0, 45, ..., 315 degrees; distance 1.75, fovy 50, the
middle of the training cameras' ranges). Rows: the shapes world's true render of the prompt, `--samples` rows of
the prior's own samples for the prompt from those cameras (DDIM 25 steps, CFG `--guidance`, on the random
backgrounds it learnt with), and each RUN's field (a finished `generate` run folder or checkpoint), shaded by the
world's light as the benchmark sees it. The truth and the fields are rendered at `--resolution` (the prior's
samples at its own size: 32 px for the shipped priors); prints each field's PSNR against the true renders. Where
a trained field misses a part that the prior's samples show, the run lost it; where the samples miss it too, the
prior is the limit; where the field looks like the truth at 32 px and is not, the images cannot tell them apart.
Images are scaled to 128 px (nearest), so 32 px renders stay legible.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
import torch.nn.functional as F

from scoredream.distill2d.evaluate import save_grid
from scoredream.priors import load_prior
from scoredream.priors.camera_labels import camera_labels
from scoredream.priors.sampling import ddim_sample
from scoredream.render.cameras import orbit_cameras
from scoredream.train import load_checkpoint
from scoredream.world.evaluate import evaluation_render
from scoredream.world.render import WorldRenderConfig, render_world
from scoredream.world.shapes import parse_prompt


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("prompt")
    parser.add_argument("runs", nargs="*", type=Path)
    parser.add_argument("--elevation", type=float, default=45.0)
    parser.add_argument("--samples", type=int, default=2)
    parser.add_argument("--guidance", type=float, default=3.0)
    parser.add_argument("--prior", default="embedded-camera")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--resolution", type=int, default=32, choices=(32, 64, 128),
                        help="size of the truth's and the fields' renders (the prior's samples are at its own size)")
    parser.add_argument("--out", type=Path, default=Path("outputs/prior_views.png"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    colour, shape = parse_prompt(args.prompt)
    cams = orbit_cameras(8, elevation=args.elevation, distance=1.75, fovy=50.0)
    truth, _ = render_world(shape, colour, cams, WorldRenderConfig(resolution=args.resolution))
    prior = load_prior(args.prior)
    labels = camera_labels(cams) if prior.reads_cameras else None
    generator = torch.Generator().manual_seed(args.seed)
    samples = [ddim_sample(prior, [args.prompt] * len(cams), args.guidance, 25, generator, camera=labels)
               for _ in range(args.samples)]
    rows = [truth] + [F.interpolate(s, size=args.resolution, mode="nearest") for s in samples]
    with torch.no_grad():
        for run in args.runs:
            field = load_checkpoint(run).build_field()
            rows.append(evaluation_render(field, cams, truth.shape[-1], shaded=True).rgb.permute(0, 3, 1, 2))
            psnr = -10 * torch.log10(F.mse_loss(rows[-1], truth))
            print(f"{run}: PSNR against the true renders {psnr:.1f} dB")
    images = F.interpolate(torch.cat(rows).clamp(0, 1), size=128, mode="nearest")
    save_grid(images, len(cams), args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
