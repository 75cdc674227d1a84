"""The input image of a run: read from the user's file for a new run, from the run folder's copy on resume."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from scoredream.image.config import ImageConfig
from scoredream.image.reference import ReferenceView, load_reference
from scoredream.run_folder import RunFolder
from scoredream.serialization import ConfigError

if TYPE_CHECKING:
    from scoredream.train.config import GenerateConfig


def run_image_path(config: ImageConfig, folder: RunFolder, resume: bool) -> Path:
    """The file a run reads its input image from: on resume the run folder's copy (the image the run started
    from), which the given file must equal; else the given file."""
    assert config.path is not None
    copies = sorted(folder.root.glob("input.*")) if resume else []
    if not copies:
        return config.path
    copy = copies[0]
    given = Path(config.path)
    if given.resolve() != copy.resolve() and given.is_file() and given.read_bytes() != copy.read_bytes():
        raise ConfigError(f"the run in {folder.root} started from another image ({copy}); resume it without "
                          "--image.path, or start a new run under another --run-name")
    return copy


def keep_input_image(config: ImageConfig, folder: RunFolder) -> ImageConfig:
    """Copy the input image into the run folder; the returned config names the copy (config.json records it, so
    the run folder alone can be resumed)."""
    assert config.path is not None
    copy = folder.input_image(Path(config.path).suffix or ".png")
    if Path(config.path).resolve() != copy.resolve():
        shutil.copyfile(config.path, copy)
    return dataclasses.replace(config, path=copy)


def load_run_reference(config: GenerateConfig, folder: RunFolder,
                       resume: bool) -> tuple[ImageConfig, ReferenceView] | None:
    """The input view of an image run (None for a text run), with the image settings naming the file it was read
    from; ImageError or ConfigError for an image that cannot be used."""
    if not config.image.enabled:
        return None
    image = dataclasses.replace(config.image, path=run_image_path(config.image, folder, resume))
    return image, load_reference(image, image.resolution or config.train.resolution, config.cameras)
