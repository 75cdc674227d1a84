"""The layout of a run folder, and the lock that keeps two processes from writing one run at once.

    RUN/config.json                 the settings asked for
    RUN/guidance.json               what the method used after the prior's recommendations
    RUN/checkpoints/last.safetensors        weights (+ the config and step as metadata)
    RUN/checkpoints/last.state-STEP.pt      optimiser, RNG and history at STEP (tensors only)
    RUN/previews/step_STEP.png
    RUN/turntable.{mp4,gif}, RUN/mesh.{glb,obj,ply}
    RUN/exports/                    meshes exported later (the app)
    RUN/input.{png,jpg,...}         the input image of an image run (a copy: a resume reads it)

No torch here: the CLI uses it before anything heavy is imported.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

CHECKPOINTS = "checkpoints"
CHECKPOINT_FILE = "last.safetensors"


class RunFolderBusy(RuntimeError):
    """Another process is writing this run folder."""


class RunFolderExists(RuntimeError):
    """A new run would overwrite a run folder that already holds a run."""


@dataclass(frozen=True)
class RunFolder:
    root: Path

    @classmethod
    def of(cls, path: str | Path) -> RunFolder:
        """The run folder of a run folder, a checkpoint file, or a file inside checkpoints/."""
        path = Path(path)
        if path.is_dir():
            return cls(path)
        return cls(path.parent.parent if path.parent.name == CHECKPOINTS else path.parent)

    @classmethod
    def holding(cls, checkpoint: str | Path) -> RunFolder | None:
        """The run folder whose checkpoint this file is, None for a loose file (an upload, a copy)."""
        path = Path(checkpoint)
        return cls(path.parent.parent) if path.parent.name == CHECKPOINTS else None

    @property
    def config(self) -> Path:
        return self.root / "config.json"

    @property
    def guidance(self) -> Path:
        return self.root / "guidance.json"

    @property
    def checkpoints(self) -> Path:
        return self.root / CHECKPOINTS

    @property
    def checkpoint(self) -> Path:
        return self.checkpoints / CHECKPOINT_FILE

    @property
    def previews(self) -> Path:
        return self.root / "previews"

    def preview(self, step: int) -> Path:
        return self.previews / f"step_{step:06d}.png"

    def turntable(self, fmt: str) -> Path:
        return self.root / f"turntable.{fmt}"

    def mesh(self, fmt: str) -> Path:
        return self.root / f"mesh.{fmt}"

    def input_image(self, suffix: str) -> Path:
        """The run's copy of its input image (`suffix`: the original's, e.g. ".png")."""
        return self.root / f"input{suffix.lower()}"

    @property
    def exports(self) -> Path:
        """Meshes exported later (the app's Export tab), beside the run's own mesh."""
        return self.root / "exports"

    def holds_run(self) -> bool:
        """Whether a new run here would overwrite trained work (a config alone, from a run killed before its first
        checkpoint, holds none)."""
        return self.checkpoint.exists()

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Hold an exclusive lock on the run folder while writing it; a second writer fails at once.

        flock dies with its process, so a run killed with -9 leaves no stale lock behind. A folder this call
        created and nothing else wrote into is removed again."""
        created = not self.root.exists()
        self.root.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.root / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as e:
                if e.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
                raise RunFolderBusy(f"another process is writing the run folder {self.root}; wait for it to "
                                    "finish, or choose another --run-name") from None
            yield
        finally:
            os.close(fd)
            if created and os.listdir(self.root) == [".lock"]:
                with contextlib.suppress(OSError):
                    (self.root / ".lock").unlink()
                    self.root.rmdir()
