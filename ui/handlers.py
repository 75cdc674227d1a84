"""Event handlers: plain values in, plain values out. Bad input becomes a one-line message, never a traceback."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from scoredream.errors import USER_ERRORS
from scoredream.train import load_checkpoint
from ui.files import RunInfo, UnsafePath, inside, list_runs, run_info, store_upload
from ui.jobs import ACTIVE, Job, JobRunner
from ui.tasks import GenerateForm, PriorCache, device_of, generate_config, generate_work, resume_config

ERRORS = (*USER_ERRORS, UnsafePath)
RESULT_ORDER = ("checkpoint", "mesh", "video")


def error_text(e: BaseException) -> str:
    return f"**error:** {e}"


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
        if job.status == "stopped":
            return f"{head}: stopped at step {job.step}; its last checkpoint is kept (resume it from the Runs tab)"
        if job.status == "failed":
            return f"{head}: {error_text(job.error)}"
        return f"{head}: {job.status}"

    @staticmethod
    def progress_html(job: Job) -> str:
        if not job.total:
            return ""
        eta = job.eta()
        tail = f" · ETA {clock(eta)}" if eta is not None else ""
        pct = 100 * job.step / job.total
        return (f"<progress value='{job.step}' max='{job.total}' style='width:100%'></progress>"
                f"<div>step {job.step}/{job.total} ({pct:.0f}%){tail}</div>")

    @staticmethod
    def loss_frame(job: Job) -> pd.DataFrame:
        rows = [{"step": r["step"], "loss": r["loss"]} for r in job.history if "loss" in r]
        return pd.DataFrame(rows, columns=["step", "loss"])

    @staticmethod
    def result_files(job: Job) -> list[str]:
        return [str(job.results[k]) for k in RESULT_ORDER if k in job.results]

    def poll(self, job_id: str) -> tuple[Any, ...]:
        """Status, progress, preview, losses, video, mesh, files, and whether to keep polling."""
        job = self.runner.get((job_id or "").strip())
        if job is None:
            message = error_text(f"no job '{job_id}'") if (job_id or "").strip() else "no job yet"
            return message, "", None, pd.DataFrame(columns=["step", "loss"]), None, None, [], False
        video, mesh = job.results.get("video"), job.results.get("mesh")
        return (self.status_text(job), self.progress_html(job), job.preview and str(job.preview),
                self.loss_frame(job), video and str(video), mesh and str(mesh), self.result_files(job),
                job.status in ACTIVE)

    def stop(self, job_id: str) -> str:
        job = self.runner.stop((job_id or "").strip())
        if job is None:
            return error_text(f"no job '{job_id}'")
        if job.status == "cancelled":
            return f"job `{job.id}` left the queue before it started"
        return f"stopping job `{job.id}` at its next step; its last checkpoint will be kept"

    def latest_active(self, kind: str) -> str:
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
        form = GenerateForm(prompt or "", negative_prompt or "", model or "embedded", method, field, int(steps),
                            guidance_scale, int(seed), int(resolution), int(preview_every), device or "auto",
                            overrides or "")
        try:
            config = generate_config(form, self.outputs)
            device = device_of(config)
        except ERRORS as e:
            return "", error_text(e), False
        job = self.runner.submit("generate", config.prompt[:60], device, generate_work(config, self.priors))
        return job.id, self.status_text(job), True

    def resume(self, run_name: str) -> tuple[str, str, bool]:
        try:
            config = resume_config(inside(self.outputs, run_name))
            device = device_of(config)
        except ERRORS as e:
            return "", error_text(e), False
        work = generate_work(config, self.priors, resume=True)
        job = self.runner.submit("generate", f"resume {run_name}", device, work)
        return job.id, self.status_text(job), True

    # ---- runs -----------------------------------------------------------------------------------------------
    def runs(self) -> list[RunInfo]:
        return list_runs(self.outputs)

    def gallery(self) -> list[tuple[str, str]]:
        return [(str(r.thumbnail), r.label) for r in self.runs() if r.thumbnail is not None]

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
