"""Renders of a field for people: turntables (mp4 through imageio-ffmpeg, or gif) and training previews."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import imageio.v3 as iio
import numpy as np
import torch
from PIL import Image

from scoredream.fields import Field
from scoredream.render.background import Background
from scoredream.render.cameras import orbit_cameras
from scoredream.render.occupancy import OccupancyGrid
from scoredream.render.volume import RenderConfig, render

if TYPE_CHECKING:
    from scoredream.train.config import GenerateConfig


@torch.no_grad()
def turntable_frames(
    field: Field,
    background: Background,
    frames: int = 60,
    resolution: int = 128,
    elevation: float = 15.0,
    distance: float = 1.75,
    fovy: float = 50.0,
    render_config: RenderConfig | None = None,
    on_frame: Callable[[int, int], None] | None = None,
) -> np.ndarray:
    """`on_frame(done, frames)` after each frame (for progress bars)."""
    device = next(field.parameters()).device
    cams = orbit_cameras(frames, elevation, distance, fovy).to(device)
    radius = (render_config or RenderConfig()).radius
    occupancy = OccupancyGrid.of(field, bound=radius)  # built once, skips empty space in every frame
    out = []
    for i in range(frames):
        rgb = render(field, cams[i], resolution, resolution, background, render_config, occupancy=occupancy).rgb[0]
        out.append((rgb.clamp(0, 1) * 255).round().byte().cpu().numpy())
        if on_frame is not None:
            on_frame(i + 1, frames)
    return np.stack(out)


def write_video(frames: np.ndarray, path: Path, fps: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".tmp-{path.name}")
    if path.suffix == ".gif":
        iio.imwrite(tmp, frames, extension=".gif", duration=1000 / fps, loop=0)
    else:
        iio.imwrite(tmp, frames, extension=path.suffix, fps=fps, codec="libx264", macro_block_size=1)
    tmp.replace(path)
    return path


@torch.no_grad()
def save_preview(field_: Field, background: Background, config: GenerateConfig, path: Path, views: int = 4,
                 resolution: int = 64) -> Path:
    """A row of `views` orbit renders (the video's elevation, distance and fov), written as a PNG."""
    v = config.video
    cams = orbit_cameras(views, v.elevation, v.distance, v.fovy).to(next(field_.parameters()).device)
    rgb = render(field_, cams, resolution, resolution, background, config.render).rgb
    row = (rgb.clamp(0, 1) * 255).round().byte().cpu().numpy()
    Image.fromarray(np.concatenate(list(row), axis=1)).save(path)
    return path
