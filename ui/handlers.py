"""Event handlers: plain values in, plain values out. Bad input becomes a one-line message, never a traceback."""

from __future__ import annotations

from pathlib import Path
from typing import Any, get_args

import pandas as pd

from scoredream.convert import PVDConfig
from scoredream.errors import USER_ERRORS
from scoredream.export import ExportConfig
from scoredream.fields import FieldKind
from scoredream.serialization import ConfigError
from scoredream.train import load_checkpoint
from ui.files import RunInfo, UnsafePath, inside, list_runs, run_info, store_upload, unique_name
from ui.jobs import ACTIVE, Job, JobRunner
from ui.tasks import (
    GenerateForm,
    PriorCache,
    convert_work,
    device_name,
    export_work,
    generate_config,
    generate_work,
    resume_config,
    with_overrides,
)

ERRORS = (*USER_ERRORS, UnsafePath)
RESULT_ORDER = ("checkpoint", "mesh", "video")
# Typed columns even when empty: the plot fixes its axis types on the first value it gets.
EMPTY_LOSSES = pd.DataFrame({"step": pd.Series(dtype="int64"), "loss": pd.Series(dtype="float64")})


def error_text(e: BaseException) -> str:
    return f"**error:** {e}"


def whole(value: float | None, name: str) -> int:
    """A form number as an int; an emptied number box is a user error, not a crash."""
    if value is None:
        raise ConfigError(f"{name} is empty")
    return int(value)


def clock(seconds: float) -> str:
    s = int(round(seconds))
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


class Handlers:
    def __init__(self, outputs: Path, runner: JobRunner, priors: PriorCache) -> None:
        self.outputs, self.runner, self.priors = outputs.resolve(), runner, priors

    # ---- jobs -----------------------------------------------------------------------------------------------
    def status_text(self, job: Job) -> str:
        head = f"**{job.kind}** `{job.id}`: {job.title}"
        if job.status == "queued":
            ahead = self.runner.ahead(job)
            return f"{head}: queued, position {ahead + 1} ({ahead} job{'s' * (ahead != 1)} ahead on {job.device})"
        if job.status == "running":
            return f"{head}: running on {job.device}"
        if job.status == "stopped" and job.kind == "generate":
            return f"{head}: stopped at step {job.step}; its last checkpoint is kept (resume it from the Runs tab)"
        if job.status == "stopped":
            return f"{head}: stopped at step {job.step}; the result so far is saved"
        if job.status == "failed":
            return f"{head}: {error_text(job.error)}"
        return f"{head}: {job.status}"

    @staticmethod
    def progress_html(job: Job) -> str:
        if not job.total:
            return ""
        eta = job.eta()
        tail = f" · ETA {clock(eta)}" if eta is not None else ""
        if job.kind == "generate" and job.status == "running" and job.step == job.total:
            tail = " · rendering the turntable and exporting the mesh"
        pct = 100 * job.step / job.total
        return (f"<progress value='{job.step}' max='{job.total}' style='width:100%'></progress>"
                f"<div>step {job.step}/{job.total} ({pct:.0f}%){tail}</div>")

    @staticmethod
    def loss_frame(job: Job) -> pd.DataFrame:
        rows = [(int(r["step"]), float(r["loss"])) for r in job.history if "loss" in r]
        return pd.DataFrame(rows, columns=["step", "loss"]).astype(EMPTY_LOSSES.dtypes) if rows else EMPTY_LOSSES

    @staticmethod
    def result_files(job: Job) -> list[str]:
        extras = [str(v) for k, v in job.results.items() if k.startswith("file:")]
        return [str(job.results[k]) for k in RESULT_ORDER if k in job.results] + extras

    def find(self, job_id: str, kind: str) -> tuple[Job | None, str]:
        job = self.runner.get((job_id or "").strip())
        if job is None or job.kind != kind:
            return None, error_text(f"no {kind} job '{job_id}'") if (job_id or "").strip() else "no job yet"
        return job, self.status_text(job)

    def poll(self, job_id: str) -> tuple[Any, ...]:
        """Status, progress, preview, losses, video, mesh, files, and whether to keep polling."""
        job, message = self.find(job_id, "generate")
        if job is None:
            return message, "", None, EMPTY_LOSSES, None, None, [], False
        video, mesh = job.results.get("video"), job.results.get("mesh")
        return (message, self.progress_html(job), job.preview and str(job.preview), self.loss_frame(job),
                video and str(video), mesh and str(mesh), self.result_files(job), job.status in ACTIVE)

    def stop(self, job_id: str) -> str:
        job = self.runner.stop((job_id or "").strip())
        if job is None:
            return error_text(f"no job '{job_id}'")
        if job.status == "cancelled":
            return f"job `{job.id}` left the queue before it started"
        if job.status != "running":
            return f"job `{job.id}` has already ended ({job.status})"
        return f"stopping job `{job.id}` at its next step; its last checkpoint will be kept"

    def attach(self, kind: str, wanted: str = "") -> str:
        """The job a freshly opened page should watch: the one asked for (?job=ID), else the newest active."""
        job = self.runner.get(wanted)
        if job is not None and job.kind == kind:
            return job.id
        return next((j.id for j in self.runner.jobs() if j.kind == kind and j.status in ACTIVE), "")

    def jobs_table(self) -> pd.DataFrame:
        rows = [{"id": j.id, "kind": j.kind, "what": j.title, "status": j.status,
                 "queue": self.runner.ahead(j) + 1 if j.status == "queued" else "", "step": f"{j.step}/{j.total}"}
                for j in self.runner.jobs()]
        return pd.DataFrame(rows, columns=["id", "kind", "what", "status", "queue", "step"])

    # ---- generate -------------------------------------------------------------------------------------------
    def start_generate(self, prompt: str, negative_prompt: str, model: str, method: str, field: str, steps: float,
                       guidance_scale: float, seed: float, resolution: float, preview_every: float, device: str,
                       overrides: str) -> tuple[str, str, bool]:
        """Returns (job id, message, poll?); on bad input the id is empty and the message says why."""
        try:
            form = GenerateForm(prompt or "", negative_prompt or "", model or "embedded", method, field,
                                whole(steps, "steps"), guidance_scale, whole(seed, "seed"),
                                whole(resolution, "render resolution"), whole(preview_every, "preview every"),
                                device or "auto", overrides or "")
            config = generate_config(form, self.outputs)
            device = device_name(config.train.device)
        except ERRORS as e:
            return "", error_text(e), False
        job = self.runner.submit("generate", config.prompt[:60], device, generate_work(config, self.priors))
        return job.id, self.status_text(job), True

    def resume(self, run_name: str) -> tuple[str, str, bool]:
        try:
            config = resume_config(inside(self.outputs, run_name))
            device = device_name(config.train.device)
        except ERRORS as e:
            return "", error_text(e), False
        work = generate_work(config, self.priors, resume=True)
        job = self.runner.submit("generate", f"resume {run_name}", device, work)
        return job.id, self.status_text(job), True

    # ---- runs -----------------------------------------------------------------------------------------------
    def runs(self) -> list[RunInfo]:
        return list_runs(self.outputs)

    def shown_runs(self) -> list[RunInfo]:
        """Runs with a thumbnail, in gallery order."""
        return [r for r in self.runs() if r.thumbnail is not None]

    def gallery(self) -> list[tuple[str, str]]:
        return [(str(r.thumbnail), r.label) for r in self.shown_runs()]

    def run_names(self) -> list[str]:
        return [r.name for r in self.runs()]

    def open_run(self, run_name: str) -> tuple[str, str | None, str | None, list[str]]:
        """Summary, video, mesh and files of one run folder."""
        try:
            folder = inside(self.outputs, run_name)
            if not (folder / "config.json").is_file():
                raise UnsafePath(f"'{run_name}' is not a run folder in the outputs folder")
            run = run_info(folder)
            step = load_checkpoint(run.checkpoint).step if run.checkpoint else 0
        except ERRORS as e:
            return error_text(e), None, None, []
        files = [str(p) for p in (run.checkpoint, run.mesh, run.video, folder / "config.json") if p is not None]
        summary = f"**{run.name}**: {run.prompt} (step {step})"
        return summary, run.video and str(run.video), run.mesh and str(run.mesh), files

    def checkpoint_path(self, run_name: str | None, upload: str | None) -> Path:
        """An uploaded checkpoint (copied into outputs/_uploads and checked) or a run's last checkpoint."""
        if upload:
            stored = store_upload(upload, self.outputs)
            try:
                load_checkpoint(stored)
            except ERRORS:
                stored.unlink(missing_ok=True)
                raise
            return stored
        return load_checkpoint(inside(self.outputs, run_name or "")).path

    def source_name(self, checkpoint: Path) -> str:
        """`run` for outputs/run/checkpoints/last.safetensors, the file's stem for an upload."""
        return checkpoint.parent.parent.name if checkpoint.parent.name == "checkpoints" else checkpoint.stem

    # ---- convert --------------------------------------------------------------------------------------------
    def start_convert(self, run_name: str, upload: str | None, target: str, steps: float, device: str,
                      overrides: str) -> tuple[str, str, bool]:
        try:
            source = self.checkpoint_path(run_name, upload)
            pvd = with_overrides(PVDConfig(steps=whole(steps, "steps")), overrides or "", "PVD")
            pvd.validate()
            if target not in get_args(FieldKind):
                raise ConfigError(f"unknown field architecture '{target}'")
            run = unique_name(self.outputs, f"{self.source_name(source)}-{target}")
            device = device_name(device or "auto")
        except ERRORS as e:
            return "", error_text(e), False
        output = self.outputs / run / "checkpoints" / "last.safetensors"
        work = convert_work(source, target, pvd, output, preview_every=max(2, pvd.steps // 10))
        job = self.runner.submit("convert", f"{self.source_name(source)} -> {target}", device, work)
        return job.id, self.status_text(job), True

    def poll_convert(self, job_id: str) -> tuple[Any, ...]:
        """Status, progress, teacher and student renders, PSNR, losses, files, and whether to keep polling."""
        job, message = self.find(job_id, "convert")
        if job is None:
            return message, "", None, None, "", EMPTY_LOSSES, [], False
        teacher = job.results.get("teacher")
        student = job.results.get("student") or job.preview
        psnr = f"**PSNR** student vs teacher: {job.metrics['psnr']:.2f} dB" if "psnr" in job.metrics else ""
        return (message, self.progress_html(job), teacher and str(teacher), student and str(student), psnr,
                self.loss_frame(job), self.result_files(job), job.status in ACTIVE)

    # ---- export ---------------------------------------------------------------------------------------------
    def start_export(self, run_name: str, upload: str | None, resolution: float, threshold: float | None,
                     target_faces: float, mesh_format: str, device: str, overrides: str) -> tuple[str, str, bool]:
        try:
            source = self.checkpoint_path(run_name, upload)
            config = ExportConfig(format=mesh_format, resolution=whole(resolution, "resolution"),  # type: ignore
                                  threshold=float(threshold) if threshold else None,
                                  target_faces=whole(target_faces, "decimation target"))
            config = with_overrides(config, overrides or "", "export")
            config.validate()
            device = device_name(device or "auto")
        except ERRORS as e:
            return "", error_text(e), False
        folder = source.parent.parent / "exports" if source.parent.name == "checkpoints" else source.with_suffix("")
        folder.mkdir(parents=True, exist_ok=True)
        output = folder / unique_name(folder, f"mesh-r{config.resolution}.{config.format}")
        job = self.runner.submit("export", f"{self.source_name(source)} -> {output.name}", device,
                                 export_work(source, config, output))
        return job.id, self.status_text(job), True

    def poll_export(self, job_id: str) -> tuple[Any, ...]:
        """Status, mesh, facts, files, and whether to keep polling."""
        job, message = self.find(job_id, "export")
        if job is None:
            return message, None, "", [], False
        mesh, m = job.results.get("mesh"), job.metrics
        facts = (f"{int(m['vertices']):,} vertices, {int(m['faces']):,} faces, density threshold {m['threshold']:.4g}"
                 if "faces" in m else "")
        return message, mesh and str(mesh), facts, self.result_files(job), job.status in ACTIVE
