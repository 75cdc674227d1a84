"""Convert and Export tabs end to end through gradio_client, and uploads that are not checkpoints."""

from pathlib import Path

import pytest
from ui_helpers import finished, is_file, poll_until, start

from scoredream.train import load_checkpoint

gradio_client = pytest.importorskip("gradio_client")


@pytest.fixture(scope="module")
def client(app):
    return gradio_client.Client(app[0], verbose=False)


@pytest.fixture(scope="module")
def finished_run(client, app):
    """A finished tiny run to convert and export."""
    job_id, _, _ = start(client, app[2], prompt="a green cube", steps=2, preview_every=0)
    out = poll_until(client, job_id, finished)
    assert ": done" in out[0], out[0]
    assert (app[1] / "a-green-cube-sds-s0" / "checkpoints" / "last.safetensors").is_file()
    return "a-green-cube-sds-s0"


def test_convert_shows_teacher_student_and_psnr(client, app, finished_run):
    defaults = app[2]
    job_id, message, _ = client.predict(finished_run, None, "voxel", defaults["convert_steps"], "cpu",
                                        defaults["convert_overrides"], api_name="/start_convert")
    assert job_id, message
    out = poll_until(client, job_id, finished, api="/poll_convert")
    status, progress, teacher, student, psnr, losses, files, _ = out
    assert ": done" in status, status
    assert f"step {defaults['convert_steps']}/{defaults['convert_steps']}" in progress
    assert is_file(teacher) and is_file(student) and Path(teacher).name != Path(student).name
    assert psnr.startswith("**PSNR**") and "dB" in psnr and len(losses["data"]) == defaults["convert_steps"]
    ckpt = load_checkpoint(app[1] / f"{finished_run}-voxel")
    assert ckpt.config.field == "voxel" and ckpt.step == defaults["convert_steps"]
    assert [Path(f).name for f in files] == ["last.safetensors"]


@pytest.mark.parametrize("fmt", ["glb", "ply"])
def test_export_from_a_run_and_from_an_upload(client, app, finished_run, fmt):
    defaults = app[2]
    ckpt = app[1] / finished_run / "checkpoints" / "last.safetensors"
    for run, upload in ((finished_run, None), ("", gradio_client.handle_file(str(ckpt)))):
        job_id, message, _ = client.predict(run, upload, defaults["export_resolution"], None, 0, fmt, "cpu",
                                            defaults["export_overrides"], api_name="/start_export")
        assert job_id, message
        status, mesh, facts, files, _ = poll_until(client, job_id, finished, api="/poll_export")
        assert ": done" in status, status
        assert is_file(mesh) and mesh.endswith(f".{fmt}") and "faces" in facts
        assert [Path(f).suffix for f in files] == [f".{fmt}"]
    assert list((app[1] / finished_run / "exports").glob(f"mesh-r32*.{fmt}"))


def test_uploading_a_file_that_is_not_a_checkpoint_is_refused(client, app, tmp_path):
    kept = set((app[1] / "_uploads").glob("*"))
    for name, content in (("notes.txt", b"hello"), ("fake.safetensors", b"\x00" * 64)):
        (tmp_path / name).write_bytes(content)
        upload = gradio_client.handle_file(str(tmp_path / name))
        job_id, message, _ = client.predict("", upload, 32, None, 0, "glb", "cpu", "", api_name="/start_export")
        assert job_id == "" and message.startswith("**error:**") and "checkpoint" in message
        # The message names the stored copy relative to the outputs folder, never by its server path.
        assert "_uploads/" in message and str(app[1]) not in message and str(tmp_path) not in message
        job_id, message, _ = client.predict("", upload, "mlp", 4, "cpu", "", api_name="/start_convert")
        assert job_id == "" and "checkpoint" in message
    assert set((app[1] / "_uploads").glob("*")) == kept  # refused uploads are not kept
