"""`convert_checkpoint`: a trained checkpoint of one field architecture into a checkpoint of another.

The result is an ordinary run folder (config.json + checkpoints/last.safetensors) whose config names the target
field, so render, export and the UI load it like any trained run.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import get_args

import torch

from scoredream.convert.pvd import DistillStep, PVDConfig, distill
from scoredream.fields import FIELD_CONFIGS, FieldConfig, FieldKind, build_field
from scoredream.run_folder import RunFolder
from scoredream.serialization import ConfigError, save_json
from scoredream.train.checkpoint import load_checkpoint, save_checkpoint


@dataclass
class ConvertResult:
    checkpoint: Path
    run_dir: Path
    source_kind: str
    target_kind: str
    copied: bool  # same architecture and size: weights were copied, no distillation
    steps: int
    seconds: float
    stopped: bool
    parameters: int
    history: list[dict[str, float]] = dataclasses.field(default_factory=list)


def default_output(checkpoint: Path, target: str) -> Path:
    """`<run>-<target>/checkpoints/last.safetensors` next to the source run folder."""
    # A loose checkpoint file (not in a run folder's checkpoints/) names the run after itself.
    holder = RunFolder.holding(checkpoint)
    run = holder.root if holder is not None else checkpoint.parent / checkpoint.stem
    return RunFolder(run.with_name(f"{run.name}-{target}")).checkpoint


def convert_checkpoint(
    path: str | Path,
    target: FieldKind,
    config: PVDConfig | None = None,
    *,
    target_config: FieldConfig | None = None,
    output: Path | None = None,
    device: str | torch.device = "cpu",
    on_step: Callable[[DistillStep], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    progress: bool = True,
) -> ConvertResult:
    """Distil the checkpoint's field into a `target` field (PVD) and save it as a checkpoint.

    `target_config` sets the student's size (default: the source run's `--<target>.*` settings). Converting to
    the same architecture and size copies the weights. Raises CheckpointError for an unreadable checkpoint and
    ConfigError for an unknown target or a config of the wrong kind."""
    if target not in get_args(FieldKind):
        raise ConfigError(f"unknown field architecture {target!r}; choose one of {list(get_args(FieldKind))}")
    config = config or PVDConfig()
    config.validate()
    ckpt = load_checkpoint(path)
    source = ckpt.config
    target_config = target_config if target_config is not None else getattr(source, target)
    if not isinstance(target_config, FIELD_CONFIGS[target]):
        raise ConfigError(f"target_config is a {type(target_config).__name__}, not a config for {target!r}")
    new_config = dataclasses.replace(source, field=target, **{target: target_config})
    output = Path(output) if output is not None else default_output(ckpt.path, target)
    run_dir = RunFolder.of(output).root
    new_config = dataclasses.replace(new_config, output_dir=run_dir.parent, run_name=run_dir.name)

    teacher = ckpt.build_field(device)
    torch.manual_seed(config.seed)
    # A copy keeps the teacher's grid layout (tiny-cuda-nn's or ours); a distilled student gets this machine's.
    copied = source.field == target and source.field_config() == target_config
    layout = getattr(teacher, "layout", None) if copied else None
    student = build_field(new_config.field_config(), device, layout=layout)
    if copied:
        student.load_state_dict(teacher.state_dict())
        steps, seconds, stopped, history = 0, 0.0, False, []
    else:
        result = distill(teacher, student, config, source.render, on_step=on_step, should_stop=should_stop,
                         progress=progress)
        steps, seconds, stopped, history = result.steps, result.seconds, result.stopped, result.history
    save_checkpoint(output, new_config, steps, {"field": student, "background": ckpt.build_background(device)})
    save_json(new_config, RunFolder(run_dir).config)
    return ConvertResult(
        checkpoint=output, run_dir=run_dir, source_kind=source.field, target_kind=target, copied=copied,
        steps=steps, seconds=seconds, stopped=stopped, parameters=sum(p.numel() for p in student.parameters()),
        history=history,
    )
