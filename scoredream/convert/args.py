"""Command-line arguments of `scoredream convert` (kept here so `scoredream --help` never imports torch)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import tyro

from scoredream.convert.pvd import PVDConfig
from scoredream.fields import FIELD_CONFIGS, FieldConfig, FieldKind

# One section per field architecture (--hashgrid.*, --mlp.*, ...), read from the one list of them.
FieldSections = dataclasses.make_dataclass(
    "FieldSections", [(kind, cls, dataclasses.field(default_factory=cls)) for kind, cls in FIELD_CONFIGS.items()]
)


@dataclass
class ConvertArgs:
    """Convert a checkpoint to another field architecture by progressive volume distillation (PVD), data-free.

    The student's size comes from --<to>.* (hashgrid, mlp, tensorf, voxel); left at their defaults, the source
    run's own settings for that architecture are used, so converting to the same architecture copies weights."""

    checkpoint: Annotated[Path, tyro.conf.Positional]
    """a checkpoint file (.safetensors) or a run folder"""
    to: FieldKind
    """target field architecture"""
    output: Path | None = None
    """checkpoint path to write (default: <run>-<to>/checkpoints/last.safetensors next to the source run)"""
    device: str = "auto"
    """cpu, cuda, ... or auto"""
    pvd: PVDConfig = dataclasses.field(default_factory=PVDConfig)
    fields: Annotated[FieldSections, tyro.conf.arg(name="")] = dataclasses.field(default_factory=FieldSections)

    def target_config(self) -> FieldConfig | None:
        """The student's config if any --<to>.* flag changed it, else None (use the source run's)."""
        chosen = getattr(self.fields, self.to)
        return None if chosen == FIELD_CONFIGS[self.to]() else chosen
