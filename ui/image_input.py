"""The Generate tab's image input: examples from the shapes world, and the input view beside the result's render
from the same camera."""

from __future__ import annotations

from pathlib import Path

import gradio as gr
import numpy as np
import torch
from PIL import Image

from scoredream.image import ImageConfig, load_reference, render_reference
from scoredream.render.cameras import make_cameras
from scoredream.train import load_checkpoint
from scoredream.world.render import WorldRenderConfig, render_world
from scoredream.world.shapes import parse_prompt

IMAGE_EXAMPLES = (("a red cube", 30.0), ("a cyan mug", -40.0), ("a purple torus", 60.0), ("a yellow cone", 0.0))
"""(object, the azimuth it is seen from): each seen from the default input camera's elevation, distance and fovy,
so that the assumed camera is right; the mug from its front-left, with the handle in view."""
EXAMPLE_SIZE = 64
EXAMPLES_FOLDER = ".image_examples"
"""under the app's outputs folder (not a run folder: it has no config.json)"""
IMAGE_HELP = ("**Image to 3D**: drop an image of one object (RGBA, or on a plain background) to reconstruct it; "
              "with a prompt as well, the text prior guides too (text plus image). The image is taken as seen from "
              "elevation 15, distance 1.75, fovy 50 (the `image` section of the overrides changes that).")


def example_images(outputs: Path) -> list[str]:
    """The shapes world's objects as RGBA PNGs (rendered once, into the outputs folder, which the app serves)."""
    folder = outputs / EXAMPLES_FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    default = ImageConfig()
    paths = []
    for prompt, azimuth in IMAGE_EXAMPLES:
        path = folder / f"{prompt.replace(' ', '-')}.png"
        if not path.exists():
            one = torch.ones(1)
            camera = make_cameras(one * azimuth, one * default.elevation, one * default.distance, one * default.fovy)
            colour, shape = parse_prompt(prompt)
            rgb, alpha = render_world(shape, colour, camera, WorldRenderConfig(resolution=EXAMPLE_SIZE))
            a = alpha[0].permute(1, 2, 0).numpy()
            straight = np.clip((rgb[0].permute(1, 2, 0).numpy() - (1 - a)) / np.maximum(a, 1e-6), 0, 1)
            rgba = (np.concatenate([straight, a], -1) * 255).round().astype(np.uint8)
            Image.fromarray(rgba, "RGBA").save(path)
        paths.append(str(path))
    return paths


@torch.no_grad()
def save_input_view(checkpoint: Path, device: str, path: Path, size: int = 128) -> Path:
    """The input image (on white) beside the finished field rendered from the input camera, lit as the run's
    reference losses light it, as one PNG."""
    ckpt = load_checkpoint(checkpoint)
    config = ckpt.config
    reference = load_reference(config.image, size).to(device)
    out = render_reference(ckpt.build_field(device), reference, config.render, config.shading, training=False)
    pair = torch.cat([reference.rgb.permute(1, 2, 0), out.rgb[0].clamp(0, 1)], 1)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray((pair * 255).round().byte().cpu().numpy()).save(path)
    return path


def image_input(outputs: Path) -> gr.Image:
    """The Generate tab's optional input image (image to 3D; with a prompt, text plus image) and its examples."""
    with gr.Accordion("Image to 3D (optional input image)", open=False, elem_id="image-accordion"):
        gr.Markdown(IMAGE_HELP)
        # image_mode None: the file as uploaded (an RGBA's alpha, or RGB whose background is separated)
        image = gr.Image(label="Input image", type="filepath", image_mode=None, sources=["upload", "clipboard"],
                         height=180, elem_id="input-image")
        gr.Examples(example_images(outputs), [image], label="Shapes-world examples (a click fills the image)",
                    example_labels=[prompt for prompt, _ in IMAGE_EXAMPLES], elem_id="image-examples")
    return image
