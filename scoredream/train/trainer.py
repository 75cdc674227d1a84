"""The optimisation loop: render random views, score them with a guidance, step the field.

`generate(config)` is the one entry point the CLI and the UI share: it takes callbacks for progress and for
stopping, writes previews, checkpoints and a turntable video into the run folder, and can resume.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch
from torch import Tensor
from tqdm.auto import tqdm

from scoredream.device import pick_device
from scoredream.errors import TrainingDiverged
from scoredream.export import EmptySurfaceError, export_mesh, export_stages
from scoredream.fields import Field, build_field
from scoredream.fields.base import sdf_gradient
from scoredream.fields.hashgrid import GridLayout, state_layout
from scoredream.guidance import Guidance, GuidanceOutput, ScoreDistillation
from scoredream.guidance.novel_view import NovelViewGuidance
from scoredream.image import ImageConditioning, ReferenceView
from scoredream.image.run_input import keep_input_image, load_run_reference
from scoredream.priors import DiffusionPrior, PromptEmbeddings
from scoredream.priors.novel_view import NovelViewPrior
from scoredream.render.background import Background
from scoredream.render.cameras import Cameras
from scoredream.run_folder import RunFolder
from scoredream.serialization import save_json, to_dict
from scoredream.train.checkpoint import (
    Checkpoint,
    load_checkpoint,
    load_module,
    load_trainer_state,
    resume_point,
    save_checkpoint,
)
from scoredream.train.config import GenerateConfig, OptimConfig
from scoredream.train.interrupt import Interrupted, stop_on_interrupt
from scoredream.train.particles import render_particles
from scoredream.train.preflight import check_run_can_finish
from scoredream.train.video import save_preview, turntable_frames, write_video

__all__ = ["FinishStage", "Interrupted", "RunResult", "StepInfo", "TrainingDiverged", "generate"]


@dataclass
class StepInfo:
    step: int  # steps completed
    total: int
    loss: float
    stats: dict[str, float]
    elapsed: float
    preview: Path | None = None


@dataclass
class FinishStage:
    """Progress of the work after the last step: the turntable's frames, then the export's stages."""

    stage: str  # "turntable" or "export: <stage>" (see export_stages)
    done: int
    total: int


@dataclass
class RunResult:
    run_dir: Path
    checkpoint: Path
    step: int
    stopped: bool
    video: Path | None = None
    mesh: Path | None = None
    history: list[dict[str, float]] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)  # per stage: train, video, export


def opacity_regularisers(opacity: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Sparsity (threestudio: mean sqrt(o^2 + 0.01)) and binarisation (entropy of o, pushes to 0 or 1)."""
    sparsity = (opacity**2 + 0.01).sqrt().mean()
    o = opacity.clamp(1e-4, 1 - 1e-4)
    binary = -(o * o.log() + (1 - o) * (1 - o).log()).mean()
    return sparsity, binary


@dataclass
class Run:
    """Everything one generation run optimises, built from its config (stage 2 of `generate`)."""

    config: GenerateConfig
    folder: RunFolder
    prompt: PromptEmbeddings | None  # None: an image run without a prompt
    particles: list[Field]  # particles[0] is the field the run outputs; VSD adds more
    background: Background
    guidance: Guidance | None  # the text prior's (None without a prompt)
    optimizer: torch.optim.Optimizer
    generator: torch.Generator
    image: ImageConditioning | None = None  # the input image's losses and novel-view guidance
    start: int = 0
    history: list[dict[str, float]] = field(default_factory=list)

    def modules(self) -> dict[str, torch.nn.Module]:
        modules = {"field": self.particles[0], "background": self.background}
        if self.guidance is not None:
            modules["guidance"] = self.guidance  # type: ignore[assignment]
        modules.update({f"particle{i}": f for i, f in enumerate(self.particles[1:], 1)})
        return modules  # type: ignore[return-value]

    def save(self, step: int) -> None:
        keys = sorted({k for row in self.history for k in row})
        rows = torch.tensor([[row.get(k, float("nan")) for k in keys] for row in self.history], dtype=torch.float64)
        state = {"optimizer": self.optimizer.state_dict(), "generator": self.generator.get_state(),
                 "history": rows, "history_keys": keys}
        save_checkpoint(self.folder.checkpoint, self.config, step, self.modules(), state)


def generate(
    config: GenerateConfig,
    *,
    prior: DiffusionPrior | None = None,
    novel_view_prior: NovelViewPrior | None = None,
    resume: bool = False,
    on_step: Callable[[StepInfo], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    progress: bool = True,
    on_finish: Callable[[FinishStage], None] | None = None,
) -> RunResult:
    """1. check (no model loaded yet), 2. build, 3. restore, 4. optimise, 5. finish (video, mesh).
    `on_step` reports each step, `on_finish` the turntable's frames and the export's stages. `prior` and
    `novel_view_prior`: already loaded priors (else the config's load)."""
    config.validate()
    device = pick_device(config.train.device)
    folder = RunFolder(config.run_dir())
    loaded = load_run_reference(config, folder, resume)  # a bad image fails here, before anything is written
    check_run_can_finish(config, folder)
    with folder.lock():
        resumed = resume_point(folder, resume, config.train.steps, load_checkpoint)
        if config.uses_text:
            prior = prior if prior is not None else config.prior.setup(device)
        # Before anything is written: the novel-view prior checks the input camera against its training range.
        image = image_conditioning(config, loaded[1] if loaded else None, device, novel_view_prior)
        if loaded is not None:  # config.json names the run folder's copy, and the folder (its name came from the file)
            config = replace(config, image=keep_input_image(loaded[0], folder), run_name=folder.root.name)
        # A resumed hash grid keeps the layout its weights were trained in (tiny-cuda-nn's or ours).
        layout = state_layout(resumed.state("field")) if resumed is not None else None
        run = build_run(config, folder, prior if config.uses_text else None, device, layout, image)
        if resumed is not None:
            restore_run(run, resumed)
        write_run_settings(run, prior)
        t0 = time.perf_counter()
        with stop_on_interrupt() as interrupted:
            step, stopped = optimise(run, on_step, lambda: interrupted.is_set() or bool(should_stop and should_stop()),
                                     progress)
            run.save(step)
        if interrupted.is_set():
            raise Interrupted(step, folder.checkpoint)
        trained = time.perf_counter() - t0
        report = on_finish or (finish_bars() if progress else lambda stage: None)
        result = finish(run, step, stopped, report)
        result.seconds = {"train": trained, **result.seconds}
        return result


def image_conditioning(config: GenerateConfig, reference: ReferenceView | None, device: torch.device,
                       novel_view_prior: NovelViewPrior | None = None) -> ImageConditioning | None:
    """The input image's part of the run (None for a text run); the novel-view prior loads unless its weight is
    0 in a run with a prompt."""
    if reference is None:
        return None
    image, novel_view = config.image, None
    if image.novel_view_weight > 0 or not config.uses_text:
        prior = novel_view_prior if novel_view_prior is not None else image.prior.setup(device)
        novel_view = image.guidance.setup(prior)
        novel_view.set_reference(reference.rgb, reference.camera)
    return ImageConditioning(image, reference.to(device), config.render, config.shading, novel_view)


def build_run(config: GenerateConfig, folder: RunFolder, prior: DiffusionPrior | None, device: torch.device,
              layout: GridLayout | None = None, image: ImageConditioning | None = None) -> Run:
    """`prior`: the text prior (None for an image run without a prompt)."""
    prompt = PromptEmbeddings(prior, config.prompt, config.negative_prompt, config.prompts) if prior else None
    torch.manual_seed(config.train.seed)
    guidance = config.guidance_config().setup(prior) if prior else None
    torch.manual_seed(config.train.seed)  # the fields start the same whatever the method
    particles = [build_field(config.field_config(), device, layout) for _ in range(guidance.particles if guidance
                                                                                     else 1)]
    background = config.background.setup().to(device)
    groups = {k: [p for f in particles for p in f.param_groups()[k]] for k in ("grid", "mlp")}
    optimizer = torch.optim.AdamW(
        [{"params": groups["grid"]}, {"params": groups["mlp"]}, {"params": list(background.parameters())}]
    )
    apply_optim_settings(optimizer, config.optim)
    generator = torch.Generator().manual_seed(config.train.seed)
    return Run(config, folder, prompt, particles, background, guidance, optimizer, generator, image)


def apply_optim_settings(optimizer: torch.optim.Optimizer, opt: OptimConfig, progress: float = 0.0) -> None:
    """The config's learning rates at `progress` (a fraction of the run) and AdamW settings, also over a resumed
    optimiser's saved ones: a resume with a new learning rate trains with it, as config.json then says."""
    scale = opt.lr_scale_at(progress)
    for group, lr in zip(optimizer.param_groups, (opt.lr_grid, opt.lr_mlp, opt.lr_background), strict=True):
        group.update(lr=lr * scale, betas=opt.betas, eps=opt.eps, weight_decay=opt.weight_decay)


def restore_run(run: Run, ckpt: Checkpoint) -> None:
    path, step = ckpt.path, ckpt.step
    for name, module in run.modules().items():
        if name == "guidance":
            if ckpt.state("guidance"):
                run.guidance.load_state_dict(ckpt.state("guidance"))
        else:
            load_module(module, ckpt.state(name), path)
    state = load_trainer_state(path, step)
    run.optimizer.load_state_dict(state["optimizer"])
    apply_optim_settings(run.optimizer, run.config.optim, run.config.train.progress(step))
    run.generator.set_state(state["generator"])
    run.start = step
    if "history" in state:
        run.history = [dict(zip(state["history_keys"], row, strict=True)) for row in state["history"].tolist()]


def write_run_settings(run: Run, prior: DiffusionPrior | None) -> None:
    save_json(run.config, run.folder.config)
    # What the methods actually use once the priors' recommendations are applied (config.json keeps the request).
    effective: dict[str, object] = {}
    if run.guidance is not None and prior is not None:
        effective = {"method": run.config.method, "prior": prior.source, **guidance_settings(run.guidance)}
    novel_view = run.image.novel_view if run.image is not None else None
    if isinstance(novel_view, NovelViewGuidance):
        effective["novel_view"] = {"prior": novel_view.prior.source, **guidance_settings(novel_view)}
    if effective:
        save_json(effective, run.folder.guidance)


def guidance_settings(g: ScoreDistillation) -> dict[str, object]:
    return {"guidance_scale": g.guidance_scale, "timesteps": to_dict(g.timesteps)}


def optimise(run: Run, on_step: Callable[[StepInfo], None] | None, should_stop: Callable[[], bool],
             progress: bool) -> tuple[int, bool]:
    """Steps from run.start to train.steps; returns (steps completed, whether it stopped early)."""
    config, t0 = run.config, time.perf_counter()
    run.folder.previews.mkdir(parents=True, exist_ok=True)
    bar = tqdm(total=config.train.steps, initial=run.start, disable=not progress, desc="generate", unit="step")
    try:
        for step in range(run.start, config.train.steps):
            if should_stop():
                return step, True
            row = optimisation_step(run, step)
            bar.update(1)
            if (step + 1) % config.train.log_every == 0:
                bar.set_postfix(loss=f"{row['loss']:.4g}", t=int(row.get("t", 0)))
            preview = None
            if config.train.preview_every and (step + 1) % config.train.preview_every == 0:
                preview = save_preview(run.particles[0], run.background, config, run.folder.preview(step + 1))
            if config.train.checkpoint_every and (step + 1) % config.train.checkpoint_every == 0:
                run.save(step + 1)
            if on_step is not None:
                on_step(StepInfo(step + 1, config.train.steps, row["loss"], row, time.perf_counter() - t0, preview))
    finally:
        bar.close()
    return config.train.steps, False


def optimisation_step(run: Run, step: int) -> dict[str, float]:
    """One step: random views scored by the guidance (the text prior's, the novel-view prior's or both), the
    opacity and orientation regularisers, and an image run's reference-view losses."""
    config, generator = run.config, run.generator
    progress = config.train.progress(step)
    for f in run.particles:
        f.set_progress(progress)
    guided = run.image is None or run.image.guided(progress)
    loss, row = random_view_losses(run, step, progress) if guided else (None, {})
    if run.image is not None:
        reference, stats = run.image.reference_step(run.particles, step, generator)
        loss = reference if loss is None else loss if reference is None else loss + reference
        row.update(stats)
    if loss is None:  # an image run between reference views, before guidance starts: nothing to learn
        row = {"step": step + 1, "loss": 0.0, **row}
        run.history.append(row)
        return row
    if not torch.isfinite(loss):
        raise TrainingDiverged(
            f"loss is {loss.item()} at step {step}; the last good checkpoint is {run.folder.checkpoint}. "
            "Lower the learning rates or guidance scale, or set --sds.grad-clip."
        )
    run.optimizer.zero_grad(set_to_none=True)
    loss.backward()
    apply_optim_settings(run.optimizer, config.optim, progress)
    run.optimizer.step()
    row = {"step": step + 1, "loss": loss.item(), **row}
    run.history.append(row)
    return row


def guidance_losses(run: Run, rgb: Tensor, cams: Cameras, progress: float) -> tuple[Tensor, dict[str, float]]:
    """The weighted guidance losses of the random views: the text prior's and, in an image run, the novel-view
    prior's; stats of the first as guidance_loss, grad_norm, t (the novel view's also as novel_view_*)."""
    outputs: list[tuple[str, float, GuidanceOutput]] = []
    if run.guidance is not None:
        weight = run.config.image.text_weight if run.image is not None else 1.0
        outputs.append(("", weight, run.guidance(rgb, cams, run.prompt, progress, run.generator)))
    novel = run.image.novel_view_step(rgb, cams, progress, run.generator) if run.image is not None else None
    if novel is not None:
        outputs.append(("novel_view_", run.config.image.novel_view_weight, novel))
    loss = sum((w * g.loss for _, w, g in outputs), rgb.new_zeros(()))
    _, _, first = outputs[0]
    row = {"guidance_loss": first.loss.item(), "grad_norm": first.grad_norm, "t": float(first.timesteps.float().mean()),
           **first.stats}
    for prefix, _, g in outputs[1:]:
        row.update({f"{prefix}loss": g.loss.item(), f"{prefix}grad_norm": g.grad_norm,
                    f"{prefix}t": float(g.timesteps.float().mean())})
    return loss, row


def random_view_losses(run: Run, step: int, progress: float) -> tuple[Tensor, dict[str, float]]:
    config, generator = run.config, run.generator
    cams = config.cameras.sample(config.train.batch_size * len(run.particles), generator)
    cams = cams.to(next(run.particles[0].parameters()).device)
    lighting = config.shading.draw(progress, cams, generator)
    orientation_weight = config.train.orientation_weight_at(progress)
    out = render_particles(run.particles, cams, config.train.resolution_at(step), run.background, config.render,
                           generator, lighting, orientation=orientation_weight > 0,
                           distortion=config.train.distortion_weight > 0,
                           normal_smoothness=config.train.normal_smoothness_weight > 0)
    loss, row = guidance_losses(run, out.rgb, cams, progress)
    sparsity, binary = opacity_regularisers(out.opacity)
    loss = loss + config.train.sparsity_weight * sparsity
    if progress >= config.train.opacity_start:
        loss = loss + config.train.opacity_weight * binary
    if out.orientation is not None:
        loss = loss + orientation_weight * out.orientation
        row["orientation"] = out.orientation.item()
    if out.distortion is not None:
        loss = loss + config.train.distortion_weight * out.distortion
        row["distortion"] = out.distortion.item()
    if out.normal_smoothness is not None:
        loss = loss + config.train.normal_smoothness_weight * out.normal_smoothness
        row["normal_smoothness"] = out.normal_smoothness.item()
    if config.train.eikonal_weight > 0:
        eikonal = sum(eikonal_loss(f, config.train.eikonal_points, generator) for f in run.particles) / len(
            run.particles)
        loss = loss + config.train.eikonal_weight * eikonal
        row["eikonal"] = eikonal.item()
    return loss, {"opacity": out.opacity.mean().item(), **row}


def eikonal_loss(field: Field, num_points: int, generator: torch.Generator, eps: float = 1e-2) -> Tensor:
    """mean (|grad sdf| - 1)^2 at random points of the field's cube, grad by forward differences (IGR's eikonal
    term without double backward)."""
    device = next(field.parameters()).device
    points = ((torch.rand(num_points, 3, generator=generator) * 2 - 1) * field.bound).to(device)
    return (sdf_gradient(field, points, eps).norm(dim=-1) - 1).square().mean()


def finish_bars() -> Callable[[FinishStage], None]:
    """tqdm bars for the turntable's frames and the export's stages (the CLI's view of `on_finish`)."""
    bars: dict[str, tqdm] = {}

    def report(s: FinishStage) -> None:
        name, _, detail = s.stage.partition(": ")
        bar = bars.get(name) or bars.setdefault(name, tqdm(total=s.total, desc=name, unit="frame" if not detail
                                                            else "stage"))
        bar.set_postfix_str(detail, refresh=False)
        bar.update(s.done - bar.n)
        if s.done == s.total:
            bar.close()

    return report


def finish(run: Run, step: int, stopped: bool, report: Callable[[FinishStage], None]) -> RunResult:
    config, folder, field_ = run.config, run.folder, run.particles[0]
    field_.set_progress(1.0)  # the finished field: every level of a coarse-to-fine grid
    result = RunResult(run_dir=folder.root, checkpoint=folder.checkpoint, step=step, stopped=stopped,
                       history=run.history)
    if stopped:
        return result
    t0 = time.perf_counter()
    if config.video.enabled:
        v = config.video
        frames = turntable_frames(field_, run.background, v.frames, v.resolution, v.elevation, v.distance, v.fovy,
                                  config.render, lambda i, n: report(FinishStage("turntable", i, n)))
        result.video = write_video(frames, folder.turntable(v.format), v.fps)
        result.seconds["video"] = time.perf_counter() - t0
    if config.export.enabled:
        t0 = time.perf_counter()
        try:
            stages = export_stages(config.export)
            on_stage = lambda s: report(FinishStage(f"export: {s}", stages.index(s) + 1, len(stages)))  # noqa: E731
            result.mesh = export_mesh(field_, folder.mesh(config.export.format), config.export, on_stage).path
        except EmptySurfaceError as e:
            # The run itself succeeded; a field without a surface yet (too few steps) warrants a warning, not a crash.
            warnings.warn(f"no mesh exported: {e}", stacklevel=2)
        result.seconds["export"] = time.perf_counter() - t0
    return result
