"""The job runner alone: one job at a time per device, queue positions, stop and cancel, errors as messages."""

import time

from ui_helpers import Blocking

from ui.jobs import Job, JobRunner


def wait_status(job: Job, status: str, timeout: float = 5.0) -> None:
    end = time.monotonic() + timeout
    while job.status != status and time.monotonic() < end:
        time.sleep(0.01)
    assert job.status == status


def test_one_job_at_a_time_per_device_with_queue_positions():
    runner = JobRunner()
    first, second, third, other_device = Blocking(), Blocking(), Blocking(), Blocking()
    a = runner.submit("generate", "a", "cpu", first)
    b = runner.submit("generate", "b", "cpu", second)
    c = runner.submit("generate", "c", "cpu", third)
    d = runner.submit("generate", "d", "cuda:1", other_device)
    assert first.started.wait(5) and other_device.started.wait(5)
    assert (a.status, b.status, c.status, d.status) == ("running", "queued", "queued", "running")
    assert (runner.ahead(b), runner.ahead(c)) == (1, 2)
    assert runner.stop(b.key) is b and b.status == "cancelled" and runner.ahead(c) == 1
    first.release.set()
    wait_status(a, "done")
    assert third.started.wait(5) and c.status == "running" and not second.started.is_set()
    runner.stop(c.key)
    wait_status(c, "stopped")
    assert c.step == 1 and c.history == [{"step": 1, "loss": 0.5}]
    other_device.release.set()
    wait_status(d, "done")


def test_errors_become_messages_and_the_worker_survives():
    class Mistake(ValueError):
        pass

    def user_error(job: Job) -> bool:
        raise Mistake("the prompt is empty")

    def bug(job: Job) -> bool:
        raise ZeroDivisionError("division by zero")

    runner = JobRunner(user_errors=(Mistake,))
    a, b = runner.submit("generate", "a", "cpu", user_error), runner.submit("generate", "b", "cpu", bug)
    wait_status(a, "failed")
    wait_status(b, "failed")
    assert a.error == "the prompt is empty"
    assert b.error.startswith("internal error (ZeroDivisionError)") and "Traceback" not in b.error
    c = runner.submit("generate", "c", "cpu", lambda job: False)
    wait_status(c, "done")


def test_only_the_secret_key_reaches_a_job():
    runner, work = JobRunner(), Blocking()
    a = runner.submit("generate", "a", "cpu", work)
    b = runner.submit("generate", "b", "cpu", lambda job: False)
    assert work.started.wait(5) and len(a.key) >= 20 and a.key != b.key and a.id not in a.key
    assert runner.get(a.id) is None and runner.stop(a.id) is None and not a.stop.is_set()
    assert runner.get(a.key) is a and runner.stop(a.key) is a
    wait_status(a, "stopped")
    wait_status(b, "done")


def test_eta_follows_the_measured_rate():
    job = Job("x", "generate", "t", "cpu", status="running")
    job.report(10, 110)
    time.sleep(0.2)
    job.report(20, 110)
    eta = job.eta()
    assert eta is not None and 1.5 < eta < 5.0  # 10 steps took >= 0.2 s, 90 remain
