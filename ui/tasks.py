"""What the app's jobs run: the same library calls as the CLI, with progress reported into a `Job`."""

from __future__ import annotations

import dataclasses
import json
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scoredream.priors import DiffusionPrior, PriorConfig
from scoredream.serialization import ConfigError, from_dict, load_json, to_dict
from scoredream.train import GenerateConfig, generate
from scoredream.train.trainer import StepInfo, pick_device
from ui.files import find_mesh, unique_run_name
from ui.jobs import Job, Work


class PriorCache:
    """Priors load once per (model, revision, dtype, device) and stay in memory for later jobs."""

    def __init__(self) -> None:
        self._priors: dict[tuple[str, str | None, str, str], DiffusionPrior] = {}
        self._lock = threading.Lock()

    def get(self, config: PriorConfig, device: str) -> DiffusionPrior:
        key = (config.model, config.revision, config.dtype, device)
        with self._lock:
            if key not in self._priors:
                self._priors[key] = config.setup(device)
            return self._priors[key]


@dataclass
class GenerateForm:
    """The Generate tab's fields; everything else comes from `overrides` (JSON) or the config's defaults."""

    prompt: str
    negative_prompt: str = ""
    model: str = "embedded"
    method: str = "sds"
    field: str = "hashgrid"
    steps: int = 600
    guidance_scale: float | None = None
    seed: int = 0
    resolution: int = 32
    preview_every: int = 10
    device: str = "auto"
    overrides: str = ""


def merge(base: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in patch.items():
        out[k] = merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def generate_config(form: GenerateForm, outputs: Path) -> GenerateConfig:
    """Form -> validated config whose run folder is a fresh folder inside `outputs` (overrides cannot move it)."""
    data = to_dict(GenerateConfig())
    data = merge(data, {
        "prompt": form.prompt, "negative_prompt": form.negative_prompt, "method": form.method, "field": form.field,
        "prior": {"model": form.model.strip()},
        "train": {"steps": int(form.steps), "seed": int(form.seed), "resolution": int(form.resolution),
                  "resolution_final": int(form.resolution), "preview_every": int(form.preview_every),
                  "device": form.device.strip() or "auto"},
    })
    if form.guidance_scale is not None and "guidance_scale" in data.get(form.method, {}):
        data[form.method]["guidance_scale"] = float(form.guidance_scale)
    if form.overrides.strip():
        try:
            patch = json.loads(form.overrides)
        except ValueError as e:
            raise ConfigError(f"the advanced overrides are not valid JSON: {e}") from e
        if not isinstance(patch, dict):
            raise ConfigError("the advanced overrides must be a JSON object, e.g. {\"render\": {\"num_samples\": 16}}")
        data = merge(data, patch)
    config = from_dict(GenerateConfig, data, where="settings")
    config.validate()
    config.output_dir = outputs
    config.run_name = unique_run_name(outputs, dataclasses.replace(config, run_name=None).run_dir().name)
    return config


def device_of(config: GenerateConfig) -> str:
    try:
        return str(pick_device(config.train.device))
    except RuntimeError as e:
        raise ConfigError(f"unknown device '{config.train.device}': {e}") from e


def resume_config(run_folder: Path) -> GenerateConfig:
    config = load_json(GenerateConfig, run_folder / "config.json")
    config.output_dir, config.run_name = run_folder.parent, run_folder.name
    return config


def generate_work(config: GenerateConfig, priors: PriorCache, resume: bool = False) -> Work:
    def work(job: Job) -> bool:
        job.total = config.train.steps
        prior = priors.get(config.prior, job.device)

        def on_step(info: StepInfo) -> None:
            job.report(info.step, info.total, {k: v for k, v in info.stats.items() if isinstance(v, float | int)},
                       info.preview)

        result = generate(config, prior=prior, resume=resume, on_step=on_step, should_stop=job.stop.is_set,
                          progress=False)
        job.results["run"] = result.run_dir
        job.results["checkpoint"] = result.checkpoint
        if result.video is not None:
            job.results["video"] = result.video
        mesh = getattr(result, "mesh", None) or find_mesh(result.run_dir)
        if mesh is not None:
            job.results["mesh"] = Path(mesh)
        return result.stopped

    return work
