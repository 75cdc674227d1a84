"""The configuration tree of a generation run: one dataclass per stage, saved as JSON with every run."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from scoredream.export.config import ExportConfig
from scoredream.fields import FieldConfig, FieldKind, HashGridConfig, MLPConfig, TensoRFConfig, VoxelConfig
from scoredream.guidance import ASDConfig, GuidanceConfig, SDSConfig, VSDConfig
from scoredream.priors import PriorConfig, PromptConfig
from scoredream.render.background import BackgroundConfig
from scoredream.render.cameras import CameraSamplerConfig
from scoredream.render.volume import RenderConfig

MethodKind = Literal["sds", "vsd", "asd"]
MAX_PROMPT_CHARS = 1000


@dataclass
class OptimConfig:
    """AdamW as in threestudio's ProlificDreamer: grid tables learn 10x faster than the MLPs."""

    lr_grid: float = 1e-2
    """learning rate of grid tables (hash grid, planes, voxels)"""
    lr_mlp: float = 1e-3
    """learning rate of MLPs and heads"""
    lr_background: float = 1e-3
    """learning rate of the background MLP"""
    betas: tuple[float, float] = (0.9, 0.99)
    """AdamW betas"""
    eps: float = 1e-15
    """AdamW epsilon"""
    weight_decay: float = 0.0
    """AdamW weight decay"""


@dataclass
class TrainConfig:
    steps: int = 600
    """optimisation steps"""
    batch_size: int = 1
    """views rendered per step"""
    resolution: int = 32
    """render size in pixels until resolution_switch_step"""
    resolution_final: int = 32
    """render size from resolution_switch_step on (threestudio: 64 then 512)"""
    resolution_switch_step: int = 0
    """step at which the render size changes (0: never)"""
    sparsity_weight: float = 0.0
    """weight of mean(sqrt(opacity^2 + 0.01)), which empties space around the object"""
    opacity_weight: float = 0.0
    """weight of the opacity entropy, which pushes opacity to 0 or 1"""
    opacity_start_step: int = 0
    """step from which the opacity entropy applies"""
    seed: int = 0
    """seeds the field's initialisation and every random draw (cameras, noise, timesteps)"""
    device: str = "auto"
    """cpu, cuda, cuda:1, ... or auto (cuda when available)"""
    preview_every: int = 100
    """write a 4-view preview image every N steps (0: never)"""
    checkpoint_every: int = 200
    """write a checkpoint every N steps (0: only at the end)"""
    log_every: int = 10
    """update the progress bar's loss every N steps"""

    def resolution_at(self, step: int) -> int:
        return self.resolution_final if 0 < self.resolution_switch_step <= step else self.resolution


@dataclass
class VideoConfig:
    enabled: bool = True
    """render a turntable video at the end"""
    frames: int = 60
    """frames in one full turn"""
    fps: int = 20
    """frames per second"""
    resolution: int = 128
    """frame size in pixels"""
    elevation: float = 15.0
    """camera elevation in degrees (also used for previews)"""
    distance: float = 1.75
    """camera distance from the origin"""
    fovy: float = 50.0
    """vertical field of view in degrees"""
    format: Literal["mp4", "gif"] = "mp4"
    """video container"""


@dataclass
class GenerateConfig:
    prompt: str = ""
    """the text to turn into an object (also accepted as the first positional argument)"""
    negative_prompt: str = ""
    """what the object should not look like (used as the unconditional branch of guidance)"""
    output_dir: Path = Path("outputs")
    """folder that holds run folders"""
    run_name: str | None = None
    """run folder name under output_dir (default: prompt slug, method and seed)"""
    method: MethodKind = "sds"
    """score distillation method; its options are under --<method>.*"""
    field: FieldKind = "hashgrid"
    """field architecture; its options are under --<field>.*"""
    prior: PriorConfig = dataclasses.field(default_factory=PriorConfig)
    prompts: PromptConfig = dataclasses.field(default_factory=PromptConfig)
    sds: SDSConfig = dataclasses.field(default_factory=SDSConfig)
    vsd: VSDConfig = dataclasses.field(default_factory=VSDConfig)
    asd: ASDConfig = dataclasses.field(default_factory=ASDConfig)
    hashgrid: HashGridConfig = dataclasses.field(default_factory=HashGridConfig)
    mlp: MLPConfig = dataclasses.field(default_factory=MLPConfig)
    tensorf: TensoRFConfig = dataclasses.field(default_factory=TensoRFConfig)
    voxel: VoxelConfig = dataclasses.field(default_factory=VoxelConfig)
    cameras: CameraSamplerConfig = dataclasses.field(default_factory=CameraSamplerConfig)
    render: RenderConfig = dataclasses.field(default_factory=RenderConfig)
    background: BackgroundConfig = dataclasses.field(default_factory=BackgroundConfig)
    optim: OptimConfig = dataclasses.field(default_factory=OptimConfig)
    train: TrainConfig = dataclasses.field(default_factory=TrainConfig)
    video: VideoConfig = dataclasses.field(default_factory=VideoConfig)
    export: ExportConfig = dataclasses.field(default_factory=ExportConfig)

    def field_config(self) -> FieldConfig:
        return getattr(self, self.field)

    def guidance_config(self) -> GuidanceConfig:
        return getattr(self, self.method)

    def particles(self) -> int:
        """Fields optimised together (VSD's particles; 1 for the other methods)."""
        return self.vsd.particles if self.method == "vsd" else 1

    def run_dir(self) -> Path:
        if self.run_name:
            return self.output_dir / self.run_name
        slug = "".join(c if c.isalnum() else "-" for c in self.prompt.lower()).strip("-")
        slug = "-".join(filter(None, slug.split("-")))[:48] or "run"
        return self.output_dir / f"{slug}-{self.method}-s{self.train.seed}"

    def validate(self) -> None:
        """Cheap checks before any model loads, so a typo fails in a second, not after minutes."""
        from scoredream.priors import PromptError
        from scoredream.serialization import ConfigError, check_finite

        if not self.prompt.strip():
            raise PromptError("the prompt is empty")
        if len(self.prompt) > MAX_PROMPT_CHARS:
            raise PromptError(f"the prompt is {len(self.prompt)} characters; at most {MAX_PROMPT_CHARS}")
        check_finite(self)
        t = self.train
        if t.steps < 1 or t.batch_size < 1:
            raise ConfigError("train.steps and train.batch_size must be at least 1")
        if min(t.resolution, t.resolution_final) < 8 or max(t.resolution, t.resolution_final) > 2048:
            raise ConfigError("render resolutions must be between 8 and 2048 pixels")
        if min(t.preview_every, t.checkpoint_every, t.resolution_switch_step, t.opacity_start_step) < 0:
            raise ConfigError("train.preview_every, checkpoint_every, resolution_switch_step and opacity_start_step "
                              "must be >= 0")
        if t.log_every < 1:
            raise ConfigError("train.log_every must be at least 1")
        if self.render.num_samples < 2:
            raise ConfigError("render.num_samples must be at least 2")
        guidance = self.guidance_config()
        guidance.timesteps.validate(f"{self.method}.timesteps")
        if guidance.guidance_scale is not None and guidance.guidance_scale < 0:
            raise ConfigError(f"{self.method}.guidance_scale must be >= 0, got {guidance.guidance_scale}")
        if guidance.grad_clip is not None and guidance.grad_clip <= 0:
            raise ConfigError(f"{self.method}.grad_clip must be positive (or unset), got {guidance.grad_clip}")
        if self.export.enabled:
            self.export.validate()
