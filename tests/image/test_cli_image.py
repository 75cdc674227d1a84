"""`scoredream generate --image FILE [PROMPT]`: the run, and a bad image's message with nothing written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_generate_image import cube_png
from tiny_models import save_prior_folder, tiny_prior

from scoredream.cli import main

SMALL = ["--train.steps", "2", "--train.resolution", "16", "--train.device", "cpu", "--render.num-samples", "8",
         "--hashgrid.levels", "2", "--hashgrid.max-resolution", "32", "--video.frames", "2",
         "--video.resolution", "16", "--video.format", "gif", "--train.preview-every", "0", "--export.no-enabled",
         "--image.novel-view-weight", "0"]


@pytest.fixture(scope="module")
def prior_folder(tmp_path_factory: pytest.TempPathFactory) -> str:
    folder = tmp_path_factory.mktemp("prior")
    save_prior_folder(tiny_prior(), folder)
    return str(folder)


def test_generate_with_image_and_prompt(tmp_path: Path, prior_folder: str, capsys: pytest.CaptureFixture) -> None:
    image = cube_png(tmp_path / "cube.png")
    args = ["generate", "--image", str(image), "a red cube", "--prior.model", prior_folder,
            "--output-dir", str(tmp_path / "out"), *SMALL]
    assert main(args) == 0
    run = tmp_path / "out" / "a-red-cube-sds-image-s0"
    assert f"run folder: {run}" in capsys.readouterr().out and (run / "turntable.gif").exists()
    saved = json.loads((run / "config.json").read_text())
    assert saved["image"]["path"] == str(run / "input.png") and saved["prompt"] == "a red cube"


@pytest.mark.parametrize("content, message", [(b"hello", "not an image"), (None, "no image file")])
def test_a_bad_image_gives_the_message_and_writes_nothing(tmp_path: Path, prior_folder: str,
                                                          capsys: pytest.CaptureFixture, content: bytes | None,
                                                          message: str) -> None:
    image = tmp_path / "photo.png"
    if content is not None:
        image.write_bytes(content)
    out = tmp_path / "out"
    assert main(["generate", "--image", str(image), "a red cube", "--prior.model", prior_folder,
                 "--output-dir", str(out), *SMALL]) == 2
    assert message in capsys.readouterr().err
    assert not out.exists() or not any(out.iterdir())
