"""What a run needs at its end, checked before it starts: minutes of training must not end in a missing
library, encoder or folder."""

from __future__ import annotations

import os
import shutil
import uuid
from typing import TYPE_CHECKING

from scoredream.export import ExportError
from scoredream.export.deps import export_dependencies_problem
from scoredream.run_folder import RunFolder
from scoredream.serialization import ConfigError

if TYPE_CHECKING:
    from scoredream.train.config import GenerateConfig

MIN_FREE_BYTES = 64 << 20  # a CPU-sized run writes ~10 MB (checkpoints, previews, video, mesh)


def check_run_can_finish(config: GenerateConfig, folder: RunFolder) -> None:
    check_writable(folder)
    if config.video.enabled and config.video.format == "mp4":
        ffmpeg_exe()
    if config.export.enabled:
        problem = export_dependencies_problem(config.export)
        if problem:
            raise ExportError(f"{problem}; or turn the mesh off with --export.no-enabled")


def check_writable(folder: RunFolder) -> None:
    """The output folder can be created and written, with some room left."""
    parent = folder.root.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
        probe = parent / f".scoredream-write-test-{uuid.uuid4().hex}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as e:
        raise ConfigError(f"cannot write in the output folder {parent}: {e.strerror or e}") from e
    free = shutil.disk_usage(parent).free
    if free < MIN_FREE_BYTES:
        raise ConfigError(f"only {free >> 20} MB free in {parent}; a run needs at least {MIN_FREE_BYTES >> 20} MB")


def ffmpeg_exe() -> str:
    """The ffmpeg an mp4 turntable is written with (imageio-ffmpeg's own binary, else one on PATH)."""
    try:
        import imageio_ffmpeg

        exe = imageio_ffmpeg.get_ffmpeg_exe()
    except (ImportError, RuntimeError) as e:
        raise ConfigError(f"the turntable video needs ffmpeg, which is not found ({e}); pip install imageio-ffmpeg, "
                          "or write a gif with --video.format gif") from e
    if not os.access(exe, os.X_OK):
        raise ConfigError(f"ffmpeg at {exe} is not executable; chmod +x it, or use --video.format gif")
    return exe
