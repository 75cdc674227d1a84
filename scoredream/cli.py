"""`scoredream` command line: tyro parses every command's options; each command calls the library."""

from __future__ import annotations

import dataclasses
import importlib
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, Union

import tyro

from scoredream.amortized import cli as amortized_cli  # torch-free until its command runs
from scoredream.export.config import ExportConfig  # no torch: `scoredream --help` stays fast
from scoredream.run_folder import RunFolder

if TYPE_CHECKING:  # both import torch: loaded when their command runs
    from scoredream.convert.args import ConvertArgs
    from scoredream.train.config import GenerateConfig


@dataclass
class GenerateArgs:
    """Turn a text prompt into a 3D object by score distillation.

    Per-step cost in UNet calls (B = --train.batch-size; Perp-Neg adds 2B to the guided call):
      sds = one call on 2B; asd = one call on 3B;
      vsd = pretrained call on 2B + LoRA call on B (2B if --vsd.lora-guidance-scale != 1) + LoRA training
            forward/backward on B, all times --vsd.particles.

    Outputs go to OUTPUT_DIR/RUN_NAME: config.json, checkpoints/last.safetensors, previews/, turntable.mp4."""

    prompt: Annotated[str | None, tyro.conf.Positional, tyro.conf.arg(metavar="[PROMPT]")] = None
    """text prompt, e.g. "a red mug" (optional with --config: the file's prompt)"""
    config: Annotated[Path | None, tyro.conf.arg(metavar="FILE")] = None
    """start from a saved config.json (a run folder's, or your own); later flags override it (--preset too)"""
    resume: Annotated[bool, tyro.conf.FlagCreatePairsOff] = False
    """continue the run in the same folder from its last checkpoint"""
    image: Annotated[Path | None, tyro.conf.arg(metavar="FILE")] = None
    """an input image (PNG/JPEG; RGBA, or RGB on a plain background): image to 3D, or text plus image with a
    PROMPT (same as --image.path; its camera and losses are under --image.*)"""
    text_image: Annotated[bool, tyro.conf.FlagCreatePairsOff] = False
    """text -> image -> 3D: draw PROMPT's image first (the prior's 25-step DDIM at CFG 2, or --student's one
    step), matte its object, then run image to 3D with the prompt; the run folder keeps the image (input.png)"""
    student: Annotated[Path | None, tyro.conf.arg(metavar="FOLDER")] = None
    """with --text-image: a one-step student (a `scoredream distill2d` folder, or `embedded`: the shipped one) draws
    the image instead of the prior, which finishes it in its last 5 DDIM steps (they remove the student's grain)"""
    settings: Annotated[GenerateConfig, tyro.conf.arg(name="")] = dataclasses.field(
        default_factory=lambda: GenerateConfig())


@dataclass
class _ConfigFile:
    """generate's first pass: only --config and --preset, whose values become the defaults of the second."""

    config: Path | None = None
    preset: str | None = None


@dataclass
class RenderArgs:
    """Render a turntable video of a trained checkpoint."""

    checkpoint: Annotated[Path, tyro.conf.Positional]
    """a checkpoint file (.safetensors) or a run folder"""
    output: Path | None = None
    """video path (default: turntable.<format> next to the run)"""
    frames: int = 60
    fps: int = 20
    resolution: int = 256
    elevation: float = 15.0
    format: Literal["mp4", "gif"] = "mp4"
    device: str = "auto"


@dataclass
class ExportArgs:
    """Export a trained field's surface as a clean, coloured triangle mesh (marching cubes on its density).

    Files are +Y up in metres as glTF expects: world (x, y, z) -> file (y, z, x) * scale (our world is +Z up with
    the front facing +X); --up z keeps world axes."""

    checkpoint: Annotated[Path, tyro.conf.Positional]
    """a checkpoint file (.safetensors) or a run folder"""
    output: Path | None = None
    """mesh path (default: mesh.<format> in the run folder)"""
    device: str = "auto"
    """cpu, cuda, ... or auto"""
    mesh: Annotated[ExportConfig, tyro.conf.arg(name="")] = dataclasses.field(default_factory=ExportConfig)


def _generate_defaults(args: list[str]) -> GenerateArgs:
    """generate's defaults: GenerateConfig's, or a --config file's (read by a first pass, so later flags override)."""
    global GenerateConfig  # from here on GenerateArgs.settings' annotation resolves (not at import: torch)
    from scoredream.serialization import load_json
    from scoredream.train.config import GenerateConfig

    first, _ = tyro.cli(_ConfigFile, args=args, return_unknown_args=True, add_help=False, prog="scoredream generate")
    settings = load_json(GenerateConfig, first.config) if first.config else GenerateConfig()
    if first.preset is not None:
        from scoredream.train.presets import apply_preset

        apply_preset(settings, first.preset)  # type: ignore[arg-type]  (an unknown name: a ConfigError)
    return GenerateArgs(config=first.config, settings=settings)


def cmd_generate(a: GenerateArgs) -> int:
    from scoredream.serialization import ConfigError
    from scoredream.train import generate

    if a.prompt is not None:
        a.settings.prompt = a.prompt
    if a.image is not None:
        a.settings.image.path = a.image
    if a.text_image:
        from scoredream.distill2d.text_image import text_image_3d

        if a.settings.image.enabled:
            raise ConfigError("--text-image draws the input image from the prompt; give no --image")
        result = text_image_3d(a.settings, a.student, resume=a.resume)
    elif a.student is not None:
        raise ConfigError("--student draws the input image of --text-image; add --text-image")
    else:
        result = generate(a.settings, resume=a.resume)
    print(f"run folder: {result.run_dir}")
    if a.text_image:
        print(f"image:      {next(result.run_dir.glob('input.*'))}")
    print(f"checkpoint: {result.checkpoint} (step {result.step})")
    if result.video:
        print(f"video:      {result.video}")
    if result.mesh:
        print(f"mesh:       {result.mesh}")
    print("seconds:    " + ", ".join(f"{stage} {s:.1f}" for stage, s in result.seconds.items()))
    return 0


def cmd_render(a: RenderArgs) -> int:
    from scoredream.device import pick_device
    from scoredream.train import load_checkpoint
    from scoredream.train.video import turntable_frames, write_video

    ckpt = load_checkpoint(a.checkpoint)
    device = pick_device(a.device)
    field, background = ckpt.build_field(device), ckpt.build_background(device)
    v = ckpt.config.video
    frames = turntable_frames(field, background, a.frames, a.resolution, a.elevation, v.distance, v.fovy,
                              ckpt.config.render)
    out = write_video(frames, a.output or RunFolder.of(ckpt.path).turntable(a.format), a.fps)
    print(f"video: {out}")
    return 0


def cmd_export(a: ExportArgs) -> int:
    from scoredream.device import pick_device
    from scoredream.export import export_mesh
    from scoredream.train import load_checkpoint

    a.mesh.validate()  # settings first: a typo fails before the checkpoint loads
    ckpt = load_checkpoint(a.checkpoint)
    field = ckpt.build_field(pick_device(a.device))
    result = export_mesh(field, a.output or RunFolder.of(ckpt.path).mesh(a.mesh.format), a.mesh)
    print(f"mesh: {result.path} ({result.num_vertices} vertices, {result.num_faces} faces, "
          f"density threshold {result.threshold:.4g}, {sum(result.seconds.values()):.1f} s)")
    for extra in result.files[:-1]:
        print(f"      {extra}")
    return 0


def _convert_args(_: list[str]) -> type[ConvertArgs]:
    from scoredream.convert.args import ConvertArgs  # imports torch

    return ConvertArgs


def cmd_convert(a: ConvertArgs) -> int:
    from scoredream.convert import convert_checkpoint
    from scoredream.device import pick_device

    result = convert_checkpoint(a.checkpoint, a.to, a.pvd, target_config=a.target_config(), output=a.output,
                                device=pick_device(a.device))
    how = "weights copied" if result.copied else f"distilled in {result.steps} steps, {result.seconds:.1f} s"
    print(f"converted {result.source_kind} -> {result.target_kind} ({how}, {result.parameters:,} parameters)")
    print(f"run folder: {result.run_dir}")
    print(f"checkpoint: {result.checkpoint}")
    return 0


@dataclass
class UIArgs:
    """Serve the Gradio app; jobs run in this process and outlive the browser tab."""

    host: str = "127.0.0.1"
    """interface to listen on (0.0.0.0 exposes the app to the network)"""
    port: int = 7860
    """port to listen on"""
    outputs: Path = Path("outputs")
    """folder of run folders; the app reads and writes files only under it"""
    share: bool = False
    """also serve the app on a temporary public gradio.live link (Gradio's share)"""
    auth: str | None = None
    """user:password that the page asks for (Gradio's auth); set it when the app is reachable by others"""


def cmd_ui(a: UIArgs) -> int:
    user, colon, password = (a.auth or "").partition(":")
    if a.auth is not None and not (user and colon and password):
        print("error: --auth takes user:password", file=sys.stderr)
        return 2
    try:
        from ui.app import launch
    except ModuleNotFoundError as e:
        if e.name != "gradio":
            raise
        print("error: the app needs gradio; install it with: pip install -e '.[ui]'", file=sys.stderr)
        return 2
    launch(a.host, a.port, a.outputs, share=a.share, auth=(user, password) if a.auth is not None else None)
    return 0


@dataclass
class DoctorArgs:
    """Report what this machine has for scoredream and what a run will use; exit status 1 when a default run would
    miss something."""

    outputs: Path = Path("outputs")
    """the output folder whose disk is checked"""


def cmd_doctor(a: DoctorArgs) -> int:
    from scoredream.doctor import main as doctor

    return doctor(["--outputs", str(a.outputs)])


def _lazy(module: str, name: str) -> Callable[..., Any]:
    """`module.name`, imported when first called (when its command runs), so `scoredream --help` stays torch-free."""
    return lambda *args: getattr(importlib.import_module(module), name)(*args)


@dataclass(frozen=True)
class Command:
    summary: str
    """one line for `scoredream --help`"""
    options: Callable[[list[str]], Any]
    """the command's arguments -> its options dataclass, or an instance of it holding the defaults"""
    run: Callable[[Any], int]


COMMANDS = {
    "generate": Command("turn a prompt into a 3D field (score distillation); writes checkpoint, previews, video",
                        _generate_defaults, cmd_generate),
    "render": Command("render a turntable video of a checkpoint", lambda _: RenderArgs, cmd_render),
    "convert": Command("convert a checkpoint to another field architecture (hashgrid, mlp, tensorf, voxel) by PVD",
                       _convert_args, cmd_convert),
    "export": Command("export a checkpoint's surface as a coloured mesh: GLB, OBJ (+ MTL + PNG) or PLY",
                      lambda _: ExportArgs, cmd_export),
    "ui": Command("open the Gradio app in a browser (generate, convert, export, past runs)", lambda _: UIArgs, cmd_ui),
    "doctor": Command("check what this machine has (torch, GPU, tiny-cuda-nn, open3d, ffmpeg, the embedded prior, "
                      "disk) and what a run will use", lambda _: DoctorArgs, cmd_doctor),
    "amortized": Command("train one text-conditioned generator over a prompt corpus (ASD, torchrun for several "
                         "processes), or sample objects from it", amortized_cli.options, amortized_cli.run),
    "distill2d": Command("train a one-step text-to-image student (SwiftBrush: VSD of its own images)",
                         _lazy("scoredream.distill2d.cli", "distill2d_defaults"),
                         _lazy("scoredream.distill2d.cli", "cmd_distill2d")),
    "sample2d": Command("sample PNGs from a one-step student in one UNet call each",
                        _lazy("scoredream.distill2d.cli", "sample2d_options"),
                        _lazy("scoredream.distill2d.cli", "cmd_sample2d")),
}


@dataclass
class _Unloaded:
    """Stands for a command that is listed but not run, so that its options (maybe torch's) are not built."""


def _subcommand(name: str, argv: list[str]) -> Any:
    """Command `name` as a member of tyro's Union: its real options only when argv runs it."""
    if not argv or argv[0] != name:
        return Annotated[_Unloaded, tyro.conf.subcommand(name, description=COMMANDS[name].summary)]
    options = COMMANDS[name].options(argv[1:])
    if isinstance(options, type):
        return Annotated[options, tyro.conf.subcommand(name)]
    return Annotated[type(options), tyro.conf.subcommand(name, default=options)]


def _run(argv: list[str]) -> int:
    commands = Union[tuple(_subcommand(name, argv) for name in COMMANDS)]  # noqa: UP007 (built at run time)
    args = tyro.cli(commands, args=argv or ["--help"], prog="scoredream",
                    description="Text to 3D by score distillation. `scoredream COMMAND --help` lists its options.")
    return COMMANDS[argv[0]].run(args)  # tyro exits unless argv[0] names a command


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    from scoredream.errors import USER_ERRORS  # torch-free, like everything `scoredream --help` imports

    try:
        return _run(argv)
    except USER_ERRORS as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as e:
        from scoredream.train.interrupt import Interrupted

        saved = isinstance(e, Interrupted)
        print(str(e) if saved else "interrupted; the last checkpoint written is kept (resume with --resume)",
              file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
