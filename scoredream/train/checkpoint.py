"""Checkpoints: weights in safetensors with the run's config as metadata; optimiser and RNG state in a
tensors-only torch file loaded with weights_only=True. Both are written to a temporary name, then renamed."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar, runtime_checkable

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import Tensor, nn

from scoredream.errors import CheckpointError
from scoredream.fields import Field, build_field
from scoredream.fields.hashgrid import GridLayoutError, state_layout
from scoredream.render.background import Background
from scoredream.run_folder import CHECKPOINT_FILE, RunFolder, RunFolderExists
from scoredream.serialization import ConfigError, from_dict, to_dict
from scoredream.train.config import GenerateConfig

FORMAT = "scoredream-checkpoint/1"


@dataclass
class Checkpoint:
    config: GenerateConfig
    step: int
    tensors: dict[str, Tensor]
    path: Path

    def state(self, prefix: str) -> dict[str, Tensor]:
        return {k[len(prefix) + 1 :]: v for k, v in self.tensors.items() if k.startswith(prefix + ".")}

    def build_field(self, device: str | torch.device = "cpu") -> Field:
        """The field in the grid layout its weights were saved in, whichever backend this machine has."""
        field = build_field(self.config.field_config(), device, layout=state_layout(self.state("field")))
        load_module(field, self.state("field"), self.path)
        return field.eval()

    def build_background(self, device: str | torch.device = "cpu") -> Background:
        background = self.config.background.setup().to(device)
        load_module(background, self.state("background"), self.path)
        return background.eval()


def load_module(module: nn.Module, state: dict[str, Tensor], path: Path) -> None:
    try:
        module.load_state_dict(state)
    except GridLayoutError as e:
        raise CheckpointError(f"cannot load {path}: {e}") from e
    except RuntimeError as e:
        raise CheckpointError(f"{path} does not match its config's architecture: {e}") from e


def _atomic(path: Path, write: Any) -> None:
    """Write to a temporary name, then rename: a crash or a full disk leaves the previous file whole."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    except (OSError, SafetensorError, RuntimeError) as e:  # safetensors and torch.save wrap ENOSPC in their own types
        kept = f"; the previous {path.name} is kept" if path.exists() else ""
        raise CheckpointError(f"cannot write {path}: {e}{kept}") from e
    finally:
        tmp.unlink(missing_ok=True)


def save_checkpoint(
    path: Path, config: GenerateConfig, step: int, modules: dict[str, nn.Module], trainer_state: dict | None = None
) -> None:
    """Weights to `path`; trainer state to a file named by its step, written first, so that whatever point a
    kill -9 hits, the weights on disk always have their own step's state beside them (see `load_trainer_state`)."""
    write_checkpoint(path, FORMAT, to_dict(config), step, modules, trainer_state)


def write_checkpoint(
    path: Path, fmt: str, config: dict, step: int, modules: dict[str, nn.Module], trainer_state: dict | None
) -> None:
    """`save_checkpoint` for any checkpoint format (`fmt`) whose config is the JSON object `config`."""
    tensors = {
        f"{name}.{k}": v.detach().contiguous().cpu()
        for name, module in modules.items()
        for k, v in module.state_dict().items()
    }
    meta = {"format": fmt, "step": str(step), "config": json.dumps(config)}
    if trainer_state is not None:
        _atomic(state_path(path, step), lambda p: torch.save({**trainer_state, "step": step}, p))
    _atomic(path, lambda p: save_file(tensors, str(p), metadata=meta))
    if trainer_state is not None:  # only now are older states unreferenced
        for old in path.parent.glob(f"{path.stem}.state-*.pt"):
            if old != state_path(path, step):
                old.unlink(missing_ok=True)
        legacy_state_path(path).unlink(missing_ok=True)


def state_path(path: Path, step: int) -> Path:
    return path.with_name(f"{path.stem}.state-{step:08d}.pt")


def legacy_state_path(path: Path) -> Path:
    """Where runs written before the step-named states kept theirs."""
    return path.with_suffix(".state.pt")


def load_checkpoint(path: str | Path) -> Checkpoint:
    path = Path(path)
    if path.is_dir():
        # A run folder, or a folder holding a loose last.safetensors.
        path = RunFolder(path).checkpoint if RunFolder(path).checkpoints.is_dir() else path / CHECKPOINT_FILE
    tensors, meta = read_checkpoint(path, FORMAT, "a scoredream checkpoint")
    try:
        config = from_dict(GenerateConfig, json.loads(meta["config"]))
        step = int(meta["step"])
    except (KeyError, ValueError, ConfigError) as e:
        raise CheckpointError(f"{path} has a broken config: {e}") from e
    return Checkpoint(config=config, step=step, tensors=tensors, path=path)


def read_checkpoint(path: Path, fmt: str, what: str) -> tuple[dict[str, Tensor], dict[str, str]]:
    """The tensors and metadata of a safetensors checkpoint of format `fmt` (`what` names it in errors)."""
    if not path.exists():
        raise CheckpointError(f"no checkpoint at {path}")
    try:
        tensors = load_file(str(path))
        from safetensors import safe_open

        with safe_open(str(path), "pt") as f:
            meta = f.metadata() or {}
    except (SafetensorError, OSError, ValueError, RuntimeError) as e:
        raise CheckpointError(f"{path} is not a readable safetensors checkpoint: {e}") from e
    if meta.get("format") != fmt:
        raise CheckpointError(f"{path} is a safetensors file but not {what}")
    return tensors, meta


def load_trainer_state(path: Path, step: int) -> dict:
    """The optimiser/RNG state saved with the weights at `step` (weights_only: tensors and plain types only)."""
    candidates = [state_path(path, step), legacy_state_path(path)]
    found = next((p for p in candidates if p.exists()), None)
    if found is None:
        raise CheckpointError(f"cannot resume from {path}: no trainer state for its step {step} beside it")
    try:
        state = torch.load(found, map_location="cpu", weights_only=True)
    except Exception as e:  # unpickling errors come in many types
        raise CheckpointError(f"cannot resume from {found}: {e}") from e
    if int(state.get("step", step)) != step:
        raise CheckpointError(f"cannot resume: {found} is at step {state['step']} but {path.name} at step {step}")
    return state


@runtime_checkable  # the tests check annotations at run time (beartype)
class _Stepped(Protocol):
    step: int


Resumable = TypeVar("Resumable", bound=_Stepped)


def resume_point(folder: RunFolder, resume: bool, steps: int, load: Callable[[Path], Resumable]) -> Resumable | None:
    """The checkpoint to resume from (read by `load`), or None for a new run; refuses what would silently lose or
    relabel work: a new run over an old one, a resume of nothing, a checkpoint past the steps asked for."""
    if not resume:
        if folder.holds_run():
            raise RunFolderExists(f"the run folder {folder.root} already holds a run; continue it with --resume, or "
                                  "start a new one under another --run-name")
        return None
    if not folder.checkpoint.exists():
        raise CheckpointError(f"nothing to resume: {folder.checkpoint} does not exist (run without --resume to "
                              "start this run)")
    ckpt = load(folder.checkpoint)
    if ckpt.step > steps:
        raise ConfigError(f"the checkpoint is at step {ckpt.step}, past --train.steps {steps}; ask for at least "
                          f"{ckpt.step} steps to resume it")
    return ckpt
