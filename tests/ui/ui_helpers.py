"""Driving the live app through gradio_client: start a job, poll it, read its progress."""

import re
import threading
import time
from pathlib import Path

from ui.jobs import Job

ACTIVE = ("queued", "running")
POLL = ("status", "progress", "preview", "losses", "video", "mesh", "views", "input view", "mesh.glb", "mesh.obj",
        "mesh.ply", "video file", "checkpoint", "timer")
"""The names of /poll's outputs as gradio_client gets them (the download buttons after the views; the Stop button's
visibility is not among them)."""


def named(out) -> dict:
    """A /poll answer by output name, widget updates ({"value": ..., "visible": ...}) as their values."""
    assert len(out) == len(POLL), out
    return {k: v.get("value") if isinstance(v, dict) and v.get("__type__") == "update" else v
            for k, v in zip(POLL, out, strict=True)}


def start(client, defaults, prompt="a red cube", method="sds", field="hashgrid", preset="cpu", **form):
    values = {**defaults, **form}
    return client.predict(prompt, "", values["model"], method, field, values["steps"], 100, 0,
                          values["resolution"], values["preview_every"], values["device"], values["overrides"],
                          preset, api_name="/start_generate")


def poll_until(client, job_id, done, timeout=90.0, api="/poll"):
    end = time.monotonic() + timeout
    while True:
        out = client.predict(job_id, api_name=api)
        if done(out) or time.monotonic() > end:
            return out
        time.sleep(0.3)


def finished(out) -> bool:
    return not any(f": {s}" in out[0] for s in ACTIVE)


def step_of(out) -> int:
    """Steps done, read from the progress text `step N/M`."""
    match = re.search(r"step (\d+)/", out[1])
    return int(match.group(1)) if match else -1


def is_file(path) -> bool:
    return bool(path) and Path(path).is_file() and Path(path).stat().st_size > 0


class Blocking:
    """A job that reports a step, then waits until released or stopped."""

    def __init__(self) -> None:
        self.started, self.release = threading.Event(), threading.Event()

    def __call__(self, job: Job) -> bool:
        job.report(1, 10, {"step": 1, "loss": 0.5})
        self.started.set()
        while not (self.release.is_set() or job.stop.is_set()):
            time.sleep(0.01)
        job.report(10 if self.release.is_set() else 1, 10)
        return job.stop.is_set()
