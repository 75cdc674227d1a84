"""Speed of one SDS training step on this machine, with its breakdown; the whole training step of each method
(SDS, VSD, ASD) as `generate` runs it with default settings; and our hash grid against nerfstudio's.

    .venv/bin/python scripts/bench_speed.py [--prior embedded] [--device cpu] [--steps 10] [--method-steps 40]
    .venv/bin/python scripts/bench_speed.py --pieces --threads 1    (the geometry pieces' step cost, side by side)

The nerfstudio comparison needs `pip install --no-deps nerfstudio==1.1.5 && pip install viser rich` (skipped
otherwise). Prints markdown tables; the README quotes them with the machine that produced them.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ablate import with_overrides  # noqa: E402  (one owner for merging overrides into a config)

from scoredream.fields import HashGridConfig
from scoredream.fields.grid_encoding import TorchGridEncoding
from scoredream.guidance import SDSConfig
from scoredream.priors import PriorConfig, PromptEmbeddings
from scoredream.render.background import BackgroundConfig
from scoredream.render.cameras import CameraSamplerConfig
from scoredream.render.rays import camera_rays
from scoredream.render.shading import DREAMFUSION_ALBEDO_PROBABILITY, DREAMFUSION_TEXTURELESS_PROBABILITY
from scoredream.render.volume import RenderConfig, composite, sample_along_rays, sphere_interval
from scoredream.train import GenerateConfig, generate
from scoredream.train.config import GENERATE_PRIOR


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def step_breakdown(prior, resolution: int, steps: int, device: torch.device, samples: int) -> dict[str, float]:
    torch.manual_seed(0)
    field = HashGridConfig(backend="auto" if device.type == "cuda" else "torch").setup().to(device)
    background = BackgroundConfig().setup().to(device)
    guidance = SDSConfig().setup(prior)
    prompt = PromptEmbeddings(prior, "a red cube")
    opt = torch.optim.AdamW(field.parameters(), lr=1e-2, betas=(0.9, 0.99), eps=1e-15)
    gen = torch.Generator().manual_seed(0)
    cfg = RenderConfig(num_samples=samples)
    times: dict[str, float] = defaultdict(float)

    def mark(name: str, t0: float) -> float:
        sync(device)
        now = time.perf_counter()
        times[name] += now - t0
        return now

    for i in range(steps + 2):
        if i == 2:
            times.clear()
        sync(device)
        t = time.perf_counter()
        cams = CameraSamplerConfig().sample(1, gen).to(device)
        o, d = camera_rays(cams, resolution, resolution)
        o, d = o.reshape(-1, 3), d.reshape(-1, 3)
        near, far, hit = sphere_interval(o, d, cfg.radius)
        idx = hit.nonzero()[:, 0]
        ts, deltas = sample_along_rays(near[idx], far[idx], samples, True, gen)
        pts = (o[idx, None] + d[idx, None] * ts[..., None]).reshape(-1, 3)
        t = mark("rays + sampling", t)
        out = field(pts)
        t = mark("field queries", t)
        w = composite(out.density.reshape(-1, samples), deltas)
        fg = torch.zeros(o.shape[0], 3, device=device).index_put(
            (idx,), (w[..., None] * out.rgb.reshape(-1, samples, 3)).sum(1)
        )
        op = torch.zeros(o.shape[0], 1, device=device).index_put((idx,), w.sum(-1, keepdim=True))
        bg = background(d.reshape(1, resolution, resolution, 3), training=True, generator=gen).reshape(-1, 3)
        rgb = (fg + (1 - op) * bg).reshape(1, resolution, resolution, 3)
        t = mark("compositing", t)
        g = guidance(rgb, cams, prompt, 0.0, gen)
        t = mark("prior (UNet, SDS)", t)
        opt.zero_grad()
        g.loss.backward()
        t = mark("backward", t)
        opt.step()
        mark("optimizer", t)
    ms = {k: 1000 * v / steps for k, v in times.items()}
    ms["total"] = sum(ms.values())
    return ms


def method_step_ms(method: str, prior, steps: int, device: torch.device, overrides: dict | None = None) -> float:
    """Mean wall time of a default `generate` step of `method` (with `overrides`, a partial config.json), from step
    10 on (setup and warm-up excluded)."""
    stamps: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        cfg = GenerateConfig(prompt="a red cube", method=method, output_dir=Path(tmp))  # type: ignore[arg-type]
        cfg = with_overrides(cfg, overrides)
        cfg.train.steps, cfg.train.device = steps + 10, str(device)
        cfg.train.preview_every = cfg.train.checkpoint_every = 0
        cfg.video.enabled = cfg.export.enabled = False
        own_prior = overrides is not None and "prior" in overrides  # loaded by generate, outside the timing
        generate(cfg, prior=None if own_prior else prior, progress=False,
                 on_step=lambda info: stamps.append(time.perf_counter()))
    return 1000 * (stamps[-1] - stamps[9]) / (len(stamps) - 10)


# The geometry pieces (README "Presets and geometry"), each alone over the step without them (the previous
# default) on the view-prompted prior, and today's default on the camera-conditioned one. "every step": no albedo
# warm-up or albedo batches, the dearest case; the default shades 80% of its steps (every one after the first 20%
# of the run), DreamFusion's mix 60% (after the warm-up 3 batches in 4, half of them textureless).
UNSHADED = {"enabled": False}
EVERY_STEP = {"enabled": True, "albedo_until": 0.0, "albedo_probability": 0.0}
DREAMFUSION_MIX = {"albedo_probability": DREAMFUSION_ALBEDO_PROBABILITY,
                   "textureless_probability": DREAMFUSION_TEXTURELESS_PROBABILITY}
CENTRES = {"train_pixel_jitter": False}
VIEW_PROMPTED = {"model": "embedded"}


def on_view_prompted(overrides: dict) -> dict:
    return {**overrides, "prior": VIEW_PROMPTED}


PIECES: dict[str, dict] = {
    "no pieces (the previous default)": on_view_prompted({"shading": UNSHADED, "render": CENTRES}),
    "shading, every step": on_view_prompted({"shading": EVERY_STEP, "render": CENTRES}),
    "orientation loss (normals every step)": on_view_prompted(
        {"shading": UNSHADED, "render": CENTRES, "train": {"orientation_weight": [1.0, 1.0]}}),
    "importance sampling (+32)": on_view_prompted(
        {"shading": UNSHADED, "render": {**CENTRES, "importance_samples": 32}}),
    "coarse to fine (6 of 12 levels)": on_view_prompted(
        {"shading": UNSHADED, "render": CENTRES, "hashgrid": {"progressive_levels": 6}}),
    "pixel jitter": on_view_prompted({"shading": UNSHADED}),
    "shading on its schedule (the default before pixel jitter)": on_view_prompted(
        {"shading": DREAMFUSION_MIX, "render": CENTRES}),
    "shading on its schedule, pixel jitter (the default before the camera-conditioned prior)": on_view_prompted(
        {"shading": DREAMFUSION_MIX}),
    "the camera-conditioned prior, DreamFusion's shading mix": {"shading": DREAMFUSION_MIX},
    "today's default (the camera-conditioned prior, Lambertian after the warm-up)": {},
}


def pieces_table(prior, steps: int, device: torch.device, rounds: int = 3) -> list[tuple[str, float, float]]:
    """SDS step time of each variant in PIECES, measured in interleaved rounds (median), with its ratio to the
    first: a ratio from one run, on one machine state. Schedules are fractions of the (short) timed run, so the
    default's row has its whole run's mix of albedo and shaded steps."""
    times: dict[str, list[float]] = defaultdict(list)
    for _ in range(rounds):
        for name, overrides in PIECES.items():
            times[name].append(method_step_ms("sds", prior, steps, device, overrides))
    median = {k: sorted(v)[len(v) // 2] for k, v in times.items()}
    base = next(iter(median.values()))
    return [(k, ms, ms / base) for k, ms in median.items()]


def encoding_comparison(device: torch.device, n: int = 262_144, repeats: int = 3) -> list[tuple[str, float, float]]:
    x = torch.rand(n, 3, device=device) * 2 - 1
    rows = []
    same = TorchGridEncoding(
        levels=16, log2_hashmap_size=19, base_resolution=16, max_resolution=512, dense_max_resolution=128
    ).to(device)
    rows.append(("scoredream, same grid (16 levels, 2^19, 16-512; dense <= 128)", *time_fwd_bwd(same, x, repeats)))
    default = HashGridConfig(backend="torch").setup().encoding.to(device)
    rows.append(("scoredream, CPU default (12 levels, 2^16, 16-256; dense <= 64)", *time_fwd_bwd(default, x, repeats)))
    try:
        from nerfstudio.field_components.encodings import HashEncoding
    except ImportError:
        print("nerfstudio not installed: skipping its HashEncoding")
        return rows
    # nerfstudio's grid spans [0, 1]; same levels, table size and resolutions as the first row.
    ns = HashEncoding(
        num_levels=16, features_per_level=2, log2_hashmap_size=19, min_res=16, max_res=512, implementation="torch"
    ).to(device)
    rows.append(("nerfstudio HashEncoding (torch, 16 levels)", *time_fwd_bwd(ns, (x + 1) / 2, repeats)))
    return rows


def time_fwd_bwd(module: torch.nn.Module, x: torch.Tensor, repeats: int) -> tuple[float, float]:
    fwd = bwd = 0.0
    for i in range(repeats + 1):
        sync(x.device)
        t0 = time.perf_counter()
        y = module(x)
        sync(x.device)
        t1 = time.perf_counter()
        y.float().sum().backward()
        sync(x.device)
        t2 = time.perf_counter()
        if i:
            fwd, bwd = fwd + t1 - t0, bwd + t2 - t1
    return 1000 * fwd / repeats, 1000 * bwd / repeats


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--prior", default=GENERATE_PRIOR)
    p.add_argument("--device", default="cpu")
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--samples", type=int, default=RenderConfig.num_samples)
    p.add_argument("--resolutions", type=int, nargs="+", default=[32, 64])
    p.add_argument("--method-steps", type=int, default=40, help="timed generate steps per method (0: skip)")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    p.add_argument("--pieces", action="store_true", help="only the geometry pieces' step times, side by side")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    print(f"device: {device}, torch threads: {torch.get_num_threads()}, samples/ray: {args.samples}\n")
    prior = PriorConfig(model=args.prior).setup(device)
    if args.pieces:
        print("| SDS step, 32x32 | ms per step | x the first row |\n|---|---|---|")
        for name, ms, ratio in pieces_table(prior, args.method_steps, device):
            print(f"| {name} | {ms:.0f} | {ratio:.2f} |", flush=True)
        return
    results = {r: step_breakdown(prior, r, args.steps, device, args.samples) for r in args.resolutions}
    keys = list(next(iter(results.values())))
    print("| ms per step | " + " | ".join(f"{r}x{r}" for r in results) + " |")
    print("|---|" + "---|" * len(results))
    for k in keys:
        print(f"| {k} | " + " | ".join(f"{results[r][k]:.1f}" for r in results) + " |")
    if args.method_steps:
        print("\n| method (default settings, 32x32, batch 1) | ms per training step |\n|---|---|")
        for method in ("sds", "vsd", "asd"):
            print(f"| {method.upper()} | {method_step_ms(method, prior, args.method_steps, device):.0f} |", flush=True)
    print("\n| encoding, 262,144 points | forward ms | backward ms |\n|---|---|---|")
    for name, f, b in encoding_comparison(device):
        print(f"| {name} | {f:.0f} | {b:.0f} |")


if __name__ == "__main__":
    main()
