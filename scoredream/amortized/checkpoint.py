"""A generator's checkpoint: its weights (+ background, + VSD's LoRA) in safetensors with the run's config as
metadata, beside a tensors-only trainer state, written as `scoredream.train.checkpoint` writes a field's."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor, nn

from scoredream.amortized.config import AmortizedConfig
from scoredream.amortized.generators import TextToField
from scoredream.errors import CheckpointError
from scoredream.priors import DiffusionPrior
from scoredream.render.background import Background
from scoredream.run_folder import CHECKPOINT_FILE, RunFolder
from scoredream.serialization import ConfigError, from_dict, to_dict
from scoredream.train.checkpoint import load_module, read_checkpoint, write_checkpoint

FORMAT = "scoredream-amortized/1"


@dataclass
class GeneratorCheckpoint:
    config: AmortizedConfig
    step: int
    tensors: dict[str, Tensor]
    path: Path

    def state(self, prefix: str) -> dict[str, Tensor]:
        return {k[len(prefix) + 1 :]: v for k, v in self.tensors.items() if k.startswith(prefix + ".")}

    def build_generator(self, prior: DiffusionPrior, device: str | torch.device = "cpu") -> TextToField:
        """The generator to sample from: its averaged weights where the run keeps an average that has begun
        (`train.average_from`), else its last weights."""
        generator = build_generator(self.config, prior).to(device)
        load_module(generator, self.generator_state(), self.path)
        return generator.eval()

    def generator_state(self) -> dict[str, Tensor]:
        begun = self.tensors.get("average.n_averaged")  # AveragedModel's count of the weights it has averaged
        return self.state("average.module") if begun is not None and int(begun) > 0 else self.state("generator")

    def build_background(self, device: str | torch.device = "cpu") -> Background:
        background = self.config.background.setup().to(device)
        load_module(background, self.state("background"), self.path)
        return background.eval()


def build_generator(config: AmortizedConfig, prior: DiffusionPrior) -> TextToField:
    """The generator for texts of the prior's shape (tokens x width), initialised from the run's seed."""
    text_shape = tuple(prior.encode_text([""]).shape[1:])
    torch.manual_seed(config.train.seed)
    return config.generator_config().setup(text_shape)  # type: ignore[arg-type]


def save_generator(path: Path, config: AmortizedConfig, step: int, modules: dict[str, nn.Module],
                   trainer_state: dict | None = None) -> None:
    write_checkpoint(path, FORMAT, to_dict(config), step, modules, trainer_state)


def load_generator_checkpoint(path: str | Path) -> GeneratorCheckpoint:
    """From the checkpoint file or its amortized run folder."""
    path = Path(path)
    if path.is_dir():
        path = RunFolder(path).checkpoint if RunFolder(path).checkpoints.is_dir() else path / CHECKPOINT_FILE
    tensors, meta = read_checkpoint(path, FORMAT, "a generator checkpoint of `scoredream amortized train` (an "
                                    "object's checkpoint goes to render/export instead)")
    try:
        config = from_dict(AmortizedConfig, json.loads(meta["config"]))
        step = int(meta["step"])
    except (KeyError, ValueError, ConfigError) as e:
        raise CheckpointError(f"{path} has a broken config: {e}") from e
    return GeneratorCheckpoint(config, step, tensors, path)
