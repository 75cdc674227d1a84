"""Trained generator + prompt -> an ordinary run folder (config, checkpoint, turntable, mesh) in one forward pass."""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from scoredream.amortized.checkpoint import GeneratorCheckpoint, load_generator_checkpoint
from scoredream.amortized.generators import TextToField
from scoredream.device import pick_device
from scoredream.export import EmptySurfaceError, export_mesh
from scoredream.fields import Field
from scoredream.priors import DiffusionPrior, PromptEmbeddings
from scoredream.render.background import Background
from scoredream.run_folder import RunFolder, RunFolderExists
from scoredream.serialization import save_json
from scoredream.train.checkpoint import save_checkpoint
from scoredream.train.config import GenerateConfig
from scoredream.train.preflight import check_run_can_finish
from scoredream.train.video import turntable_frames, write_video


@dataclass
class LoadedGenerator:
    """A trained generator ready to turn prompts into fields (what the CLI and the app hold on to)."""

    checkpoint: GeneratorCheckpoint
    prior: DiffusionPrior
    generator: TextToField
    background: Background

    @classmethod
    def load(cls, path: str | Path, device: str = "auto", prior: DiffusionPrior | None = None) -> LoadedGenerator:
        ckpt = load_generator_checkpoint(path)
        where = pick_device(device)
        prior = prior if prior is not None else ckpt.config.prior.setup(where)
        return cls(ckpt, prior, ckpt.build_generator(prior, where), ckpt.build_background(where))

    @torch.no_grad()
    def field(self, prompt: str) -> Field:
        """The prompt's object as an ordinary field (a PromptError for an empty or over-long prompt)."""
        c = self.checkpoint.config
        text = PromptEmbeddings(self.prior, prompt, c.negative_prompt, c.prompts).plain
        device = next(self.generator.parameters()).device
        return self.generator.field(self.generator(text.to(device)), 0).bake()

    def object_config(self, prompt: str, output_dir: Path) -> GenerateConfig:
        return self.checkpoint.config.object_config(prompt, self.checkpoint.step, output_dir)


@dataclass
class SampledObject:
    prompt: str
    run_dir: Path
    checkpoint: Path
    milliseconds: float  # text -> field (embedding, generator forward, baking)
    video: Path | None = None
    mesh: Path | None = None


def sample_object(loaded: LoadedGenerator, prompt: str, output_dir: Path, *, video: bool = True,
                  mesh: bool = True, on_frame: Callable[[int, int], None] | None = None) -> SampledObject:
    """Write the prompt's object as a run folder under `output_dir` that `render`, `export` and `convert` read."""
    config = loaded.object_config(prompt, output_dir)
    config.video.enabled, config.export.enabled = video and config.video.enabled, mesh and config.export.enabled
    config.validate()
    t0 = time.perf_counter()
    field = loaded.field(prompt)  # a prompt too long for the text encoder fails here, before anything is written
    ms = 1000 * (time.perf_counter() - t0)
    folder = RunFolder(config.run_dir())
    check_run_can_finish(config, folder)
    with folder.lock():
        if folder.holds_run():
            raise RunFolderExists(f"{folder.root} already holds a run; sample into another --output-dir")
        save_json(config, folder.config)
        save_checkpoint(folder.checkpoint, config, loaded.checkpoint.step,
                        {"field": field, "background": loaded.background})
        result = SampledObject(prompt, folder.root, folder.checkpoint, ms)
        if config.video.enabled:
            v = config.video
            frames = turntable_frames(field, loaded.background, v.frames, v.resolution, v.elevation, v.distance,
                                      v.fovy, config.render, on_frame)
            result.video = write_video(frames, folder.turntable(v.format), v.fps)
        if config.export.enabled:
            try:
                result.mesh = export_mesh(field, folder.mesh(config.export.format), config.export).path
            except EmptySurfaceError as e:
                warnings.warn(f"no mesh for {prompt!r}: {e}", stacklevel=2)
        return result
