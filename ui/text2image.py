"""The 2D tab: a prompt -> the one-step student's image at once, the teacher's 25-step DDIM sample beside it.

The student is the shipped one (assets/student2d) or a student folder inside the outputs folder
(`scoredream distill2d` writes outputs/student2d, the tab's default when none ships). Sampling is synchronous: one
UNet call for the student, 50 for the teacher (25 DDIM steps with CFG): well under a second each for the embedded
prior on a CPU.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import gradio as gr
import torch
from PIL import Image

from scoredream.device import pick_device
from scoredream.distill2d import OneStepStudent
from scoredream.distill2d.sample import TEACHER_CFG, TEACHER_STEPS, finished_samples, sample_matte, slug, to_pil
from scoredream.distill2d.student import SHIPPED, student_folder
from scoredream.priors.sampling import ddim_sample
from ui.files import inside, public_text
from ui.handlers import ERRORS

TRAINED = "student2d"
"""The folder `scoredream distill2d` writes by default (outputs/student2d): the tab's student when none ships."""
SHOWN = 256
FOR_3D_FOLDER = ".text2image"
"""under the app's outputs folder (which the app serves): the matted images handed to the Generate tab"""


@dataclass
class Text2Image:
    """Loads students once per folder and samples them and their teachers; errors become a message."""

    outputs: Path
    device: str = "auto"
    _students: dict[Path, OneStepStudent] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def folder(self, student: str) -> Path:
        name = (student or "").strip()
        # "shipped": the tab's earlier name for it
        return student_folder(SHIPPED) if name in ("", SHIPPED, "shipped") else inside(self.outputs, name)

    def student(self, student: str) -> OneStepStudent:
        folder = self.folder(student)
        with self._lock:
            if folder not in self._students:
                self._students[folder] = OneStepStudent.from_pretrained(folder, device=pick_device(self.device))
            return self._students[folder]

    def sample(self, prompt: str, student: str, seed: float | None) -> tuple[Image.Image | None,
                                                                          Image.Image | None, str]:
        """(student image, teacher image, timing line); (None, None, message) on bad input."""
        try:
            model = self.student(student)
            text = model.teacher.check_prompt(prompt)
            generator_seed = int(seed or 0)
            start = time.perf_counter()
            mine = model.sample([text], torch.Generator().manual_seed(generator_seed))[0]
            fast = time.perf_counter() - start
            start = time.perf_counter()
            theirs = ddim_sample(model.teacher, [text], TEACHER_CFG, TEACHER_STEPS,
                                 torch.Generator().manual_seed(generator_seed))[0]
            slow = time.perf_counter() - start
        except ERRORS as e:
            return None, None, f"**error:** {public_text(str(e), self.outputs)}"
        shown = [to_pil(image).resize((SHOWN, SHOWN), Image.Resampling.NEAREST) for image in (mine, theirs)]
        return (*shown, f"student: one UNet call, {1000 * fast:.0f} ms; teacher: {TEACHER_STEPS} DDIM steps "
                        f"(CFG {TEACHER_CFG:g}), {1000 * slow:.0f} ms")

    def image_for_3d(self, prompt: str, student: str, seed: float | None) -> tuple[str | None, str, str]:
        """(RGBA PNG of the prompt's object, the prompt, a line) for the Generate tab's image input: the student's
        image finished by the teacher's last DDIM steps and matted, as `generate --text-image --student` does;
        (None, prompt, message) on bad input or when no object can be separated."""
        try:
            model = self.student(student)
            text = model.teacher.check_prompt(prompt)
            generator = torch.Generator().manual_seed(int(seed or 0))
            image = finished_samples(model, [text], generator)[0].cpu()
            alpha = sample_matte(image, name=f"the image of {text!r}")
        except ERRORS as e:
            return None, prompt, f"**error:** {public_text(str(e), self.outputs)}"
        path = self.outputs / FOR_3D_FOLDER / f"{slug(text)}_{int(seed or 0)}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        to_pil(image, SHOWN, alpha).save(path)
        return str(path), text, "the image (finished by the teacher, matted) is on the Generate tab: press Start"


def text2image_tab(outputs: Path, generate_image: gr.Image, generate_prompt: gr.Textbox, tabs: gr.Tabs) -> None:
    """The tab and its events (no job runner: both samples come back within the request); "Make it 3D" fills the
    Generate tab's prompt and input image and shows that tab."""
    handler = Text2Image(outputs)
    with gr.Tab("Text to image (one step)", id="text2image"), gr.Row():
        with gr.Column(scale=2, min_width=300):
            prompt = gr.Textbox(label="Prompt", placeholder="a red mug", max_lines=1, elem_id="t2i-prompt")
            with gr.Row():
                seed = gr.Number(0, label="Seed", precision=0, min_width=90)
                shipped = (student_folder(SHIPPED) / "scoredream_student.json").exists()
                student = gr.Textbox(SHIPPED if shipped else TRAINED, label="Student",
                                     info="shipped, or a student folder in outputs/ (scoredream distill2d --output "
                                          "outputs/NAME)")
            with gr.Row():
                run = gr.Button("Sample", variant="primary")
                to_3d = gr.Button("Make it 3D", elem_id="t2i-to-3d")
            gr.Markdown("A one-step student distilled from the prior by VSD (SwiftBrush): noise and prompt to image in "
                        "one UNet call. The teacher's 25-step sample from the same noise seed is beside it. "
                        "**Make it 3D** hands the image, finished by the teacher's last 5 steps and matted, to the "
                        "Generate tab (the CLI: `scoredream generate --text-image --student embedded PROMPT`).")
        with gr.Column(scale=3):
            with gr.Row():
                mine = gr.Image(label="Student (1 step)", type="pil", interactive=False, height=SHOWN,
                                elem_classes="pixelated", elem_id="t2i-student")
                theirs = gr.Image(label=f"Teacher ({TEACHER_STEPS} steps)", type="pil", interactive=False,
                                  height=SHOWN, elem_classes="pixelated", elem_id="t2i-teacher")
            timing = gr.Markdown(elem_id="t2i-timing")
    run.click(handler.sample, [prompt, student, seed], [mine, theirs, timing], api_name="text2image")
    prompt.submit(handler.sample, [prompt, student, seed], [mine, theirs, timing], api_visibility="private")
    to_3d.click(handler.image_for_3d, [prompt, student, seed], [generate_image, generate_prompt, timing],
                api_name="text2image_for_3d").then(lambda: gr.Tabs(selected="generate"), None, tabs,
                                                   api_visibility="private")
