"""Command-line arguments of `scoredream amortized train|sample` (imported only when that command runs: torch)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Union

import tyro

from scoredream.amortized.config import AmortizedConfig


@dataclass
class AmortizedTrainArgs:
    """Train one text-conditioned generator over a prompt corpus by score distillation (ASD by default).

    Data-parallel: `torchrun --nproc-per-node N -m scoredream.cli amortized train CORPUS ...` (gloo on CPUs, NCCL
    on GPUs); --train.prompts-per-step is the global batch, split across the N processes. Outputs go to
    OUTPUT_DIR/RUN_NAME: config.json and checkpoints/last.safetensors (the generator)."""

    corpus: Annotated[Path | None, tyro.conf.Positional, tyro.conf.arg(metavar="[CORPUS]")] = None
    """prompt corpus: ScaleDreamer prompt-library JSON or text, one prompt a line (default: --corpus)"""
    resume: Annotated[bool, tyro.conf.FlagCreatePairsOff] = False
    """continue the run in the same folder from its last checkpoint"""
    settings: Annotated[AmortizedConfig, tyro.conf.arg(name="")] = dataclasses.field(default_factory=AmortizedConfig)


@dataclass
class AmortizedSampleArgs:
    """Turn prompts into objects with a trained generator, one forward pass each: one ordinary run folder per
    prompt (config.json, checkpoints/last.safetensors, turntable, mesh) that render, export and convert read."""

    checkpoint: Annotated[Path, tyro.conf.Positional]
    """the generator: an amortized run folder or its checkpoint file"""
    prompts: Annotated[tuple[str, ...], tyro.conf.Positional]
    """one or more prompts"""
    output_dir: Path = Path("outputs")
    """folder the objects' run folders go to"""
    device: str = "auto"
    """cpu, cuda, ... or auto"""
    video: bool = True
    """render each object's turntable"""
    mesh: bool = True
    """export each object's mesh"""


@dataclass
class AmortizedArgs:
    """Amortized text-to-3D: `train` a generator over a prompt corpus, `sample` objects from it."""

    command: Annotated[
        Union[  # noqa: UP007 (tyro reads the subcommand names from the Annotated members)
            Annotated[AmortizedTrainArgs, tyro.conf.subcommand("train")],
            Annotated[AmortizedSampleArgs, tyro.conf.subcommand("sample")],
        ],
        tyro.conf.arg(name=""),
    ]
