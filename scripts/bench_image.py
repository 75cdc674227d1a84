"""Image to 3D (and text plus image) on the shapes world: the benchmark prompts' true objects as input images.

    .venv/bin/python scripts/bench_image.py [--modes image text+image] [--prompts "a red cube" ...] [--seeds 0 1]
        [--steps N] [--threads 1] [--novel-view-weight W] [--input-resolution 32] [--overrides JSON]
        [--out outputs/bench_image]

For each prompt and seed, the true object is rendered (`render_world`, exact, RGBA, 32x32 by default) from a
held-out random camera drawn from the trainer's camera ranges by its own generator (seed 1000 + 10 x seed + prompt
index); that render is the input image and its camera the input camera (`--image.elevation/azimuth/distance/fovy`;
the true azimuth, so that the result is in the world frame the scores compare with: for image-only runs this is the
same as azimuth 0 and a rotation, since the novel-view prior reads relative cameras only). Modes: `image` (no prompt:
novel-view SDS + reference losses), `text+image` (the prompt as well: the text prior's SDS, plus the same) and
`text` (the prompt alone, as scripts/bench_methods.py runs SDS, scored on the same held-out views).

Scores: `score_field` as the text benchmark (scripts/bench_methods.py): judge over 8 orbit views, 3D IoU inside the
rendered surface, colour error, Janus rate on the mug; plus the judge on the view opposite the input (azimuth +
180 degrees, same elevation, distance and fovy: correct when shape and colour are, and for the mug the side too)
and the PSNR of the field's render at the input camera against the input image (both on white, under the world's
light when the run shaded its renders). A finished run is scored again, not retrained; a killed one resumes.
`--input-resolution` renders the input larger (the run's reference view follows it); `--overrides` merges JSON into
every run's config (config.json's keys), for ablations.
Writes OUT/image.md and prints it.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ablate import config_overrides, with_overrides  # noqa: E402  (one owner for merging overrides into a config dict)

from scoredream.fields import Field
from scoredream.image import psnr
from scoredream.priors.prompts import view_index
from scoredream.render.cameras import Cameras, CameraSamplerConfig, make_cameras
from scoredream.run_folder import RunFolder
from scoredream.train import GenerateConfig, generate, load_checkpoint
from scoredream.train.config import GENERATE_PRIOR
from scoredream.world.evaluate import BENCHMARK_PROMPTS, FieldScore, evaluation_render, score_field
from scoredream.world.judge import Judge, load_judge
from scoredream.world.render import WorldRenderConfig, render_world
from scoredream.world.shapes import COLOUR_NAMES, SHAPE_NAMES, SIDES, parse_prompt

MODES = ("text", "image", "text+image")


@dataclass
class ImageRun:
    mode: str
    prompt: str
    seed: int
    camera: tuple[float, float, float, float]  # azimuth, elevation, distance, fovy of the input view
    score: FieldScore
    back_view: float  # 1.0 when the view opposite the input is judged right
    input_psnr: float
    ms_per_step: float


def input_camera(prompt: str, seed: int) -> Cameras:
    """A held-out camera from the trainer's ranges, by a generator no run uses."""
    generator = torch.Generator().manual_seed(1000 + 10 * seed + BENCHMARK_PROMPTS.index(prompt))
    return CameraSamplerConfig().sample(1, generator)


def write_input(prompt: str, camera: Cameras, path: Path, resolution: int = 32) -> Path:
    """The true object seen by `camera`, as an RGBA PNG (colour un-premultiplied from the render on white)."""
    colour, shape = parse_prompt(prompt)
    rgb, alpha = render_world(shape, colour, camera, WorldRenderConfig(resolution=resolution))
    a = alpha[0].permute(1, 2, 0).numpy()
    straight = np.clip((rgb[0].permute(1, 2, 0).numpy() - (1 - a)) / np.maximum(a, 1e-6), 0, 1)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray((np.concatenate([straight, a], -1) * 255).round().astype(np.uint8), "RGBA").save(path)
    return path


def run_config(mode: str, prompt: str, seed: int, camera: Cameras, image: Path,
               args: argparse.Namespace) -> GenerateConfig:
    cfg = GenerateConfig(prompt=prompt if "text" in mode else "", output_dir=args.out / mode.replace("+", "_"))
    cfg.run_name = f"{prompt.replace(' ', '-')}-s{seed}"
    cfg.prior.model, cfg.image.prior.model = args.prior, args.novel_view_prior
    cfg.image.path = image if "image" in mode else None
    cfg.image.azimuth, cfg.image.elevation = camera.azimuth.item(), camera.elevation.item()
    cfg.image.distance, cfg.image.fovy = camera.distance.item(), torch.rad2deg(camera.fovy).item()
    if args.novel_view_weight is not None:
        cfg.image.novel_view_weight = args.novel_view_weight
    cfg.image.resolution = args.input_resolution  # the reference view renders at the input's own size
    cfg.train.seed, cfg.video.enabled, cfg.export.enabled = seed, False, False
    cfg.train.preview_every, cfg.train.checkpoint_every = 0, 100
    if args.steps:
        cfg.train.steps = args.steps
    return with_overrides(cfg, args.overrides)


def opposite(camera: Cameras) -> Cameras:
    return make_cameras(camera.azimuth + 180.0, camera.elevation, camera.distance, torch.rad2deg(camera.fovy))


@torch.no_grad()
def back_view_correct(field: Field, prompt: str, camera: Cameras, judge: Judge, shaded: bool) -> float:
    colour, shape = parse_prompt(prompt)
    back = opposite(camera)
    pred = judge(evaluation_render(field, back, 32, shaded).rgb.permute(0, 3, 1, 2).clamp(0, 1).cpu())
    right = pred.shape.item() == SHAPE_NAMES.index(shape) and pred.colour.item() == COLOUR_NAMES.index(colour)
    if shape == "mug":
        side = ("front", "side", "back")[view_index(back.azimuth, back.elevation).item()]
        right = right and pred.side.item() == SIDES.index(side)
    return float(right)


@torch.no_grad()
def input_view_psnr(field: Field, image: Path, camera: Cameras, shaded: bool) -> float:
    rgba = torch.from_numpy(np.asarray(Image.open(image).convert("RGBA"), dtype=np.float32) / 255.0)
    truth = rgba[..., :3] * rgba[..., 3:] + (1 - rgba[..., 3:])
    out = evaluation_render(field, camera, truth.shape[0], shaded)
    return psnr(out.rgb[0].clamp(0, 1).cpu(), truth)


def run_one(mode: str, prompt: str, seed: int, args: argparse.Namespace, judge: Judge) -> ImageRun:
    camera = input_camera(prompt, seed)
    name = f"{prompt.replace(' ', '-')}-s{seed}.png"
    image = write_input(prompt, camera, args.out / "inputs" / name, args.input_resolution)
    cfg = run_config(mode, prompt, seed, camera, image, args)
    ckpt_path, timing = RunFolder(cfg.run_dir()).checkpoint, cfg.run_dir() / "bench_seconds.txt"
    if ckpt_path.exists() and load_checkpoint(ckpt_path).step == cfg.train.steps:
        seconds = float(timing.read_text()) if timing.exists() else float("nan")
    else:
        t0 = time.perf_counter()
        generate(cfg, progress=False, resume=ckpt_path.exists())
        seconds = time.perf_counter() - t0
        timing.write_text(f"{seconds}\n")
    ckpt = load_checkpoint(ckpt_path)
    field, shaded = ckpt.build_field(), ckpt.config.shading.enabled
    score = score_field(field, prompt, judge, shaded=shaded)
    pose = (camera.azimuth.item(), camera.elevation.item(), camera.distance.item(), torch.rad2deg(camera.fovy).item())
    return ImageRun(mode, prompt, seed, pose, score, back_view_correct(field, prompt, camera, judge, shaded),
                    input_view_psnr(field, image, camera, shaded), 1000 * seconds / cfg.train.steps)


def table(runs: list[ImageRun], modes: list[str]) -> str:
    mean = lambda xs: sum(xs) / len(xs) if xs else float("nan")  # noqa: E731
    lines = ["| mode | judge acc. (8 views) | 3D IoU | colour error | Janus rate (mug) | back-view judge "
             "| input-view PSNR (dB) | ms/step | runs |", "|---|---|---|---|---|---|---|---|---|"]
    for m in modes:
        rs = [r for r in runs if r.mode == m]
        janus = [r.score.janus_rate for r in rs if r.score.janus_rate is not None]
        lines.append(f"| {m} | {mean([r.score.judge_accuracy for r in rs]):.2f} "
                     f"| {mean([r.score.iou for r in rs]):.3f} | {mean([r.score.colour_error for r in rs]):.3f} "
                     f"| {mean(janus):.2f} "
                     f"| {mean([r.back_view for r in rs]):.2f} | {mean([r.input_psnr for r in rs]):.1f} "
                     f"| {mean([r.ms_per_step for r in rs]):.0f} | {len(rs)} |")
    lines += ["", "| mode | prompt | seed | input camera (az, el, dist, fovy) | judge acc. | 3D IoU | colour error "
              "| back view | input PSNR |", "|---|---|---|---|---|---|---|---|---|"]
    for r in runs:
        cam = ", ".join(f"{v:.0f}" if i != 2 else f"{v:.2f}" for i, v in enumerate(r.camera))
        lines.append(f"| {r.mode} | {r.prompt} | {r.seed} | ({cam}) | {r.score.judge_accuracy:.2f} "
                     f"| {r.score.iou:.3f} | {r.score.colour_error:.3f} | {r.back_view:.0f} | {r.input_psnr:.1f} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--modes", nargs="+", default=["image", "text+image"], choices=MODES)
    p.add_argument("--prompts", nargs="+", default=BENCHMARK_PROMPTS, choices=BENCHMARK_PROMPTS)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    p.add_argument("--steps", type=int, default=None, help="override train.steps (default: the config's)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--prior", default=GENERATE_PRIOR, help="text prior (text+image mode)")
    p.add_argument("--novel-view-prior", default="embedded", help="novel-view prior")
    p.add_argument("--novel-view-weight", type=float, default=None,
                   help="override image.novel_view_weight (0 in text+image: text and reference losses only)")
    p.add_argument("--input-resolution", type=int, default=32,
                   help="size of the input render, and of the reference view the run renders (image.resolution)")
    p.add_argument("--overrides", type=config_overrides, default=None,
                   help="JSON merged into each run's config dict (config.json keys), e.g. "
                   "'{\"train\": {\"steps\": 900}}'")
    p.add_argument("--out", type=Path, default=Path("outputs/bench_image"))
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    judge = load_judge()
    runs = []
    for seed in args.seeds:  # seed-major: an interrupted benchmark still covers every prompt and mode
        for prompt in args.prompts:
            for mode in args.modes:
                runs.append(run_one(mode, prompt, seed, args, judge))
                r = runs[-1]
                print(f"{mode} | {prompt} | seed {seed} | judge {r.score.judge_accuracy:.2f} | IoU {r.score.iou:.3f} "
                      f"| back view {r.back_view:.0f} | input PSNR {r.input_psnr:.1f} | {r.ms_per_step:.0f} ms/step",
                      flush=True)
                args.out.mkdir(parents=True, exist_ok=True)
                (args.out / "image.md").write_text(table(runs, args.modes))
    print("\n" + table(runs, args.modes))


if __name__ == "__main__":
    main()
