"""Variational Score Distillation (ProlificDreamer): w(t) (eps_pretrained_cfg(x_t,t,y) - eps_lora(x_t,t,y,c)).

The scene is a particle of a distribution whose renders a camera-conditioned LoRA of the prior learns, trained in
the same step on the detached renders with the ordinary diffusion loss. The guidance owns the LoRA, its camera
embedding and its AdamW; the trainer only sees `trainable_parameters()` and the tensors-only `state_dict()`.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from jaxtyping import Float
from torch import Tensor, nn

from scoredream.guidance.base import (
    REFERENCE_GUIDANCE_SCALE,
    GuidanceOutput,
    TimestepSchedule,
    Weighting,
    clean_gradient,
    draw_inputs,
    recommended_timesteps,
    sds_weight,
    surrogate_loss,
)
from scoredream.guidance.sds import cfg_noise
from scoredream.priors.diffusion_prior import DiffusionPrior
from scoredream.priors.perp_neg import PerpNegConfig, TextConditions
from scoredream.priors.prompts import PromptEmbeddings
from scoredream.render.cameras import Cameras
from scoredream.serialization import ConfigError


def _reference_timesteps() -> TimestepSchedule:
    # threestudio: max t 0.98 until step 5000 of 25000, then 0.5; here the same fraction of the default 600 steps.
    return TimestepSchedule(min_start=0.02, min_end=0.02, max_start=0.98, max_end=0.5, start_step=120, end_step=120)


@dataclass
class VSDConfig:
    """Reference setting (threestudio prolificdreamer stage 1): CFG 7.5 (pretrained) and 1.0 (LoRA, over the
    camera), w(t) = 1 - alpha_bar, LoRA rank 4, AdamW lr 1e-4, camera dropped 10% of the time.
    Cost per step: pretrained UNet call on 2B (4B with Perp-Neg), LoRA UNet call on B (2B if
    lora_guidance_scale != 1), one LoRA training forward + backward on B."""

    guidance_scale: float | None = None
    """CFG scale of the pretrained branch;
    unset: the prior's recommendation (its scoredream_guidance.json), else 7.5 (ProlificDreamer)"""
    lora_guidance_scale: float = 1.0
    """CFG scale of the LoRA branch over the camera (1: conditional camera only, one call of B)"""
    weighting: Weighting = "sds"
    """w(t): sds = 1 - alpha_bar, uniform = 1, fantasia = sqrt(alpha_bar) (1 - alpha_bar)"""
    timesteps: TimestepSchedule = field(default_factory=_reference_timesteps)
    """range of diffusion timesteps of the gradient (the LoRA trains over the full range); left at the reference,
    the prior's recommendation replaces it (the embedded prior: t in [0.02, 0.98] throughout)"""
    lora_rank: int = 4
    """rank of the LoRA on q/k/v/out of every attention layer"""
    lora_lr: float = 1e-4
    """AdamW learning rate of the LoRA and camera embedding"""
    camera_dropout: float = 0.1
    """probability of training the LoRA with the null (all-zero) camera, for CFG over the camera"""
    lora_base: str = ""
    """separate LoRA base model, folder or hub id (threestudio: v-prediction SD 2.1); empty: the prior's UNet"""
    share_unet: bool = False
    """LoRA inside the prior's own UNet, off for the pretrained branch (saves a UNet copy); needs no lora_base"""
    particles: int = 1
    """fields optimised together, sharing the LoRA (the trainer renders train.batch_size views of each)"""
    grad_clip: float | None = None
    """elementwise clamp of the gradient (None: off); NaN/inf entries are always zeroed"""
    perp_neg: PerpNegConfig = field(default_factory=PerpNegConfig)
    """Perp-Neg for the pretrained branch"""

    def setup(self, prior: DiffusionPrior) -> VSDGuidance:
        return VSDGuidance(self, prior)


class VSDGuidance:
    def __init__(self, config: VSDConfig, prior: DiffusionPrior) -> None:
        if config.particles < 1 or config.lora_rank < 1 or not 0 <= config.camera_dropout <= 1:
            raise ConfigError("vsd.particles and vsd.lora_rank must be >= 1 and vsd.camera_dropout in [0, 1]")
        from scoredream.guidance import lora  # diffusers + peft: imported when a VSD run starts, not with its config

        self.config = config
        self.prior = prior
        self.guidance_scale = prior.guidance_scale("vsd", config.guidance_scale, REFERENCE_GUIDANCE_SCALE["vsd"])
        self.timesteps = recommended_timesteps(prior, "vsd", config.timesteps, _reference_timesteps())
        device = prior.alphas_cumprod.device
        if config.lora_base:
            if config.share_unet:
                raise ConfigError("vsd.share_unet applies only without vsd.lora_base")
            unet, scheduler = lora.load_lora_base(config.lora_base, prior.dtype, device)
            check_compatible(prior, unet, scheduler)
            prediction_type = str(scheduler.config.prediction_type)
        else:
            unet = prior.unet if config.share_unet else copy.deepcopy(prior.unet)
            prediction_type = prior.prediction_type
        if prediction_type not in ("epsilon", "v_prediction"):
            raise ConfigError(f"the VSD LoRA trains epsilon or v-prediction models, not {prediction_type}")
        self.lora = lora.LoraUNet(unet, config.lora_rank, prediction_type)
        self.optimizer = torch.optim.AdamW(self.lora.trainable(), lr=config.lora_lr)

    def trainable_parameters(self) -> list[nn.Parameter]:
        return self.lora.trainable()

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
        self, x_t: Tensor, t: Tensor, text: Float[Tensor, "B L D"], c2w: Float[Tensor, "B 4 4"]
    ) -> Float[Tensor, "B C h w"]:
        """eps_lora(x_t, t, y, c), with CFG over the camera when lora_guidance_scale != 1."""
        s = self.config.lora_guidance_scale
        if s == 1.0:
            out = self.lora(x_t, t, text, c2w)
            return self.prior.to_epsilon(out, x_t.float(), t, self.lora.prediction_type)
        both = self.lora(torch.cat([x_t, x_t]), torch.cat([t, t]), torch.cat([text, text]),
                         torch.cat([c2w, torch.zeros_like(c2w)]))
        eps_c, eps_u = self.prior.to_epsilon(both, torch.cat([x_t, x_t]).float(), torch.cat([t, t]),
                                             self.lora.prediction_type).chunk(2)
        return eps_u + s * (eps_c - eps_u)

    @torch.no_grad()
    def gradient(
        self, x0: Tensor, t: Tensor, noise: Tensor, conditions: TextConditions, text: Tensor, c2w: Tensor
    ) -> Float[Tensor, "B C h w"]:
        x_t = self.prior.add_noise(x0, noise, t)
        eps_pretrained = cfg_noise(self.prior, x_t, t, conditions, self.guidance_scale)
        eps_lora = self.lora_noise(x_t, t, text, c2w)
        w = sds_weight(t, self.prior.alphas_cumprod, self.config.weighting).view(-1, 1, 1, 1)
        return w * (eps_pretrained - eps_lora)

    def train_lora(
        self, x0: Tensor, text: Tensor, c2w: Tensor, generator: torch.Generator | None
    ) -> float:
        """One AdamW step of the LoRA's diffusion loss on detached renders, t over the full range."""
        b, device = x0.shape[0], x0.device
        t = torch.randint(0, self.prior.num_train_timesteps, (b,), generator=generator).to(device)
        noise = torch.randn(x0.shape, generator=generator).to(x0)
        keep = (torch.rand(b, generator=generator) >= self.config.camera_dropout).to(device)
        c2w = c2w * keep.view(-1, 1, 1).to(c2w)
        x_t = self.prior.add_noise(x0, noise, t)
        with torch.enable_grad(), self.lora.active():
            pred = self.lora(x_t, t, text, c2w)
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

    def __call__(
        self,
        rgb: Float[Tensor, "B H W 3"],
        cameras: Cameras,
        prompt: PromptEmbeddings,
        step: int,
        generator: torch.Generator | None = None,
    ) -> GuidanceOutput:
        c = self.config
        inp = draw_inputs(self.prior, self.timesteps, c.perp_neg, rgb, cameras, prompt, step, generator)
        x0 = inp.x0.detach()
        text = prompt.plain.expand(x0.shape[0], -1, -1)
        c2w = cameras.c2w.to(x0.device)
        grad = clean_gradient(self.gradient(x0, inp.t, inp.noise, inp.conditions, text, c2w), c.grad_clip)
        lora_loss = self.train_lora(x0, text, c2w, generator)
        return GuidanceOutput(
            loss=surrogate_loss(inp.x0, grad), timesteps=inp.t, grad_norm=float(grad.norm()),
            stats={"lora_loss": lora_loss},
        )


def check_compatible(prior: DiffusionPrior, unet: nn.Module, scheduler: object) -> None:
    """A separate LoRA base must read the same x_t (channels, size, text width) under the same noise schedule."""
    mine, theirs = prior.unet.config, unet.config  # type: ignore[attr-defined]
    for key in ("in_channels", "cross_attention_dim"):
        if mine[key] != theirs[key]:
            raise ConfigError(f"the LoRA base model has {key} {theirs[key]}, the prior {mine[key]}")
    alphas = scheduler.alphas_cumprod.to(prior.alphas_cumprod)  # type: ignore[attr-defined]
    if alphas.shape != prior.alphas_cumprod.shape or not torch.allclose(alphas, prior.alphas_cumprod, atol=1e-5):
        raise ConfigError("the LoRA base model's noise schedule differs from the prior's")
