"""The app's folders and the only ways the UI turns user input into paths: every path stays inside them."""

from __future__ import annotations

import json
import re
import shutil
import uuid
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

from scoredream.run_folder import RunFolder

MESH_SUFFIXES = (".glb", ".gltf", ".obj", ".ply", ".stl")
VIDEO_FORMATS = ("mp4", "gif")
UPLOADS = "_uploads"


class UnsafePath(ValueError):
    """A requested or uploaded path would leave the app's own folders."""


def inside(root: Path, relative: str | Path) -> Path:
    """`root / relative`, refusing absolute paths, `..` and symlinks that lead out of root."""
    root = root.resolve()
    text = str(relative).strip()
    if not text:
        raise UnsafePath("no file or run was chosen")
    path = (root / text).resolve()
    if path != root and root not in path.parents:
        raise UnsafePath(f"'{text}' is outside the outputs folder")
    return path


ABSOLUTE_PATH = re.compile(r"(?<![\w.~/:-])/[^\s'\"`:;,()]+")
"""An absolute POSIX path inside a message: a `/` not preceded by a name character, up to a space or quote."""


def public_text(message: str, outputs: Path) -> str:
    """`message` for users: paths inside `outputs` relative to it, any other absolute path cut to `.../name`."""
    roots = [str(outputs.resolve()), str(outputs.absolute())]

    def shown(match: re.Match[str]) -> str:
        path = match.group(0)
        for root in roots:
            if path == root or path.startswith(root + "/"):
                return path[len(root) + 1:] or "the outputs folder"
        return f".../{Path(path).name}" if Path(path).name else "..."

    return ABSOLUTE_PATH.sub(shown, message)


def safe_name(name: str, max_len: int = 64) -> str:
    stem = re.sub(r"[^A-Za-z0-9._-]+", "-", Path(name).name).strip(".-")
    return stem[:max_len] or "file"


def store_upload(uploaded: str | Path, outputs: Path) -> Path:
    """Copy an upload (gradio's temporary copy) into outputs/_uploads under a fresh, sanitised name."""
    src = Path(uploaded)
    dest = outputs / UPLOADS / f"{uuid.uuid4().hex[:8]}-{safe_name(src.name)}"
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, dest)
    return dest


def unique_name(folder: Path, base: str, taken: Collection[str] = ()) -> str:
    """`base` (sanitised), or `base-2`, `base-3`, ... if that name is in folder or `taken` (by a queued job)."""
    name, n = safe_name(base), 2
    while (folder / name).exists() or name in taken:
        name, n = f"{safe_name(base)}-{n}", n + 1
    return name


@dataclass
class RunInfo:
    name: str
    prompt: str
    folder: Path
    checkpoint: Path | None
    thumbnail: Path | None
    video: Path | None
    mesh: Path | None

    @property
    def label(self) -> str:
        state = "" if self.checkpoint else " (no checkpoint yet)"
        return f"{self.name}: {self.prompt}{state}"


def find_mesh(folder: Path) -> Path | None:
    """The newest GLB (what the viewer shows best), else the newest mesh."""
    meshes = sorted((p for p in folder.rglob("*") if p.suffix in MESH_SUFFIXES),
                    key=lambda p: (p.suffix == ".glb", p.stat().st_mtime))
    return meshes[-1] if meshes else None


def run_info(folder: Path) -> RunInfo:
    try:
        prompt = str(json.loads(RunFolder(folder).config.read_text()).get("prompt", ""))
    except (OSError, ValueError, AttributeError):
        prompt = ""
    run = RunFolder(folder)
    previews = sorted(run.previews.glob("*.png"))
    ckpt = run.checkpoint
    video = next((run.turntable(f) for f in VIDEO_FORMATS if run.turntable(f).exists()), None)
    return RunInfo(folder.name, prompt, folder, ckpt if ckpt.exists() else None, previews[-1] if previews else None,
                   video, find_mesh(folder))


def list_runs(outputs: Path) -> list[RunInfo]:
    """Run folders (those with a config.json) under outputs, newest first."""
    if not outputs.is_dir():
        return []
    folders = [p for p in outputs.iterdir() if p.is_dir() and RunFolder(p).config.exists()]
    return [run_info(p) for p in sorted(folders, key=lambda p: p.stat().st_mtime, reverse=True)]
