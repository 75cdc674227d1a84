"""`scoredream doctor`: what this machine has, what a run will use, and how to fix what is missing.

Every probe is cheap (no model is loaded; the embedded prior is checked by its JSON files and safetensors headers)
and guarded: a probe that raises is reported as a WARN line, never a crash. The exit status is 1 only when something
a default `scoredream generate` needs is missing (torch, ffmpeg for the mp4 turntable, the mesh export libraries,
the embedded prior, a writable output folder with room); optional pieces (GPU, tiny-cuda-nn, open3d, gradio,
chromium) are WARN at worst.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import json
import os
import platform
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

Status = Literal["OK", "WARN", "MISSING"]
GiB = 1 << 30
LOW_DISK_BYTES = 1 * GiB  # WARN below this; MISSING below the preflight's own floor (a run refuses to start)


@dataclass
class Check:
    name: str
    status: Status
    detail: str
    fix: str = ""


@dataclass
class Context:
    outputs: Path
    uses: dict[str, str]
    """what a default run will use, filled in by the probes (device, grid backend, mesh cleanup, ...)"""


def check_python(ctx: Context) -> Check:
    ok = sys.version_info >= (3, 10)
    return Check("python", "OK" if ok else "MISSING", f"{platform.python_version()} ({sys.executable})",
                 "" if ok else "scoredream needs Python >= 3.10")


def check_torch(ctx: Context) -> Check:
    try:
        import torch
    except ImportError as e:
        ctx.uses["device"] = "none"
        return Check("torch", "MISSING", f"not importable ({e})", "pip install torch==2.14.1 torchvision==0.29.1")
    build = f"CUDA {torch.version.cuda} build" if torch.version.cuda else "CPU-only build"
    return Check("torch", "OK", f"{torch.__version__}, {build}, {torch.get_num_threads()} threads")


def check_gpu(ctx: Context) -> Check:
    import torch

    if not torch.cuda.is_available():
        ctx.uses["device"] = "cpu"
        # PyPI's Linux torch is a CUDA build, so on a CPU machine that is normal, not a fault to fix.
        build = f"torch is a CUDA {torch.version.cuda} build" if torch.version.cuda else "CPU-only torch"
        return Check("gpu", "OK", f"none usable ({build}); runs use the CPU")
    ctx.uses["device"] = "cuda"
    gpus = []
    for i in range(torch.cuda.device_count()):
        props = torch.cuda.get_device_properties(i)
        gpus.append(f"cuda:{i} {props.name} {props.total_memory / GiB:.0f} GiB")
    return Check("gpu", "OK", "; ".join(gpus))


def check_tcnn(ctx: Context) -> Check:
    ctx.uses["hash grid"] = "torch"
    try:
        import tinycudann  # noqa: F401  (imported here only: the package never needs it)
    except Exception as e:  # ImportError, or an OSError/RuntimeError from a build for another CUDA or GPU
        if ctx.uses.get("device") != "cuda":
            return Check("tinycudann", "OK", "not installed; not used without a GPU (the pure-torch grid runs)")
        return Check("tinycudann", "WARN", f"not importable ({first_line(e)}); hash grids use the pure-torch path",
                     'pip install ninja "git+https://github.com/NVlabs/tiny-cuda-nn/#subdirectory=bindings/torch"')
    if ctx.uses.get("device") != "cuda":
        return Check("tinycudann", "OK", "importable, but unused without a GPU")
    ctx.uses["hash grid"] = "tcnn"
    return Check("tinycudann", "OK", "importable; --hashgrid.backend auto uses it")


def check_open3d(ctx: Context) -> Check:
    ctx.uses["mesh cleanup"] = "trimesh"
    try:
        import open3d
    except (ImportError, OSError) as e:  # a missing native library raises OSError, not ImportError
        reason = first_line(e)
        if "libusb" in reason:
            fix = "apt-get install libusb-1.0-0 (open3d's wheel links libusb-1.0)"
        else:
            fix = "pip install open3d-cpu (Linux x86_64) or open3d"
        return Check("open3d", "WARN", f"not importable ({reason}); mesh export falls back to trimesh", fix)
    ctx.uses["mesh cleanup"] = "open3d"
    return Check("open3d", "OK", f"{getattr(open3d, '__version__', '?')}; mesh cleanup uses it")


def check_export_libraries(ctx: Context) -> Check:
    from scoredream.export.deps import PIP_NAMES, export_dependencies_problem

    problem = export_dependencies_problem()  # the check a run makes before it trains
    if problem:
        what, _, install = problem.rpartition(": pip install ")
        return Check("mesh export", "MISSING", what, f"pip install {install} (or run with --export.no-enabled)")
    return Check("mesh export", "OK", ", ".join(dict.fromkeys(PIP_NAMES.values())))


def check_ffmpeg(ctx: Context) -> Check:
    from scoredream.serialization import ConfigError
    from scoredream.train.preflight import ffmpeg_exe

    try:
        exe = ffmpeg_exe()  # the check a run makes before it trains
    except ConfigError as e:
        return Check("ffmpeg", "MISSING", f"{e}; the default mp4 turntable needs it",
                     "pip install imageio-ffmpeg (or write a gif: --video.format gif)")
    ctx.uses["turntable"] = "mp4 (ffmpeg)"
    return Check("ffmpeg", "OK", exe)


def check_chromium(ctx: Context) -> Check:
    path = os.environ.get("SCOREDREAM_CHROMIUM", "/usr/bin/chromium")
    if os.path.isfile(path) and os.access(path, os.X_OK):
        return Check("chromium", "OK", f"{path} (for the browser test and scripts/ui_screenshot.py)")
    return Check("chromium", "WARN", f"none at {path}; only the browser test needs it (it skips without)",
                 "apt-get install -y chromium, or point SCOREDREAM_CHROMIUM at another build")


def check_gradio(ctx: Context) -> Check:
    if importlib.util.find_spec("gradio") is None:  # find_spec, not import: gradio takes seconds to import
        return Check("gradio", "WARN", "not installed; only `scoredream ui` needs it", "pip install -e '.[ui]'")
    return Check("gradio", "OK", f"{importlib.metadata.version('gradio')} (the app: scoredream ui)")


def check_prior(ctx: Context) -> Check:
    return shipped_prior_check("embedded prior", "prior", "python scripts/train_prior.py")


def check_camera_prior(ctx: Context) -> Check:
    return shipped_prior_check("embedded-camera prior", "prior_camera",
                               "see assets/prior_camera/TRAINING.md (scripts/train_prior.py --camera-conditioned)")


def shipped_prior_check(name: str, folder_name: str, retrain: str) -> Check:
    from scoredream.priors.loading import assets_dir

    folder = assets_dir() / folder_name
    problems = prior_problems(folder)
    if problems:
        return Check(name, "MISSING", f"{folder}: {'; '.join(problems)}",
                     "restore assets/ from the repository (git lfs pull if its weights are LFS pointers), set "
                     f"SCOREDREAM_ASSETS to a folder holding {folder_name}/, or retrain: {retrain}")
    size = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
    return Check(name, "OK", f"{folder} ({size / 1e6:.1f} MB; config, weights headers and recommendations readable)")


def check_novel_view_prior(ctx: Context) -> Check:
    from scoredream.priors.loading import assets_dir

    folder = assets_dir() / "novel_view"
    problems = prior_problems(folder)
    if problems:  # only image input needs it: a warning, not a missing piece
        return Check("novel-view", "WARN", f"{folder}: {'; '.join(problems)}; `generate --image` needs it",
                     "restore assets/novel_view from the repository or retrain: python scripts/train_novel_view.py")
    size = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
    return Check("novel-view", "OK", f"{folder} ({size / 1e6:.1f} MB; image input: generate --image)")


def prior_problems(folder: Path) -> list[str]:
    """What keeps the prior's folder from loading, read from its JSON files and safetensors headers only."""
    index = folder / "model_index.json"
    if not index.is_file():
        return ["no model_index.json"]
    try:
        components = [k for k, v in json.loads(index.read_text()).items() if isinstance(v, list)]
    except (ValueError, OSError) as e:
        return [f"model_index.json is unreadable ({e})"]
    problems = [problem for c in components if (problem := component_problem(folder / c))]
    guidance = folder / "scoredream_guidance.json"
    if guidance.exists():
        try:
            json.loads(guidance.read_text())
        except (ValueError, OSError) as e:
            problems.append(f"scoredream_guidance.json is unreadable ({e})")
    return problems


def component_problem(folder: Path) -> str | None:
    from safetensors import safe_open

    if not folder.is_dir() or not any(folder.iterdir()):
        return f"{folder.name}/ is missing or empty"
    for config in folder.glob("*config.json"):
        try:
            json.loads(config.read_text())
        except (ValueError, OSError) as e:
            return f"{folder.name}/{config.name} is unreadable ({e})"
    for weights in folder.glob("*.safetensors"):
        try:
            with safe_open(str(weights), "pt") as f:  # reads the header only
                f.keys()
        except Exception as e:  # noqa: BLE001  (SafetensorError, OSError, an LFS pointer's garbage header)
            return f"{folder.name}/{weights.name} is not readable safetensors ({first_line(e)})"
    return None


def check_disk(ctx: Context) -> Check:
    from scoredream.train.preflight import MIN_FREE_BYTES

    existing = ctx.outputs.resolve()
    while not existing.exists():  # the output folder is made by the first run; its nearest parent holds the disk
        existing = existing.parent
    free = shutil.disk_usage(existing).free
    where = f"{free / GiB:.1f} GiB free in {existing}" + ("" if existing == ctx.outputs.resolve() else
                                                          f" (where {ctx.outputs} will be made)")
    if not os.access(existing, os.W_OK):
        return Check("disk", "MISSING", f"{where}, but not writable", "choose another --output-dir")
    if free < MIN_FREE_BYTES:
        return Check("disk", "MISSING", where, f"free space: a run needs at least {MIN_FREE_BYTES >> 20} MB")
    if free < LOW_DISK_BYTES:
        return Check("disk", "WARN", where, "free some space: long runs and large exports need more")
    return Check("disk", "OK", where)


PROBES: list[Callable[[Context], Check]] = [
    check_python, check_torch, check_gpu, check_tcnn, check_open3d, check_export_libraries, check_ffmpeg,
    check_chromium, check_gradio, check_prior, check_camera_prior, check_novel_view_prior, check_disk,
]


def first_line(e: BaseException) -> str:
    return (str(e).strip().splitlines() or [type(e).__name__])[0]


def run_probe(probe: Callable[[Context], Check], ctx: Context) -> Check:
    name = probe.__name__.removeprefix("check_").replace("_", " ")
    try:
        return probe(ctx)
    except Exception as e:  # noqa: BLE001  (the doctor must report, not crash, whatever a probe hits)
        return Check(name, "WARN", f"could not check: {type(e).__name__}: {first_line(e)}")


def format_check(check: Check) -> str:
    line = f"{check.status:<8} {check.name:<15} {check.detail}"
    return line + (f"\n{'':<25}fix: {check.fix}" if check.fix and check.status != "OK" else "")


def main(args: list[str]) -> int:
    """`scoredream doctor [--outputs DIR]`; returns 1 when a default run would miss something, else 0."""
    if any(a in ("-h", "--help") for a in args):
        print("usage: scoredream doctor [--outputs DIR]\n\nReport what this machine has for scoredream and what a "
              "run will use; exit status 1 when a default run would miss something.\n\n  --outputs DIR  the "
              "output folder whose disk is checked (default: outputs)")
        return 0
    outputs = Path(args[args.index("--outputs") + 1]) if "--outputs" in args[:-1] else Path("outputs")
    ctx = Context(outputs=outputs, uses={})
    checks = [run_probe(probe, ctx) for probe in PROBES]
    print("\n".join(format_check(c) for c in checks))
    uses = ", ".join(f"{k} {v}" for k, v in ctx.uses.items())
    print(f"\na run will use: {uses}, prior embedded")
    missing = [c.name for c in checks if c.status == "MISSING"]
    warnings = sum(c.status == "WARN" for c in checks)
    warned = f"{warnings} warning{'s' * (warnings != 1)}"
    if missing:
        print(f"not ready: missing {', '.join(missing)} ({warned})")
        return 1
    print(f"ready ({warned})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
