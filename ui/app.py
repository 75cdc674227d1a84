"""The Gradio layout: Generate, Convert, Export and Runs tabs over one shared job runner."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any, get_args

import gradio as gr

from scoredream.convert import PVDConfig
from scoredream.export import FORMATS, ExportConfig
from scoredream.fields import FieldKind
from scoredream.guidance.base import REFERENCE_GUIDANCE_SCALE
from scoredream.priors.diffusion_prior import guidance_defaults_of
from scoredream.serialization import to_dict
from scoredream.train import GenerateConfig
from scoredream.train.config import MAX_PROMPT_CHARS, MethodKind
from ui.handlers import ERRORS, KINDS, Handlers, Keys
from ui.jobs import JobRunner
from ui.tasks import PriorCache

POLL_SECONDS = 1.0
STORAGE_KEY = "scoredream-jobs"
"""Where the browser keeps (encrypted) the keys of its jobs, in localStorage."""
FORM_DEFAULTS: dict[str, Any] = {"model": "embedded", "steps": 600, "seed": 0, "resolution": 32, "preview_every": 10,
                                 "device": "auto", "overrides": "", "convert_steps": 600, "convert_overrides": "",
                                 "export_resolution": ExportConfig().resolution, "export_overrides": ""}


def source_picker() -> tuple[gr.Dropdown, gr.File]:
    run = gr.Dropdown([], label="A run from the outputs folder", allow_custom_value=True)
    upload = gr.File(label="... or upload a checkpoint (.safetensors)", type="filepath")
    return run, upload


def default_guidance(method: str, model: str = "embedded") -> float:
    """What a run would use: the config's scale, else the prior's recommendation, else the method's reference."""
    configured = getattr(getattr(GenerateConfig(), method), "guidance_scale", None)
    if configured is not None:
        return float(configured)
    return float(guidance_defaults_of(model).get(method, {}).get("guidance_scale", REFERENCE_GUIDANCE_SCALE[method]))


def build_app(outputs: Path, defaults: dict[str, Any] | None = None) -> gr.Blocks:
    """`defaults` pre-fills the forms (keys of FORM_DEFAULTS), e.g. tiny settings for tests and quick demos."""
    outputs.mkdir(parents=True, exist_ok=True)
    h = Handlers(outputs, JobRunner(ERRORS), PriorCache())
    d = {**FORM_DEFAULTS, **(defaults or {})}
    methods, fields = list(get_args(MethodKind)), list(get_args(FieldKind))
    with gr.Blocks(title="scoredream") as demo:
        gr.Markdown("# scoredream\nText to 3D by score distillation. Jobs run in the background: closing this tab "
                    "does not stop them, and reopening the page (or `?job=KEY`) watches them again. Your jobs are "
                    "yours: other visitors see only their place in the queue.")
        owned = gr.State([])  # this session's job keys, see ui.handlers.Keys
        saved = gr.BrowserState([], storage_key=STORAGE_KEY)  # the same keys in this browser, for a reopened page
        with gr.Tabs() as tabs:
            with gr.Tab("Generate", id="generate"):
                with gr.Row():
                    with gr.Column(scale=2):
                        prompt = gr.Textbox(label="Prompt", placeholder="a red mug", max_lines=3, elem_id="prompt",
                                            info=f"at most {MAX_PROMPT_CHARS} characters")
                        negative = gr.Textbox(label="Negative prompt", max_lines=2)
                        model = gr.Textbox(d["model"], label="Prior",
                                           info="embedded, a diffusers hub id, or a local diffusers folder")
                        with gr.Row():
                            method = gr.Dropdown(methods, value=methods[0], label="Method")
                            field = gr.Dropdown(fields, value=fields[0], label="Field architecture")
                        with gr.Row():  # no `minimum=` on numbers: gradio's check pops up and logs a traceback
                            steps = gr.Number(d["steps"], label="Steps", precision=0, elem_id="steps")
                            scale = gr.Number(default_guidance(methods[0], d["model"]), label="Guidance scale",
                                              info="the prior's recommendation for the method, else the paper's")
                            seed = gr.Number(d["seed"], label="Seed", precision=0)
                            resolution = gr.Number(d["resolution"], label="Render resolution (px)", precision=0)
                        with gr.Accordion("Advanced", open=False):
                            with gr.Row():
                                preview_every = gr.Number(d["preview_every"], label="Preview every N steps",
                                                          precision=0)
                                device = gr.Textbox(d["device"], label="Device", info="auto, cpu, cuda, cuda:1")
                            overrides = gr.Code(d["overrides"], language="json", label="Overrides (JSON)")
                            gr.Markdown("Any setting of the run, as a partial JSON object that wins over the fields "
                                        "above, e.g. `{\"render\": {\"num_samples\": 16}}`. All settings:")
                            gr.Code(json.dumps(to_dict(GenerateConfig()), indent=1), language="json",
                                    interactive=False, label="Default config")
                        with gr.Row():
                            start = gr.Button("Start", variant="primary")
                            stop = gr.Button("Stop", variant="stop")
                        job_id = gr.Textbox(label="Job key", elem_id="job-key",
                                            info="secret: whoever has it can watch and stop the job; paste one and "
                                                 "press Watch to follow it")
                        watch = gr.Button("Watch", size="sm")
                    with gr.Column(scale=3):
                        status = gr.Markdown("no job yet")
                        progress = gr.HTML()
                        preview = gr.Image(label="Live preview", type="filepath", interactive=False, height=180)
                        losses = gr.LinePlot(x="step", y="loss", label="Loss", height=180)
                        with gr.Row():
                            video = gr.Video(label="Turntable", interactive=False, autoplay=True, loop=True, height=300)
                            mesh = gr.Model3D(label="Mesh", interactive=False, elem_id="generate-mesh", height=300)
                        files = gr.File(label="Downloads", file_count="multiple", interactive=False)
            with gr.Tab("Convert (PVD)", id="convert"):
                with gr.Row():
                    with gr.Column(scale=2):
                        c_run, c_upload = source_picker()
                        c_target = gr.Dropdown(fields, value=fields[-1], label="Target architecture")
                        with gr.Row():
                            c_steps = gr.Number(d["convert_steps"], label="Distillation steps", precision=0)
                            c_device = gr.Textbox(d["device"], label="Device")
                        with gr.Accordion("Advanced", open=False):
                            c_overrides = gr.Code(d["convert_overrides"], language="json", label="PVD overrides (JSON)")
                            gr.Code(json.dumps(to_dict(PVDConfig()), indent=1), language="json", interactive=False,
                                    label="Default PVD settings")
                        with gr.Row():
                            c_start = gr.Button("Convert", variant="primary")
                            c_stop = gr.Button("Stop", variant="stop")
                        c_job = gr.Textbox(label="Job key", info="secret: it watches and stops the job")
                    with gr.Column(scale=3):
                        c_status = gr.Markdown("no job yet")
                        c_progress = gr.HTML()
                        with gr.Row():
                            c_teacher = gr.Image(label="Teacher (source)", type="filepath", interactive=False,
                                                 height=140)
                            c_student = gr.Image(label="Student (converted)", type="filepath", interactive=False,
                                                 height=140)
                        c_psnr = gr.Markdown()
                        c_losses = gr.LinePlot(x="step", y="loss", label="Distillation loss", height=160)
                        c_files = gr.File(label="Downloads", file_count="multiple", interactive=False)
            with gr.Tab("Export mesh", id="export"):
                with gr.Row():
                    with gr.Column(scale=2):
                        e_run, e_upload = source_picker()
                        with gr.Row():
                            e_resolution = gr.Number(d["export_resolution"], label="Resolution", precision=0,
                                                     info="grid samples along the object's longest side")
                            e_threshold = gr.Number(None, label="Density threshold", info="empty: automatic")
                        with gr.Row():
                            e_faces = gr.Number(50_000, label="Decimate to faces", precision=0, info="0: keep all")
                            e_format = gr.Dropdown(list(FORMATS), value=FORMATS[0], label="Format")
                            e_device = gr.Textbox(d["device"], label="Device")
                        with gr.Accordion("Advanced", open=False):
                            e_overrides = gr.Code(d["export_overrides"], language="json",
                                                  label="Export overrides (JSON)")
                        e_start = gr.Button("Export", variant="primary")
                        e_job = gr.Textbox(label="Job key", info="secret: it watches the job")
                    with gr.Column(scale=3):
                        e_status = gr.Markdown("no job yet")
                        e_mesh = gr.Model3D(label="Mesh", interactive=False, height=360)
                        e_facts = gr.Markdown()
                        e_files = gr.File(label="Downloads", file_count="multiple", interactive=False)
            with gr.Tab("Runs", id="runs"):
                refresh = gr.Button("Refresh", size="sm")
                gallery = gr.Gallery(label="Runs (click one to open it)", columns=4, height=240, allow_preview=False,
                                     object_fit="contain", fit_columns=False, interactive=False, elem_id="runs-gallery")
                with gr.Row():
                    run_name = gr.Dropdown([], label="Run", allow_custom_value=True)
                    open_btn = gr.Button("Open")
                    resume_btn = gr.Button("Resume in Generate")
                run_summary = gr.Markdown()
                with gr.Row():
                    run_video = gr.Video(label="Turntable", interactive=False, autoplay=True, loop=True, height=300)
                    run_mesh = gr.Model3D(label="Mesh", interactive=False, height=300)
                run_files = gr.File(label="Files", file_count="multiple", interactive=False)
                jobs = gr.Dataframe(label="Your jobs", interactive=False, elem_id="jobs")
        timer, c_timer, e_timer = (gr.Timer(POLL_SECONDS, active=False) for _ in range(3))

        watched = [status, progress, preview, losses, video, mesh, files, timer]

        def with_timer(fn: Any) -> Any:
            """Handlers end with a plain `keep polling?` bool; gradio needs it as a Timer update."""
            @functools.wraps(fn)
            def wrapped(*args: Any) -> tuple[Any, ...]:
                *values, active = fn(*args)
                return (*values, gr.Timer(active=bool(active)))

            return wrapped

        method.change(default_guidance, [method, model], scale, api_visibility="private")
        model.blur(default_guidance, [method, model], scale, api_visibility="private")
        form = [prompt, negative, model, method, field, steps, scale, seed, resolution, preview_every, device,
                overrides]
        owned.change(lambda keys: keys, owned, saved, api_visibility="private")
        start.click(with_timer(h.start_generate), [*form, owned], [job_id, status, owned, timer],
                    api_name="start_generate")
        timer.tick(with_timer(h.poll), job_id, watched, api_name="poll", show_progress="hidden")

        def adopt(keys: Keys, key: str) -> Keys:
            """A watched job's key joins this session's: the key is the job's secret."""
            return h.own(keys, (key or "").strip())

        watch.click(with_timer(h.poll), job_id, watched, api_visibility="private").then(
            adopt, [owned, job_id], owned, api_visibility="private")
        stop.click(h.stop, job_id, status, api_name="stop")

        c_watched = [c_status, c_progress, c_teacher, c_student, c_psnr, c_losses, c_files, c_timer]
        c_start.click(with_timer(h.start_convert), [c_run, c_upload, c_target, c_steps, c_device, c_overrides, owned],
                      [c_job, c_status, owned, c_timer], api_name="start_convert")
        c_timer.tick(with_timer(h.poll_convert), c_job, c_watched, api_name="poll_convert", show_progress="hidden")
        c_stop.click(h.stop, c_job, c_status, api_visibility="private")
        e_start.click(with_timer(h.start_export), [e_run, e_upload, e_resolution, e_threshold, e_faces, e_format,
                                                   e_device, e_overrides, owned], [e_job, e_status, owned, e_timer],
                      api_name="start_export")
        e_timer.tick(with_timer(h.poll_export), e_job, [e_status, e_mesh, e_facts, e_files, e_timer],
                     api_name="poll_export", show_progress="hidden")
        run_pickers = [run_name, c_run, e_run]

        def runs_view(keys: Keys) -> tuple[Any, ...]:
            names = h.run_names(keys)
            return h.gallery(keys), *(gr.Dropdown(choices=names) for _ in run_pickers), h.jobs_table(keys)

        def select_run(keys: Keys, evt: gr.SelectData) -> str:
            shown = h.shown_runs(keys)
            return shown[evt.index].name if evt.index < len(shown) else ""

        refresh.click(runs_view, owned, [gallery, *run_pickers, jobs], api_name="runs")
        run_view = [run_summary, run_video, run_mesh, run_files]
        open_btn.click(h.open_run, [run_name, owned], run_view, api_name="open_run")
        gallery.select(select_run, owned, run_name, api_visibility="private").then(
            h.open_run, [run_name, owned], run_view, api_visibility="private")
        resume_btn.click(with_timer(h.resume), [run_name, owned], [job_id, status, owned, timer],
                         api_name="resume").then(lambda: gr.Tabs(selected="generate"), None, tabs,
                                                 api_visibility="private")

        def on_load(remembered: Keys, request: gr.Request) -> tuple[Any, ...]:
            """A fresh page takes this browser's saved keys (and ?job=KEY) and watches its newest active jobs."""
            wanted = request.query_params.get("job", "").strip() if request else ""
            keys = h.own(remembered, wanted)
            ids = [h.attach(kind, keys, wanted) for kind in KINDS]
            return (keys, *ids, *(gr.Timer(active=bool(i)) for i in ids), *runs_view(keys))

        demo.load(on_load, saved, [owned, job_id, c_job, e_job, timer, c_timer, e_timer, gallery, *run_pickers, jobs],
                  api_visibility="private")
    return demo


def launch(host: str = "127.0.0.1", port: int = 7860, outputs: Path = Path("outputs"),
           defaults: dict[str, Any] | None = None, block: bool = True) -> gr.Blocks:
    demo = build_app(outputs, defaults)
    demo.queue(default_concurrency_limit=8).launch(
        server_name=host, server_port=port, allowed_paths=[str(outputs.resolve())], prevent_thread_lock=not block,
        quiet=not block, show_error=False, footer_links=["api"])
    return demo
