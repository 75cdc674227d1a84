"""Progressive Volume Distillation (PVD, "One is All", AAAI 2023): any field architecture into any other.

Every field yields the same 16-number feature per point (raw density + 15 colour features) before heads of the
same shape, so a student is taught shallow to deep: stage 1 matches that feature, stage 2 adds per-sample density
(in log space, clamped) and colour, stage 3 adds volume-rendered pixels, while the feature loss decays. It is
data-free: rays come from virtual cameras around the object and both fields are evaluated at the same points.

An MLP student is taught from a bank of teacher samples (`convert.bank`): the teacher is queried once, rays through
the object are drawn more often, and the student skips most samples where the teacher is empty. What each choice
measured on the benchmark (scripts/bench_pvd.py) is in README's "Field architectures and conversion (PVD)".
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from jaxtyping import Float
from torch import Tensor
from tqdm.auto import tqdm

from scoredream.convert.bank import DistillBatch, TeacherBank, scatter_samples
from scoredream.convert.optim import CosineAdamW
from scoredream.convert.rays import RayTable, composite_rays, ray_table
from scoredream.fields import Field, MLPField, TensoRFField
from scoredream.render.cameras import CameraSamplerConfig
from scoredream.render.volume import RenderConfig
from scoredream.serialization import ConfigError

LOSSES_BY_STAGE = {1: ("feature",), 2: ("feature", "density", "color"), 3: ("feature", "density", "color", "rgb")}


def _virtual_cameras() -> CameraSamplerConfig:
    return CameraSamplerConfig(elevation_range=(-60.0, 85.0), distance_range=(1.5, 2.0), fovy_range=(45.0, 55.0),
                               uniform_sphere=True)


@dataclass
class PVDConfig:
    """CPU defaults. Reference setting (official code): `--pvd.steps 30000 --pvd.feature-steps 2000
    --pvd.sample-steps 5000 --pvd.rays-per-step 4096 --pvd.num-cameras 300 --pvd.lr-mlp 1e-3
    --pvd.lr-final-factor 0.007 --pvd.bank-rays 0`."""

    steps: int = 600
    """optimisation steps in all"""
    feature_steps: int = 60
    """stage 1 (feature loss only) ends here"""
    sample_steps: int = 150
    """stage 2 (+ per-sample density and colour) ends here; stage 3 adds rendered pixels"""
    rays_per_step: int = 512
    """random rays per step, drawn from all virtual views"""
    num_cameras: int = 100
    """virtual cameras around the object"""
    camera_resolution: int = 64
    """pixel grid of each virtual camera"""
    cameras: CameraSamplerConfig = dataclasses.field(default_factory=_virtual_cameras)
    """where the virtual cameras are"""
    rgb_weight: float = 1.0
    """weight of the rendered-pixel MSE (stage 3)"""
    feature_weight: float = 2e-3
    """initial weight of the 16-feature MSE"""
    feature_decay: float = 0.995
    """the feature weight is multiplied by this every step after stage 1"""
    density_weight: float = 2e-2
    """weight of the per-sample log-density loss"""
    color_weight: float = 2e-2
    """weight of the per-sample colour MSE"""
    plane_l1_weight: float = 1e-4
    """L1 on TensoRF density planes and lines (students of that kind only)"""
    log_density_range: tuple[float, float] = (-2.0, 7.0)
    """log-density targets are clamped to this range, so exp-scale teachers cannot overflow the losses"""
    lr_grid: float = 1e-2
    """learning rate of grids, planes and voxels"""
    lr_mlp: float | None = None
    """learning rate of MLPs and heads (reference 1e-3 for 30k steps); None: 1e-2 for MLP students, whose
    per-sample targets take a higher rate than photometric fitting, 5e-3 for the heads of grid students"""
    lr_final_factor: float = 0.05
    """learning rates decay by a cosine to this fraction"""
    bank_rays: int | None = None
    """if > 0: query the teacher once, at the samples of this many rays, and draw each step's rays from that bank
    (a teacher query costs as much as an MLP student's step); 0: query it at fresh samples every step. None:
    40000 for MLP students, 0 for grid students (each grid cell is taught only by samples near it)"""
    hit_fraction: float = 0.8
    """with a bank: this share of each step's rays is drawn in proportion to the teacher's opacity along them,
    so rays through the object come more often than rays past it"""
    empty_fraction: float = 0.25
    """with a bank: the student is evaluated at every sample where the teacher has density (or next to one) and at
    this random share of the others; the skipped ones count as empty in its render"""
    seed: int = 0
    """seeds cameras and rays"""

    def validate(self) -> None:
        if self.steps < 1 or self.rays_per_step < 1 or self.num_cameras < 1:
            raise ConfigError("pvd.steps, pvd.rays_per_step and pvd.num_cameras must be at least 1")
        if not 0 <= self.feature_steps <= self.sample_steps:
            raise ConfigError("pvd stages must satisfy 0 <= feature_steps <= sample_steps")
        weights = ("rgb_weight", "feature_weight", "density_weight", "color_weight", "plane_l1_weight")
        if bad := [name for name in weights if not getattr(self, name) >= 0]:  # `not >=` also catches NaN
            raise ConfigError(f"pvd loss weights must be >= 0: {', '.join(f'{n}={getattr(self, n)}' for n in bad)}")
        if (self.bank_rays or 0) < 0 or not (0 <= self.hit_fraction <= 1 and 0 <= self.empty_fraction <= 1):
            raise ConfigError("pvd.bank_rays must be >= 0, pvd.hit_fraction and pvd.empty_fraction in [0, 1]")
        lo, hi = self.log_density_range
        if not lo < hi:
            raise ConfigError("pvd.log_density_range must be (low, high) with low < high")

    def resolved(self, student: Field) -> PVDConfig:
        """This config with the student-dependent defaults (None) filled in."""
        mlp = isinstance(student, MLPField)
        return dataclasses.replace(
            self, lr_mlp=(1e-2 if mlp else 5e-3) if self.lr_mlp is None else self.lr_mlp,
            bank_rays=(40000 if mlp else 0) if self.bank_rays is None else self.bank_rays)

    def stage(self, step: int) -> int:
        return 1 if step < self.feature_steps else 2 if step < self.sample_steps else 3

    def feature_weight_at(self, step: int) -> float:
        return self.feature_weight * self.feature_decay ** max(0, step - self.feature_steps)


@dataclass
class DistillStep:
    step: int  # steps completed
    total: int
    stage: int
    losses: dict[str, float]  # the weighted losses active at this step, and "loss", their sum
    elapsed: float  # seconds of distillation, not counting time spent in on_step
    student: Field


@dataclass
class DistillResult:
    student: Field
    steps: int
    seconds: float
    stopped: bool
    history: list[dict[str, float]]


def log_density(raw: Tensor) -> Tensor:
    """log(softplus(raw - 1)) without underflow to -inf (softplus(x) ~ exp(x) for x << 0)."""
    x = raw - 1.0
    return torch.where(x < -15, x, F.softplus(x.clamp_min(-15)).log())


def raw_for_log_density(value: float) -> float:
    """Inverse of `log_density`: raw = 1 + log(expm1(exp(value)))."""
    s = math.exp(value)
    return 1.0 + (s + math.log1p(-math.exp(-s)) if s > 20 else math.log(math.expm1(s)))


def clamped_match(student: Tensor, teacher: Tensor, lo: float, hi: float) -> Tensor:
    """MSE to the teacher clamped to [lo, hi]; where the target sits on a bound, only the student's overshoot
    past it is penalised (a student already emptier than an empty teacher is right, and keeps its gradient)."""
    target = teacher.nan_to_num(nan=lo).clamp(lo, hi)
    diff = student - target
    diff = torch.where(target <= lo, diff.clamp_min(0), torch.where(target >= hi, diff.clamp_max(0), diff))
    return diff.square().mean()


def pvd_losses(
    batch: DistillBatch, student: Field, background: Float[Tensor, "R 3"], config: PVDConfig, step: int
) -> dict[str, Tensor]:
    """The weighted losses active at `step`, the student evaluated where the batch has the teacher's outputs."""
    t, s = batch.teacher, student(batch.points)
    lo, hi = config.log_density_range
    losses: dict[str, Tensor] = {}
    active = LOSSES_BY_STAGE[config.stage(step)]
    if "feature" in active:
        raw = clamped_match(s.raw_density, t.raw_density, raw_for_log_density(lo), raw_for_log_density(hi))
        rest = (s.features[:, 1:] - t.features[:, 1:]).square().mean()
        losses["feature"] = config.feature_weight_at(step) * (raw + 15 * rest) / 16
    if "density" in active:
        losses["density"] = config.density_weight * clamped_match(
            log_density(s.raw_density), log_density(t.raw_density), lo, hi)
    if "color" in active:
        losses["color"] = config.color_weight * (s.rgb - t.rgb).square().mean()
    if "rgb" in active:
        # The teacher's densities above the clamp are opaque anyway; capping them keeps inf out of the cumsum.
        t_density = batch.teacher_density.nan_to_num(nan=0.0).clamp(0, math.exp(hi))
        target = composite_rays(t_density, batch.teacher_rgb, batch.deltas, background)
        total = batch.deltas.numel()
        pixels = composite_rays(scatter_samples(s.density, batch.index, total),
                                scatter_samples(s.rgb, batch.index, total), batch.deltas, background)
        losses["rgb"] = config.rgb_weight * (pixels - target).square().mean()
    if isinstance(student, TensoRFField) and config.plane_l1_weight:
        losses["plane_l1"] = config.plane_l1_weight * student.plane_l1()
    return losses


def _virtual_rays(config: PVDConfig, radius: float, generator: torch.Generator, device: torch.device) -> RayTable:
    """Every ray of the virtual cameras around the object that crosses the sampling sphere."""
    cams = config.cameras.sample(config.num_cameras, generator).to(device)
    return ray_table(cams, config.camera_resolution, config.camera_resolution, radius)


def _batch_source(teacher: Field, rays: RayTable, config: PVDConfig, num_samples: int,
                  generator: torch.Generator) -> tuple[Callable[[], DistillBatch], float]:
    """Draws of each step's batch, and the seconds spent building the teacher bank they come from (if any)."""
    if not config.bank_rays:
        def fresh() -> DistillBatch:
            return DistillBatch.fresh(teacher, rays.sample(config.rays_per_step, generator), num_samples, generator)

        return fresh, 0.0
    t0 = time.perf_counter()
    lo, hi = config.log_density_range
    bank = TeacherBank.build(teacher, rays, config.bank_rays, num_samples, config.hit_fraction, math.exp(lo),
                             math.exp(hi), generator)

    def from_bank() -> DistillBatch:
        return bank.draw(config.rays_per_step, config.empty_fraction, generator)

    return from_bank, time.perf_counter() - t0


def _step(student: Field, batch: DistillBatch, optimizer: CosineAdamW, config: PVDConfig, step: int,
          generator: torch.Generator) -> dict[str, Tensor]:
    """One optimisation step on `batch` over a random background; returns "loss" and the losses it sums."""
    background = torch.rand(config.rays_per_step, 3, generator=generator).to(batch.deltas.device)
    losses = pvd_losses(batch, student, background, config, step)
    loss = torch.stack(list(losses.values())).sum()
    optimizer.step(loss)
    return {"loss": loss, **losses}


def _show(bar: tqdm, row: dict[str, float]) -> None:
    bar.update(1)
    if row["step"] % 10 == 0:
        bar.set_postfix(stage=row["stage"], loss=f"{row['loss']:.3g}")


def distill(
    teacher: Field,
    student: Field,
    config: PVDConfig | None = None,
    render: RenderConfig | None = None,
    *,
    on_step: Callable[[DistillStep], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    progress: bool = True,
) -> DistillResult:
    """Train `student` in place to reproduce `teacher`; the teacher is only evaluated, never changed."""
    render = render or RenderConfig()
    config = (config or PVDConfig()).resolved(student)
    config.validate()
    generator = torch.Generator().manual_seed(config.seed)
    rays = _virtual_rays(config, render.radius, generator, next(student.parameters()).device)
    # The shared colour head makes the feature stage meaningful at once: equal features give equal colours.
    student.color_head.load_state_dict(teacher.color_head.state_dict())
    teacher.eval()
    optimizer = CosineAdamW(student, config.lr_grid, config.lr_mlp, config.steps, config.lr_final_factor)
    bar = tqdm(total=config.steps, disable=not progress, desc="convert", unit="step")
    # The bank's teacher queries count as distillation time.
    draw, elapsed = _batch_source(teacher, rays, config, render.num_samples, generator)
    history: list[dict[str, float]] = []
    stopped = False
    for step in range(config.steps):
        if should_stop is not None and should_stop():
            stopped = True
            break
        t0 = time.perf_counter()
        losses = _step(student, draw(), optimizer, config, step, generator)
        elapsed += time.perf_counter() - t0
        row = {"step": step + 1, "stage": config.stage(step), **{k: v.item() for k, v in losses.items()}}
        history.append(row)
        _show(bar, row)
        if on_step is not None:
            on_step(DistillStep(step + 1, config.steps, row["stage"], row, elapsed, student))
    bar.close()
    return DistillResult(student=student.eval(), steps=len(history), seconds=elapsed, stopped=stopped,
                         history=history)
