"""Driving the live app through gradio_client: start a job, poll it, read its progress."""

import re
import time
from pathlib import Path

ACTIVE = ("queued", "running")


def start(client, defaults, prompt="a red cube", method="sds", field="hashgrid", **form):
    values = {**defaults, **form}
    return client.predict(prompt, "", values["model"], method, field, values["steps"], 100, 0,
                          values["resolution"], values["preview_every"], values["device"], values["overrides"],
                          api_name="/start_generate")


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
