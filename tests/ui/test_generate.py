"""End to end through gradio_client against a live app: a run, Stop, the queue, and bad input."""

from pathlib import Path

import pytest
from PIL import Image
from ui_helpers import finished, is_file, named, poll_until, start, step_of

from scoredream.train import load_checkpoint

gradio_client = pytest.importorskip("gradio_client")


@pytest.fixture(scope="module")
def client(app):
    return gradio_client.Client(app[0], verbose=False)


def test_a_run_streams_previews_then_gives_video_mesh_and_files(client, app):
    url, outputs, defaults = app
    job_id, message, _ = start(client, defaults)
    assert job_id and "generate" in message
    seen_previews = set()

    def done(out):
        if is_file(out[2]):
            seen_previews.add(Path(out[2]).name)
        return finished(out)

    out = named(poll_until(client, job_id, done))
    status, progress, preview, losses, video, mesh = (out[k] for k in ("status", "progress", "preview", "losses",
                                                                       "video", "mesh"))
    assert ": done" in status, status
    assert "step 4/4" in progress and "finished" in progress
    assert is_file(preview) and seen_previews <= {"step_000002.png", "step_000004.png"} and seen_previews
    assert [row[0] for row in losses["data"]] == [1, 2, 3, 4]
    assert is_file(video) and video.endswith(".mp4") and Path(out["video file"]).name == Path(video).name
    # Downloads: the checkpoint, the mesh in each format, the video; the front/side/back strip is 3 views wide.
    assert Path(out["checkpoint"]).name == "last.safetensors" and is_file(out["checkpoint"])
    assert all(is_file(out[f"mesh.{fmt}"]) and out[f"mesh.{fmt}"].endswith(fmt) for fmt in ("glb", "obj", "ply"))
    width, height = Image.open(out["views"]).size
    assert width == 3 * height
    names = [Path(out["mesh.glb"]).name]
    # The run is listed with its thumbnail and can be reopened.
    gallery, runs, *_ = client.predict(api_name="/runs")
    run_name = runs["choices"][0][0]
    assert run_name.startswith("a-red-cube-sds-s0") and is_file(gallery[0]["image"])
    summary, video2, mesh2, files2 = client.predict(run_name, api_name="/open_run")
    assert "a red cube" in summary and "step 4" in summary and is_file(video2)
    assert "method `sds`" in summary and "4 steps" in summary and "preset `cpu`" in summary
    assert load_checkpoint(outputs / run_name).step == 4
    assert is_file(mesh) and Path(mesh).suffix in (".glb", ".obj", ".ply") and Path(mesh).name in names
    assert is_file(mesh2)


def test_stop_keeps_a_checkpoint_a_second_job_queues_and_a_new_tab_reattaches(client, app):
    url, outputs, defaults = app
    long_job, _, _ = start(client, defaults, prompt="a blue sphere", steps=5000, preview_every=0)
    queued_job, message, _ = start(client, defaults, prompt="a green disc")
    assert "queued, position 2 (1 job ahead" in message
    out = poll_until(client, long_job, lambda o: step_of(o) >= 1)
    assert ": running" in out[0]
    # A fresh client (a reopened tab) sees the same running job.
    other = gradio_client.Client(url, verbose=False)
    assert ": running" in other.predict(long_job, api_name="/poll")[0]
    assert "left the queue" in client.predict(queued_job, api_name="/stop")
    assert "cancelled" in client.predict(queued_job, api_name="/poll")[0]
    assert "stopping" in client.predict(long_job, api_name="/stop")
    out = poll_until(client, long_job, finished)
    assert ": stopped at step" in out[0] and named(out)["checkpoint"].endswith("last.safetensors")
    assert "already ended (stopped)" in client.predict(long_job, api_name="/stop")
    ckpt = load_checkpoint(outputs / "a-blue-sphere-sds-s0")
    assert 1 <= ckpt.step < 5000 and ckpt.config.prompt == "a blue sphere"
    # Resuming continues from the kept checkpoint.
    resumed, _, _ = client.predict("a-blue-sphere-sds-s0", api_name="/resume")
    out = poll_until(client, resumed, lambda o: step_of(o) > ckpt.step or finished(o))
    client.predict(resumed, api_name="/stop")
    out = poll_until(client, resumed, finished)
    assert ": stopped" in out[0] and load_checkpoint(outputs / "a-blue-sphere-sds-s0").step > ckpt.step


def test_method_and_field_choices_reach_the_run(client, app):
    job_id, _, _ = start(client, app[2], prompt="a blue disc", method="asd", field="voxel", steps=2)
    out = poll_until(client, job_id, finished)
    assert ": done" in out[0], out[0]
    config = load_checkpoint(app[1] / "a-blue-disc-asd-s0").config
    assert (config.method, config.field, config.train.steps) == ("asd", "voxel", 2)


def test_an_unknown_hub_model_fails_the_job_with_a_message(client, app):
    job_id, _, _ = start(client, app[2], prompt="a red disc", model="nosuch/model")
    out = poll_until(client, job_id, finished, timeout=120)
    assert ": **error:**" in out[0] and "nosuch/model" in out[0] and "Traceback" not in out[0]


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"prompt": "   "}, "the prompt is empty"),
        ({"prompt": "a red cube " * 200}, "at most 1000"),
        ({"model": "/no/such/model"}, "no model folder"),
        ({"overrides": "{not json"}, "not valid JSON"),
        ({"overrides": '{"train": {"steps": "many"}}'}, "expected int"),
        ({"resolution": 4}, "between 8 and 2048"),
        ({"steps": None}, "steps is empty"),
        ({"steps": 0}, "steps must be at least 1, not 0"),
        ({"steps": -3}, "steps must be at least 1, not -3"),
        ({"preview_every": -1}, "preview every must be at least 0"),
    ],
)
def test_bad_generate_input_gives_a_message(client, app, form, message):
    job_id, status, _ = start(client, app[2], **form)
    assert job_id == "" and status.startswith("**error:**") and message in status and "Traceback" not in status


def test_too_few_steps_log_no_traceback(client, app, capfd):
    """Gradio's own bounds check on a number box popped up an error and logged its traceback."""
    defaults = app[2]
    assert "at least 1" in start(client, defaults, steps=-1)[1]
    result = client.predict("x", None, "mlp", 0, "cpu", "", api_name="/start_convert")
    assert result[0] == "" and "steps must be at least 1" in result[1]
    result = client.predict("x", None, 32, None, -1, "glb", "cpu", "", api_name="/start_export")
    assert result[0] == "" and "decimation target must be at least 0" in result[1]
    assert "Traceback" not in capfd.readouterr().err


@pytest.mark.parametrize("name", ["../..", "/etc", "../../etc/passwd", "no-such-run", ""])
def test_paths_outside_the_outputs_folder_are_refused(client, name):
    summary, video, mesh, files = client.predict(name, api_name="/open_run")
    assert summary.startswith("**error:**") and video is None and files == []
    for result in (client.predict(name, api_name="/resume"),
                   client.predict(name, None, "mlp", 4, "cpu", "", api_name="/start_convert"),
                   client.predict(name, None, 32, None, 0, "glb", "cpu", "", api_name="/start_export")):
        assert result[0] == "" and result[1].startswith("**error:**")


def test_guidance_box_shows_the_scale_a_run_would_use():
    """An empty box once reached the config as CFG 0 (unconditional): the form now starts at the real default."""
    from scoredream.world.prior_model import CAMERA_GUIDANCE_DEFAULTS, EMBEDDED_GUIDANCE_DEFAULTS
    from ui.app import default_guidance

    # each prior's recommendation: 3D generation's default (camera-conditioned) and the view-prompted one
    assert default_guidance("sds") == CAMERA_GUIDANCE_DEFAULTS["sds"]["guidance_scale"] == 3.0
    assert default_guidance("sds", "embedded") == EMBEDDED_GUIDANCE_DEFAULTS["sds"]["guidance_scale"] == 7.5
    assert default_guidance("sds", "some-org/some-model") == 100.0  # DreamFusion's, for hub models
    assert default_guidance("asd") == 3.0 and default_guidance("vsd") == 7.5
    assert default_guidance("asd", "embedded") == default_guidance("vsd", "embedded") == 7.5
