"""The skeleton every score-distillation method shares: draw inputs -> gradient -> clean -> surrogate loss.

A method is a `ScoreDistillation` subclass that fills in `gradient()`; its config is a `MethodConfig` subclass that
adds the method's own settings and its reference t schedule as the `timesteps` default.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, ClassVar, Literal

import torch
from jaxtyping import Float, Int
from torch import Tensor

from scoredream.guidance.perp_neg import PerpNegConfig, TextConditions, text_conditions
from scoredream.guidance.schedule import TimestepSchedule
from scoredream.guidance.settings import method_settings
from scoredream.priors.camera_labels import camera_labels
from scoredream.priors.diffusion_prior import DiffusionModel
from scoredream.priors.prompts import PromptEmbeddings
from scoredream.progress import ramp
from scoredream.render.cameras import Cameras
from scoredream.serialization import ConfigError

Weighting = Literal["sds", "uniform", "fantasia"]


@dataclass
class MethodConfig:
    """Settings every method has. Subclasses set `timesteps`' default to their paper's schedule."""

    guidance_scale: float | None = None
    """classifier-free guidance scale s in eps_u + s (eps_c - eps_u);
    unset: the prior's recommendation (its scoredream_guidance.json), else the method's paper's"""
    guidance_scale_end: float | None = None
    """CFG scale at the end of the run, reached linearly over the run fractions guidance_scale_anneal (unset: the
    scale stays constant). High CFG builds shapes early; it also pushes every colour away from the prompts' mean
    colour, so a lower late scale lets colours settle (the amortized generator's orange and pink)"""
    guidance_scale_anneal: tuple[float, float] = (0.5, 1.0)
    """(start, end) fractions of the run over which the CFG scale goes from guidance_scale to guidance_scale_end"""
    weighting: Weighting = "sds"
    """w(t): sds = 1 - alpha_bar, uniform = 1, fantasia = sqrt(alpha_bar) (1 - alpha_bar)"""
    timesteps: TimestepSchedule = field(default_factory=TimestepSchedule)
    """range of diffusion timesteps and its annealing over the run; left at the method's reference, the prior's
    recommendation (if any) replaces it"""
    grad_clip: float | None = None
    """elementwise clamp of the gradient (None: off); NaN/inf entries are always zeroed"""
    perp_neg: PerpNegConfig = field(default_factory=PerpNegConfig)
    """Perp-Neg: the other views' prompts as perpendicular negatives of the guided branch"""

    def validate(self, where: str) -> None:
        self.timesteps.validate(f"{where}.timesteps")
        if self.guidance_scale is not None and self.guidance_scale < 0:
            raise ConfigError(f"{where}.guidance_scale must be >= 0, got {self.guidance_scale}")
        if self.guidance_scale_end is not None and self.guidance_scale_end < 0:
            raise ConfigError(f"{where}.guidance_scale_end must be >= 0, got {self.guidance_scale_end}")
        start, end = self.guidance_scale_anneal
        if not 0.0 <= start <= end <= 1.0:
            raise ConfigError(f"{where}.guidance_scale_anneal must be fractions of the run with start <= end, got "
                              f"{self.guidance_scale_anneal}")
        if self.grad_clip is not None and self.grad_clip <= 0:
            raise ConfigError(f"{where}.grad_clip must be positive (or unset), got {self.grad_clip}")
        self.perp_neg.validate(f"{where}.perp_neg")


def sds_weight(t: Int[Tensor, " B"], alphas_cumprod: Float[Tensor, " T"], kind: Weighting) -> Float[Tensor, " B"]:
    a = alphas_cumprod[t]
    if kind == "sds":
        return 1 - a
    if kind == "uniform":
        return torch.ones_like(a)
    if kind == "fantasia":
        return a.sqrt() * (1 - a)
    raise ValueError(f"unknown weighting '{kind}' (choose sds, uniform or fantasia)")


def surrogate_loss(x: Float[Tensor, "B ..."], grad: Float[Tensor, "B ..."]) -> Float[Tensor, ""]:
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


@dataclass
class DistillationInputs:
    """What every method draws before its UNet calls: the render in the prior's space, t, the noise, the texts."""

    x0: Float[Tensor, "B C h w"]  # keeps its graph to the renders
    t: Int[Tensor, " B"]
    noise: Float[Tensor, "B C h w"]
    conditions: Any  # what the prior is conditioned on: TextConditions for text priors (ViewConditions: novel view)
    cameras: Cameras
    prompt: PromptEmbeddings | None  # None for priors that read no text (the novel-view prior)
    progress: float  # fraction of the run done


class ScoreDistillation:
    """(renders, cameras, prompt, progress) -> a loss whose gradient on the renders is the method's update."""

    method: ClassVar[str]  # "sds", "vsd", "asd": the key of its settings and of the prior's recommendations
    particles: int = 1  # fields the trainer optimises together under this guidance (VSD may use more)

    def __init__(self, config: MethodConfig, prior: DiffusionModel) -> None:
        config.validate(self.method)
        self.config = config
        self.prior = prior
        settings = method_settings(self.method, config, prior.guidance_defaults)
        self.guidance_scale = settings.guidance_scale
        self.timesteps = settings.timesteps

    def scale_at(self, progress: float) -> float:
        """The CFG scale at this point of the run: guidance_scale, annealed linearly to guidance_scale_end."""
        end = self.config.guidance_scale_end
        if end is None:
            return self.guidance_scale
        k = ramp(progress, *self.config.guidance_scale_anneal)
        return (1 - k) * self.guidance_scale + k * end

    def gradient(self, inputs: DistillationInputs, generator: torch.Generator | None) -> tuple[Tensor, dict]:
        """The update direction on x0 (before cleaning) and the method's own statistics."""
        raise NotImplementedError

    def __call__(
        self,
        rgb: Float[Tensor, "B H W 3"],
        cameras: Cameras,
        prompt: PromptEmbeddings,
        progress: float,
        generator: torch.Generator | None = None,
    ) -> GuidanceOutput:
        x0 = self.prior.encode_images(rgb.permute(0, 3, 1, 2), generator)
        return self.distill_images(x0, cameras, prompt, progress, generator)

    def distill_images(
        self,
        x0: Float[Tensor, "B C h w"],
        cameras: Cameras,
        prompt: PromptEmbeddings,
        progress: float,
        generator: torch.Generator | None = None,
    ) -> GuidanceOutput:
        """The same on images already in the prior's x0 space (pixels in [-1, 1], or latents): what a 2D generator
        outputs (scoredream.distill2d), so a latent one is not decoded and re-encoded to be scored."""
        return self.distill(self.draw_inputs(x0, cameras, prompt, progress, generator), generator)

    def distill(self, inputs: DistillationInputs, generator: torch.Generator | None) -> GuidanceOutput:
        """gradient() on the drawn inputs -> cleaned -> the surrogate loss on x0 (which keeps its graph)."""
        with torch.no_grad():
            grad, stats = self.gradient(replace(inputs, x0=inputs.x0.detach()), generator)
        grad = clean_gradient(grad, self.config.grad_clip)
        return GuidanceOutput(surrogate_loss(inputs.x0, grad), inputs.t, float(grad.norm()), stats)

    def draw_noise(
        self, x0: Float[Tensor, "B C h w"], progress: float, generator: torch.Generator | None
    ) -> tuple[Int[Tensor, " B"], Float[Tensor, "B C h w"]]:
        """(t, noise) for x0: a t from the schedule at this point of the run, and Gaussian noise."""
        t = self.timesteps.sample(progress, x0.shape[0], self.prior.num_train_timesteps, generator).to(x0.device)
        return t, torch.randn(x0.shape, generator=generator).to(x0)

    def draw_inputs(
        self,
        x0: Float[Tensor, "B C h w"],
        cameras: Cameras,
        prompt: PromptEmbeddings,
        progress: float,
        generator: torch.Generator | None,
    ) -> DistillationInputs:
        t, noise = self.draw_noise(x0, progress, generator)
        labels = camera_labels(cameras).to(x0.device) if self.prior.reads_cameras else None
        conditions = text_conditions(prompt, cameras.azimuth, cameras.elevation, self.config.perp_neg, labels)
        return DistillationInputs(x0, t, noise, conditions, cameras, prompt, progress)

    def weight(self, t: Int[Tensor, " B"]) -> Float[Tensor, "B 1 1 1"]:
        return sds_weight(t, self.prior.alphas_cumprod, self.config.weighting).view(-1, 1, 1, 1)

    def guided_noise(
        self, x_t: Tensor, t: Tensor, conditions: TextConditions, progress: float
    ) -> Float[Tensor, "B C h w"]:
        """eps_u + s (eps_c - eps_u) (plus Perp-Neg's negatives), all branches in one UNet call; s at `progress`."""
        n = conditions.copies
        eps = self.prior.predict_noise(x_t.repeat(n, 1, 1, 1), t.repeat(n), conditions.embeddings(),
                                       conditions.cameras(n))
        return conditions.combine(eps, self.scale_at(progress))

    # Methods whose only model is the frozen prior (SDS, ASD) have nothing to save or restore.
    def state_dict(self) -> dict[str, Tensor]:
        return {}

    def load_state_dict(self, state: dict[str, Tensor]) -> None:
        if state:
            raise ValueError(f"{self.method} has no trainable state to load")


Guidance = ScoreDistillation
