"""Two sessions (two gradio_client clients) of one live app: a job is its starter's, or its secret key holder's."""

import re

import pytest
from ui_helpers import finished, poll_until, start, step_of

gradio_client = pytest.importorskip("gradio_client")


def short_id(message: str) -> str:
    """The job's id as its status line names it: `**generate** `ID`: ...`."""
    return re.search(r"`(\w+)`", message).group(1)


def jobs_of(client) -> list[str]:
    """The `what` column of the session's Runs tab job list."""
    *_, jobs = client.predict(api_name="/runs")
    return [row[jobs["headers"].index("what")] for row in jobs["data"]]


def run_choices(client) -> list[str]:
    _, runs, *_ = client.predict(api_name="/runs")
    return [choice[0] for choice in runs["choices"]]


def test_a_second_session_sees_only_its_queue_position(app):
    url, outputs, defaults = app
    a, b = (gradio_client.Client(url, verbose=False) for _ in range(2))
    key, message, _ = start(a, defaults, prompt="a white cone", steps=5000, preview_every=0)
    job_id = short_id(message)
    assert len(key) >= 20 and job_id not in key
    poll_until(a, key, lambda o: step_of(o) >= 1)
    run = "a-white-cone-sds-s0"
    assert (outputs / run / "config.json").is_file() and run in run_choices(a)
    # B's own job queues behind A's: B learns its position, nothing about A's job.
    b_key, b_message, _ = start(b, defaults, prompt="a black cone")
    assert "queued, position 2 (1 job ahead on cpu)" in b_message and "white" not in b_message
    assert jobs_of(b) == ["a black cone"] and jobs_of(a) == ["a white cone"]
    assert run not in run_choices(b)
    # A's short id (guessable) gives B neither its status nor its Stop.
    assert "no generate job" in b.predict(job_id, api_name="/poll")[0]
    assert "no job" in b.predict(job_id, api_name="/stop")
    # Nor can B open, resume, convert or export A's run.
    assert "another session" in b.predict(run, api_name="/open_run")[0]
    for result in (b.predict(run, api_name="/resume"),
                   b.predict(run, None, "mlp", 4, "cpu", "", api_name="/start_convert"),
                   b.predict(run, None, 32, None, 0, "glb", "cpu", "", api_name="/start_export")):
        assert result[0] == "" and "belongs to another session" in result[1]
    assert ": running" in a.predict(key, api_name="/poll")[0]
    # The secret key is the job's link: whoever holds it may watch and stop the job.
    assert "left the queue" in b.predict(b_key, api_name="/stop")
    assert ": running" in b.predict(key, api_name="/poll")[0]
    assert "stopping" in b.predict(key, api_name="/stop")
    assert ": stopped at step" in poll_until(a, key, finished)[0]
