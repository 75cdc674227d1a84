"""scripts/prior_views.py: truth, the prior's samples and fields in one picture, each field scored against the
truth's renders."""

from __future__ import annotations

import re
import runpy
import sys
from pathlib import Path

import pytest
from PIL import Image

SCRIPTS = Path(__file__).parents[2] / "scripts"


def run_script(name: str, argv: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "argv", [str(SCRIPTS / name), *argv])
    runpy.run_path(str(SCRIPTS / name), run_name="__main__")


def test_a_field_of_the_true_object_renders_closer_to_its_truth_than_to_another(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    run_script("distil_from_truth.py", ["--prompts", "a blue sphere", "--fit-steps", "100", "--out",
                                        str(tmp_path), "--overrides", '{"train": {"steps": 1}}'], monkeypatch)
    fitted = tmp_path / "sds" / "a-blue-sphere-sds-s0" / "fitted.safetensors"
    capsys.readouterr()
    psnr = {}
    for prompt in ("a blue sphere", "a blue cube"):
        out = tmp_path / f"{prompt}.png"
        run_script("prior_views.py", [prompt, str(fitted), "--samples", "1", "--out", str(out)], monkeypatch)
        psnr[prompt] = float(re.search(r"PSNR against the true renders (\S+) dB", capsys.readouterr().out).group(1))
        assert Image.open(out).size == (8 * 128, 3 * 128)  # 8 cameras; truth, one sample row, the field
    assert psnr["a blue sphere"] > 22.0
    assert psnr["a blue sphere"] > psnr["a blue cube"] + 5.0
