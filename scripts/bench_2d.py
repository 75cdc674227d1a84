"""One-step student vs its teacher on the shapes world, measured in one run: judged accuracy (shape and colour),
sample diversity and images per second; optionally the student's training curve as a plot.

    python scripts/bench_2d.py outputs/student2d_embedded --threads 1
    python scripts/bench_2d.py STUDENT --curve docs/swiftbrush_curve.png --machine "2-core shared CPU"

Accuracy: the fraction of 8 samples x 48 prompts (`a <colour> <shape>`) that assets/judge names as their prompt's
shape AND colour. Diversity: the mean pairwise RMS distance (RGB in [0, 1]) between one prompt's samples, averaged
over prompts. Images per second: sampling only (batches of --batch, the judge excluded), both samplers in this
process, one after the other.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
from PIL import Image, ImageDraw

from scoredream.distill2d import OneStepStudent
from scoredream.distill2d.evaluate import TEST_SEED, VALIDATION_SEED, judge_sampler, save_grid
from scoredream.distill2d.trainer import CONFIG_FILE, LOG_FILE
from scoredream.priors.sampling import ddim_sample
from scoredream.world.judge import load_judge


def timed(sample, judge, samples: int, seed: int, batch: int) -> dict[str, float]:
    """Accuracy, diversity, images/s and the images of one sampler (its wall time: sampling only)."""
    spent = [0.0]

    def clocked(texts: list[str], generator: torch.Generator) -> torch.Tensor:
        start = time.perf_counter()
        images = sample(texts, generator)
        spent[0] += time.perf_counter() - start
        return images

    accuracy, diversity, images = judge_sampler(clocked, judge, samples, seed, batch)
    return {"accuracy": accuracy, "diversity": diversity, "images_per_s": len(images) / spent[0],
            "seconds": spent[0], "images": images}


def read_curve(student: Path) -> list[tuple[float, float]]:
    """(training minutes, judged accuracy %) at each evaluation of a student's run."""
    rows = [json.loads(line) for line in (student / LOG_FILE).read_text().splitlines()]
    return [(r["seconds"] / 60, 100 * r["accuracy"]) for r in rows if r.get("accuracy") is not None]


def plot_curves(curves: dict[str, list[tuple[float, float]]], path: Path, title: str,
                size: tuple[int, int] = (720, 420)) -> None:
    """Accuracy (%) vs training minutes, one line per run, the 85% target dashed; PIL (no plotting dependency)."""
    w, h, m = *size, 55
    img = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(img)
    tmax = max(t for c in curves.values() for t, _ in c) or 1.0

    def xy(t: float, acc: float) -> tuple[float, float]:
        return m + (w - 2 * m) * t / tmax, h - m - (h - 2 * m) * acc / 100

    draw.line([(m, m), (m, h - m), (w - m, h - m)], fill="black")
    for acc in range(0, 101, 20):
        draw.text((12, xy(0, acc)[1] - 6), f"{acc}%", fill="black")
    step = max(1, round(tmax / 8))
    for t in range(0, int(tmax) + 1, step):
        draw.text((xy(t, 0)[0] - 6, h - m + 6), f"{t}", fill="black")
    draw.text((w // 2 - 60, h - m + 24), "training time (min)", fill="black")
    x0, y = xy(0, 85)
    for x in range(int(x0), w - m, 12):
        draw.line([(x, y), (x + 6, y)], fill=(120, 120, 120))
    draw.text((w - m - 70, y - 14), "target 85%", fill=(120, 120, 120))
    draw.text((m, 12), title, fill="black")
    palette = [(30, 60, 200), (200, 30, 30), (20, 150, 150), (240, 120, 20)]
    for row, (name, c) in enumerate(curves.items()):
        colour = palette[row % len(palette)]
        draw.line([xy(t, a) for t, a in c], fill=colour, width=2)
        for t, a in c:
            px, py = xy(t, a)
            draw.ellipse([px - 2, py - 2, px + 2, py + 2], fill=colour)
        draw.text((w - m - 260, h - m - 22 - 15 * (len(curves) - row)), name, fill=colour)
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path)


def _lr(folder: Path) -> str:
    return f"{json.loads((folder / CONFIG_FILE).read_text())['lr']:g}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("student", type=Path, help="a student folder (scoredream distill2d)")
    parser.add_argument("--samples", type=int, default=8, help="samples per prompt")
    parser.add_argument("--guidance", type=float, default=2.0, help="the teacher's CFG scale")
    parser.add_argument("--steps", type=int, default=25, help="the teacher's DDIM steps")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=TEST_SEED,
                        help=f"the noise seed (default: the test seed; the trainer's validation seed "
                             f"{VALIDATION_SEED}, which chose the student, is refused)")
    parser.add_argument("--out", type=Path, default=Path("data/bench_2d.md"))
    parser.add_argument("--grids", type=Path, default=Path("data/bench_2d"), help="folder of the sample grids")
    parser.add_argument("--curve", type=Path, help="also plot the student's training curve to this PNG")
    parser.add_argument("--compare", type=Path, nargs="*", default=[],
                        help="other students' runs to draw on the curve (labelled by folder name)")
    parser.add_argument("--machine", default="this CPU", help="the machine's name for the plot and table")
    args = parser.parse_args()
    if args.seed == VALIDATION_SEED:
        parser.error(f"seed {VALIDATION_SEED} is the trainer's validation noise, which chose the student's weights")
    torch.set_num_threads(args.threads)
    student, judge = OneStepStudent.from_pretrained(args.student), load_judge()
    teacher = student.teacher
    runs = {
        f"teacher: DDIM {args.steps} steps, CFG {args.guidance:g}": timed(
            lambda t, g: ddim_sample(teacher, t, args.guidance, args.steps, g), judge, args.samples, args.seed,
            args.batch),
        "student: one step (VSD)": timed(lambda t, g: student.sample(t, g), judge, args.samples, args.seed,
                                         args.batch),
    }
    teacher_rate = next(iter(runs.values()))["images_per_s"]
    lines = [f"Shapes world, {args.samples} samples x 48 prompts, seed {args.seed}, {args.machine}, "
             f"torch threads {args.threads}; `python scripts/bench_2d.py {args.student}`", "",
             "| sampler | judged accuracy (shape & colour) | diversity (mean pairwise RMS) | images/s | speed-up |",
             "|---|---|---|---|---|"]
    for i, (name, r) in enumerate(runs.items()):
        lines.append(f"| {name} | {100 * r['accuracy']:.1f}% | {r['diversity']:.3f} | {r['images_per_s']:.1f} | "
                     f"{r['images_per_s'] / teacher_rate:.1f}x |")
        save_grid(r["images"], args.samples * 4, args.grids / f"{['teacher', 'student'][i]}.png")
    report = "\n".join(lines) + "\n"
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(report)
    print(report)
    if args.curve:
        curves = {f"{folder.name} (lr {_lr(folder)})": read_curve(folder) for folder in [args.student, *args.compare]}
        plot_curves(curves, args.curve, f"One-step student (VSD) on the embedded prior: judged accuracy, 8 x 48 "
                    f"samples; {args.machine}")
        print(f"curve: {args.curve}")


if __name__ == "__main__":
    main()
