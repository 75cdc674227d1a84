"""PVD benchmark: all 12 conversions between the four field architectures, and MLP-by-distillation against
MLP-from-scratch (PSNR vs wall-clock seconds).

    .venv/bin/python scripts/bench_pvd.py [--part all|table|curve|report] [--scenes "a red cube" "a blue mug"]

Teachers (--teachers): `generate` (default) makes each scene in each architecture by text-to-3D on the embedded
prior (`scoredream generate PROMPT --field KIND`, default settings; runs kept under OUT/teachers and reused);
`world` fits each architecture to exact renders of the world scene (sphere-traced SDFs on white), 60 random views
at 32 px. Students are scored against the teacher's own renders of 8 held-out orbit views
(elevation 20 deg, never a training or virtual view). One thread (torch.set_num_threads(1)). Writes
results.json, curve.csv and curve.png under --out and prints markdown tables.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch
import tyro
from PIL import Image, ImageDraw

from scoredream.convert import FitConfig, PVDConfig, compare, distill, fit_images, render_views
from scoredream.fields import Field, HashGridConfig, MLPConfig, TensoRFConfig, VoxelConfig
from scoredream.render.background import BackgroundConfig
from scoredream.render.cameras import CameraSamplerConfig, orbit_cameras
from scoredream.render.volume import RenderConfig
from scoredream.run_folder import RunFolder
from scoredream.train import GenerateConfig, generate, load_checkpoint
from scoredream.world.render import WorldRenderConfig, render_world
from scoredream.world.shapes import parse_prompt

KINDS = ("hashgrid", "mlp", "tensorf", "voxel")


@dataclass
class BenchArgs:
    part: Literal["all", "table", "curve", "report"] = "all"
    """report: reprint the curve table from OUT/curve.csv of an earlier run"""
    scenes: tuple[str, ...] = ("a red cube", "a blue mug")
    teachers: Literal["generate", "world"] = "generate"
    out: Path = Path("outputs/bench_pvd")
    threads: int = 1
    resolution: int = 32
    train_views: int = 60
    test_views: int = 8
    num_samples: int = 32
    rays_per_step: int = 256
    teacher_steps: int = 300
    pvd_steps: int = 300
    curve_pvd_steps: tuple[int, ...] = (1000, 3000)
    """budgets of the PVD runs (`pvd_<steps>`, each with its own stages and cosine schedule); the ablations use the
    first; a PSNR counts as reached by PVD at the earliest time any of them reaches it"""
    curve_scratch_steps: tuple[int, ...] = (3000, 10000)
    """budgets of the from-scratch runs (each with its own cosine schedule); a PSNR counts as reached by scratch at
    the earliest time any of them reaches it"""
    curve_every: int = 25
    scratch_lr_mlp: float = 5e-3
    """learning rate of the from-scratch MLP"""
    curve_ablations: bool = True
    """also run PVD without stages and without the teacher bank (at the first PVD budget)"""
    bank_rays: int | None = None
    """PVD teacher bank for every student (None: the library's default, a bank for MLP students only)"""
    curve_mlp: MLPConfig = dataclasses.field(default_factory=MLPConfig)
    """the student of the curve (default: the CPU MLP; the reference is --curve-mlp.frequencies 10
    --curve-mlp.depth 8 --curve-mlp.width 256 --curve-mlp.skip 4)"""
    seed: int = 0


SIZES = {  # the library's CPU defaults, except a smaller hash grid so that teacher queries stay cheap
    "hashgrid": HashGridConfig(levels=8, max_resolution=128, log2_hashmap_size=15, backend="torch"),
    "mlp": MLPConfig(), "tensorf": TensoRFConfig(), "voxel": VoxelConfig(),
}


def build(args: BenchArgs, kind: str) -> Field:
    torch.manual_seed(args.seed)
    return SIZES[kind].setup()


def pvd_config(args: BenchArgs, steps: int) -> PVDConfig:
    # Stage lengths scaled from the reference 2k / 5k of 30k steps, kept long enough to matter on short runs.
    return PVDConfig(steps=steps, feature_steps=steps // 10, sample_steps=steps // 4,
                     rays_per_step=args.rays_per_step, bank_rays=args.bank_rays, seed=args.seed)


def params(f: Field) -> int:
    return sum(p.numel() for p in f.parameters())


def generated_teacher(args: BenchArgs, scene: str, kind: str) -> Field:
    """`scene` made by text-to-3D in architecture `kind` on the embedded prior (the run is reused if finished)."""
    cfg = GenerateConfig(prompt=scene, field=kind, output_dir=args.out / "teachers")  # type: ignore[arg-type]
    cfg.run_name = f"{cfg.run_dir().name}-{kind}"
    cfg.train.seed, cfg.video.enabled, cfg.export.enabled, cfg.train.preview_every = args.seed, False, False, 0
    path = RunFolder(cfg.run_dir()).checkpoint
    if not (path.exists() and load_checkpoint(path).step == cfg.train.steps):
        generate(cfg, progress=False, resume=path.exists())  # a killed run continues
    return load_checkpoint(path).build_field()


def fit_teachers(args: BenchArgs, scene: str, render: RenderConfig, test,
                 kinds: tuple[str, ...] = KINDS) -> tuple[dict[str, Field], dict]:
    colour, shape = parse_prompt(scene)
    cams = CameraSamplerConfig(elevation_range=(-30, 80), uniform_sphere=True).sample(
        args.train_views, torch.Generator().manual_seed(args.seed))
    world = WorldRenderConfig(resolution=args.resolution)
    solid = BackgroundConfig(kind="solid")
    images = render_world(shape, colour, cams, world, solid)[0].permute(0, 2, 3, 1)
    truth = render_world(shape, colour, test, world, solid)[0].permute(0, 2, 3, 1)
    teachers, info = {}, {}
    for kind in kinds:
        t0 = time.perf_counter()
        if args.teachers == "generate":
            f = generated_teacher(args, scene, kind)
        else:
            f = build(args, kind)
            fit_images(f, cams, images, torch.ones(3), FitConfig(steps=args.teacher_steps, rays_per_step=512,
                                                                   seed=args.seed), render, progress=False)
        p, s = compare(f, truth, test, render)
        info[kind] = {"psnr_vs_world": p, "ssim_vs_world": s, "seconds": time.perf_counter() - t0,
                      "params": params(f)}
        seconds = info[kind]["seconds"]
        print(f"  teacher {kind:8s} ({args.teachers}) vs world renders: {p:.2f} dB, SSIM {s:.3f} ({seconds:.0f} s)")
        teachers[kind] = f
    return teachers, info


def run_table(args: BenchArgs, render: RenderConfig, test) -> dict:
    out: dict = {"teachers": {}, "conversions": []}
    for scene in args.scenes:
        print(f"scene: {scene}")
        teachers, info = fit_teachers(args, scene, render, test)
        out["teachers"][scene] = info
        for src in KINDS:
            reference = render_views(teachers[src], test, args.resolution, render)
            for dst in KINDS:
                if src == dst:
                    continue
                student = build(args, dst)
                result = distill(teachers[src], student, pvd_config(args, args.pvd_steps), render, progress=False)
                p, s = compare(student, reference, test, render)
                row = {"scene": scene, "from": src, "to": dst, "psnr": p, "ssim": s, "seconds": result.seconds,
                       "params": params(student)}
                out["conversions"].append(row)
                print(f"  {src:8s} -> {dst:8s} PSNR {p:6.2f}  SSIM {s:.3f}  {result.seconds:5.1f} s  "
                      f"{row['params']:,} params", flush=True)
        if scene == args.scenes[0]:
            out["curve_teacher"] = teachers["hashgrid"]
    return out


def run_curve(args: BenchArgs, teacher: Field, render: RenderConfig, test) -> dict:
    """MLP from a hash-grid teacher by PVD vs the same MLP trained from scratch on the teacher's renders."""
    reference = render_views(teacher, test, args.resolution, render)
    # The scratch runs see as many teacher views, at the same size and spread, as PVD's virtual cameras.
    virtual = PVDConfig()
    cams = virtual.cameras.sample(virtual.num_cameras, torch.Generator().manual_seed(args.seed + 1))
    images = render_views(teacher, cams, virtual.camera_resolution, render)
    curves: dict[str, list[tuple[float, int, float]]] = {}

    def record(name: str, step: int, elapsed: float, f: Field) -> None:
        if step % args.curve_every == 0:
            curves.setdefault(name, []).append((elapsed, step, compare(f, reference, test, render)[0]))

    def student() -> Field:
        torch.manual_seed(args.seed)
        return args.curve_mlp.setup()

    pvd = pvd_config(args, args.curve_pvd_steps[0])
    runs = {f"pvd_{steps}": pvd_config(args, steps) for steps in args.curve_pvd_steps}
    if args.curve_ablations:
        # every loss from the first step (no progression)
        runs["pvd_unstaged"] = dataclasses.replace(pvd, feature_steps=0, sample_steps=0)
        # the teacher queried at every sample of fresh rays each step (no bank, no skipping of empty space)
        runs["pvd_every_sample"] = dataclasses.replace(pvd, bank_rays=0)
    for name, config in runs.items():
        distill(teacher, student(), config, render, progress=False,
                on_step=lambda s, name=name: record(name, s.step, s.elapsed, s.student))
    for steps in args.curve_scratch_steps:
        fit_images(student(), cams, images, torch.ones(3),
                   FitConfig(steps=steps, rays_per_step=args.rays_per_step, lr_mlp=args.scratch_lr_mlp, seed=args.seed),
                   render, progress=False,
                   on_step=lambda s, steps=steps: record(f"scratch_{steps}", s.step, s.elapsed, s.field))
    return {"curves": curves, "summary": summarise(curves)}


def first_hit(curve: list[tuple[float, int, float]], target: float) -> tuple[float, int] | None:
    """(seconds, step) at which `curve` first reaches `target` dB."""
    return next(((t, s) for t, s, p in curve if p >= target), None)


def first_time(curve: list[tuple[float, int, float]], target: float) -> float | None:
    hit = first_hit(curve, target)
    return None if hit is None else hit[0]


def earliest_hit(curves: dict[str, list[tuple[float, int, float]]], target: float,
                 which: Callable[[str], bool]) -> tuple[str, float, int] | None:
    """The earliest (run, seconds, step) at which any of the runs `which` picks reaches `target` dB."""
    hits = [(name, *hit) for name, c in curves.items() if which(name) and (hit := first_hit(c, target))]
    return min(hits, key=lambda h: h[1], default=None)


def is_scratch(name: str) -> bool:
    return name.startswith("scratch")


def is_pvd(name: str) -> bool:
    """A PVD run with the default losses (not an ablation); "pvd" is the name in earlier runs' curve.csv."""
    return re.fullmatch(r"pvd(_\d+)?", name) is not None


def scratch_best(curves: dict[str, list[tuple[float, int, float]]]) -> float:
    return max(p for name, c in curves.items() if is_scratch(name) for *_, p in c)


def summarise(curves: dict[str, list[tuple[float, int, float]]]) -> dict:
    """Seconds each run needs to reach the best PSNR of any scratch run, and that best minus 0.5, 1 and 2 dB."""
    best = scratch_best(curves)
    targets = {}
    for margin in (0.0, 0.5, 1.0, 2.0):
        hit = earliest_hit(curves, best - margin, is_scratch)
        row: dict = {"psnr": best - margin, "scratch_s": None if hit is None else hit[1]}
        for name, curve in curves.items():
            if is_scratch(name):
                continue
            t = row[f"{name}_s"] = first_time(curve, best - margin)
            row[f"{name}_speedup"] = None if t is None or hit is None else hit[1] / t
        pvd = earliest_hit(curves, best - margin, is_pvd)
        row["pvd_earliest_s"] = None if pvd is None else pvd[1]
        row["speedup"] = None if pvd is None or hit is None else hit[1] / pvd[1]
        targets[f"best-{margin}dB"] = row
    return {"best_psnr": {n: max(p for _, _, p in c) for n, c in curves.items()},
            "total_s": {n: c[-1][0] for n, c in curves.items()}, "targets": targets}


def curve_table(curves: dict[str, list[tuple[float, int, float]]]) -> str:
    """Markdown: seconds (and step) at which each run first reaches fixed PSNRs and each scratch run's best; the
    scratch and PVD columns are the earliest of their runs."""
    def cell(hit: tuple[float, int] | None) -> str:
        return "-" if hit is None else f"{hit[0]:.1f} s ({hit[1]})"

    pvd_runs = [n for n in curves if not is_scratch(n)]
    scratch_runs = [n for n in curves if is_scratch(n)]
    rows = [(t, f"{t:.0f} dB") for t in (30, 35, 38, 40)]
    rows += [(max(p for *_, p in curves[n]), f"{max(p for *_, p in curves[n]):.2f} dB ({n}'s best)")
             for n in scratch_runs]
    lines = ["| PSNR reached | " + " | ".join(pvd_runs) + " | PVD (earliest) | scratch (earliest) | PVD speed-up |",
             "|---" * (len(pvd_runs) + 4) + "|"]

    def earliest(hit: tuple[str, float, int] | None) -> str:
        return "-" if hit is None else f"{hit[1]:.1f} s ({hit[2]}, {hit[0]})"

    for target, label in rows:
        pvd, scratch = earliest_hit(curves, target, is_pvd), earliest_hit(curves, target, is_scratch)
        speedup = "-" if pvd is None or scratch is None else f"{scratch[1] / pvd[1]:.1f}x"
        lines.append(f"| {label} | " + " | ".join(cell(first_hit(curves[n], target)) for n in pvd_runs)
                     + f" | {earliest(pvd)} | {earliest(scratch)} | {speedup} |")
    per_step = {n: 1000 * c[-1][0] / c[-1][1] for n, c in curves.items()}
    lines.append("\nbest PSNR: " + ", ".join(f"{n} {max(p for *_, p in c):.2f} dB" for n, c in curves.items())
                 + "; ms/step: " + ", ".join(f"{n} {v:.0f}" for n, v in per_step.items()))
    return "\n".join(lines)


def read_curves(path: Path) -> dict[str, list[tuple[float, int, float]]]:
    curves: dict[str, list[tuple[float, int, float]]] = {}
    with path.open() as f:
        for row in csv.DictReader(f):
            curves.setdefault(row["method"], []).append((float(row["seconds"]), int(row["step"]), float(row["psnr"])))
    return curves


def plot(curves: dict[str, list[tuple[float, int, float]]], path: Path, size: tuple[int, int] = (720, 440)) -> None:
    """PSNR vs seconds (log scale, from 1 s; PSNR from 25 dB) with PIL (no plotting dependency)."""
    w, h, m = *size, 50
    img = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(img)
    points = [pt for c in curves.values() for pt in c]
    tmin, tmax = 1.0, max(t for t, _, _ in points)
    pmin, pmax = 25.0, max(p for _, _, p in points)

    def xy(t: float, p: float) -> tuple[float, float]:
        x = math.log(max(t, tmin) / tmin) / math.log(tmax / tmin)
        return m + (w - 2 * m) * x, h - m - (h - 2 * m) * (max(p, pmin) - pmin) / max(pmax - pmin, 1e-6)

    draw.line([(m, m), (m, h - m), (w - m, h - m)], fill="black")
    for t in (1, 3, 10, 30, 100, 300, 1000, 3000):
        if t <= tmax:
            draw.text((xy(t, pmin)[0] - 8, h - m + 5), f"{t}s", fill="black")
    for i in range(5):
        p = pmin + (pmax - pmin) * i / 4
        draw.text((5, xy(tmin, p)[1] - 5), f"{p:.1f}", fill="black")
    draw.text((m, 10), "PSNR (dB) vs seconds (log scale)", fill="black")
    palette = [(200, 30, 30), (240, 120, 20), (170, 170, 30), (150, 60, 170), (30, 60, 200), (20, 150, 150),
               (90, 90, 90), (0, 0, 0)]
    for row, (name, c) in enumerate(curves.items()):
        colour = palette[row % len(palette)]
        draw.line([xy(t, p) for t, _, p in c], fill=colour, width=2)
        draw.text((w - m - 130, h - m - 20 - 15 * (len(curves) - row)), name, fill=colour)
    img.save(path)


def main(args: BenchArgs) -> None:
    if args.part == "report":
        path = args.out / "curve.csv"
        if not path.is_file():
            raise SystemExit(f"{path} not found: run --part curve (or all) with this --out first")
        print(curve_table(read_curves(path)))
        plot(read_curves(path), args.out / "curve.png")
        return
    torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    render = RenderConfig(num_samples=args.num_samples)
    test = orbit_cameras(args.test_views, elevation=20.0)
    results: dict = {"args": {k: str(v) for k, v in vars(args).items()}}
    t0 = time.perf_counter()
    if args.part == "curve":
        teachers, _ = fit_teachers(args, args.scenes[0], render, test, kinds=("hashgrid",))
        teacher = teachers["hashgrid"]
    else:
        table = run_table(args, render, test)
        teacher = table.pop("curve_teacher")
        results.update(table)
        print("\n| scene | from | to | PSNR | SSIM | seconds | params |\n|---|---|---|---|---|---|---|")
        for r in table["conversions"]:
            print(f"| {r['scene']} | {r['from']} | {r['to']} | {r['psnr']:.2f} | {r['ssim']:.3f} | "
                  f"{r['seconds']:.1f} | {r['params']:,} |")
    if args.part != "table":
        curve = run_curve(args, teacher, render, test)
        results["curve"] = curve
        with (args.out / "curve.csv").open("w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["method", "seconds", "step", "psnr"])
            for name, c in curve["curves"].items():
                w.writerows([name, f"{t:.2f}", s, f"{p:.3f}"] for t, s, p in c)
        plot(curve["curves"], args.out / "curve.png")
        print("\ncurve:", json.dumps(curve["summary"], indent=1))
        print("\n" + curve_table(curve["curves"]))
    results["total_seconds"] = time.perf_counter() - t0
    (args.out / "results.json").write_text(json.dumps(results, indent=1))
    print(f"\ntotal {results['total_seconds']:.0f} s; wrote {args.out}")


if __name__ == "__main__":
    main(tyro.cli(BenchArgs))
