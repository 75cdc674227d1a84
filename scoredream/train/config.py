"""The configuration tree of a generation run: one dataclass per stage, saved as JSON with every run."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args

from scoredream.export.config import ExportConfig
from scoredream.fields import (
    FieldConfig,
    FieldKind,
    HashGridConfig,
    MLPConfig,
    TensoRFConfig,
    TriplaneConfig,
    VoxelConfig,
)
from scoredream.guidance import ASDConfig, GuidanceConfig, SDSConfig, VSDConfig
from scoredream.guidance.schedule import upgrade_step_schedule
from scoredream.image.config import ImageConfig
from scoredream.priors import PriorConfig, PromptConfig
from scoredream.progress import cosine_decay, ramp
from scoredream.render.background import BackgroundConfig
from scoredream.render.cameras import CameraSamplerConfig
from scoredream.render.shading import ShadingConfig
from scoredream.render.volume import RenderConfig
from scoredream.serialization import ConfigError
from scoredream.train.presets import PresetName

MethodKind = Literal["sds", "vsd", "asd"]
MAX_PROMPT_CHARS = 1000
GENERATE_PRIOR = "embedded-camera"
"""3D generation's default prior: the camera-conditioned embedded prior, which keeps the mug's handle where the
view-prompted one loses it (README, "A camera-conditioned prior")"""
GENERATE_BLOB_STRENGTH = 2.0
"""the hash grid's initial density blob in generation (Magic3D's and threestudio's is 10, which the reference
presets keep): on the camera-conditioned prior a weaker blob lets the shapes form closer to the truth (README,
"A camera-conditioned prior": SDS mean 3D IoU 0.684 -> 0.704 over 6 prompts x 2 seeds)"""
GENERATE_VSD_LORA_LR = 1e-3
"""VSD's LoRA learning rate in generation (ProlificDreamer's is 1e-4, which the prolificdreamer preset keeps): in a
600-step run the LoRA follows the renders 10x faster (README, "A camera-conditioned prior": VSD mean 3D IoU 0.665 ->
0.686 over 6 prompts x 2 seeds)"""


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
    lr_final: float = 1.0
    """every learning rate at the end of the run, as a fraction of its start, reached by a cosine over `lr_decay`;
    1 keeps them constant, as the references do. With eps 1e-15 Adam moves each grid entry by about its learning
    rate every step whatever the gradient's size, so the rate sets how fast a formed shape keeps changing; on the
    embedded prior a decay to 0.1 loses on average (docs/GEOMETRY.md, "More levers": the torus's hole opens late)"""
    lr_decay: tuple[float, float] = (0.0, 1.0)
    """the stretch of the run (fractions of it) over which learning rates fall to `lr_final`"""

    def lr_scale_at(self, progress: float) -> float:
        return cosine_decay(ramp(progress, *self.lr_decay), self.lr_final)

    def validate(self) -> None:
        if not 0 < self.lr_final <= 1:
            raise ConfigError(f"optim.lr_final must be in (0, 1] (a fraction of the starting rates), got "
                              f"{self.lr_final}")
        start, end = self.lr_decay
        if not 0 <= start <= end <= 1:
            raise ConfigError(f"optim.lr_decay must be fractions of the run with start <= end, got {self.lr_decay}")


@dataclass
class TrainConfig:
    steps: int = 600
    """optimisation steps; every schedule is a fraction of them, so this alone scales a run"""
    batch_size: int = 1
    """views rendered per step"""
    resolution: int = 32
    """render size in pixels until resolution_switch"""
    resolution_final: int = 32
    """render size from resolution_switch on (threestudio: 64 then 512)"""
    resolution_switch: float = 1.0
    """fraction of the run from which renders are resolution_final (1: never)"""
    sparsity_weight: float = 0.0
    """weight of mean(sqrt(opacity^2 + 0.01)), which empties space around the object"""
    opacity_weight: float = 0.0
    """weight of the opacity entropy, which pushes opacity to 0 or 1"""
    opacity_start: float = 0.0
    """fraction of the run from which the opacity entropy applies"""
    distortion_weight: float = 0.0
    """weight of mip-NeRF 360's distortion loss (mean over rays), which gathers each ray's weight into one short
    interval: a thin surface instead of a soft shell"""
    normal_smoothness_weight: float = 0.0
    """weight of the 3D normal smoothness mean_rays sum_i w_i |n(x_i) - n(x_i + r_i)|_1, r_i ~ N(0, 0.01^2)
    (threestudio's lambda_3d_normal_smooth, weighted here by what each sample shows as the orientation loss is).
    Off: on the embedded prior it softens the fields (docs/GEOMETRY.md, "The mug's cavity")"""
    eikonal_weight: float = 0.0
    """weight of the eikonal loss mean (|grad sdf| - 1)^2 at eikonal_points random points of the field's cube a
    step (an sdf field only; gradients by forward differences): keeps the sdf a distance, so beta alone sets how
    sharp the surface is"""
    eikonal_points: int = 1024
    """random points a step for the eikonal loss"""
    orientation_weight: tuple[float, float] = (0.0, 0.0)
    """weight of the orientation loss mean_rays sum_i w_i max(0, n_i . d)^2 (normals must face the camera) at the
    start of the run and from orientation_ramp on, linear in between (threestudio DreamFusion: 10 -> 1000)"""
    orientation_ramp: float = 0.5
    """fraction of the run where orientation_weight reaches its second value"""
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

    def progress(self, step: int) -> float:
        """How far into the run `step` is, in [0, 1)."""
        return step / self.steps

    def orientation_weight_at(self, progress: float) -> float:
        start, end = self.orientation_weight
        k = min(progress / self.orientation_ramp, 1.0) if self.orientation_ramp > 0 else 1.0
        return start + k * (end - start)

    def resolution_at(self, step: int) -> int:
        return self.resolution_final if self.progress(step) >= self.resolution_switch else self.resolution

    def validate(self, where: str = "train") -> None:
        if self.steps < 1 or self.batch_size < 1:
            raise ConfigError(f"{where}.steps and {where}.batch_size must be at least 1")
        sizes = (self.resolution, self.resolution_final)
        if min(sizes) < 8 or max(sizes) > 2048:
            raise ConfigError("render resolutions must be between 8 and 2048 pixels")
        if min(self.preview_every, self.checkpoint_every) < 0:
            raise ConfigError(f"{where}.preview_every and {where}.checkpoint_every must be >= 0")
        bad = [f"{where}.{k}={v}" for k, v in (("resolution_switch", self.resolution_switch),
                                               ("opacity_start", self.opacity_start),
                                               ("orientation_ramp", self.orientation_ramp)) if not 0.0 <= v <= 1.0]
        if bad:
            raise ConfigError(f"fractions of the run must be in [0, 1]: {', '.join(bad)}")
        if self.log_every < 1:
            raise ConfigError(f"{where}.log_every must be at least 1")


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
    """the text to turn into an object (also accepted as the first positional argument); with --image.path it may
    be empty (image to 3D)"""
    negative_prompt: str = ""
    """what the object should not look like (used as the unconditional branch of guidance)"""
    output_dir: Path = Path("outputs")
    """folder that holds run folders"""
    run_name: str | None = None
    """run folder name under output_dir (default: prompt slug, method and seed)"""
    preset: PresetName = "cpu"
    """the preset this config started from (`--preset` sets every value of it; see the README's preset table)"""
    method: MethodKind = "sds"
    """score distillation method; its options are under --<method>.*"""
    field: FieldKind = "hashgrid"
    """field architecture; its options are under --<field>.*"""
    prior: PriorConfig = dataclasses.field(default_factory=lambda: PriorConfig(model=GENERATE_PRIOR))
    prompts: PromptConfig = dataclasses.field(default_factory=PromptConfig)
    sds: SDSConfig = dataclasses.field(default_factory=SDSConfig)
    vsd: VSDConfig = dataclasses.field(default_factory=lambda: VSDConfig(lora_lr=GENERATE_VSD_LORA_LR))
    asd: ASDConfig = dataclasses.field(default_factory=ASDConfig)
    hashgrid: HashGridConfig = dataclasses.field(
        default_factory=lambda: HashGridConfig(blob_strength=GENERATE_BLOB_STRENGTH))
    mlp: MLPConfig = dataclasses.field(default_factory=MLPConfig)
    tensorf: TensoRFConfig = dataclasses.field(default_factory=TensoRFConfig)
    voxel: VoxelConfig = dataclasses.field(default_factory=VoxelConfig)
    triplane: TriplaneConfig = dataclasses.field(default_factory=TriplaneConfig)
    cameras: CameraSamplerConfig = dataclasses.field(default_factory=CameraSamplerConfig)
    render: RenderConfig = dataclasses.field(default_factory=RenderConfig)
    shading: ShadingConfig = dataclasses.field(default_factory=ShadingConfig)
    background: BackgroundConfig = dataclasses.field(default_factory=BackgroundConfig)
    optim: OptimConfig = dataclasses.field(default_factory=OptimConfig)
    train: TrainConfig = dataclasses.field(default_factory=TrainConfig)
    video: VideoConfig = dataclasses.field(default_factory=VideoConfig)
    export: ExportConfig = dataclasses.field(default_factory=ExportConfig)
    image: ImageConfig = dataclasses.field(default_factory=ImageConfig)
    """an input image (`--image FILE`), its camera and its losses: image to 3D, or text plus image"""

    @property
    def uses_text(self) -> bool:
        """Whether the text prior guides this run (a prompt is given); without one an image alone does."""
        return bool(self.prompt.strip())

    def field_config(self) -> FieldConfig:
        return getattr(self, self.field)

    def guidance_config(self) -> GuidanceConfig:
        return getattr(self, self.method)

    def unsaved_fields(self) -> set[str]:
        """The method and field sections this run does not use: config.json and checkpoints leave them out (they
        load back as defaults)."""
        methods, fields = set(get_args(MethodKind)), set(get_args(FieldKind))
        unused = {"image"} if not self.image.enabled else set()  # text runs' config.json is as it was
        return (methods - {self.method}) | (fields - {self.field}) | unused

    @classmethod
    def upgrade(cls, data: Any) -> Any:
        """A config saved by an earlier version, in today's keys: schedules were in steps, now fractions of the
        run."""
        if not isinstance(data, dict) or not isinstance(data.get("train", {}), dict):
            return data  # the type checks that follow name the problem
        data = dict(data)
        steps = data.get("train", {}).get("steps")
        steps = steps if isinstance(steps, int) and steps > 0 else TrainConfig.steps
        for method in get_args(MethodKind):
            if isinstance(data.get(method), dict) and isinstance(data[method].get("timesteps"), dict):
                data[method] = {**data[method], "timesteps": upgrade_step_schedule(data[method]["timesteps"], steps)}
        train = dict(data.get("train", {}))
        if "resolution_switch_step" in train:
            switch = train.pop("resolution_switch_step")
            train["resolution_switch"] = min(switch / steps, 1.0) if switch > 0 else 1.0
        if "opacity_start_step" in train:
            train["opacity_start"] = min(train.pop("opacity_start_step") / steps, 1.0)
        if train:
            data["train"] = train
        if "render" in data and "shading" not in data:  # saved before training renders were shaded: they were not
            data["shading"] = {"enabled": False}
        render = data.get("render")
        if isinstance(render, dict) and "train_pixel_jitter" not in render:  # saved before pixel jitter: centres
            data["render"] = {**render, "train_pixel_jitter": False}
        return data

    def run_dir(self) -> Path:
        if self.run_name:
            return self.output_dir / self.run_name
        name = self.prompt if self.uses_text or self.image.path is None else self.image.path.stem
        slug = "".join(c if c.isalnum() else "-" for c in name.lower()).strip("-")
        slug = "-".join(filter(None, slug.split("-")))[:48] or "run"
        method = self.method if not self.image.enabled else f"{self.method}-image" if self.uses_text else "image"
        return self.output_dir / f"{slug}-{method}-s{self.train.seed}"

    def validate(self) -> None:
        """Cheap checks before any model loads, so a typo fails in a second, not after minutes."""
        from scoredream.priors import PromptError
        from scoredream.serialization import check_finite

        if not self.prompt.strip() and not self.image.enabled:
            raise PromptError("the prompt is empty (give a prompt, or an input image with --image FILE)")
        if len(self.prompt) > MAX_PROMPT_CHARS:
            raise PromptError(f"the prompt is {len(self.prompt)} characters; at most {MAX_PROMPT_CHARS}")
        check_finite(self)
        self.train.validate()
        self.optim.validate()
        if self.render.num_samples < 2:
            raise ConfigError("render.num_samples must be at least 2")
        if not 0 < self.render.normal_step <= 0.5:
            raise ConfigError(f"render.normal_step must be in (0, 0.5] (a length in the field's units), got "
                              f"{self.render.normal_step}")
        self.guidance_config().validate(self.method)
        self.field_config().validate_density(self.field)
        if self.train.eikonal_weight and self.field_config().density_kind != "sdf":
            raise ConfigError(f"train.eikonal_weight needs an sdf field (--{self.field}.density-kind sdf)")
        self.shading.validate("shading")
        if min(self.train.orientation_weight) < 0 or self.render.importance_samples < 0:
            raise ConfigError("train.orientation_weight and render.importance_samples must be >= 0")
        if min(self.train.normal_smoothness_weight, self.train.distortion_weight) < 0:
            raise ConfigError("train.normal_smoothness_weight and train.distortion_weight must be >= 0")
        if self.train.eikonal_weight < 0 or self.train.eikonal_points < 1:
            raise ConfigError("train.eikonal_weight must be >= 0 and train.eikonal_points at least 1")
        if self.export.enabled:
            self.export.validate()
        if self.image.enabled:
            self.image.validate()
