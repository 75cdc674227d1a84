"""A run folder written by an earlier version (tests/fixtures/run_v0: commit 9586bcb, a 4-step SDS run of a small
hash grid on the embedded prior) still renders, exports, converts and resumes with today's code."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import trimesh

from scoredream.cli import main
from scoredream.train import load_checkpoint

FIXTURE = Path(__file__).parent / "fixtures" / "run_v0"


@pytest.fixture
def old_run(tmp_path: Path) -> Path:
    run = tmp_path / "run_v0"
    shutil.copytree(FIXTURE, run)
    return run


def test_old_checkpoint_loads_with_its_config(old_run: Path) -> None:
    ckpt = load_checkpoint(old_run)
    assert ckpt.step == 4
    assert ckpt.config.prompt == "a red cube"
    assert ckpt.config.hashgrid.levels == 4  # its own (non-default) field settings, not today's defaults
    assert not ckpt.config.render.train_pixel_jitter  # it trained through pixel centres; resumed, it still does


def test_old_run_renders(old_run: Path) -> None:
    out = old_run / "turn.gif"
    assert main(["render", str(old_run), "--frames", "2", "--resolution", "16", "--format", "gif",
                 "--output", str(out)]) == 0
    assert out.stat().st_size > 0


def test_old_run_exports(old_run: Path) -> None:
    out = old_run / "mesh.ply"
    assert main(["export", str(old_run), "--format", "ply", "--resolution", "32", "--target-faces", "0",
                 "--output", str(out)]) == 0
    assert len(trimesh.load(out).faces) > 0


def test_old_run_converts(old_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "as_voxel"
    assert main(["convert", str(old_run), "--to", "voxel", "--output", str(out), "--pvd.steps", "4"]) == 0
    assert load_checkpoint(out).config.field == "voxel"


def test_old_run_resumes(old_run: Path) -> None:
    config = json.loads((old_run / "config.json").read_text())
    config["output_dir"] = str(old_run.parent)
    (old_run / "config.json").write_text(json.dumps(config))
    assert main(["generate", "--config", str(old_run / "config.json"), "--resume", "--train.steps", "6"]) == 0
    assert load_checkpoint(old_run).step == 6
