"""Text -> image -> 3D on the shapes world: do generated images pass image-to-3D's loader, and what 3D comes out.

    .venv/bin/python scripts/bench_text_image_3d.py --samplers teacher student:outputs/student2d [--seeds 0 1]
    .venv/bin/python scripts/bench_text_image_3d.py --samplers teacher --chain "a red cube" "a cyan mug"

Part 1 (unless --skip-pass-rate): each sampler draws one image per shapes-world prompt (48) and seed, written
as `scoredream sample2d` writes it (`write_images`: 256 px PNG, the object's matte as alpha), and read by
image-to-3D's loader (`object_rgba`, default background threshold): passing when it gives an object. Also: the
judge's accuracy on the samples and, for the accepted ones, on the loader's object on white (the matte kept the
object); the samples' per-pixel grain; and the loader on the same images saved as plain RGB (its own separation
at 256 px: what sample2d wrote before the matte). Samplers: `teacher` (the prior's DDIM, --ddim-steps steps, CFG
--guidance), `student:FOLDER` (a `scoredream distill2d` student), `refined:FOLDER` (its images finished by the
teacher's last REFINE_STEPS DDIM steps, as `generate --text-image --student` draws them), `untrained` (a student
copied from the prior).

Part 2 (--chain PROMPTS): each prompt through `scoredream generate --text-image PROMPT` (`text_image_3d`, the first
sampler draws the image, seed 0; image-to-3D at its defaults or --steps), scored as scripts/bench_image.py scores
image runs (`score_field`: judge over 8 orbit views, 3D IoU, colour error; the judge on the view opposite the
input; PSNR at the input camera against the reference view the run fitted, at the training resolution).
Writes OUT/text_image_3d.md and prints it.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from bench_image import back_view_correct

from scoredream.distill2d import OneStepStudent
from scoredream.distill2d.evaluate import Sampler
from scoredream.distill2d.sample import REFINE_STEPS, finished_samples, slug, write_images
from scoredream.distill2d.text_image import text_image_3d
from scoredream.errors import ImageError
from scoredream.image import ImageConfig, load_reference, psnr
from scoredream.image.load import object_rgba
from scoredream.priors import load_prior
from scoredream.priors.sampling import ddim_sample
from scoredream.run_folder import RunFolder
from scoredream.train import GenerateConfig, load_checkpoint
from scoredream.world.evaluate import evaluation_render, score_field
from scoredream.world.judge import judged_right, load_judge
from scoredream.world.shapes import all_prompts


def make_sampler(name: str, args: argparse.Namespace) -> Sampler:
    if name == "teacher":
        prior = load_prior(args.prior)
        return lambda texts, g: ddim_sample(prior, texts, args.guidance, args.ddim_steps, g)
    if name == "untrained":
        return OneStepStudent.from_teacher(load_prior(args.prior)).eval().sample
    student = OneStepStudent.from_pretrained(student_folder(name))
    if name.startswith("refined:"):
        return lambda texts, g: finished_samples(student, texts, g)
    return student.sample


def student_folder(name: str) -> Path:
    return Path(name.split(":", 1)[1])


def grain(images: torch.Tensor) -> float:
    """Median over images of the per-pixel noise: median RGB distance between horizontal neighbours / sqrt(2), at
    the generator's resolution (an object's edges are too few to move a median)."""
    step = (images[..., 1:] - images[..., :-1]).norm(dim=1)
    return float(step.flatten(1).median(dim=1).values.median()) / 2**0.5


def load(path: Path, size: int) -> tuple[torch.Tensor | None, str]:
    """The loader's object on white at `size` px (None and why when refused)."""
    try:
        on_white, _ = object_rgba(path, ImageConfig().background_threshold)
    except ImageError as e:
        return None, str(e).split(": ", 1)[-1].split(" (")[0]
    return F.interpolate(on_white[None], size=size, mode="area")[0], ""


def loader_pass_rate(name: str, sampler: Sampler, args: argparse.Namespace, judge) -> dict[str, float]:
    """Fractions of the prompts x seeds images that the loader accepts, with and without the matte, and of the
    accepted matted ones that the judge still names right on white (the matte kept the object)."""
    prompts, counts, failures, judged, kept, grains = all_prompts(), {"matte": 0, "rgb": 0}, {}, [], [0, 0], []
    for seed in args.seeds:
        images = sampler(prompts, torch.Generator().manual_seed(seed)).cpu()
        judged.append(judged_right(judge, images, prompts).float())
        grains.append(grain(images))
        folder = args.out / slug(name) / f"seed{seed}"
        for kind, matte in (("matte", True), ("rgb", False)):
            for path, prompt in zip(write_images(images, [f"{slug(p)}_{seed}" for p in prompts], folder / kind,
                                                 args.size, matte), prompts, strict=True):
                on_white, why = load(path, images.shape[-1])
                counts[kind] += on_white is not None
                if on_white is None:
                    failures[f"{kind}: {why}"] = failures.get(f"{kind}: {why}", 0) + 1
                elif matte:
                    kept[0] += int(judged_right(judge, on_white[None], [prompt]).item())
                    kept[1] += 1
    n = len(prompts) * len(args.seeds)
    for why, count in sorted(failures.items(), key=lambda kv: -kv[1]):
        print(f"  {name}: {count} x {why}")
    return {"matte": counts["matte"] / n, "rgb": counts["rgb"] / n, "judge": float(torch.cat(judged).mean()),
            "kept": kept[0] / max(kept[1], 1), "n": n, "grain": sum(grains) / len(grains)}


def chain(prompt: str, sampler_name: str, args: argparse.Namespace, judge) -> str:
    """One prompt through text -> image -> 3D, scored in the world frame (the input camera's azimuth 0 is the
    world's front); a finished run is scored again, not retrained."""
    settings = GenerateConfig(prompt=prompt, output_dir=args.out / "chain" / slug(sampler_name))
    settings.run_name = f"{prompt.replace(' ', '-')}-sds-image-s0"
    settings.prior.model = settings.image.prior.model = args.prior
    settings.video.enabled = settings.export.enabled = False
    settings.train.preview_every = 0
    if args.steps:
        settings.train.steps = args.steps
    student = None if sampler_name == "teacher" else student_folder(sampler_name)
    refine_steps = REFINE_STEPS if sampler_name.startswith("refined:") else 0
    ckpt_path, timing = RunFolder(settings.run_dir()).checkpoint, settings.run_dir() / "bench_seconds.txt"
    if not (ckpt_path.exists() and load_checkpoint(ckpt_path).step == settings.train.steps):
        start = time.perf_counter()
        text_image_3d(settings, student, args.ddim_steps, args.guidance, refine_steps, progress=False)
        timing.write_text(f"{time.perf_counter() - start}\n")
    seconds = float(timing.read_text()) if timing.exists() else float("nan")
    ckpt = load_checkpoint(ckpt_path)
    field, shaded, image = ckpt.build_field(), ckpt.config.shading.enabled, ckpt.config.image
    score = score_field(field, prompt, judge, shaded=shaded)
    reference = load_reference(image, image.resolution or ckpt.config.train.resolution)
    with torch.no_grad():
        render = evaluation_render(field, reference.camera, reference.rgb.shape[-1], shaded).rgb[0]
    at_input = psnr(render.clamp(0, 1).cpu(), reference.rgb.permute(1, 2, 0))
    back = back_view_correct(field, prompt, reference.camera, judge, shaded)
    return (f"| {sampler_name} | {prompt} | {score.judge_accuracy:.2f} | {score.iou:.3f} | {score.colour_error:.3f} "
            f"| {'right' if back else 'wrong'} | {at_input:.1f} | {ckpt.step} | {seconds / 60:.1f} |")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--samplers", nargs="+", default=["teacher", "untrained"],
                   help="teacher, untrained, student:FOLDER or refined:FOLDER")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    p.add_argument("--size", type=int, default=256, help="PNG side, as sample2d's default")
    p.add_argument("--prior", default="embedded")
    p.add_argument("--guidance", type=float, default=2.0, help="the teacher's CFG scale")
    p.add_argument("--ddim-steps", type=int, default=25)
    p.add_argument("--chain", nargs="*", default=[], help="prompts to take through image-to-3D (first sampler)")
    p.add_argument("--steps", type=int, default=0, help="image-to-3D steps (0: generate's default)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--skip-pass-rate", action="store_true", help="only the --chain runs")
    p.add_argument("--out", type=Path, default=Path("outputs/bench_text_image_3d"))
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    judge = load_judge()
    lines = [f"`python scripts/bench_text_image_3d.py --samplers {' '.join(args.samplers)} --seeds "
             f"{' '.join(map(str, args.seeds))}` (48 prompts x {len(args.seeds)} seeds, {args.size} px PNGs)", ""]
    if not args.skip_pass_rate:
        lines += ["| sampler | images | judged right | grain | loader accepts: RGBA with matte (as sample2d writes) "
                  "| judged right on white after the matte (accepted ones) | loader accepts: plain RGB (before) |",
                  "|---|---|---|---|---|---|---|"]
        for name in args.samplers:
            r = loader_pass_rate(name, make_sampler(name, args), args, judge)
            lines.append(f"| {name} | {r['n']} | {r['judge']:.1%} | {r['grain']:.3f} | {r['matte']:.1%} "
                         f"| {r['kept']:.1%} | {r['rgb']:.1%} |")
            print(lines[-1], flush=True)
    if args.chain:
        lines += ["", "| sampler | prompt | judge acc. (8 views) | 3D IoU | colour error | back view "
                  "| input-view PSNR (dB) | steps | minutes (image + 3D) |", "|---|---|---|---|---|---|---|---|---|"]
        for prompt in args.chain:
            lines.append(chain(prompt, args.samplers[0], args, judge))
            print(lines[-1], flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "text_image_3d.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
