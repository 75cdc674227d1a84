"""Settings of one-step text-to-image distillation (`scoredream distill2d`), with SwiftBrush's as a preset.

`cpu` (the defaults) is sized for the embedded 32x32 prior on a CPU and chosen by measurement (README, "One-step
text to image"); `swiftbrush` is the paper's reference setting as its public training scripts set it: teacher CFG
4.5, LoRA rank 64 / alpha 108 / lr 1e-3 on a copy of the teacher, student lr 1e-6, t uniform in [0.02, 0.98].
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from scoredream.guidance.asd import ASDConfig
from scoredream.guidance.base import MethodConfig
from scoredream.guidance.schedule import TimestepSchedule
from scoredream.guidance.sds import SDSConfig
from scoredream.guidance.vsd import VSDConfig
from scoredream.priors.diffusion_prior import PriorConfig
from scoredream.serialization import ConfigError, check_finite

Method2D = Literal["vsd", "sds", "asd"]
Preset2D = Literal["cpu", "swiftbrush"]


def _uniform_t() -> TimestepSchedule:
    return TimestepSchedule(min_start=0.02, min_end=0.02, max_start=0.98, max_end=0.98)


def _cpu_vsd() -> VSDConfig:
    # CFG 2: the embedded prior's best sampling scale (assets/prior/EVAL.md: 90% at 2, 46% at 5).
    return VSDConfig(guidance_scale=2.0, timesteps=_uniform_t(), lora_rank=16, lora_lr=1e-3, camera_dropout=0.0)


def _cpu_sds() -> SDSConfig:
    return SDSConfig(guidance_scale=2.0, timesteps=_uniform_t())


def _cpu_asd() -> ASDConfig:
    return ASDConfig(guidance_scale=2.0, timesteps=_uniform_t())


@dataclass
class Distill2DConfig:
    """Train a one-step student (noise + prompt -> image in one UNet call) from a text-to-image prior."""

    prior: PriorConfig = field(default_factory=PriorConfig)
    """the teacher (the student starts as a copy of its UNet and borrows its text encoder and VAE)"""
    method: Method2D = "vsd"
    """score distillation of the student's images: vsd (SwiftBrush), or sds / asd for comparison"""
    vsd: VSDConfig = field(default_factory=_cpu_vsd)
    sds: SDSConfig = field(default_factory=_cpu_sds)
    asd: ASDConfig = field(default_factory=_cpu_asd)
    prompts: tuple[str, ...] = ()
    """training prompts; empty: the shapes world's 48 (`a <colour> <shape>`), which only the embedded prior knows"""
    negative_prompt: str = ""
    """the unconditional branch's text of the teacher's CFG"""
    steps: int = 3000
    """student optimiser steps"""
    minutes: float = 0.0
    """wall-clock budget of the training (0: none); it stops at whichever of steps and minutes comes first"""
    batch_size: int = 16
    """images per step, each with a prompt drawn at random"""
    lr: float = 3e-6
    """student AdamW learning rate (SwiftBrush on SD 2.1: 1e-6; the embedded prior: README)"""
    betas: tuple[float, float] = (0.9, 0.999)
    """student AdamW betas"""
    max_grad_norm: float | None = 1.0
    """clip the student's gradient norm (None: off)"""
    lora_steps: int = 3
    """VSD's LoRA optimiser steps per student step (vsd only; the first inside the guidance): the fake score must
    keep up with the student (DMD's two timescales); with 1 the embedded prior's students collapse (README)"""
    ema_decay: float = 0.99
    """decay of an exponential moving average of the student's weights, which evaluations and the saved student
    use (0: off, the raw weights)"""
    min_signal: float = 0.02
    """the student's t is the last timestep whose alpha_bar >= this (SwiftBrush's t = T on SD 2.1 has 0.0047; the
    embedded prior's one-step images there are 19% out of range, at 0.02 (t = 908) 1%: README)"""
    timestep: int | None = None
    """the student's t, overriding min_signal"""
    seed: int = 0
    checkpoint_every: int = 50
    """steps between checkpoints (the student folder and the training state)"""
    eval_every: int = 50
    """steps between judged evaluations (8 samples of each shapes-world prompt; 0: off; embedded prior only)"""
    device: str = "auto"
    """cpu, cuda, cuda:N or auto"""
    threads: int = 0
    """CPU threads for torch (0: torch's default); 1 on a shared machine"""

    def unsaved_fields(self) -> set[str]:
        return {m for m in ("vsd", "sds", "asd") if m != self.method}

    def guidance_config(self) -> MethodConfig:
        return getattr(self, self.method)

    def validate(self) -> None:
        check_finite(self, "distill2d")
        if self.method not in ("vsd", "sds", "asd"):
            raise ConfigError(f"unknown method '{self.method}' (choose vsd, sds or asd)")
        self.guidance_config().validate(self.method)
        if self.steps < 1 or self.batch_size < 1 or self.minutes < 0 or self.lr <= 0:
            raise ConfigError("steps and batch_size must be >= 1, minutes >= 0 and lr > 0")
        if self.checkpoint_every < 1 or self.eval_every < 0 or self.threads < 0:
            raise ConfigError("checkpoint_every must be >= 1, eval_every and threads >= 0")
        if not 0 < self.min_signal < 1:
            raise ConfigError(f"min_signal must be in (0, 1), got {self.min_signal}")
        if self.lora_steps < 1 or not 0 <= self.ema_decay < 1:
            raise ConfigError("lora_steps must be >= 1 and ema_decay in [0, 1)")
        if self.max_grad_norm is not None and self.max_grad_norm <= 0:
            raise ConfigError(f"max_grad_norm must be positive (or unset), got {self.max_grad_norm}")


def preset(name: str) -> Distill2DConfig:
    """A preset's full config (later flags still override it)."""
    if name == "cpu":
        return Distill2DConfig()
    if name == "swiftbrush":
        vsd = VSDConfig(guidance_scale=4.5, timesteps=_uniform_t(), lora_rank=64, lora_alpha=108.0, lora_lr=1e-3,
                        camera_dropout=0.0)
        return Distill2DConfig(vsd=vsd, lr=1e-6, max_grad_norm=None, min_signal=0.004, lora_steps=1, ema_decay=0.0)
    raise ConfigError(f"unknown preset '{name}' (choose cpu or swiftbrush)")
