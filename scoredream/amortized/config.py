"""The configuration of an amortized training run, saved as JSON in its run folder and its checkpoints."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from scoredream.amortized.generators import GeneratorKind, HyperINGPConfig, TriplaneGeneratorConfig
from scoredream.export.config import ExportConfig
from scoredream.guidance import ASDConfig, GuidanceConfig, SDSConfig, VSDConfig
from scoredream.priors import PriorConfig, PromptConfig
from scoredream.render.background import BackgroundConfig
from scoredream.render.cameras import CameraSamplerConfig
from scoredream.render.shading import (
    DREAMFUSION_ALBEDO_PROBABILITY,
    DREAMFUSION_TEXTURELESS_PROBABILITY,
    ShadingConfig,
)
from scoredream.render.volume import RenderConfig
from scoredream.serialization import ConfigError, check_finite
from scoredream.train.config import GenerateConfig, MethodKind, VideoConfig


@dataclass
class AmortizedOptimConfig:
    """AdamW; the generator's own networks learn at lr_generator, the shared template as a per-prompt field does."""

    lr_grid: float = 1e-2
    """shared grid tables or planes of the template"""
    lr_mlp: float = 1e-3
    """shared MLPs of the template (grid MLP, triplane decoder, colour head) and the background"""
    lr_generator: float = 1e-3
    """hypernetwork / transformer"""
    betas: tuple[float, float] = (0.9, 0.99)
    """AdamW betas (ScaleDreamer: (0, 0.99))"""
    eps: float = 1e-15
    """AdamW epsilon"""


@dataclass
class AmortizedTrainConfig:
    steps: int = 2000
    """optimisation steps of the generator"""
    prompts_per_step: int = 8
    """global batch of prompts per step, split evenly across processes"""
    views_per_prompt: int = 1
    """cameras rendered per prompt per step"""
    resolution: int = 32
    """render size in pixels"""
    sparsity_weight: float = 0.0
    """weight of mean(sqrt(opacity^2 + 0.01))"""
    colour_logit_bound: float = 4.0
    """colour logits (before the sigmoid) beyond +-this are penalised (sigmoid(4) = 0.982: every world colour is
    inside); past it the sigmoid is flat, and a colour pushed there by CFG cannot come back"""
    colour_logit_weight: float = 1.0
    """weight of the squared excess of the colour logits over colour_logit_bound, averaged over a fixed grid of
    points around the object weighted by their opacity (0: off, as before this penalty existed)"""
    average_from: float | None = 0.6
    """from this fraction of the run on, keep the uniform average of the generator's weights over every later step
    (stochastic weight averaging, Izmailov et al. 2018), which checkpoints and snapshots give to `sample`, the app
    and the benchmarks; the last weights still go on training. A generator's late steps move its colours back and
    forth around each prompt's (a prompt's view is scored once per few dozen steps), and the average settles there.
    None: the last weights. Default: from the end of the default CFG anneal on"""
    seed: int = 0
    """seeds the generator's initialisation and every draw: a step's draws depend on (seed, step, batch slot) only,
    so any number of processes, and a resumed run, draw the same"""
    device: str = "auto"
    """cpu, cuda, ... or auto; under torchrun each process uses cuda:LOCAL_RANK on a GPU machine"""
    checkpoint_every: int = 100
    """write a checkpoint every N steps (0: only at the end)"""
    snapshot_every: int = 0
    """also keep the generator's weights every N steps as checkpoints/step_STEP.safetensors (learning curves)"""
    log_every: int = 10
    """update the progress bar every N steps"""
    threads: int = 0
    """torch CPU threads per process (0: torch's default)"""


@dataclass
class AmortizedConfig:
    corpus: Path = Path("assets/corpora/shapes_world.json")
    """prompt corpus: ScaleDreamer prompt-library JSON (train/val/test) or text, one prompt a line"""
    split: str = "train"
    """the corpus split to train on"""
    output_dir: Path = Path("outputs/amortized")
    """folder that holds amortized run folders"""
    run_name: str | None = None
    """run folder name (default: corpus name, generator, method and seed)"""
    negative_prompt: str = ""
    """the unconditional branch's text for every prompt"""
    generator: GeneratorKind = "hyper_ingp"
    """generator architecture; its options are under --<generator>.*"""
    method: MethodKind = "asd"
    """score distillation method; its options are under --<method>.* (vsd: one process only)"""
    hyper_ingp: HyperINGPConfig = dataclasses.field(default_factory=lambda: HyperINGPConfig(centre_text=True))
    triplane: TriplaneGeneratorConfig = dataclasses.field(default_factory=TriplaneGeneratorConfig)
    prior: PriorConfig = dataclasses.field(default_factory=PriorConfig)
    prompts: PromptConfig = dataclasses.field(default_factory=PromptConfig)
    sds: SDSConfig = dataclasses.field(default_factory=SDSConfig)
    vsd: VSDConfig = dataclasses.field(default_factory=VSDConfig)
    asd: ASDConfig = dataclasses.field(default_factory=lambda: ASDConfig(guidance_scale_end=2.0,
                                                                         guidance_scale_anneal=(0.3, 0.6)))
    """ASD; by default its CFG anneals from the prior's scale (7.5) to 2 over 30-60% of the run: CFG builds the
    shapes, and then its push of every colour away from the prompts' mean colour is what the shared colour head
    cannot undo (README: held-out judge accuracy 0.72 at a constant 7.5, 0.88-1.00 with today's defaults)"""
    cameras: CameraSamplerConfig = dataclasses.field(default_factory=CameraSamplerConfig)
    render: RenderConfig = dataclasses.field(default_factory=lambda: RenderConfig(train_pixel_jitter=False))
    """pixel centres: the README's amortized results were measured so (`--render.train-pixel-jitter` is untried)"""
    shading: ShadingConfig = dataclasses.field(
        default_factory=lambda: ShadingConfig(albedo_probability=DREAMFUSION_ALBEDO_PROBABILITY,
                                              textureless_probability=DREAMFUSION_TEXTURELESS_PROBABILITY))
    """DreamFusion's mix of albedo, textureless and Lambertian batches: the README's amortized results were measured
    so (per-prompt generation's Lambertian-only default is untried for the generator)"""
    background: BackgroundConfig = dataclasses.field(default_factory=BackgroundConfig)
    optim: AmortizedOptimConfig = dataclasses.field(default_factory=AmortizedOptimConfig)
    train: AmortizedTrainConfig = dataclasses.field(default_factory=AmortizedTrainConfig)
    video: VideoConfig = dataclasses.field(default_factory=VideoConfig)
    """turntables of sampled objects"""
    export: ExportConfig = dataclasses.field(default_factory=ExportConfig)
    """meshes of sampled objects"""

    def generator_config(self) -> HyperINGPConfig | TriplaneGeneratorConfig:
        return getattr(self, self.generator)

    def guidance_config(self) -> GuidanceConfig:
        return getattr(self, self.method)

    def unsaved_fields(self) -> set[str]:
        return ({"sds", "vsd", "asd"} - {self.method}) | ({"hyper_ingp", "triplane"} - {self.generator})

    def run_dir(self) -> Path:
        name = self.run_name or f"{self.corpus.stem}-{self.generator}-{self.method}-s{self.train.seed}"
        return self.output_dir / name

    def validate(self) -> None:
        check_finite(self)
        t = self.train
        if min(t.steps, t.prompts_per_step, t.views_per_prompt, t.log_every) < 1:
            raise ConfigError("train.steps, train.prompts_per_step, train.views_per_prompt and train.log_every must "
                              "be at least 1")
        if not 8 <= t.resolution <= 2048 or min(t.checkpoint_every, t.snapshot_every, t.threads) < 0:
            raise ConfigError("train.resolution must be in [8, 2048]; checkpoint_every, snapshot_every and threads "
                              ">= 0")
        if t.average_from is not None and not 0 <= t.average_from < 1:
            raise ConfigError(f"train.average_from must be in [0, 1) (a fraction of the run) or None, got "
                              f"{t.average_from}")
        if min(t.colour_logit_bound, t.colour_logit_weight) < 0:
            raise ConfigError("train.colour_logit_bound and train.colour_logit_weight must be >= 0")
        self.generator_config().validate(self.generator)
        self.guidance_config().validate(self.method)
        self.shading.validate("shading")

    def object_config(self, prompt: str, step: int, output_dir: Path) -> GenerateConfig:
        """The run-folder config of one generated object: the generator's template as the field, this run's
        prior, renderer and method, so `render`, `export` and `convert` treat it as any other run."""
        g = GenerateConfig(prompt=prompt, negative_prompt=self.negative_prompt, output_dir=output_dir,
                           method=self.method, prior=self.prior, prompts=self.prompts, cameras=self.cameras,
                           render=self.render, shading=self.shading, background=self.background,
                           video=self.video, export=self.export)
        setattr(g, self.method, self.guidance_config())
        g.field = "hashgrid" if self.generator == "hyper_ingp" else "triplane"
        setattr(g, g.field, self.hyper_ingp.grid if self.generator == "hyper_ingp" else self.triplane.planes)
        g.train.steps, g.train.seed, g.train.resolution = max(step, 1), self.train.seed, self.train.resolution
        g.train.resolution_final = self.train.resolution
        return g
