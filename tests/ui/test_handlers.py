"""The handlers without a server: messages without server paths, run names of queued jobs kept apart."""

from ui_helpers import Blocking

from ui.handlers import Handlers
from ui.jobs import Job, JobRunner
from ui.tasks import PriorCache


def test_messages_show_paths_relative_to_the_outputs_folder(tmp_path):
    outputs = tmp_path / "outputs"
    h = Handlers(outputs, JobRunner(), PriorCache())
    failed = Job("x", "generate", "a cube", "cpu", status="failed",
                 error=f"no checkpoint at {outputs.resolve()}/a-cube/checkpoints/last.safetensors")
    assert h.status_text(failed).endswith("**error:** no checkpoint at a-cube/checkpoints/last.safetensors")
    summary, *_ = h.open_run("a-cube")
    assert summary.startswith("**error:**") and str(tmp_path) not in summary
    elsewhere = h.error_text(f"cannot read {tmp_path}/model/model_index.json: denied")
    assert elsewhere == "**error:** cannot read .../model_index.json: denied"


def test_queued_jobs_with_one_prompt_get_their_own_run_folders(tmp_path, prior_model):
    runner, blocking = JobRunner(), Blocking()
    h = Handlers(tmp_path, runner, PriorCache())
    runner.submit("generate", "busy", "cpu", blocking)
    started = [h.start_generate("a grey cone", "", prior_model, "sds", "hashgrid", 4, 7.5, 0, 16, 0, "cpu", "")
               for _ in range(2)]
    assert all(": queued" in message for _, message, _, _ in started)
    assert sorted(h.run_keys) == ["a-grey-cone-sds-s0", "a-grey-cone-sds-s0-2"]
    for key, *_ in started:
        runner.stop(key)
    blocking.release.set()
