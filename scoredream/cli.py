"""`scoredream` command line: thin wrappers that parse a config and call the library."""

from __future__ import annotations

import dataclasses
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

import tyro

from scoredream.export.config import ExportConfig  # no torch: `scoredream --help` stays fast
from scoredream.run_folder import RunFolder

COMMANDS = {
    "generate": "turn a prompt into a 3D field (score distillation); writes checkpoint, previews, video",
    "render": "render a turntable video of a checkpoint",
    "convert": "convert a checkpoint to another field architecture (hashgrid, mlp, tensorf, voxel) by PVD",
    "export": "export a checkpoint's surface as a coloured mesh: GLB, OBJ (+ MTL + PNG) or PLY",
    "ui": "open the Gradio app in a browser (generate, convert, export, past runs)",
    "doctor": "check what this machine has (torch, GPU, tiny-cuda-nn, open3d, ffmpeg, the embedded prior, disk) and "
    "what a run will use",
}

GENERATE_HELP = """Turn a text prompt into a 3D object by score distillation.

Usage: scoredream generate PROMPT [--config FILE] [--resume] [OPTIONS]

  PROMPT           text prompt, e.g. "a red mug"
  --config FILE    start from a saved config.json (a run folder's, or your own); later flags override it
  --resume         continue the run in the same folder from its last checkpoint

Per-step cost in UNet calls (B = --train.batch-size; Perp-Neg adds 2B to the guided call):
  sds = one call on 2B; asd = one call on 3B;
  vsd = pretrained call on 2B + LoRA call on B (2B if --vsd.lora-guidance-scale != 1) + LoRA training
        forward/backward on B, all times --vsd.particles.
Outputs go to OUTPUT_DIR/RUN_NAME: config.json, checkpoints/last.safetensors, previews/, turntable.mp4."""


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


def _pop_option(args: list[str], name: str, takes_value: bool) -> tuple[list[str], str | bool | None]:
    for i, a in enumerate(args):
        if a == name:
            if not takes_value:
                return args[:i] + args[i + 1 :], True
            if i + 1 >= len(args):
                raise SystemExit(f"error: {name} needs a value")
            return args[:i] + args[i + 2 :], args[i + 1]
        if takes_value and a.startswith(name + "="):
            return args[:i] + args[i + 1 :], a.split("=", 1)[1]
    return args, None


def cmd_generate(args: list[str]) -> int:
    from scoredream.serialization import load_json
    from scoredream.train import GenerateConfig, generate

    args, config_file = _pop_option(args, "--config", True)
    args, resume = _pop_option(args, "--resume", False)
    if any(a in ("-h", "--help") for a in args):
        print(GENERATE_HELP, end="\n\n")
    prompt = None
    if args and not args[0].startswith("-"):
        prompt, args = args[0], args[1:]
    default = load_json(GenerateConfig, Path(str(config_file))) if config_file else GenerateConfig()
    config = tyro.cli(GenerateConfig, default=default, args=args, prog="scoredream generate")
    if prompt is not None:
        config.prompt = prompt
    result = generate(config, resume=bool(resume))
    print(f"run folder: {result.run_dir}")
    print(f"checkpoint: {result.checkpoint} (step {result.step})")
    if result.video:
        print(f"video:      {result.video}")
    if result.mesh:
        print(f"mesh:       {result.mesh}")
    return 0


def cmd_render(args: list[str]) -> int:
    from scoredream.device import pick_device
    from scoredream.train import load_checkpoint
    from scoredream.train.video import turntable_frames, write_video

    a = tyro.cli(RenderArgs, args=args, prog="scoredream render")
    ckpt = load_checkpoint(a.checkpoint)
    device = pick_device(a.device)
    field, background = ckpt.build_field(device), ckpt.build_background(device)
    v = ckpt.config.video
    frames = turntable_frames(field, background, a.frames, a.resolution, a.elevation, v.distance, v.fovy,
                              ckpt.config.render)
    out = write_video(frames, a.output or RunFolder.of(ckpt.path).turntable(a.format), a.fps)
    print(f"video: {out}")
    return 0


def cmd_export(args: list[str]) -> int:
    from scoredream.device import pick_device
    from scoredream.export import export_mesh
    from scoredream.train import load_checkpoint

    a = tyro.cli(ExportArgs, args=args, prog="scoredream export")
    a.mesh.validate()  # settings first: a typo fails before the checkpoint loads
    ckpt = load_checkpoint(a.checkpoint)
    field = ckpt.build_field(pick_device(a.device))
    result = export_mesh(field, a.output or RunFolder.of(ckpt.path).mesh(a.mesh.format), a.mesh)
    print(f"mesh: {result.path} ({result.num_vertices} vertices, {result.num_faces} faces, "
          f"density threshold {result.threshold:.4g}, {sum(result.seconds.values()):.1f} s)")
    for extra in result.files[:-1]:
        print(f"      {extra}")
    return 0


def cmd_convert(args: list[str]) -> int:
    from scoredream.convert import convert_checkpoint
    from scoredream.convert.args import ConvertArgs
    from scoredream.device import pick_device

    a = tyro.cli(ConvertArgs, args=args, prog="scoredream convert")
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


def cmd_ui(args: list[str]) -> int:
    a = tyro.cli(UIArgs, args=args, prog="scoredream ui")
    try:
        from ui.app import launch
    except ModuleNotFoundError as e:
        if e.name != "gradio":
            raise
        print("error: the app needs gradio; install it with: pip install -e '.[ui]'", file=sys.stderr)
        return 2
    launch(a.host, a.port, a.outputs)
    return 0


def cmd_doctor(args: list[str]) -> int:
    from scoredream.doctor import main as doctor

    return doctor(args)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in COMMANDS:
        width = max(map(len, COMMANDS))
        lines = [f"  {name:<{width}}  {text}" for name, text in COMMANDS.items()]
        print("usage: scoredream COMMAND [ARGS]  (scoredream COMMAND --help for its options)\n")
        print("commands:\n" + "\n".join(lines))
        if argv and argv[0] not in ("-h", "--help"):
            print(f"\nerror: unknown command '{argv[0]}'", file=sys.stderr)
            return 2
        return 0
    from scoredream.errors import USER_ERRORS

    command = {"generate": cmd_generate, "render": cmd_render, "export": cmd_export, "convert": cmd_convert,
               "ui": cmd_ui, "doctor": cmd_doctor}[argv[0]]
    try:
        return command(argv[1:])
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
