"""What every score-distillation method shares: timestep schedules, w(t), the surrogate loss, the output."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import ClassVar, Literal, Protocol

import torch
from jaxtyping import Float, Int
from torch import Tensor, nn

from scoredream.priors.diffusion_prior import DiffusionPrior
from scoredream.priors.perp_neg import PerpNegConfig, TextConditions, text_conditions
from scoredream.priors.prompts import PromptEmbeddings
from scoredream.render.cameras import Cameras
from scoredream.serialization import ConfigError

Weighting = Literal["sds", "uniform", "fantasia"]

# CFG scales of the papers' reference settings: DreamFusion (SDS), ProlificDreamer (VSD), ScaleDreamer (ASD).
REFERENCE_GUIDANCE_SCALE = {"sds": 100.0, "vsd": 7.5, "asd": 7.5}


@dataclass
class TimestepSchedule:
    """Range of t (as a fraction of the prior's training steps) annealed linearly from start_step to end_step."""

    min_start: float = 0.02
    """lowest t (fraction of training timesteps) at start_step"""
    min_end: float = 0.02
    """lowest t from end_step on"""
    max_start: float = 0.98
    """highest t at start_step"""
    max_end: float = 0.98
    """highest t from end_step on"""
    start_step: int = 0
    """step where annealing begins"""
    end_step: int = 0
    """step where annealing ends (equal to start_step: a jump at that step)"""

    def validate(self, where: str) -> None:
        fractions = {"min_start": self.min_start, "min_end": self.min_end, "max_start": self.max_start,
                     "max_end": self.max_end}
        bad = [f"{where}.{k}={v}" for k, v in fractions.items() if not 0.0 <= v <= 1.0]
        if bad:
            raise ConfigError(f"t fractions must be in [0, 1]: {', '.join(bad)}")
        if self.min_start > self.max_start or self.min_end > self.max_end:
            raise ConfigError(f"{where}: the lowest t must not exceed the highest (min_start <= max_start, "
                              "min_end <= max_end)")
        if self.start_step < 0 or self.end_step < 0:
            raise ConfigError(f"{where}.start_step and end_step must be >= 0")

    def fractions(self, step: int) -> tuple[float, float]:
        if self.end_step <= self.start_step:
            k = 0.0 if step < self.start_step else 1.0
        else:
            k = min(max((step - self.start_step) / (self.end_step - self.start_step), 0.0), 1.0)
        lo = (1 - k) * self.min_start + k * self.min_end
        hi = (1 - k) * self.max_start + k * self.max_end
        return lo, max(hi, lo)

    def bounds(self, step: int, num_train_timesteps: int) -> tuple[int, int]:
        # t = 1.0 means the last of the prior's timesteps (index num_train_timesteps - 1), not one past it.
        lo, hi = self.fractions(step)
        last = num_train_timesteps - 1
        return min(int(lo * num_train_timesteps), last), min(int(hi * num_train_timesteps), last)

    def sample(self, step: int, batch: int, num_train_timesteps: int, generator: torch.Generator | None) -> Tensor:
        lo, hi = self.bounds(step, num_train_timesteps)
        return torch.randint(lo, hi + 1, (batch,), generator=generator)


def recommended_timesteps(
    prior: DiffusionPrior, method: str, configured: TimestepSchedule, reference: TimestepSchedule
) -> TimestepSchedule:
    """The t range a method uses: its config's if changed from the reference, else the prior's recommendation (a
    partial TimestepSchedule over the reference), else the reference."""
    recommended = prior.recommendation(method, "timesteps")
    if configured != reference or recommended is None:
        return configured
    try:
        return replace(reference, **recommended)
    except TypeError as e:
        raise ConfigError(f"the prior recommends an invalid {method} t range {recommended}: {e}") from e


def sds_weight(t: Int[Tensor, " B"], alphas_cumprod: Tensor, kind: Weighting) -> Float[Tensor, " B"]:
    a = alphas_cumprod[t]
    if kind == "sds":
        return 1 - a
    if kind == "uniform":
        return torch.ones_like(a)
    if kind == "fantasia":
        return a.sqrt() * (1 - a)
    raise ValueError(f"unknown weighting '{kind}' (choose sds, uniform or fantasia)")


def surrogate_loss(x: Float[Tensor, "B ..."], grad: Float[Tensor, "B ..."]) -> Tensor:
    """A loss whose gradient w.r.t. x is grad / B: the reparameterised form of score distillation."""
    target = (x - grad).detach()
    return 0.5 * ((x.float() - target.float()) ** 2).sum() / x.shape[0]


def clean_gradient(grad: Tensor, clip: float | None) -> Tensor:
    grad = torch.nan_to_num(grad, nan=0.0, posinf=0.0, neginf=0.0)
    return grad.clamp(-clip, clip) if clip else grad


@dataclass
class GuidanceOutput:
    loss: Tensor  # backpropagate this into the renders
    timesteps: Tensor
    grad_norm: float
    # Extra scalars for logs and plots; losses of auxiliary models (VSD's LoRA) are already optimised inside.
    stats: dict[str, float] = field(default_factory=dict)


class Guidance(Protocol):
    """(renders, cameras, prompt, step) -> loss. Methods with trainable parts (VSD's LoRA) expose them."""

    prior: DiffusionPrior
    guidance_scale: float  # after the prior's recommendation
    timesteps: TimestepSchedule  # likewise

    def __call__(
        self,
        rgb: Float[Tensor, "B H W 3"],
        cameras: Cameras,
        prompt: PromptEmbeddings,
        step: int,
        generator: torch.Generator | None = None,
    ) -> GuidanceOutput: ...

    def trainable_parameters(self) -> list[torch.nn.Parameter]: ...

    def state_dict(self) -> dict[str, Tensor]: ...

    def load_state_dict(self, state: dict[str, Tensor]) -> object: ...


@dataclass
class DistillationInputs:
    """What every method draws before its UNet calls: the render in the prior's space, t, the noise, the texts."""

    x0: Float[Tensor, "B C h w"]  # keeps its graph to the renders
    t: Int[Tensor, " B"]
    noise: Float[Tensor, "B C h w"]
    conditions: TextConditions


def draw_inputs(
    prior: DiffusionPrior,
    schedule: TimestepSchedule,
    perp_neg: PerpNegConfig,
    rgb: Float[Tensor, "B H W 3"],
    cameras: Cameras,
    prompt: PromptEmbeddings,
    step: int,
    generator: torch.Generator | None,
) -> DistillationInputs:
    x0 = prior.encode_images(rgb.permute(0, 3, 1, 2), generator)
    t = schedule.sample(step, x0.shape[0], prior.num_train_timesteps, generator).to(x0.device)
    noise = torch.randn(x0.shape, generator=generator).to(x0)
    conditions = text_conditions(prompt, cameras.azimuth, cameras.elevation, perp_neg)
    return DistillationInputs(x0, t, noise, conditions)


class StatelessGuidance:
    """Methods whose only model is the frozen prior (SDS, ASD): nothing to train, save or restore."""

    name: ClassVar[str]

    def trainable_parameters(self) -> list[nn.Parameter]:
        return []

    def state_dict(self) -> dict[str, Tensor]:
        return {}

    def load_state_dict(self, state: dict[str, Tensor]) -> None:
        if state:
            raise ValueError(f"{self.name} has no trainable state to load")
