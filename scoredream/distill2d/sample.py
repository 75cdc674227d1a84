"""Generated images as PNG files for image-to-3D: RGBA whose alpha is the object's matte, optionally upscaled.

The matte is image-to-3D's own background separation (`separate_background`), run on the sample at the
generator's resolution after a median filter against its per-pixel grain (`GRAIN`), so the loader takes the alpha
as given. A sample whose border is not one colour even then (an untrained student's noise) is written as RGB,
with a warning: image-to-3D refuses it as it refuses any such image.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import numpy as np
import torch
from jaxtyping import Float
from PIL import Image
from torch import Tensor

from scoredream.device import pick_device
from scoredream.distill2d.student import OneStepStudent
from scoredream.errors import ImageError
from scoredream.image.config import ImageConfig
from scoredream.image.load import GRAIN, separate_background
from scoredream.priors.sampling import ddim_sample
from scoredream.serialization import ConfigError

MAX_SIZE = 2048
TEACHER_STEPS = 25
TEACHER_CFG = 2.0
"""the teacher's sampler as scripts/bench_2d.py runs it: DDIM 25 steps at the embedded prior's best 2D scale"""
REFINE_STEPS = 5
"""the teacher's last DDIM steps that finish a student's image for image-to-3D (SDEdit from t = 0.2 T): they remove
the per-pixel grain of the one-step image (its UNet error x 6.9 at the student's timestep), which keeps the
object's matte from being found (scripts/bench_text_image_3d.py, README)"""


def to_pil(image: Float[Tensor, "3 H W"], size: int = 0, alpha: Float[Tensor, "H W"] | None = None) -> Image.Image:
    """An image in [0, 1] as an RGB PIL image (RGBA with `alpha`), bicubic-upscaled to size x size (0: as it is)."""
    channels = image if alpha is None else torch.cat([image, alpha[None]])
    array = (channels.clamp(0, 1).permute(1, 2, 0) * 255).round().byte().cpu().numpy()
    picture = Image.fromarray(array, mode="RGB" if alpha is None else "RGBA")
    return picture.resize((size, size), Image.Resampling.BICUBIC) if size else picture


def sample_matte(image: Float[Tensor, "3 H W"], threshold: float = ImageConfig.background_threshold,
                 name: str = "the sample") -> Float[Tensor, "H W"]:
    """The object's alpha (0/1) in a generated image on a plain, grainy background; ImageError when none is
    found (the loader's rule and messages)."""
    rgb = image.clamp(0, 1).permute(1, 2, 0).cpu().numpy().astype(np.float32)
    return torch.from_numpy(separate_background(rgb, threshold, name, denoise=GRAIN))


def refine(student: OneStepStudent, images: Float[Tensor, "B 3 H W"], prompts: list[str],
           generator: torch.Generator | None = None, steps: int = REFINE_STEPS) -> Float[Tensor, "B 3 H W"]:
    """The student's images finished by the teacher's last `steps` DDIM steps of TEACHER_STEPS (0: as they are)."""
    if steps == 0:
        return images
    return ddim_sample(student.teacher, prompts, TEACHER_CFG, TEACHER_STEPS, generator, start=images, last=steps)


def finished_samples(student: OneStepStudent, prompts: list[str], generator: torch.Generator | None = None,
                     steps: int = REFINE_STEPS) -> Float[Tensor, "B 3 H W"]:
    """One student image per prompt, finished by the teacher's last `steps` DDIM steps (0: the one-step image)."""
    return refine(student, student.sample(prompts, generator), prompts, generator, steps)


def write_images(images: Float[Tensor, "B 3 H W"], names: list[str], output: Path, size: int = 256,
                 matte: bool = True) -> list[Path]:
    """output/NAME.png per image: RGBA with the object's matte (RGB where none is found, with a warning, or with
    matte=False)."""
    output.mkdir(parents=True, exist_ok=True)
    paths = []
    for image, name in zip(images, names, strict=True):
        alpha = None
        if matte:
            try:
                alpha = sample_matte(image, name=name)
            except ImageError as e:
                print(f"warning: {e}; written as RGB (image-to-3D will refuse it; sample2d --refine 5 removes a "
                      "student's grain)", file=sys.stderr)
        path = output / f"{name}.png"
        to_pil(image, size, alpha).save(path)
        paths.append(path)
    return paths


def write_samples(student_folder: Path, prompts: list[str], output: Path, samples: int = 1, seed: int = 0,
                  size: int = 256, device: str = "auto", refine_steps: int = 0) -> list[Path]:
    """`samples` PNGs per prompt in `output`; prompts and settings are checked before anything is written."""
    if samples < 1 or not 0 <= size <= MAX_SIZE or not prompts or not 0 <= refine_steps <= TEACHER_STEPS:
        raise ConfigError(f"give at least one prompt, samples >= 1, size in [0, {MAX_SIZE}] and refine in "
                          f"[0, {TEACHER_STEPS}]")
    student = OneStepStudent.from_pretrained(student_folder, device=pick_device(device))
    texts = [student.teacher.check_prompt(p) for p in prompts]
    if size and size < student.teacher.image_size:
        raise ConfigError(f"size {size} is below the prior's resolution {student.teacher.image_size} (0 keeps it)")
    generator = torch.Generator().manual_seed(seed)
    repeated = [t for t in texts for _ in range(samples)]
    images = finished_samples(student, repeated, generator, refine_steps)
    names = [f"{slug(texts[i // samples])}_{seed}_{i % samples}" for i in range(len(images))]
    return write_images(images, names, output, size)


def slug(prompt: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", prompt.lower()).strip("_")[:60] or "prompt"
