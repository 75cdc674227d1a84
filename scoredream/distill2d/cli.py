"""`scoredream distill2d` (train a one-step student) and `scoredream sample2d` (sample it): options and runs."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import tyro

from scoredream.distill2d.config import Distill2DConfig, Preset2D, preset


@dataclass
class Distill2DArgs:
    """Train a one-step text-to-image student (SwiftBrush) from a prior by score distillation: no training images,
    only prompts. Per step (B = --batch-size): the student's forward + backward on B, and the guidance's UNet calls
    as in `scoredream generate` (vsd: teacher on 2B, LoRA on B, LoRA training on B).

    Writes OUTPUT: the student (a diffusers UNet folder + scoredream_student.json), distill2d.json, training/state.pt
    (resume with --resume), training/log.jsonl and training/samples.png. Ctrl-C stops after a step, saved."""

    output: Path = Path("outputs/student2d")
    """the student folder"""
    resume: Annotated[bool, tyro.conf.FlagCreatePairsOff] = False
    """continue the run in OUTPUT from its training state (its saved settings; --steps / --minutes may lengthen it)"""
    prior: Annotated[str | None, tyro.conf.arg(metavar="MODEL")] = None
    """the teacher: embedded, a local diffusers folder or a hub id (shorthand of --prior.model)"""
    preset: Preset2D = "cpu"
    """cpu: sized for the embedded prior on a CPU (measured); swiftbrush: the paper's reference setting"""
    settings: Annotated[Distill2DConfig, tyro.conf.arg(name="")] = dataclasses.field(
        default_factory=Distill2DConfig)


@dataclass
class _Preset:
    preset: str = "cpu"


def distill2d_defaults(args: list[str]) -> Distill2DArgs:
    """distill2d's defaults: the --preset's settings (read by a first pass, so later flags override them)."""
    first, _ = tyro.cli(_Preset, args=args, return_unknown_args=True, add_help=False, prog="scoredream distill2d")
    return Distill2DArgs(preset=first.preset, settings=preset(first.preset))  # type: ignore[arg-type]


def cmd_distill2d(a: Distill2DArgs) -> int:
    from scoredream.distill2d.trainer import distill2d
    from scoredream.train.interrupt import Interrupted, stop_on_interrupt

    if a.prior is not None:
        a.settings.prior.model = a.prior
    with stop_on_interrupt() as stop:
        result = distill2d(a.settings, a.output, resume=a.resume, stop=stop)
    if stop.is_set():
        raise Interrupted(result.step, result.folder)
    kept = (f"step {result.step}" if result.best is None else
            f"the best by validation: step {result.best[0]} of {result.step}, judged accuracy "
            f"{100 * result.best[1]:.1f}% on the validation noise")
    print(f"student: {result.folder} ({kept}; {result.seconds / 60:.1f} min of training)")
    print(f"sample:  scoredream sample2d {result.folder} \"a red mug\"")
    return 0


@dataclass
class Sample2DArgs:
    """Sample images from a one-step student (one UNet call per image, no CFG): RGBA PNGs whose alpha is the
    object's matte (image-to-3D's background separation at the prior's resolution, after a median filter against
    grain), the inputs of `scoredream generate --image FILE PROMPT`. A sample without a plain background is written
    as RGB with a warning (image-to-3D refuses it): the students trained so far need --refine 5.
    `scoredream generate --text-image --student STUDENT PROMPT` does both (with --refine 5) in one command."""

    student: Annotated[Path, tyro.conf.Positional, tyro.conf.arg(metavar="STUDENT")]
    """a student folder written by `scoredream distill2d`, or `embedded`: the shipped student (assets/student2d)"""
    prompts: Annotated[tuple[str, ...], tyro.conf.Positional, tyro.conf.arg(metavar="PROMPT")]
    """one or more prompts, e.g. "a red mug" "a blue torus" """
    output: Path = Path("outputs/samples2d")
    """folder of the PNGs (PROMPT_SEED_N.png)"""
    samples: int = 1
    """images per prompt"""
    seed: int = 0
    size: int = 256
    """side of the written PNGs in pixels (bicubic upscaling of the prior's resolution); 0: the prior's own"""
    refine: int = 0
    """then the teacher's last N DDIM steps (of 25, CFG 2) finish each image: 5 removes the grain that keeps
    image-to-3D from finding the object (README); 0: the one-step image"""
    device: str = "auto"


def sample2d_options(_: list[str]) -> type[Sample2DArgs]:
    return Sample2DArgs


def cmd_sample2d(a: Sample2DArgs) -> int:
    from scoredream.distill2d.sample import write_samples

    for path in write_samples(a.student, list(a.prompts), a.output, a.samples, a.seed, a.size, a.device,
                              a.refine):
        print(path)
    return 0
