import dataclasses
import json

import pytest
from tiny_models import save_prior_folder, tiny_prior

from scoredream.cli import main

SMALL = ["--train.steps", "2", "--train.resolution", "16", "--train.device", "cpu", "--render.num-samples", "8",
         "--hashgrid.levels", "2", "--hashgrid.max-resolution", "32", "--video.frames", "2",
         "--hashgrid.blob-strength", "10",  # threestudio's blob: after 2 steps the field is it, a surface to export
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
    with pytest.raises(SystemExit) as exit_:
        main(["frobnicate"])
    assert exit_.value.code == 2 and "frobnicate" in capsys.readouterr().err
    for args in (["--help"], []):  # no command: the list of commands, as --help
        with pytest.raises(SystemExit) as exit_:
            main(args)
        out = capsys.readouterr().out
        assert exit_.value.code == 0 and "generate" in out and "turntable video" in out and "doctor" in out


def test_generate_help_lists_its_options(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["generate", "--help"])
    out = capsys.readouterr().out
    assert exit_.value.code == 0
    assert all(s in out for s in ("PROMPT", "--config", "--resume", "--sds.guidance-scale", "UNet calls"))


def test_config_file_gives_defaults_and_later_flags_override(tmp_path, monkeypatch):
    from scoredream import cli
    from scoredream.serialization import save_json
    from scoredream.train.config import GenerateConfig

    saved = GenerateConfig(prompt="a blue vase", run_name="vase")
    saved.sds.guidance_scale, saved.train.steps = 42.0, 7
    save_json(saved, tmp_path / "config.json")
    parsed = []  # what generate would run with (no training here)
    monkeypatch.setitem(cli.COMMANDS, "generate", dataclasses.replace(
        cli.COMMANDS["generate"], run=lambda a: parsed.append(a) or 0))
    assert main(["generate", "--config", str(tmp_path / "config.json"), "--sds.guidance-scale", "3.5"]) == 0
    assert main(["generate", "a green cup", "--config", str(tmp_path / "config.json"), "--resume"]) == 0
    file_then_flag, prompt_and_resume = parsed
    s = file_then_flag.settings
    assert (s.prompt, s.run_name, s.train.steps, s.sds.guidance_scale) == ("a blue vase", "vase", 7, 3.5)
    assert not file_then_flag.resume and file_then_flag.prompt is None
    assert prompt_and_resume.prompt == "a green cup" and prompt_and_resume.resume
    assert prompt_and_resume.settings.sds.guidance_scale == 42.0
