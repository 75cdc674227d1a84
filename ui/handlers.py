"""Event handlers: plain values in, plain values out. Bad input becomes a one-line message, never a traceback.

Jobs belong to whoever holds their secret key: each browser session keeps the keys of the jobs it started (`Keys`),
and sees, stops, follows and resumes only those jobs and the run folders they made; of other sessions' jobs it sees
only how many run before its own.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, get_args

import pandas as pd

from scoredream.convert import PVDConfig
from scoredream.errors import USER_ERRORS
from scoredream.export import ExportConfig
from scoredream.fields import FieldKind
from scoredream.run_folder import RunFolder
from scoredream.serialization import ConfigError, load_json
from scoredream.train import GenerateConfig, load_checkpoint
from ui.files import RunInfo, UnsafePath, inside, list_runs, public_text, run_info, store_upload, unique_name
from ui.jobs import ACTIVE, Job, JobRunner, Work
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
DOWNLOADS = {"mesh.glb": "Mesh (.glb)", "mesh.obj": "Mesh (.obj)", "mesh.ply": "Mesh (.ply)",
             "video": "Turntable video", "checkpoint": "Checkpoint"}
"""The Generate tab's download buttons: the job result each offers, and its label."""
# Typed columns even when empty: the plot fixes its axis types on the first value it gets.
EMPTY_LOSSES = pd.DataFrame({"step": pd.Series(dtype="int64"), "loss": pd.Series(dtype="float64")})
KINDS = ("generate", "convert", "export")
Keys = list[str]
"""The secret keys of one browser session's jobs, oldest first (a gr.State, saved in the browser's localStorage)."""
Started = tuple[str, str, Keys, bool]
"""(job key, message, the session's keys, poll?) from a handler that starts a job"""


def whole(value: float | None, name: str, minimum: int | None = None) -> int:
    """A form number as an int; an emptied or too small number box is a user error, not a crash."""
    if value is None:
        raise ConfigError(f"{name} is empty")
    if minimum is not None and value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}, not {value:g}")
    return int(value)


def optional_number(value: str | float | None, name: str) -> float | None:
    """A number box that may stay empty (None: automatic)."""
    if value is None or str(value).strip() == "":
        return None
    try:
        return float(value)
    except ValueError:
        raise ConfigError(f"{name} must be a number or empty, not '{value}'") from None


def settings_text(folder: Path) -> str:
    """A run's main settings, read from its config.json."""
    try:
        c = load_json(GenerateConfig, RunFolder(folder).config)
    except (*ERRORS, OSError, ValueError) as e:
        return f"settings unreadable: {type(e).__name__}"
    scale = getattr(getattr(c, c.method, None), "guidance_scale", None)
    parts = [f"preset `{c.preset}`" if getattr(c, "preset", None) else "", f"method `{c.method}`",
             f"field `{c.field}`", f"{c.train.steps} steps", f"seed {c.train.seed}",
             f"guidance {scale:g}" if isinstance(scale, int | float) else "", f"{c.train.resolution} px",
             f"prior `{c.prior.model}`", f"negative prompt: {c.negative_prompt}" if c.negative_prompt else ""]
    return "Settings: " + ", ".join(p for p in parts if p)


def clock(seconds: float) -> str:
    s = int(round(seconds))
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


class Handlers:
    def __init__(self, outputs: Path, runner: JobRunner, priors: PriorCache) -> None:
        self.outputs, self.runner, self.priors = outputs.resolve(), runner, priors
        self.run_keys: dict[str, set[str]] = {}
        """run folder name -> keys of the jobs that ran in it; a session may use a run if it holds one of them"""

    def error_text(self, e: BaseException | str) -> str:
        """A one-line message for users, with paths shown relative to the outputs folder."""
        return f"**error:** {public_text(str(e), self.outputs)}"

    # ---- ownership ------------------------------------------------------------------------------------------
    def own(self, keys: Keys | None, *more: str) -> Keys:
        """This session's keys (saved ones from the browser are checked) plus `more`, without unknown or repeated
        keys."""
        valid = [k for k in [*(keys or []), *more] if isinstance(k, str) and self.runner.get(k) is not None]
        return list(dict.fromkeys(valid))

    def submit(self, kind: str, title: str, device: str, work: Work, keys: Keys, run: str | None = None) -> Job:
        job = self.runner.submit(kind, title, device, work)
        if run is not None:
            self.run_keys.setdefault(run, set()).add(job.key)
        keys.append(job.key)
        return job

    def may_use(self, run_name: str, keys: Keys | None) -> bool:
        owners = self.run_keys.get(run_name)
        return not owners or not owners.isdisjoint(keys or [])

    def run_path(self, run_name: str | None, keys: Keys | None) -> Path:
        """A path inside the outputs folder, unless it lies in a run folder another session's job made."""
        path = inside(self.outputs, run_name or "")
        top = path.relative_to(self.outputs).parts[:1]
        if top and not self.may_use(top[0], keys):
            raise UnsafePath(f"'{run_name}' belongs to another session's job")
        return path

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
            return f"{head}: {self.error_text(job.error)}"
        return f"{head}: {job.status}"

    @staticmethod
    def progress_html(job: Job) -> str:
        """The steps' bar, and once they are done the finishing work's own bar (turntable frames, export stages)."""
        if not job.total:
            return ""
        eta = job.eta()
        tail = f" · ETA {clock(eta)}" if eta is not None and job.finishing is None else ""
        pct = 100 * job.step / job.total
        html = (f"<progress value='{job.step}' max='{job.total}' style='width:100%'></progress>"
                f"<div>step {job.step}/{job.total} ({pct:.0f}%){tail}</div>")
        return html + Handlers.finishing_html(job)

    @staticmethod
    def finishing_html(job: Job) -> str:
        if job.finishing is None:
            if job.kind == "generate" and job.status == "running" and job.step == job.total:
                return "<div class='finishing'>finishing: starting the turntable</div>"
            return ""
        stage, done, total = job.finishing
        if stage == "finished":
            return "<div class='finishing'>finished: turntable, mesh and views are ready</div>"
        unit = " frames" if stage == "turntable" else ""
        return (f"<progress class='finishing' value='{done}' max='{max(total, 1)}' style='width:100%'></progress>"
                f"<div class='finishing'>finishing: {stage} {done}/{total}{unit}</div>")

    @staticmethod
    def loss_frame(job: Job) -> pd.DataFrame:
        rows = [(int(r["step"]), float(r["loss"])) for r in job.history if "loss" in r]
        return pd.DataFrame(rows, columns=["step", "loss"]).astype(EMPTY_LOSSES.dtypes) if rows else EMPTY_LOSSES

    @staticmethod
    def result_files(job: Job) -> list[str]:
        extras = [str(v) for k, v in job.results.items() if k.startswith("file:")]
        return [str(job.results[k]) for k in RESULT_ORDER if k in job.results] + extras

    def find(self, key: str, kind: str) -> tuple[Job | None, str]:
        """The job with this secret key (its short id finds nothing) and its status line."""
        key = (key or "").strip()
        job = self.runner.get(key)
        if job is None or job.kind != kind:
            return None, self.error_text(f"no {kind} job with the key '{key}'") if key else "no job yet"
        return job, self.status_text(job)

    def poll(self, key: str) -> tuple[Any, ...]:
        """Status, progress, preview, losses, video, mesh, front/side/back views, an image run's input view beside
        the result from the same camera, the DOWNLOADS' files (None when missing), whether Stop applies, and
        whether to keep polling."""
        job, message = self.find(key, "generate")
        if job is None:
            return message, "", None, EMPTY_LOSSES, None, None, None, None, *([None] * len(DOWNLOADS)), False, False
        found = {k: str(v) for k, v in job.results.items()}
        return (message, self.progress_html(job), job.preview and str(job.preview), self.loss_frame(job),
                found.get("video"), found.get("mesh"), found.get("views"), found.get("input_view"),
                *(found.get(k) for k in DOWNLOADS), job.status in ACTIVE, job.status in ACTIVE)

    def stop(self, key: str) -> str:
        key = (key or "").strip()
        job = self.runner.stop(key) if key else None
        if job is None:
            return self.error_text(f"no job with the key '{key}'") if key else "no job to stop"
        if job.status == "cancelled":
            return f"job `{job.id}` left the queue before it started"
        if job.status != "running":
            return f"job `{job.id}` has already ended ({job.status})"
        return f"stopping job `{job.id}` at its next step; its last checkpoint will be kept"

    def attach(self, kind: str, keys: Keys, wanted: str = "") -> str:
        """The job of this kind a freshly opened page watches: the one asked for (?job=KEY), else this session's
        newest active one."""
        jobs = [j for j in map(self.runner.get, [wanted, *reversed(keys)]) if j is not None and j.kind == kind]
        chosen = next((j for j in jobs if j.key == wanted or j.status in ACTIVE), None)
        return chosen.key if chosen else ""

    def jobs_table(self, keys: Keys | None) -> pd.DataFrame:
        """This session's jobs, newest first."""
        mine = set(keys or [])
        rows = [{"id": j.id, "kind": j.kind, "what": j.title, "status": j.status,
                 "queue": self.runner.ahead(j) + 1 if j.status == "queued" else "", "step": f"{j.step}/{j.total}"}
                for j in self.runner.jobs() if j.key in mine]
        return pd.DataFrame(rows, columns=["id", "kind", "what", "status", "queue", "step"])

    # ---- generate -------------------------------------------------------------------------------------------
    def start_generate(self, prompt: str, negative_prompt: str, model: str, method: str, field: str, steps: float,
                       guidance_scale: float, seed: float, resolution: float, preview_every: float, device: str,
                       overrides: str, preset: str = "cpu", image: str | None = None,
                       keys: Keys | None = None) -> Started:
        """Returns (job key, message, session keys, poll?); on bad input the key is empty and the message says why.
        `image`: an uploaded input image (image to 3D; with a prompt, text plus image)."""
        keys = self.own(keys)
        try:
            form = GenerateForm(prompt or "", negative_prompt or "", model or "embedded", method, field,
                                whole(steps, "steps", 1), guidance_scale, whole(seed, "seed"),
                                whole(resolution, "render resolution"), whole(preview_every, "preview every", 0),
                                device or "auto", overrides or "", preset or "cpu", image or "")
            config = generate_config(form, self.outputs, taken=self.run_keys)
            device = device_name(config.train.device)
            if image:  # checked above; kept now, as gradio's temporary copy may go before the job starts
                config.image.path = store_upload(image, self.outputs)
        except ERRORS as e:
            return "", self.error_text(e), keys, False
        title = config.prompt[:60] if config.uses_text else f"image {Path(image or '').stem[:50]}"
        title += " + image" if config.uses_text and config.image.enabled else ""
        job = self.submit("generate", title, device, generate_work(config, self.priors), keys, run=config.run_name)
        return job.key, self.status_text(job), keys, True

    def resume(self, run_name: str, keys: Keys | None = None) -> Started:
        keys = self.own(keys)
        try:
            folder = self.run_path(run_name, keys)
            config = resume_config(folder)
            device = device_name(config.train.device)
        except ERRORS as e:
            return "", self.error_text(e), keys, False
        work = generate_work(config, self.priors, resume=True)
        job = self.submit("generate", f"resume {run_name}", device, work, keys, run=folder.name)
        return job.key, self.status_text(job), keys, True

    # ---- runs -----------------------------------------------------------------------------------------------
    def runs(self, keys: Keys | None = None) -> list[RunInfo]:
        """Run folders, without those that other sessions' jobs made."""
        return [r for r in list_runs(self.outputs) if self.may_use(r.name, keys)]

    def shown_runs(self, keys: Keys | None = None) -> list[RunInfo]:
        """Runs with a thumbnail, in gallery order."""
        return [r for r in self.runs(keys) if r.thumbnail is not None]

    def gallery(self, keys: Keys | None = None) -> list[tuple[str, str]]:
        return [(str(r.thumbnail), r.label) for r in self.shown_runs(keys)]

    def run_names(self, keys: Keys | None = None) -> list[str]:
        return [r.name for r in self.runs(keys)]

    def open_run(self, run_name: str, keys: Keys | None = None) -> tuple[str, str | None, str | None, list[str]]:
        """Summary, video, mesh and files of one run folder."""
        try:
            folder = self.run_path(run_name, keys)
            if not RunFolder(folder).config.is_file():
                raise UnsafePath(f"'{run_name}' is not a run folder in the outputs folder")
            run = run_info(folder)
            step = load_checkpoint(run.checkpoint).step if run.checkpoint else 0
        except ERRORS as e:
            return self.error_text(e), None, None, []
        files = [str(p) for p in (run.checkpoint, run.mesh, run.video, RunFolder(folder).config) if p is not None]
        summary = f"**{run.name}**: {run.prompt} (step {step})\n\n{settings_text(folder)}"
        return summary, run.video and str(run.video), run.mesh and str(run.mesh), files

    def checkpoint_path(self, run_name: str | None, upload: str | None, keys: Keys | None = None) -> Path:
        """An uploaded checkpoint (copied into outputs/_uploads and checked) or a run's last checkpoint."""
        if upload:
            stored = store_upload(upload, self.outputs)
            try:
                load_checkpoint(stored)
            except ERRORS:
                stored.unlink(missing_ok=True)
                raise
            return stored
        return load_checkpoint(self.run_path(run_name, keys)).path

    def source_name(self, checkpoint: Path) -> str:
        """`run` for outputs/run/checkpoints/last.safetensors, the file's stem for an upload."""
        holder = RunFolder.holding(checkpoint)
        return holder.root.name if holder is not None else checkpoint.stem

    # ---- convert --------------------------------------------------------------------------------------------
    def start_convert(self, run_name: str, upload: str | None, target: str, steps: float, device: str,
                      overrides: str, keys: Keys | None = None) -> Started:
        keys = self.own(keys)
        try:
            pvd = with_overrides(PVDConfig(steps=whole(steps, "steps", 1)), overrides or "", "PVD")
            pvd.validate()
            if target not in get_args(FieldKind):
                raise ConfigError(f"unknown field architecture '{target}'")
            source = self.checkpoint_path(run_name, upload, keys)
            run = unique_name(self.outputs, f"{self.source_name(source)}-{target}", taken=self.run_keys)
            device = device_name(device or "auto")
        except ERRORS as e:
            return "", self.error_text(e), keys, False
        output = RunFolder(self.outputs / run).checkpoint
        work = convert_work(source, target, pvd, output, preview_every=max(2, pvd.steps // 10))
        job = self.submit("convert", f"{self.source_name(source)} -> {target}", device, work, keys, run=run)
        return job.key, self.status_text(job), keys, True

    def poll_convert(self, key: str) -> tuple[Any, ...]:
        """Status, progress, teacher and student renders, PSNR, losses, files, and whether to keep polling."""
        job, message = self.find(key, "convert")
        if job is None:
            return message, "", None, None, "", EMPTY_LOSSES, [], False
        teacher = job.results.get("teacher")
        student = job.results.get("student") or job.preview
        psnr = f"**PSNR** student vs teacher: {job.metrics['psnr']:.2f} dB" if "psnr" in job.metrics else ""
        return (message, self.progress_html(job), teacher and str(teacher), student and str(student), psnr,
                self.loss_frame(job), self.result_files(job), job.status in ACTIVE)

    # ---- export ---------------------------------------------------------------------------------------------
    def start_export(self, run_name: str, upload: str | None, resolution: float, threshold: str | float | None,
                     target_faces: float, mesh_format: str, device: str, overrides: str,
                     keys: Keys | None = None) -> Started:
        keys = self.own(keys)
        try:
            config = ExportConfig(format=mesh_format, resolution=whole(resolution, "resolution"),  # type: ignore
                                  threshold=optional_number(threshold, "density threshold"),
                                  target_faces=whole(target_faces, "decimation target", 0))
            config = with_overrides(config, overrides or "", "export")
            config.validate()
            source = self.checkpoint_path(run_name, upload, keys)
            device = device_name(device or "auto")
        except ERRORS as e:
            return "", self.error_text(e), keys, False
        holder = RunFolder.holding(source)
        folder = holder.exports if holder is not None else source.with_suffix("")
        folder.mkdir(parents=True, exist_ok=True)
        output = folder / unique_name(folder, f"mesh-r{config.resolution}.{config.format}")
        job = self.submit("export", f"{self.source_name(source)} -> {output.name}", device,
                          export_work(source, config, output), keys)
        return job.key, self.status_text(job), keys, True

    def poll_export(self, key: str) -> tuple[Any, ...]:
        """Status, mesh, facts, files, and whether to keep polling."""
        job, message = self.find(key, "export")
        if job is None:
            return message, None, "", [], False
        mesh, m = job.results.get("mesh"), job.metrics
        facts = (f"{int(m['vertices']):,} vertices, {int(m['faces']):,} faces, density threshold {m['threshold']:.4g}"
                 if "faces" in m else "")
        return message, mesh and str(mesh), facts, self.result_files(job), job.status in ACTIVE
