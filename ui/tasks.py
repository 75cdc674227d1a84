"""What the app's jobs run: the same library calls as the CLI, with progress reported into a `Job`."""

from __future__ import annotations

import dataclasses
import json
import math
import re
import threading
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import torch
from PIL import Image

from scoredream.convert import DistillStep, PVDConfig, convert_checkpoint
from scoredream.device import pick_device
from scoredream.export import FORMATS, ExportConfig, export_mesh
from scoredream.image import load_reference
from scoredream.priors import DiffusionPrior, PriorConfig
from scoredream.priors.loading import is_embedded, resolve_model_folder
from scoredream.priors.novel_view import NovelViewPrior, NovelViewPriorConfig
from scoredream.render.cameras import make_cameras
from scoredream.render.volume import render
from scoredream.run_folder import RunFolder
from scoredream.serialization import ConfigError, from_dict, load_json, to_dict
from scoredream.train import GenerateConfig, generate, load_checkpoint
from scoredream.train.config import GENERATE_PRIOR
from scoredream.train.presets import apply_preset
from scoredream.train.trainer import FinishStage, StepInfo
from scoredream.train.video import save_preview
from ui.files import unique_name
from ui.image_input import save_input_view
from ui.jobs import Job, Work

T = TypeVar("T")


class PriorCache:
    """Priors load once per (model, revision, dtype, recommendations, device) and stay in memory for later jobs."""

    def __init__(self) -> None:
        self._priors: dict[tuple[str, str | None, str, bool, str], DiffusionPrior] = {}
        self._novel_view: dict[tuple[str, str | None, str, str], NovelViewPrior] = {}
        self._lock = threading.Lock()

    def get_novel_view(self, config: NovelViewPriorConfig, device: str) -> NovelViewPrior:
        key = (config.model, config.revision, config.dtype, device)
        with self._lock:
            if key not in self._novel_view:
                self._novel_view[key] = config.setup(device)
            return self._novel_view[key]

    def get(self, config: PriorConfig, device: str) -> DiffusionPrior:
        key = (config.model, config.revision, config.dtype, config.recommendations, device)
        with self._lock:
            if key not in self._priors:
                self._priors[key] = config.setup(device)
            return self._priors[key]


@dataclass
class GenerateForm:
    """The Generate tab's fields; everything else comes from `overrides` (JSON) or the config's defaults."""

    prompt: str
    negative_prompt: str = ""
    model: str = GENERATE_PRIOR
    method: str = "sds"
    field: str = "hashgrid"
    steps: int = 600
    guidance_scale: float | None = None
    seed: int = 0
    resolution: int = 32
    preview_every: int = 10
    device: str = "auto"
    overrides: str = ""
    preset: str = "cpu"
    image: str = ""
    """an input image's path (an upload): image to 3D, or text plus image with a prompt"""


VIEWS = (("front", 0.0), ("side", 90.0), ("back", 180.0))
"""The result's strip: renders from these azimuths (degrees; an object's front faces +X, azimuth 0)."""
VIEW_RESOLUTION = 128


def merge(base: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in patch.items():
        out[k] = merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def generate_config(form: GenerateForm, outputs: Path, taken: Collection[str] = ()) -> GenerateConfig:
    """Form -> validated config whose run folder is a fresh folder inside `outputs` (overrides cannot move it),
    named unlike the `taken` ones (of queued jobs)."""
    data = to_dict(apply_preset(GenerateConfig(), form.preset), every_field=True)
    data = merge(data, {
        "prompt": form.prompt, "negative_prompt": form.negative_prompt, "method": form.method, "field": form.field,
        "prior": {"model": form.model.strip()},
        "train": {"steps": int(form.steps), "seed": int(form.seed), "resolution": int(form.resolution),
                  "resolution_final": int(form.resolution), "preview_every": int(form.preview_every),
                  "device": form.device.strip() or "auto"},
    })
    if form.guidance_scale is not None and "guidance_scale" in data.get(form.method, {}):
        data[form.method]["guidance_scale"] = float(form.guidance_scale)
    if form.image:
        data = merge(data, {"image": {"path": form.image}})
    config = with_overrides(from_dict(GenerateConfig, data, where="settings"), form.overrides, "advanced")
    config.validate()
    if config.uses_text:
        check_local_prior(config.prior.model)
    if config.image.enabled:  # a bad image fails in the form, not minutes later in the job
        load_reference(config.image, config.image.resolution or config.train.resolution, config.cameras)
    config.output_dir = outputs
    config.run_name = unique_name(outputs, dataclasses.replace(config, run_name=None).run_dir().name, taken)
    return config


def check_local_prior(model: str) -> None:
    """The embedded priors and local folders fail at once; hub ids are fetched (and checked) by the job."""
    looks_like_hub_id = re.fullmatch(r"[\w.-]+(/[\w.-]+)?", model) is not None
    hub_id = not is_embedded(model) and looks_like_hub_id and not Path(model).exists()
    if not hub_id:
        resolve_model_folder(model)


def device_name(device: str) -> str:
    try:
        return str(pick_device(device.strip() or "auto"))
    except RuntimeError as e:
        raise ConfigError(f"unknown device '{device}': {e}") from e


def with_overrides(config: T, overrides: str, where: str) -> T:
    """A config with a partial JSON object merged over it, checked against its types."""
    if not overrides.strip():
        return config
    try:
        patch = json.loads(overrides)
    except ValueError as e:
        raise ConfigError(f"the {where} overrides are not valid JSON: {e}") from e
    if not isinstance(patch, dict):
        raise ConfigError(f"the {where} overrides must be a JSON object, e.g. {json.dumps(example_override(config))}")
    return from_dict(type(config), merge(to_dict(config, every_field=True), patch), where=where)


def example_override(config: Any) -> dict[str, Any]:
    """A partial JSON object that `config` accepts: its first number setting, at its current value."""
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return {f.name: value}
        if dataclasses.is_dataclass(value) and (inner := example_override(value)):
            return {f.name: inner}
    return {}


def resume_config(run_folder: Path) -> GenerateConfig:
    config = load_json(GenerateConfig, RunFolder(run_folder).config)
    config.output_dir, config.run_name = run_folder.parent, run_folder.name
    return config


def generate_work(config: GenerateConfig, priors: PriorCache, resume: bool = False) -> Work:
    def work(job: Job) -> bool:
        job.total = config.train.steps
        # A VSD LoRA inside the prior's own UNet would leak into later jobs, so that prior is not cached.
        shared = config.method == "vsd" and getattr(config.vsd, "share_unet", False)
        prior = None if shared or not config.uses_text else priors.get(config.prior, job.device)
        uses_novel_view = config.image.enabled and (config.image.novel_view_weight > 0 or not config.uses_text)
        novel_view = priors.get_novel_view(config.image.prior, job.device) if uses_novel_view else None

        def on_step(info: StepInfo) -> None:
            job.report(info.step, info.total, {k: v for k, v in info.stats.items() if isinstance(v, float | int)},
                       info.preview)

        def on_finish(stage: FinishStage) -> None:
            job.report_finish(stage.stage, stage.done, stage.total)

        result = generate(config, prior=prior, novel_view_prior=novel_view, resume=resume, on_step=on_step,
                          should_stop=job.stop.is_set, progress=False, on_finish=on_finish)
        job.results["run"] = result.run_dir
        job.results["checkpoint"] = result.checkpoint
        if result.video is not None:
            job.results["video"] = result.video
        if result.mesh is not None:
            job.results["mesh"] = result.mesh
            job.report_finish("downloads: mesh formats", 0, 1)
            for fmt, path in mesh_formats(result.mesh, RunFolder(result.run_dir).exports).items():
                job.results[f"mesh.{fmt}"] = path
        if not result.stopped:
            job.report_finish("views: front, side, back", 0, 1)
            views = RunFolder(result.run_dir).root / "views.png"
            job.results["views"] = save_views(result.checkpoint, job.device, views)
            if config.image.enabled:
                job.results["input_view"] = save_input_view(result.checkpoint, job.device,
                                                            RunFolder(result.run_dir).root / "input_view.png")
        job.report_finish("finished", 1, 1)
        return result.stopped

    return work


def mesh_formats(mesh: Path, folder: Path) -> dict[str, Path]:
    """The run's mesh in every export format, for downloads: the others are converted from it with trimesh (a
    texture becomes vertex colours), next to the Export tab's meshes."""
    import trimesh

    out = {mesh.suffix.lstrip("."): mesh}
    try:
        loaded = trimesh.load(mesh, force="mesh")
        if hasattr(loaded.visual, "to_color"):
            loaded.visual = loaded.visual.to_color()
        for fmt in FORMATS:
            if fmt not in out:
                out[fmt] = mkdirs(folder / f"{mesh.stem}.{fmt}")
                loaded.export(out[fmt])
    except (ValueError, OSError, AttributeError, IndexError):  # a mesh trimesh cannot read: the original only
        return {mesh.suffix.lstrip("."): mesh}
    return out


@torch.no_grad()
def save_views(checkpoint: Path, device: str, path: Path, resolution: int = VIEW_RESOLUTION) -> Path:
    """A strip of the finished field seen from the front, the side and the back (the turntable's elevation,
    distance and field of view), written as a PNG."""
    ckpt = load_checkpoint(checkpoint)
    field_, background = ckpt.build_field(device), ckpt.build_background(device)
    v, n = ckpt.config.video, len(VIEWS)
    cams = make_cameras(torch.tensor([a for _, a in VIEWS]), torch.full((n,), v.elevation),
                        torch.full((n,), v.distance), torch.full((n,), v.fovy)).to(device)
    rgb = render(field_, cams, resolution, resolution, background, ckpt.config.render).rgb
    row = (rgb.clamp(0, 1) * 255).round().byte().cpu().numpy()
    Image.fromarray(np.concatenate(list(row), axis=1)).save(mkdirs(path))
    return path


def image_psnr(a: Path, b: Path) -> float:
    """PSNR in dB of two 8-bit images of the same size (the ones shown side by side)."""
    x, y = (np.asarray(Image.open(p).convert("RGB"), dtype=np.float64) / 255 for p in (a, b))
    mse = float(np.mean((x - y) ** 2))
    return float("inf") if mse == 0 else -10 * math.log10(mse)


def convert_work(source: Path, target: str, pvd: PVDConfig, output: Path, preview_every: int) -> Work:
    """PVD-convert `source` into the run folder above `output`, with live student previews and a final
    teacher/student comparison (4 views each) and its PSNR."""
    def work(job: Job) -> bool:
        ckpt = load_checkpoint(source)
        run = RunFolder.of(output)
        teacher, background = ckpt.build_field(job.device), ckpt.build_background(job.device)
        teacher_png = mkdirs(run.root / "compare" / "teacher.png")
        job.results["teacher"] = save_preview(teacher, background, ckpt.config, teacher_png)
        job.report(0, pvd.steps)

        def on_step(info: DistillStep) -> None:
            preview = None
            if preview_every and info.step % preview_every == 0:
                path = mkdirs(run.preview(info.step))
                preview = save_preview(info.student, background, ckpt.config, path)
            job.report(info.step, info.total, {"step": info.step, **info.losses}, preview)

        result = convert_checkpoint(source, target, pvd, output=output, device=job.device,  # type: ignore[arg-type]
                                    on_step=on_step, should_stop=job.stop.is_set, progress=False)
        student = load_checkpoint(result.checkpoint)
        job.results["student"] = save_preview(student.build_field(job.device), student.build_background(job.device),
                                              student.config, run.root / "compare" / "student.png")
        job.metrics["psnr"] = image_psnr(job.results["teacher"], job.results["student"])
        job.results["run"], job.results["checkpoint"] = result.run_dir, result.checkpoint
        return result.stopped

    return work


def export_work(source: Path, config: ExportConfig, output: Path) -> Work:
    def work(job: Job) -> bool:
        job.report(0, 1)
        result = export_mesh(load_checkpoint(source).build_field(job.device), output, config)
        job.results["mesh"] = result.path
        for extra in result.files[:-1]:
            job.results[f"file:{extra.name}"] = extra
        job.metrics.update(vertices=result.num_vertices, faces=result.num_faces, threshold=result.threshold)
        job.report(1, 1)
        return False

    return work


def mkdirs(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    return path
