"""A student's images as PNG files: RGB on the prior's plain background, optionally upscaled (image-to-3D input)."""

from __future__ import annotations

import re
from pathlib import Path

import torch
from jaxtyping import Float
from PIL import Image
from torch import Tensor

from scoredream.device import pick_device
from scoredream.distill2d.student import OneStepStudent
from scoredream.serialization import ConfigError

MAX_SIZE = 2048


def to_pil(image: Float[Tensor, "3 H W"], size: int = 0) -> Image.Image:
    """An image in [0, 1] as an RGB PIL image, bicubic-upscaled to size x size (0: as it is)."""
    array = (image.clamp(0, 1).permute(1, 2, 0) * 255).round().byte().cpu().numpy()
    picture = Image.fromarray(array, mode="RGB")
    return picture.resize((size, size), Image.Resampling.BICUBIC) if size else picture


def write_samples(student_folder: Path, prompts: list[str], output: Path, samples: int = 1, seed: int = 0,
                  size: int = 256, device: str = "auto") -> list[Path]:
    """`samples` PNGs per prompt in `output`; prompts and settings are checked before anything is written."""
    if samples < 1 or not 0 <= size <= MAX_SIZE or not prompts:
        raise ConfigError(f"give at least one prompt, samples >= 1 and size in [0, {MAX_SIZE}]")
    student = OneStepStudent.from_pretrained(student_folder, device=pick_device(device))
    texts = [student.teacher.check_prompt(p) for p in prompts]
    if size and size < student.teacher.image_size:
        raise ConfigError(f"size {size} is below the prior's resolution {student.teacher.image_size} (0 keeps it)")
    generator = torch.Generator().manual_seed(seed)
    images = student.sample([t for t in texts for _ in range(samples)], generator)
    output.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, image in enumerate(images):
        path = output / f"{slug(texts[i // samples])}_{seed}_{i % samples}.png"
        to_pil(image, size).save(path)
        paths.append(path)
    return paths


def slug(prompt: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", prompt.lower()).strip("_")[:60] or "prompt"
