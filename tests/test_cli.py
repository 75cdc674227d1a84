import json

import pytest
from tiny_models import save_prior_folder, tiny_prior

from scoredream.cli import main

SMALL = ["--train.steps", "2", "--train.resolution", "16", "--train.device", "cpu", "--render.num-samples", "8",
         "--hashgrid.levels", "2", "--hashgrid.max-resolution", "32", "--video.frames", "2",
         "--video.resolution", "16", "--video.format", "gif", "--train.preview-every", "0",
         "--export.resolution", "32", "--export.coarse-resolution", "16", "--export.texture-size", "64",
         "--export.target-faces", "400"]


@pytest.fixture(scope="module")
def prior_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("prior")
    save_prior_folder(tiny_prior(), folder)
    return str(folder)


def test_generate_then_render(tmp_path, prior_folder, capsys):
    args = ["generate", "a red cube", "--prior.model", prior_folder, "--output-dir", str(tmp_path), *SMALL]
    assert main(args) == 0
    out = capsys.readouterr().out
    run = tmp_path / "a-red-cube-sds-s0"
    assert f"run folder: {run}" in out and (run / "turntable.gif").exists()
    assert main(["render", str(run), "--frames", "2", "--resolution", "16", "--format", "gif",
                 "--output", str(tmp_path / "t.gif")]) == 0
    assert (tmp_path / "t.gif").exists()
    # The saved config reproduces the run; flags given after --config override it.
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["prompt"] == "a red cube" and cfg["train"]["steps"] == 2
    assert main(["generate", "--config", str(run / "config.json"), "--run-name", "again", "--train.steps", "1"]) == 0
    again = json.loads((tmp_path / "again" / "config.json").read_text())
    assert again["train"]["steps"] == 1 and again["prompt"] == "a red cube"
    # The same run again without --resume is refused, and the finished run is untouched.
    before = (run / "checkpoints" / "last.safetensors").read_bytes()
    assert main(args) == 2
    assert "already holds a run" in capsys.readouterr().err
    assert (run / "checkpoints" / "last.safetensors").read_bytes() == before


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["generate", "", "--prior.model", "{prior}"], "prompt is empty"),
        (["generate", "a cube", "--prior.model", "/no/such/folder"], "no model folder"),
        (["render", "/no/such/ckpt.safetensors"], "no checkpoint"),
        (["generate", "--config", "/no/such/config.json"], "cannot read config"),
        (["generate", "a cube", "--prior.model", "{prior}", "--sds.guidance-scale", "nan"], "finite number"),
        (["generate", "a cube", "--prior.model", "{prior}", "--sds.guidance-scale", "inf"], "finite number"),
        (["generate", "a cube", "--prior.model", "{prior}", "--train.device", "cuda"], "no usable CUDA GPU"),
        (["generate", "a cube", "--prior.model", "{prior}", "--sds.timesteps.max-start", "1.5"], "in [0, 1]"),
        (["generate", "a cube", "--prior.model", "{prior}", "--resume"], "nothing to resume"),
        (["export", "/no/such/run", "--target-faces", "-1"], "target_faces"),
    ],
)
def test_bad_input_gives_a_clear_error(tmp_path, prior_folder, capsys, monkeypatch, args, message):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)  # as on CI's machines
    args = [a.replace("{prior}", prior_folder) for a in args] + ["--output-dir", str(tmp_path)] * (
        args[0] == "generate" and "--config" not in args
    )
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and message in err and "Traceback" not in err


def test_unknown_command_and_help(capsys):
    assert main(["frobnicate"]) == 2
    assert main(["--help"]) == 0
    assert "generate" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["generate", "--help"])
    assert "--sds.guidance-scale" in capsys.readouterr().out
