"""The Gradio layout: Generate, Convert, Export and Runs tabs over one shared job runner."""

from __future__ import annotations

import dataclasses
import functools
import json
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any, get_args

import gradio as gr

from scoredream.convert import PVDConfig
from scoredream.export import FORMATS, ExportConfig
from scoredream.fields import FieldKind
from scoredream.guidance import method_settings
from scoredream.priors.diffusion_prior import guidance_defaults_of
from scoredream.serialization import to_dict
from scoredream.train import GenerateConfig
from scoredream.train.config import GENERATE_PRIOR, MAX_PROMPT_CHARS, MethodKind
from scoredream.train.presets import PresetName, preset_values
from scoredream.world.shapes import COLOUR_NAMES, SHAPE_NAMES
from ui.amortized import amortized_tab
from ui.handlers import DOWNLOADS, ERRORS, KINDS, Handlers, Keys
from ui.image_input import image_input
from ui.jobs import JobRunner
from ui.tasks import PriorCache
from ui.text2image import text2image_tab

POLL_SECONDS = 1.0
STORAGE_KEY = "scoredream-jobs"
"""Where the browser keeps (encrypted) the keys of its jobs, in localStorage."""
FORM_DEFAULTS: dict[str, Any] = {"model": GENERATE_PRIOR, "steps": 600, "seed": 0, "resolution": 32,
                                 "preview_every": 10, "device": "auto", "overrides": "", "convert_steps": 600,
                                 "convert_overrides": "", "export_resolution": ExportConfig().resolution,
                                 "export_overrides": ""}


def source_picker() -> tuple[gr.Dropdown, gr.File]:
    run = gr.Dropdown([], label="A run from the outputs folder", allow_custom_value=True)
    upload = gr.File(label="... or upload a checkpoint (.safetensors)", type="filepath")
    return run, upload


def default_guidance(method: str, model: str = GENERATE_PRIOR) -> float:
    """What a run would use: the config's scale, else the prior's recommendation, else the method's reference."""
    return method_settings(method, getattr(GenerateConfig(), method), guidance_defaults_of(model)).guidance_scale


INTRO = ("# scoredream\nText to 3D by score distillation. Jobs run in the background: closing this tab does not stop "
         "them, and reopening the page (or `?job=KEY`) watches them again.")
EXAMPLES = ["a red mug", "a blue torus", "a green cube", "a yellow cone", "a purple sphere", "a green cylinder",
            "a cyan mug", "a pink torus"]
"""Prompts the embedded prior knows: `a <colour> <shape>` of its 8 colours and 6 shapes."""
PRIOR_HELP = (f"The **embedded** prior is small, runs on a CPU and knows only `a <colour> <shape>`: colours "
              f"{', '.join(COLOUR_NAMES)}; shapes {', '.join(SHAPE_NAMES)}. For other prompts use a bigger prior: "
              "put a local diffusers folder or a hub id (e.g. `sd-legacy/stable-diffusion-v1-5`) in the *Prior* box "
              "below, as `--prior.model` does for `scoredream generate`; a GPU is recommended.")
SCROLL_TO_OUTPUT = ("() => { if (window.innerWidth < 768) "
                    "document.getElementById('generate-output')?.scrollIntoView({behavior: 'smooth'}); }")
"""On a narrow screen the output sits below the form: Start jumps to it."""
CSS = """
#generate-output .finishing { color: var(--body-text-color-subdued); }
.pixelated img { image-rendering: pixelated; }
#start-row { align-items: end; }
"""


@dataclass
class JobTab:
    """A job tab's widgets that its events use: the start form, the job key, and what polling refreshes."""

    form: list[Any]  # the start handler's arguments, in order; the session's keys follow them
    start: gr.Button
    key: gr.Textbox
    status: gr.Markdown
    shown: list[Any]  # what the poll handler returns between the status and the timer
    stop: gr.Button | None = None
    watch: gr.Button | None = None
    source: gr.Dropdown | None = None  # the run picker of a tab that reads a checkpoint
    examples: gr.Examples | None = None
    prompt: gr.Textbox | None = None
    timer: gr.Timer = dataclasses.field(init=False)  # made after all the tabs, see build_app

    @property
    def watched(self) -> list[Any]:
        return [self.status, *self.shown, self.timer]


@dataclass
class RunsTab:
    """The Runs tab's widgets; `pickers` are all the run dropdowns its refresh fills, its own first."""

    refresh: gr.Button
    gallery: gr.Gallery
    pickers: list[Any]
    open: gr.Button
    resume: gr.Button
    view: list[Any]  # what opening a run fills: summary, turntable, mesh, files
    jobs: gr.Dataframe

    @property
    def listing(self) -> list[Any]:
        return [self.gallery, *self.pickers, self.jobs]


def with_timer(fn: Any) -> Any:
    """Handlers end with a plain `keep polling?` bool; gradio needs it as a Timer update."""
    @functools.wraps(fn)
    def wrapped(*args: Any) -> tuple[Any, ...]:
        *values, active = fn(*args)
        return (*values, gr.Timer(active=bool(active)))

    return wrapped


def generate_poll(poll: Any) -> Any:
    """Handlers.poll as widget updates: the views and a download button show once their file exists, Stop while
    the job runs."""
    @functools.wraps(poll)
    def wrapped(key: str) -> tuple[Any, ...]:
        status, progress, preview, losses, video, mesh, views, input_view, *files, running, active = poll(key)
        buttons = [gr.DownloadButton(value=f, visible=f is not None) for f in files]
        return (status, progress, preview, losses, video, mesh, gr.Image(views, visible=views is not None),
                gr.Image(input_view, visible=input_view is not None), *buttons, gr.Button(visible=bool(running)),
                gr.Timer(active=bool(active)))

    return wrapped


def random_seed() -> int:
    return secrets.randbelow(2**31)


def preset_fields(preset: str, model: str, d: dict[str, Any]) -> tuple[Any, ...]:
    """Method, steps, guidance scale and render resolution of a preset (the form's defaults for `cpu`)."""
    if preset == "cpu":
        method = get_args(MethodKind)[0]
        return method, d["steps"], default_guidance(method, model), d["resolution"]
    values = preset_values(preset)
    method = values["method"]
    scale = values.get(f"{method}.guidance_scale", default_guidance(method, model))
    return method, values["train.steps"], scale, values["train.resolution"]


def prompt_row(d: dict[str, Any]) -> tuple[gr.Textbox, gr.Button]:
    with gr.Row(elem_id="start-row"):
        prompt = gr.Textbox(label="Prompt", placeholder="a red mug", max_lines=1, elem_id="prompt", scale=4,
                            info=f"Enter starts; at most {MAX_PROMPT_CHARS} characters")
        start = gr.Button("Start", variant="primary", scale=1, min_width=100, elem_id="start")
    return prompt, start


def generate_form(d: dict[str, Any], prompt: gr.Textbox) -> tuple[list[Any], gr.Examples]:
    """The Generate settings below the prompt, in start_generate's argument order; the guidance scale follows
    method, prior and preset."""
    methods, fields = list(get_args(MethodKind)), list(get_args(FieldKind))
    examples = gr.Examples(EXAMPLES, [prompt], label="Try one (a click starts it)", examples_per_page=len(EXAMPLES))
    gr.Markdown(PRIOR_HELP, elem_id="prior-help")
    image = image_input(d["outputs"])
    with gr.Row():
        preset = gr.Dropdown(list(get_args(PresetName)), value="cpu", label="Preset", elem_id="preset",
                             info="every setting of a reference pipeline; the fields below still win")
        method = gr.Dropdown(methods, value=methods[0], label="Method")
        field = gr.Dropdown(fields, value=fields[0], label="Field architecture")
    with gr.Row():  # no `minimum=` on numbers: gradio's check pops up and logs a traceback
        steps = gr.Number(d["steps"], label="Steps", precision=0, elem_id="steps", min_width=90)
        scale = gr.Number(default_guidance(methods[0], d["model"]), label="Guidance scale", min_width=90)
        resolution = gr.Number(d["resolution"], label="Render px", precision=0, min_width=90)
    with gr.Row(equal_height=True):
        seed = gr.Number(d["seed"], label="Seed", precision=0, min_width=90, elem_id="seed")
        dice = gr.Button("Random seed", size="sm", min_width=90, elem_id="random-seed")
    model = gr.Textbox(d["model"], label="Prior",
                       info="embedded-camera, embedded, a diffusers hub id, or a local diffusers folder")
    negative = gr.Textbox(label="Negative prompt", max_lines=2)
    preview_every, device, overrides = advanced(d)
    dice.click(random_seed, None, seed, api_visibility="private")
    method.change(default_guidance, [method, model], scale, api_visibility="private")
    model.blur(default_guidance, [method, model], scale, api_visibility="private")
    preset.change(functools.partial(preset_fields, d=d), [preset, model], [method, steps, scale, resolution],
                  api_visibility="private")
    return [prompt, negative, model, method, field, steps, scale, seed, resolution, preview_every, device, overrides,
            preset, image], examples


def advanced(d: dict[str, Any]) -> tuple[gr.Number, gr.Textbox, gr.Code]:
    with gr.Accordion("Advanced", open=False):
        with gr.Row():
            preview_every = gr.Number(d["preview_every"], label="Preview every N steps", precision=0)
            device = gr.Textbox(d["device"], label="Device", info="auto, cpu, cuda, cuda:1")
        overrides = gr.Code(d["overrides"], language="json", label="Overrides (JSON)", max_lines=8,
                            elem_id="overrides")
        gr.Markdown("Any setting of the run, as a partial JSON object that wins over the fields above, e.g. "
                    "`{\"render\": {\"num_samples\": 16}}`.")
        with gr.Accordion("All settings (the default config)", open=False):
            gr.Code(json.dumps(to_dict(GenerateConfig(), every_field=True), indent=1), language="json",
                    interactive=False, max_lines=30)
    return preview_every, device, overrides


def generate_outputs() -> list[Any]:
    """The result column, the object first: status, progress, 3D viewer, previews, views, downloads, losses."""
    progress = gr.HTML()
    mesh = gr.Model3D(label="Mesh (drag to turn)", interactive=False, elem_id="generate-mesh", height=460,
                      camera_position=(0, 75, None), clear_color=(0.94, 0.94, 0.96, 1.0))
    with gr.Row():
        preview = gr.Image(label="Live preview (4 views)", type="filepath", interactive=False, height=220,
                           elem_classes="pixelated", elem_id="generate-preview", min_width=240)
        video = gr.Video(label="Turntable", interactive=False, autoplay=True, loop=True, height=220, min_width=220)
    views = gr.Image(label="Front / side / back", type="filepath", interactive=False, height=220, visible=False,
                     elem_id="generate-views")
    input_view = gr.Image(label="Input view / the result from the same camera", type="filepath", interactive=False,
                          height=160, visible=False, elem_id="generate-input-view")
    with gr.Row(elem_id="downloads"):
        buttons = [gr.DownloadButton(label, visible=False, size="sm", variant="secondary")
                   for label in DOWNLOADS.values()]
    losses = gr.LinePlot(x="step", y="loss", label="Loss", height=160)
    return [progress, preview, losses, video, mesh, views, input_view, *buttons]


def generate_tab(d: dict[str, Any]) -> JobTab:
    with gr.Tab("Generate", id="generate"), gr.Row(equal_height=False):
        with gr.Column(scale=2, min_width=320):
            prompt, start = prompt_row(d)
            stop = gr.Button("Stop", variant="stop", visible=False, size="sm")
            form, examples = generate_form(d, prompt)
            with gr.Accordion("Job key: share or watch a job", open=False):
                key = gr.Textbox(label="Job key", elem_id="job-key",
                                 info="secret: whoever has it can watch and stop the job; paste one and press "
                                      "Watch to follow it")
                watch = gr.Button("Watch", size="sm")
        with gr.Column(scale=3, elem_id="generate-output"):
            status = gr.Markdown("no job yet", elem_id="generate-status")
            shown = generate_outputs()
    return JobTab(form, start, key, status, [*shown, stop], stop=stop, watch=watch, examples=examples, prompt=prompt)


def convert_tab(d: dict[str, Any]) -> JobTab:
    fields = list(get_args(FieldKind))
    with gr.Tab("Convert (PVD)", id="convert"), gr.Row():
        with gr.Column(scale=2):
            run, upload = source_picker()
            target = gr.Dropdown(fields, value=fields[-1], label="Target architecture")
            with gr.Row():
                steps = gr.Number(d["convert_steps"], label="Distillation steps", precision=0)
            with gr.Accordion("Advanced", open=False):
                device = gr.Textbox(d["device"], label="Device", info="auto, cpu, cuda, cuda:1")
                overrides = gr.Code(d["convert_overrides"], language="json", label="PVD overrides (JSON)")
                gr.Code(json.dumps(to_dict(PVDConfig()), indent=1), language="json", interactive=False,
                        label="Default PVD settings")
            with gr.Row():
                start = gr.Button("Convert", variant="primary")
                stop = gr.Button("Stop", variant="stop")
            with gr.Accordion("Job key", open=False):
                key = gr.Textbox(label="Job key", info="secret: it watches and stops the job")
        with gr.Column(scale=3):
            status = gr.Markdown("no job yet")
            progress = gr.HTML()
            with gr.Row():
                teacher = gr.Image(label="Teacher (source)", type="filepath", interactive=False, height=140)
                student = gr.Image(label="Student (converted)", type="filepath", interactive=False, height=140)
            psnr = gr.Markdown()
            losses = gr.LinePlot(x="step", y="loss", label="Distillation loss", height=160)
            files = gr.File(label="Downloads", file_count="multiple", interactive=False)
    return JobTab([run, upload, target, steps, device, overrides], start, key, status,
                  [progress, teacher, student, psnr, losses, files], stop=stop, source=run)


def export_tab(d: dict[str, Any]) -> JobTab:
    with gr.Tab("Export mesh", id="export"), gr.Row():
        with gr.Column(scale=2):
            run, upload = source_picker()
            with gr.Row():
                resolution = gr.Number(d["export_resolution"], label="Resolution", precision=0,
                                       info="grid samples along the object's longest side")
                threshold = gr.Textbox("", label="Density threshold", placeholder="automatic",
                                       info="empty: automatic")
            with gr.Row():
                faces = gr.Number(50_000, label="Decimate to faces", precision=0, info="0: keep all")
                fmt = gr.Dropdown(list(FORMATS), value=FORMATS[0], label="Format")
            with gr.Accordion("Advanced", open=False):
                device = gr.Textbox(d["device"], label="Device", info="auto, cpu, cuda, cuda:1")
                overrides = gr.Code(d["export_overrides"], language="json", label="Export overrides (JSON)")
            start = gr.Button("Export", variant="primary")
            with gr.Accordion("Job key", open=False):
                key = gr.Textbox(label="Job key", info="secret: it watches the job")
        with gr.Column(scale=3):
            status = gr.Markdown("no job yet")
            mesh = gr.Model3D(label="Mesh", interactive=False, height=360)
            facts = gr.Markdown()
            files = gr.File(label="Downloads", file_count="multiple", interactive=False)
    return JobTab([run, upload, resolution, threshold, faces, fmt, device, overrides], start, key, status,
                  [mesh, facts, files], source=run)


def runs_tab(sources: list[Any]) -> RunsTab:
    """`sources`: the other tabs' run pickers, which list the same runs as this tab's."""
    with gr.Tab("Runs", id="runs"):
        refresh = gr.Button("Refresh", size="sm")
        gallery = gr.Gallery(label="Runs (click one to open it)", columns=4, height=240, allow_preview=False,
                             object_fit="contain", fit_columns=False, interactive=False, elem_id="runs-gallery")
        with gr.Row():
            name = gr.Dropdown([], label="Run", allow_custom_value=True)
            open_btn = gr.Button("Open")
            resume = gr.Button("Resume in Generate")
        summary = gr.Markdown()
        with gr.Row():
            video = gr.Video(label="Turntable", interactive=False, autoplay=True, loop=True, height=300)
            mesh = gr.Model3D(label="Mesh", interactive=False, height=300)
        files = gr.File(label="Files", file_count="multiple", interactive=False)
        jobs = gr.Dataframe(label="Your jobs", interactive=False, elem_id="jobs")
    return RunsTab(refresh, gallery, [name, *sources], open_btn, resume, [summary, video, mesh, files], jobs)


def wire_job(tab: JobTab, owned: gr.State, start: Any, poll: Any, start_api: str, poll_api: str) -> None:
    """Start runs the form's job and owns its key; the tab's timer polls it while it runs."""
    tab.start.click(with_timer(start), [*tab.form, owned], [tab.key, tab.status, owned, tab.timer],
                    api_name=start_api)
    tab.timer.tick(with_timer(poll), tab.key, tab.watched, api_name=poll_api, show_progress="hidden")


def wire_generate(h: Handlers, tab: JobTab, owned: gr.State) -> None:
    """Start, Enter in the prompt and a click on an example start a run (a phone jumps to the output)."""
    poll = generate_poll(h.poll)
    tab.start.click(with_timer(h.start_generate), [*tab.form, owned], [tab.key, tab.status, owned, tab.timer],
                    api_name="start_generate")
    tab.timer.tick(poll, tab.key, tab.watched, api_name="poll", show_progress="hidden")
    assert tab.prompt is not None and tab.examples is not None
    for started in (tab.prompt.submit, tab.examples.load_input_event.then):
        started(with_timer(h.start_generate), [*tab.form, owned], [tab.key, tab.status, owned, tab.timer],
                api_visibility="private")
    for trigger in (tab.start.click, tab.prompt.submit, tab.examples.dataset.click):
        trigger(None, js=SCROLL_TO_OUTPUT)

    def adopt(keys: Keys, key: str) -> Keys:
        """A watched job's key joins this session's: the key is the job's secret."""
        return h.own(keys, (key or "").strip())

    assert tab.watch is not None and tab.stop is not None
    tab.watch.click(poll, tab.key, tab.watched, api_visibility="private").then(
        adopt, [owned, tab.key], owned, api_visibility="private")
    tab.stop.click(h.stop, tab.key, tab.status, api_name="stop")


def wire_convert(h: Handlers, tab: JobTab, owned: gr.State) -> None:
    wire_job(tab, owned, h.start_convert, h.poll_convert, "start_convert", "poll_convert")
    assert tab.stop is not None
    tab.stop.click(h.stop, tab.key, tab.status, api_visibility="private")


def runs_listing(h: Handlers, runs: RunsTab) -> Any:
    """The handler that fills `runs.listing` for a session's keys: gallery, every run picker's choices, jobs table."""
    def runs_view(keys: Keys) -> tuple[Any, ...]:
        names = h.run_names(keys)
        return h.gallery(keys), *(gr.Dropdown(choices=names) for _ in runs.pickers), h.jobs_table(keys)

    return runs_view


def wire_runs(h: Handlers, runs: RunsTab, generate: JobTab, owned: gr.State, tabs: gr.Tabs) -> None:
    """Refresh lists the session's runs; a run opens from its name or the gallery, or resumes in the Generate tab."""
    def select_run(keys: Keys, evt: gr.SelectData) -> str:
        shown = h.shown_runs(keys)
        return shown[evt.index].name if evt.index < len(shown) else ""

    name = runs.pickers[0]
    runs.refresh.click(runs_listing(h, runs), owned, runs.listing, api_name="runs")
    runs.open.click(h.open_run, [name, owned], runs.view, api_name="open_run")
    runs.gallery.select(select_run, owned, name, api_visibility="private").then(
        h.open_run, [name, owned], runs.view, api_visibility="private")
    runs.resume.click(with_timer(h.resume), [name, owned], [generate.key, generate.status, owned, generate.timer],
                      api_name="resume").then(lambda: gr.Tabs(selected="generate"), None, tabs,
                                              api_visibility="private")


def wire_load(demo: gr.Blocks, h: Handlers, saved: gr.BrowserState, owned: gr.State, job_tabs: list[JobTab],
              runs: RunsTab) -> None:
    runs_view = runs_listing(h, runs)

    def on_load(remembered: Keys, request: gr.Request) -> tuple[Any, ...]:
        """A fresh page takes this browser's saved keys (and ?job=KEY) and watches its newest active jobs."""
        wanted = request.query_params.get("job", "").strip() if request else ""
        keys = h.own(remembered, wanted)
        ids = [h.attach(kind, keys, wanted) for kind in KINDS]
        return (keys, *ids, *(gr.Timer(active=bool(i)) for i in ids), *runs_view(keys))

    demo.load(on_load, saved, [owned, *(t.key for t in job_tabs), *(t.timer for t in job_tabs), *runs.listing],
              api_visibility="private")


def build_app(outputs: Path, defaults: dict[str, Any] | None = None) -> gr.Blocks:
    """`defaults` pre-fills the forms (keys of FORM_DEFAULTS), e.g. tiny settings for tests and quick demos."""
    outputs.mkdir(parents=True, exist_ok=True)
    h = Handlers(outputs, JobRunner(ERRORS), PriorCache())
    d = {**FORM_DEFAULTS, **(defaults or {}), "outputs": outputs}
    with gr.Blocks(title="scoredream") as demo:
        gr.Markdown(INTRO)
        owned = gr.State([])  # this session's job keys, see ui.handlers.Keys
        saved = gr.BrowserState([], storage_key=STORAGE_KEY)  # the same keys in this browser, for a reopened page
        with gr.Tabs() as tabs:
            generate, convert, export = generate_tab(d), convert_tab(d), export_tab(d)
            runs = runs_tab([convert.source, export.source])
            text2image_tab(outputs, generate.form[-1], generate.prompt, tabs)  # form[-1]: the input image
            amortized_tab(outputs)
        job_tabs = [generate, convert, export]  # in the order of ui.handlers.KINDS
        for tab in job_tabs:
            tab.timer = gr.Timer(POLL_SECONDS, active=False)
        owned.change(lambda keys: keys, owned, saved, api_visibility="private")
        wire_generate(h, generate, owned)
        wire_convert(h, convert, owned)
        wire_job(export, owned, h.start_export, h.poll_export, "start_export", "poll_export")
        wire_runs(h, runs, generate, owned, tabs)
        wire_load(demo, h, saved, owned, job_tabs, runs)
    return demo


def launch(host: str = "127.0.0.1", port: int = 7860, outputs: Path = Path("outputs"),
           defaults: dict[str, Any] | None = None, block: bool = True, share: bool = False,
           auth: tuple[str, str] | None = None) -> gr.Blocks:
    """`share`: a temporary public gradio.live link; `auth`: (user, password) that the page asks for."""
    demo = build_app(outputs, defaults)
    demo.queue(default_concurrency_limit=8).launch(
        server_name=host, server_port=port, allowed_paths=[str(outputs.resolve())], prevent_thread_lock=not block,
        quiet=not block, show_error=False, footer_links=["api"], css=CSS, share=share, auth=auth)
    return demo
