"""The optimisation loop: render random views, score them with a guidance, step the field.

`generate(config)` is the one entry point the CLI and the UI share: it takes callbacks for progress and for
stopping, writes previews, checkpoints and a turntable video into the run folder, and can resume.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from tqdm.auto import tqdm

from scoredream.export import EmptySurfaceError, export_mesh
from scoredream.priors import DiffusionPrior, PromptEmbeddings
from scoredream.render.cameras import orbit_cameras
from scoredream.render.volume import render
from scoredream.serialization import save_json, to_dict
from scoredream.train.checkpoint import build_field, load_checkpoint, load_module, load_trainer_state, save_checkpoint
from scoredream.train.config import GenerateConfig
from scoredream.train.particles import render_particles
from scoredream.train.video import turntable_frames, write_video


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite; the last good checkpoint is kept."""


@dataclass
class StepInfo:
    step: int  # steps completed
    total: int
    loss: float
    stats: dict[str, float]
    elapsed: float
    preview: Path | None = None


@dataclass
class RunResult:
    run_dir: Path
    checkpoint: Path
    step: int
    stopped: bool
    video: Path | None = None
    mesh: Path | None = None
    history: list[dict[str, float]] = field(default_factory=list)


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def opacity_regularisers(opacity: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Sparsity (threestudio: mean sqrt(o^2 + 0.01)) and binarisation (entropy of o, pushes to 0 or 1)."""
    sparsity = (opacity**2 + 0.01).sqrt().mean()
    o = opacity.clamp(1e-4, 1 - 1e-4)
    binary = -(o * o.log() + (1 - o) * (1 - o).log()).mean()
    return sparsity, binary


def generate(
    config: GenerateConfig,
    *,
    prior: DiffusionPrior | None = None,
    resume: bool = False,
    on_step: Callable[[StepInfo], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    progress: bool = True,
) -> RunResult:
    config.validate()
    device = pick_device(config.train.device)
    prior = prior if prior is not None else config.prior.setup(device)
    prompt = PromptEmbeddings(prior, config.prompt, config.negative_prompt, config.prompts)
    run_dir = config.run_dir()
    ckpt_path = run_dir / "checkpoints" / "last.safetensors"
    (run_dir / "previews").mkdir(parents=True, exist_ok=True)

    torch.manual_seed(config.train.seed)
    field_ = build_field(config, device)
    particles = [field_] + [build_field(config, device) for _ in range(config.particles() - 1)]
    background = config.background.setup().to(device)
    guidance = config.guidance_config().setup(prior)
    groups = {k: [p for f in particles for p in f.param_groups()[k]] for k in ("grid", "mlp")}
    opt = config.optim
    optimizer = torch.optim.AdamW(
        [
            {"params": groups["grid"], "lr": opt.lr_grid},
            {"params": groups["mlp"], "lr": opt.lr_mlp},
            {"params": list(background.parameters()), "lr": opt.lr_background},
        ],
        betas=opt.betas,
        eps=opt.eps,
        weight_decay=opt.weight_decay,
    )
    generator = torch.Generator().manual_seed(config.train.seed)
    start, history = 0, []
    if resume and ckpt_path.exists():
        ckpt = load_checkpoint(ckpt_path)
        load_module(field_, ckpt.state("field"), ckpt_path)
        for i, f in enumerate(particles[1:], 1):
            load_module(f, ckpt.state(f"particle{i}"), ckpt_path)
        load_module(background, ckpt.state("background"), ckpt_path)
        if ckpt.state("guidance"):
            guidance.load_state_dict(ckpt.state("guidance"))
        state = load_trainer_state(ckpt_path)
        optimizer.load_state_dict(state["optimizer"])
        generator.set_state(state["generator"])
        start, history = ckpt.step, [dict(zip(state["history_keys"], row, strict=True)) for row in
                                     state["history"].tolist()] if "history" in state else []
    save_json(config, run_dir / "config.json")
    # What the method actually uses once the prior's recommendations are applied (config.json keeps the request).
    effective = {"method": config.method, "prior": prior.source, "guidance_scale": guidance.guidance_scale,
                 "timesteps": to_dict(guidance.timesteps)}
    save_json(effective, run_dir / "guidance.json")

    def checkpoint(step: int) -> None:
        keys = sorted({k for row in history for k in row})
        rows = torch.tensor([[row.get(k, float("nan")) for k in keys] for row in history], dtype=torch.float64)
        state = {"optimizer": optimizer.state_dict(), "generator": generator.get_state(), "step": step,
                 "history": rows, "history_keys": keys}
        modules = {"field": field_, "background": background, "guidance": guidance}
        modules.update({f"particle{i}": f for i, f in enumerate(particles[1:], 1)})
        save_checkpoint(ckpt_path, config, step, modules, state)

    t0, stopped, step = time.perf_counter(), False, start
    bar = tqdm(total=config.train.steps, initial=start, disable=not progress, desc="generate", unit="step")
    for step in range(start, config.train.steps):
        if should_stop is not None and should_stop():
            stopped = True
            break
        cams = config.cameras.sample(config.train.batch_size * len(particles), generator).to(device)
        res = config.train.resolution_at(step)
        rgb, opacity = render_particles(particles, cams, res, background, config.render, generator)
        g = guidance(rgb, cams, prompt, step, generator)
        sparsity, binary = opacity_regularisers(opacity)
        loss = g.loss + config.train.sparsity_weight * sparsity
        if step >= config.train.opacity_start_step:
            loss = loss + config.train.opacity_weight * binary
        if not torch.isfinite(loss):
            bar.close()
            raise TrainingDiverged(
                f"loss is {loss.item()} at step {step}; the last good checkpoint is {ckpt_path}. "
                "Lower the learning rates or guidance scale, or set --sds.grad-clip."
            )
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        row = {"step": step + 1, "loss": loss.item(), "guidance_loss": g.loss.item(), "grad_norm": g.grad_norm,
               "t": float(g.timesteps.float().mean()), "opacity": opacity.mean().item(), **g.stats}
        history.append(row)
        bar.update(1)
        if (step + 1) % config.train.log_every == 0:
            bar.set_postfix(loss=f"{row['loss']:.4g}", t=int(row["t"]))
        preview = None
        if config.train.preview_every and (step + 1) % config.train.preview_every == 0:
            preview = save_preview(field_, background, config, run_dir / "previews" / f"step_{step + 1:06d}.png")
        if config.train.checkpoint_every and (step + 1) % config.train.checkpoint_every == 0:
            checkpoint(step + 1)
        if on_step is not None:
            on_step(StepInfo(step + 1, config.train.steps, row["loss"], row, time.perf_counter() - t0, preview))
    else:
        step = config.train.steps
    bar.close()
    checkpoint(step)
    result = RunResult(run_dir=run_dir, checkpoint=ckpt_path, step=step, stopped=stopped, history=history)
    if not stopped and config.video.enabled:
        v = config.video
        frames = turntable_frames(field_, background, v.frames, v.resolution, v.elevation, v.distance, v.fovy,
                                  config.render)
        result.video = write_video(frames, run_dir / f"turntable.{v.format}", v.fps)
    if not stopped and config.export.enabled:
        try:
            result.mesh = export_mesh(field_, run_dir / f"mesh.{config.export.format}", config.export).path
        except EmptySurfaceError as e:
            # The run itself succeeded; a field without a surface yet (too few steps) warrants a warning, not a crash.
            warnings.warn(f"no mesh exported: {e}", stacklevel=2)
    return result


@torch.no_grad()
def save_preview(field_: torch.nn.Module, background: torch.nn.Module, config: GenerateConfig, path: Path,
                 views: int = 4, resolution: int = 64) -> Path:
    v = config.video
    cams = orbit_cameras(views, v.elevation, v.distance, v.fovy).to(next(field_.parameters()).device)
    rgb = render(field_, cams, resolution, resolution, background, config.render).rgb  # type: ignore[arg-type]
    row = (rgb.clamp(0, 1) * 255).round().byte().cpu().numpy()
    Image.fromarray(np.concatenate(list(row), axis=1)).save(path)
    return path
