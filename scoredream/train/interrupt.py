"""Ctrl-C during a run: finish the current step, save a checkpoint, then stop (a second Ctrl-C stops at once)."""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from types import FrameType


class Interrupted(KeyboardInterrupt):
    """The run was interrupted by the user; a checkpoint at `step` was saved first."""

    def __init__(self, step: int, checkpoint: Path) -> None:
        super().__init__(f"interrupted at step {step}; checkpoint saved: {checkpoint} (continue with --resume)")
        self.step, self.checkpoint = step, checkpoint


@contextlib.contextmanager
def stop_on_interrupt() -> Iterator[threading.Event]:
    """Turn the first SIGINT into a flag the loop reads between steps, so the checkpoint it then writes is of a
    whole step, never of an optimiser step cut in half. Outside the main thread (the app's workers) signals
    cannot be caught, and the app stops runs through its own flag."""
    flag = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield flag
        return

    def on_sigint(signum: int, frame: FrameType | None) -> None:
        if flag.is_set():
            raise KeyboardInterrupt
        flag.set()
        print("\nstopping after this step to save a checkpoint (Ctrl-C again to quit at once)", file=sys.stderr)

    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        yield flag
    finally:
        signal.signal(signal.SIGINT, previous)
