"""One shared job runner: a worker thread per device runs heavy jobs (generate, convert, export) one at a time.

Jobs outlive the browser tab that started them: a handler only submits, stops or reads a job, so a reopened page
re-attaches to it. A job is reached only through its `key`, an unguessable secret that its submitter keeps; the short
`id` names it in messages and logs and gives no access. Work functions report progress into their `Job` and stop
when `job.stop` is set.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger("scoredream.ui")
ACTIVE = ("queued", "running")


@dataclass
class Job:
    id: str
    kind: str
    title: str
    device: str
    status: str = "queued"
    """queued, running, done, stopped (by the user, with a usable checkpoint), cancelled (before it ran), failed"""
    step: int = 0
    total: int = 0
    preview: Path | None = None
    history: list[dict[str, float]] = field(default_factory=list)
    results: dict[str, Path] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    finishing: tuple[str, int, int] | None = None
    """(stage, done, total) of the work after the last step: the turntable's frames, then the export's stages"""
    error: str = ""
    created: float = field(default_factory=time.time)
    stop: threading.Event = field(default_factory=threading.Event)
    key: str = field(default_factory=lambda: secrets.token_urlsafe(16), repr=False)
    """the secret that reaches the job (watch, stop); whoever holds it owns the job"""
    _clock: tuple[float, int] | None = None  # (time, step) of the first report, for the rate behind the ETA

    def report(self, step: int, total: int, row: dict[str, float] | None = None, preview: Path | None = None) -> None:
        if self._clock is None:
            self._clock = (time.perf_counter(), step)
        self.step, self.total = step, total
        if row is not None:
            self.history.append(row)
        if preview is not None:
            self.preview = preview

    def report_finish(self, stage: str, done: int, total: int) -> None:
        self.finishing = (stage, done, total)

    def eta(self) -> float | None:
        if self._clock is None or self.status != "running":
            return None
        t0, s0 = self._clock
        done = self.step - s0
        return (time.perf_counter() - t0) / done * (self.total - self.step) if done > 0 else None


Work = Callable[[Job], bool]
"""Runs a job; returns True when it ended early because `job.stop` was set."""


class JobRunner:
    def __init__(self, user_errors: tuple[type[BaseException], ...] = ()) -> None:
        self.user_errors = user_errors
        self._jobs: dict[str, Job] = {}
        self._work: dict[str, Work] = {}
        self._pending: dict[str, list[Job]] = {}
        self._cond = threading.Condition()

    def submit(self, kind: str, title: str, device: str, work: Work) -> Job:
        job = Job(uuid.uuid4().hex[:10], kind, title, device)
        with self._cond:
            self._jobs[job.key], self._work[job.key] = job, work
            if device not in self._pending:
                self._pending[device] = []
                threading.Thread(target=self._worker, args=(device,), name=f"jobs-{device}", daemon=True).start()
            self._pending[device].append(job)
            self._cond.notify_all()
        return job

    def get(self, key: str) -> Job | None:
        """The job with this secret key; a job's short id finds nothing."""
        return self._jobs.get(key)

    def jobs(self) -> list[Job]:
        return sorted(self._jobs.values(), key=lambda j: j.created, reverse=True)

    def ahead(self, job: Job) -> int:
        """How many jobs run before this one on its device (the running one included)."""
        with self._cond:
            if job.status != "queued":
                return 0
            running = any(j.status == "running" and j.device == job.device for j in self._jobs.values())
            return self._pending[job.device].index(job) + running

    def stop(self, key: str) -> Job | None:
        """A running job stops at its next step and keeps its last checkpoint; a queued one never starts."""
        with self._cond:
            job = self._jobs.get(key)
            if job is not None and job.status == "queued":
                self._pending[job.device].remove(job)
                job.status = "cancelled"
            elif job is not None:
                job.stop.set()
            return job

    def _worker(self, device: str) -> None:
        while True:
            with self._cond:
                while not self._pending[device]:
                    self._cond.wait()
                job = self._pending[device].pop(0)
                job.status = "running"
            self._run(job, self._work.pop(job.key))

    def _run(self, job: Job, work: Work) -> None:
        try:
            job.status = "stopped" if work(job) else "done"
        except self.user_errors as e:
            job.error, job.status = str(e), "failed"
        except Exception as e:  # the worker must survive any job; the log keeps the traceback
            log.exception("job %s (%s) failed", job.id, job.kind)
            job.error, job.status = f"internal error ({type(e).__name__}): {e}; the server log has details", "failed"
