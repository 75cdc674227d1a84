"""Presets: every setting of a reference pipeline at once (`scoredream generate --preset NAME`).

`cpu` is the library's own default, sized for the embedded prior on a CPU. The others reproduce the published
pipelines as their public configs set them (threestudio `configs/dreamfusion-sd.yaml` and
`configs/prolificdreamer.yaml` stage 1, ScaleDreamer `configs/single-prompt_benchmark/asd_sd_nerf.yaml`); step
counts in those files become fractions of the run here. `PRESETS` is the one owner of these values: the README's
table is printed from it (`python scripts/preset_table.py`) and a test checks the two agree.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from scoredream.render.shading import DREAMFUSION_ALBEDO_PROBABILITY, DREAMFUSION_TEXTURELESS_PROBABILITY
from scoredream.serialization import ConfigError

if TYPE_CHECKING:
    from scoredream.train.config import GenerateConfig

PresetName = Literal["cpu", "dreamfusion", "prolificdreamer", "scaledreamer"]
REFERENCES = ("dreamfusion", "prolificdreamer", "scaledreamer")
FILES = {"dreamfusion": "threestudio dreamfusion-sd.yaml", "prolificdreamer": "threestudio prolificdreamer.yaml",
         "scaledreamer": "ScaleDreamer asd_sd_nerf.yaml"}


@dataclass(frozen=True)
class Setting:
    key: str  # dotted path in GenerateConfig
    values: tuple[Any, Any, Any]  # dreamfusion, prolificdreamer, scaledreamer
    source: str  # where the references set it (their YAML keys; "code" for a code default)


HASH = "system.geometry.pos_encoding_config"
PRESETS: tuple[Setting, ...] = (
    Setting("method", ("sds", "vsd", "asd"), "system.guidance_type"),
    Setting("prior.recommendations", (False, False, False), "(the paper's settings, not the prior's)"),
    Setting("train.steps", (10000, 25000, 25000), "trainer.max_steps"),
    Setting("train.resolution", (64, 64, 64), "data.width / height"),
    Setting("train.resolution_final", (64, 512, 256), "data.width / height"),
    Setting("train.resolution_switch", (1.0, 0.2, 0.4), "data.resolution_milestones (5000, 10000)"),
    Setting("sds.guidance_scale", (100.0, None, None), "system.guidance.guidance_scale"),
    Setting("vsd.guidance_scale", (None, 7.5, None), "system.guidance.guidance_scale"),
    Setting("asd.guidance_scale", (None, None, 7.5), "system.guidance.guidance_scale"),
    Setting("vsd.lora_lr", (None, 1e-4, None), "system.optimizer.params guidance (lr 0.0001)"),
    Setting("asd.perp_neg.enabled", (None, None, True), "system.prompt_processor.use_perp_neg"),
    Setting("asd.perp_neg.weight_scale", (None, None, 0.5), "system.guidance.guidance_perp_neg -0.5"),
    Setting("prompts.front_threshold", (45.0, 30.0, 30.0), "system.prompt_processor.front/back_threshold"),
    Setting("cameras.distance_range", ((1.5, 2.0), (1.0, 1.5), (1.0, 1.5)), "data.camera_distance_range"),
    Setting("cameras.fovy_range", ((40.0, 70.0), (40.0, 70.0), (40.0, 70.0)), "data.fovy_range"),
    Setting("cameras.elevation_range", ((-10.0, 45.0), (-10.0, 45.0), (-10.0, 45.0)), "data.elevation_range"),
    Setting("shading.enabled", (True, False, False), "system.material_type (diffuse-with-point-light / no-material)"),
    Setting("shading.light", ("camera", "camera", "camera"), "data.light_sample_strategy dreamfusion"),
    Setting("shading.ambient", (0.1, 0.1, 0.1), "material ambient_light_color (code)"),
    Setting("shading.diffuse", (0.9, 0.9, 0.9), "material diffuse_light_color (code)"),
    Setting("shading.albedo_until", (0.2, 0.2, 0.2), "system.material.ambient_only_steps 2001"),
    Setting("shading.albedo_probability", (DREAMFUSION_ALBEDO_PROBABILITY,) * 3, "material diffuse_prob 0.75 (code)"),
    Setting("shading.textureless_probability", (DREAMFUSION_TEXTURELESS_PROBABILITY,) * 3,
            "material textureless_prob (code)"),
    Setting("train.orientation_weight", ((10.0, 1000.0), (0.0, 0.0), (0.0, 0.0)), "system.loss.lambda_orient"),
    Setting("train.orientation_ramp", (0.5, 0.5, 0.5), "lambda_orient [0, 10, 1000, 5000]"),
    Setting("train.sparsity_weight", (1.0, 10.0, 30.0), "system.loss.lambda_sparsity"),
    Setting("train.opacity_weight", (0.0, 1000.0, 100.0), "system.loss.lambda_opaque"),
    Setting("train.opacity_start", (0.0, 0.4, 0.4), "lambda_opaque [10000, 0, w, 10001]"),
    Setting("optim.lr_grid", (0.01, 0.01, 0.01), "system.optimizer.params geometry(.encoding)"),
    Setting("optim.lr_mlp", (0.01, 0.001, 0.001), "system.optimizer.params geometry / density+feature_network"),
    Setting("optim.lr_background", (0.001, 0.001, 0.001), "system.optimizer.params background"),
    Setting("optim.betas", ((0.9, 0.99), (0.9, 0.99), (0.0, 0.99)), "system.optimizer.args.betas"),
    Setting("optim.eps", (1e-15, 1e-15, 1e-15), "system.optimizer.args.eps"),
    Setting("background.kind", ("mlp", "mlp", "mlp"), "system.background_type neural-environment-map"),
    Setting("background.random_prob", (0.0, 0.5, 0.5), "system.background.random_aug (prob 0.5)"),
    Setting("render.num_samples", (512, 512, 512), "system.renderer.num_samples_per_ray"),
    Setting("render.importance_samples", (0, 0, 0), "(an occupancy grid skips empty space there)"),
    Setting("render.train_pixel_jitter", (False, False, False), "(rays through pixel centres)"),
    Setting("hashgrid.blob_strength", (10.0, 10.0, 10.0), "system.geometry.density_blob_scale (code default)"),
    Setting("hashgrid.levels", (16, 16, 16), f"{HASH}.n_levels"),
    Setting("hashgrid.features_per_level", (2, 2, 2), f"{HASH}.n_features_per_level"),
    Setting("hashgrid.log2_hashmap_size", (19, 19, 19), f"{HASH}.log2_hashmap_size"),
    Setting("hashgrid.base_resolution", (16, 16, 16), f"{HASH}.base_resolution"),
    Setting("hashgrid.max_resolution", (4096, 4096, 4096), f"{HASH}.per_level_scale 1.447269 (16 x 1.447^15)"),
    Setting("hashgrid.progressive_levels", (8, 0, 0), f"{HASH}.start_level (ProgressiveBandHashGrid)"),
    Setting("hashgrid.progressive_start", (0.2, 0.2, 0.2), f"{HASH}.start_step 2000"),
    Setting("hashgrid.progressive_end", (0.6, 0.6, 0.6), f"{HASH}.update_steps 500 (8 more levels by 6000)"),
)


def _get(config: object, key: str) -> Any:
    for part in key.split("."):
        config = getattr(config, part)
    return config


def _set(config: object, key: str, value: Any) -> None:
    *path, last = key.split(".")
    for part in path:
        config = getattr(config, part)
    setattr(config, last, value)


def preset_values(name: str) -> dict[str, Any]:
    """Every setting a preset makes; `cpu`: the defaults of the same settings."""
    from scoredream.train.config import GenerateConfig

    if name == "cpu":
        default = GenerateConfig()
        return {s.key: _get(default, s.key) for s in PRESETS}
    if name not in REFERENCES:
        raise ConfigError(f"unknown preset '{name}'; choose one of cpu, {', '.join(REFERENCES)}")
    i = REFERENCES.index(name)
    return {s.key: s.values[i] for s in PRESETS if s.values[i] is not None}


def apply_preset(config: GenerateConfig, name: str) -> GenerateConfig:
    """`config` with every value of the preset set (and its name recorded in `config.preset`)."""
    for key, value in preset_values(name).items():
        _set(config, key, value)
    config.preset = name  # type: ignore[assignment]  (checked by preset_values)
    return config


def preset_table() -> str:
    """The README's table: each setting, the cpu default and each reference's value, and where they set it."""
    cpu = preset_values("cpu")
    head = "| setting | cpu (default) | dreamfusion | prolificdreamer | scaledreamer | reference key |"
    rows = [head, "|---|---|---|---|---|---|"]
    for s in PRESETS:
        cells = [_cell(cpu[s.key])] + [_cell(v) if v is not None else "(method's own)" for v in s.values]
        rows.append(f"| `{s.key}` | {' | '.join(cells)} | {s.source} |")
    return "\n".join(rows) + "\n"


def _cell(value: Any) -> str:
    if isinstance(value, tuple):
        return "(" + ", ".join(_cell(v) for v in value) + ")"
    return f"{value:g}" if isinstance(value, float) else str(value)
