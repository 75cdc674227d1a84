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
    started = [h.start_generate("a grey cone", "", prior_model, "sds", "hashgrid", 4, 7.5, 0, 16, 0, "cpu", "", "cpu")
               for _ in range(2)]
    assert all(": queued" in message for _, message, _, _ in started)
    assert sorted(h.run_keys) == ["a-grey-cone-sds-s0", "a-grey-cone-sds-s0-2"]
    for key, *_ in started:
        runner.stop(key)
    blocking.release.set()


def test_a_preset_sets_every_value_and_the_form_still_wins(tmp_path, prior_model):
    from ui.tasks import GenerateForm, generate_config

    form = GenerateForm("a red mug", model=prior_model, steps=3, resolution=16, overrides='{"train": {"seed": 5}}',
                        preset="dreamfusion")
    config = generate_config(form, tmp_path)
    assert config.preset == "dreamfusion" and config.render.num_samples == 512  # the preset's, not the form's
    assert (config.train.steps, config.train.resolution, config.train.seed) == (3, 16, 5)  # the form's, overrides'
    assert generate_config(GenerateForm("a red mug", model=prior_model), tmp_path).preset == "cpu"


def test_the_overrides_message_gives_an_example_that_works():
    import json

    from scoredream.convert import PVDConfig
    from scoredream.export import ExportConfig
    from scoredream.serialization import ConfigError
    from scoredream.train import GenerateConfig
    from ui.tasks import with_overrides

    for config in (GenerateConfig(), PVDConfig(), ExportConfig()):
        try:
            with_overrides(config, "[1]", "x")
        except ConfigError as e:
            example = str(e).split("e.g. ", 1)[1]
        with_overrides(config, example, "x")  # accepted
        assert json.loads(example)


def test_an_empty_threshold_is_automatic_and_finishing_shows_its_own_progress(tmp_path):
    from ui.handlers import optional_number

    assert optional_number("", "t") is None and optional_number(None, "t") is None
    assert optional_number(" 0.5 ", "t") == 0.5 and optional_number(0.0, "t") == 0.0
    job = Job("x", "generate", "a cube", "cpu", status="running", step=4, total=4)
    assert "starting the turntable" in Handlers.progress_html(job)
    job.report_finish("turntable", 3, 60)
    assert "turntable 3/60 frames" in Handlers.progress_html(job) and "step 4/4" in Handlers.progress_html(job)
    job.report_finish("export: cleanup", 2, 5)
    assert "export: cleanup 2/5" in Handlers.progress_html(job)
