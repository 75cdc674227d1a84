"""The Amortized tab: a trained generator (`scoredream amortized train`) turns a typed prompt into an object in one
forward pass; the tab shows its turntable and mesh, written as an ordinary run folder under the outputs folder."""

from __future__ import annotations

import dataclasses
import json
import threading
import time
import uuid
from pathlib import Path

import gradio as gr

from scoredream.amortized.sample import LoadedGenerator, sample_object
from scoredream.run_folder import RunFolder
from ui.files import inside, public_text
from ui.handlers import ERRORS

OBJECTS = "amortized_objects"
"""Folder under outputs where the tab's objects go, one run folder each."""
QUICK_VIDEO = {"frames": 24, "resolution": 96, "fps": 12, "format": "mp4"}
QUICK_MESH = {"format": "glb", "resolution": 96}
"""A turntable and mesh small enough that prompt -> object takes about a second on a CPU."""


def list_generators(outputs: Path) -> list[str]:
    """Amortized run folders (config.json with a generator, a checkpoint) up to two levels under outputs."""
    found = []
    for config in sorted([*outputs.glob("*/config.json"), *outputs.glob("*/*/config.json")]):
        try:
            is_generator = "generator" in json.loads(config.read_text())
        except (OSError, ValueError):
            continue
        if is_generator and RunFolder(config.parent).checkpoint.exists():
            found.append(str(config.parent.relative_to(outputs)))
    return found


class AmortizedHandlers:
    """What the tab's buttons call; a generator loads once and stays in memory."""

    def __init__(self, outputs: Path) -> None:
        self.outputs = outputs
        self.loaded: dict[str, LoadedGenerator] = {}
        self.lock = threading.Lock()

    def generator(self, name: str) -> LoadedGenerator:
        path = inside(self.outputs, name)
        with self.lock:
            if name not in self.loaded:
                loaded = LoadedGenerator.load(path, "cpu")
                config = loaded.checkpoint.config
                quick = dataclasses.replace(config, video=dataclasses.replace(config.video, **QUICK_VIDEO),
                                            export=dataclasses.replace(config.export, **QUICK_MESH))
                self.loaded[name] = dataclasses.replace(
                    loaded, checkpoint=dataclasses.replace(loaded.checkpoint, config=quick))
            return self.loaded[name]

    def make(self, name: str, prompt: str) -> tuple[str | None, str | None, str]:
        """(turntable, mesh, message) of the prompt's object, or (None, None, the error)."""
        try:
            t0 = time.perf_counter()
            loaded = self.generator(name)
            obj = sample_object(loaded, prompt, self.outputs / OBJECTS / uuid.uuid4().hex[:8])
        except ERRORS as e:
            return None, None, f"**error:** {public_text(str(e), self.outputs)}"
        seconds = time.perf_counter() - t0
        where = public_text(str(obj.run_dir), self.outputs)
        message = (f"{obj.milliseconds:.0f} ms from text to field; {seconds:.1f} s with the turntable and mesh. "
                   f"Run folder: `{where}` (render, export and convert read it).")
        return (str(obj.video) if obj.video else None), (str(obj.mesh) if obj.mesh else None), message


def amortized_tab(outputs: Path) -> None:
    """The tab, built inside the app's gr.Tabs."""
    h = AmortizedHandlers(outputs)
    with gr.Tab("Amortized", id="amortized"), gr.Row(equal_height=False):
        with gr.Column(scale=1):
            gr.Markdown("One generator for many prompts (ScaleDreamer): train it with `scoredream amortized train`, "
                        "then any prompt, seen in training or not, is an object in one forward pass.")
            names = list_generators(outputs)
            generator = gr.Dropdown(names, value=names[0] if names else None, label="Generator",
                                    allow_custom_value=True)
            refresh = gr.Button("Refresh list", size="sm")
            prompt = gr.Textbox(label="Prompt", placeholder="a green mug")
            make = gr.Button("Make", variant="primary")
            message = gr.Markdown()
        with gr.Column(scale=2):
            video = gr.Video(label="Turntable", interactive=False, autoplay=True, loop=True, height=300)
            mesh = gr.Model3D(label="Mesh (drag to turn)", interactive=False, height=300)
    refresh.click(lambda: gr.Dropdown(choices=list_generators(outputs)), None, generator, api_visibility="private")
    make.click(h.make, [generator, prompt], [video, mesh, message], api_name="amortized_make")
    prompt.submit(h.make, [generator, prompt], [video, mesh, message], api_visibility="private")
