"""Text -> image -> 3D: a prompt's image from the teacher (its DDIM sampler) or a one-step student (finished by the
teacher's last DDIM steps), matted as `scoredream sample2d` mattes it, then image to 3D with the prompt
(`scoredream generate --text-image [--student FOLDER] PROMPT`)."""

from __future__ import annotations

import dataclasses
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from jaxtyping import Float
from torch import Tensor

from scoredream.device import pick_device
from scoredream.distill2d.sample import REFINE_STEPS, TEACHER_CFG, TEACHER_STEPS, finished_samples, sample_matte, to_pil
from scoredream.distill2d.student import OneStepStudent
from scoredream.image.reference import reference_camera
from scoredream.priors.camera_labels import camera_labels
from scoredream.priors.prompts import view_suffix
from scoredream.priors.sampling import ddim_sample

if TYPE_CHECKING:
    from scoredream.priors import DiffusionPrior
    from scoredream.train.config import GenerateConfig
    from scoredream.train.trainer import RunResult

INPUT_SIZE = 256
"""side of the input PNG kept in the run folder (sample2d's default)"""


def prompt_image(config: GenerateConfig, student: Path | None, steps: int = TEACHER_STEPS,
                 guidance: float = TEACHER_CFG, refine_steps: int = REFINE_STEPS,
                 ) -> tuple[Float[Tensor, "3 H W"], DiffusionPrior | None]:
    """The prompt's image (seed train.seed) and the teacher when it drew it (so the run reuses it). The teacher
    is asked for the input camera's view ("..., front view" at azimuth 0) when the run's prompts are view
    dependent, as the shapes world captions its renders; a student reads the plain prompt it was distilled on,
    and the teacher's last `refine_steps` DDIM steps finish its image."""
    device, generator = pick_device(config.train.device), torch.Generator().manual_seed(config.train.seed)
    if student is not None:
        one_step = OneStepStudent.from_pretrained(student, device=device)
        texts = [one_step.teacher.check_prompt(config.prompt)]
        return finished_samples(one_step, texts, generator, refine_steps)[0].cpu(), None
    prior = config.prior.setup(device)
    text = prior.check_prompt(config.prompt)
    if config.prompts.view_dependent:
        text += view_suffix(config.image.azimuth, config.image.elevation)
    camera = camera_labels(reference_camera(config.image)) if prior.reads_cameras else None  # the input's view
    return ddim_sample(prior, [text], guidance, steps, generator, camera=camera)[0].cpu(), prior


def text_image_3d(config: GenerateConfig, student: Path | None = None, steps: int = TEACHER_STEPS,
                  guidance: float = TEACHER_CFG, refine_steps: int = REFINE_STEPS,
                  **generate_options: Any) -> RunResult:
    """Image to 3D from the prompt's own image; the run folder keeps it as input.png. ImageError, before anything
    is written, when the image has no plain background to separate the object from."""
    from scoredream.train import generate

    config.validate()  # an empty prompt fails here, before any model loads
    image, prior = prompt_image(config, student, steps, guidance, refine_steps)
    alpha = sample_matte(image, config.image.background_threshold, f"the image of {config.prompt!r}")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "input.png"
        to_pil(image, INPUT_SIZE, alpha).save(path)
        config = dataclasses.replace(config, image=dataclasses.replace(config.image, path=path))
        return generate(config, prior=prior, **generate_options)
