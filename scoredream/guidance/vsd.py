"""Variational Score Distillation (ProlificDreamer): w(t) (eps_pretrained_cfg(x_t,t,y) - eps_lora(x_t,t,y,c)).

The scene is a particle of a distribution whose renders a camera-conditioned LoRA of the prior learns, trained in
the same step on the detached renders with the ordinary diffusion loss. The guidance owns the LoRA, its camera
embedding and its AdamW; the trainer only sees the tensors-only `state_dict()`.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from jaxtyping import Float
from torch import Tensor, nn

from scoredream.guidance.base import DistillationInputs, MethodConfig, ScoreDistillation
from scoredream.guidance.schedule import TimestepSchedule
from scoredream.priors.diffusion_prior import DiffusionPrior
from scoredream.serialization import ConfigError


def _reference_timesteps() -> TimestepSchedule:
    # threestudio: max t 0.98 until step 5000 of 25000 (20% of the run), then 0.5.
    return TimestepSchedule(min_start=0.02, min_end=0.02, max_start=0.98, max_end=0.5, start=0.2, end=0.2)


@dataclass
class VSDConfig(MethodConfig):
    """Reference setting (threestudio prolificdreamer stage 1): CFG 7.5 (pretrained) and 1.0 (LoRA, over the
    camera), w(t) = 1 - alpha_bar, LoRA rank 4, AdamW lr 1e-4 (betas 0.9, 0.99; eps 1e-15), camera dropped 10% of
    the time. Cost per step: pretrained UNet call on 2B (4B with Perp-Neg), LoRA UNet call on B (2B if
    lora_guidance_scale != 1), one LoRA training forward + backward on B."""

    timesteps: TimestepSchedule = field(default_factory=_reference_timesteps)
    """range of diffusion timesteps of the gradient (the LoRA trains over the full range); left at the reference,
    the prior's recommendation replaces it (the embedded prior: t in [0.02, 0.98] throughout)"""
    lora_guidance_scale: float = 1.0
    """CFG scale of the LoRA branch over the camera (1: conditional camera only, one call of B)"""
    lora_rank: int = 4
    """rank of the LoRA on q/k/v/out of every attention layer"""
    lora_alpha: float | None = None
    """LoRA alpha: its update is scaled by alpha / rank (unset: alpha = rank, scale 1; SwiftBrush: 108 at rank 64)"""
    lora_lr: float = 1e-4
    """AdamW learning rate of the LoRA and camera embedding"""
    lora_betas: tuple[float, float] = (0.9, 0.99)
    """AdamW betas of the LoRA (threestudio)"""
    lora_eps: float = 1e-15
    """AdamW epsilon of the LoRA (threestudio)"""
    camera_dropout: float = 0.1
    """probability of training the LoRA with the null (all-zero) camera, for CFG over the camera"""
    lora_base: str = ""
    """separate LoRA base model, folder or hub id (threestudio: v-prediction SD 2.1); empty: the prior's UNet"""
    share_unet: bool = False
    """LoRA inside the prior's own UNet, off for the pretrained branch (saves a UNet copy); needs no lora_base"""
    particles: int = 1
    """fields optimised together, sharing the LoRA (the trainer renders train.batch_size views of each)"""

    def validate(self, where: str) -> None:
        super().validate(where)
        if self.particles < 1 or self.lora_rank < 1 or not 0 <= self.camera_dropout <= 1:
            raise ConfigError(f"{where}.particles and {where}.lora_rank must be >= 1 and {where}.camera_dropout in "
                              "[0, 1]")
        if self.lora_alpha is not None and self.lora_alpha <= 0:
            raise ConfigError(f"{where}.lora_alpha must be positive (or unset), got {self.lora_alpha}")
        if self.lora_base and self.share_unet:
            raise ConfigError(f"{where}.share_unet applies only without {where}.lora_base")

    def setup(self, prior: DiffusionPrior) -> VSDGuidance:
        return VSDGuidance(self, prior)


class VSDGuidance(ScoreDistillation):
    method = "vsd"
    config: VSDConfig

    def __init__(self, config: VSDConfig, prior: DiffusionPrior) -> None:
        super().__init__(config, prior)
        from scoredream.guidance import lora  # diffusers + peft: imported when a VSD run starts, not with its config

        self.particles = config.particles
        device = prior.alphas_cumprod.device
        if config.lora_base:
            unet, scheduler = lora.load_lora_base(config.lora_base, prior.dtype, device)
            check_compatible(prior, unet, scheduler)
            prediction_type = str(scheduler.config.prediction_type)
        else:
            unet = prior.unet if config.share_unet else copy.deepcopy(prior.unet)
            prediction_type = prior.prediction_type
        if prediction_type not in ("epsilon", "v_prediction"):
            raise ConfigError(f"the VSD LoRA trains epsilon or v-prediction models, not {prediction_type}")
        self.lora = lora.LoraUNet(unet, config.lora_rank, prediction_type, config.lora_alpha)
        self.optimizer = torch.optim.AdamW(self.lora.trainable(), lr=config.lora_lr, betas=config.lora_betas,
                                           eps=config.lora_eps)

    def state_dict(self) -> dict[str, Tensor]:
        """LoRA, camera embedding and AdamW moments, all plain tensors (safetensors-friendly)."""
        state = self.lora.lora_state()
        moments = self.optimizer.state_dict()["state"]
        for i, entry in moments.items():
            state.update({f"optim.{i}.{k}": v for k, v in entry.items()})
        return state

    def load_state_dict(self, state: dict[str, Tensor]) -> None:
        self.lora.load_lora_state(state)
        moments: dict[int, dict[str, Tensor]] = {}
        for key, value in state.items():
            if key.startswith("optim."):
                _, i, name = key.split(".", 2)
                moments.setdefault(int(i), {})[name] = value
        groups = self.optimizer.state_dict()["param_groups"]
        self.optimizer.load_state_dict({"state": moments, "param_groups": groups})

    def lora_noise(
        self, x_t: Tensor, t: Tensor, text: Float[Tensor, "B L D"], c2w: Float[Tensor, "B 4 4"],
        labels: Tensor | None = None,
    ) -> Float[Tensor, "B C h w"]:
        """eps_lora(x_t, t, y, c), with CFG over the camera when lora_guidance_scale != 1. `labels`: the
        cameras of a camera-conditioned prior, whose UNet the LoRA copies (and always reads them)."""
        s = self.config.lora_guidance_scale
        if s == 1.0:
            out = self.lora(x_t, t, text, c2w, labels)
            return self.prior.to_epsilon(out, x_t.float(), t, self.lora.prediction_type)
        both = self.lora(torch.cat([x_t, x_t]), torch.cat([t, t]), torch.cat([text, text]),
                         torch.cat([c2w, torch.zeros_like(c2w)]), None if labels is None else labels.repeat(2, 1))
        eps_c, eps_u = self.prior.to_epsilon(both, torch.cat([x_t, x_t]).float(), torch.cat([t, t]),
                                             self.lora.prediction_type).chunk(2)
        return eps_u + s * (eps_c - eps_u)

    def gradient(self, inputs: DistillationInputs, generator: torch.Generator | None) -> tuple[Tensor, dict]:
        """w(t) (eps_pretrained_cfg - eps_lora); then one LoRA step on the same detached renders."""
        x0, t, noise = inputs.x0, inputs.t, inputs.noise
        text = inputs.prompt.plain.expand(x0.shape[0], -1, -1)
        c2w = inputs.cameras.c2w.to(x0.device)
        x_t = self.prior.add_noise(x0, noise, t)
        guided = self.guided_noise(x_t, t, inputs.conditions, inputs.progress)
        labels = inputs.conditions.camera
        grad = self.weight(t) * (guided - self.lora_noise(x_t, t, text, c2w, labels))
        return grad, {"lora_loss": self.train_lora(x0, text, c2w, generator, labels)}

    def train_lora(
        self, x0: Tensor, text: Tensor, c2w: Tensor, generator: torch.Generator | None, labels: Tensor | None = None
    ) -> float:
        """One AdamW step of the LoRA's diffusion loss on detached renders, t over the full range."""
        b, device = x0.shape[0], x0.device
        t = torch.randint(0, self.prior.num_train_timesteps, (b,), generator=generator).to(device)
        noise = torch.randn(x0.shape, generator=generator).to(x0)
        keep = (torch.rand(b, generator=generator) >= self.config.camera_dropout).to(device)
        c2w = c2w * keep.view(-1, 1, 1).to(c2w)
        x_t = self.prior.add_noise(x0, noise, t)
        with torch.enable_grad(), self.lora.active():
            pred = self.lora(x_t, t, text, c2w, labels)
            if self.lora.prediction_type == "v_prediction":
                a = self.prior.alphas_cumprod[t].view(-1, 1, 1, 1).to(x0)
                target = a.sqrt() * noise - (1 - a).sqrt() * x0
            else:
                target = noise
            loss = F.mse_loss(pred, target.float())
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
        self.optimizer.step()
        return loss.item()


def check_compatible(prior: DiffusionPrior, unet: nn.Module, scheduler: object) -> None:
    """A separate LoRA base must read the same x_t (channels, size, text width) under the same noise schedule."""
    mine, theirs = prior.unet.config, unet.config  # type: ignore[attr-defined]
    for key in ("in_channels", "cross_attention_dim"):
        if mine[key] != theirs[key]:
            raise ConfigError(f"the LoRA base model has {key} {theirs[key]}, the prior {mine[key]}")
    alphas = scheduler.alphas_cumprod.to(prior.alphas_cumprod)  # type: ignore[attr-defined]
    if alphas.shape != prior.alphas_cumprod.shape or not torch.allclose(alphas, prior.alphas_cumprod, atol=1e-5):
        raise ConfigError("the LoRA base model's noise schedule differs from the prior's")
