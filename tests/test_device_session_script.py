"""scripts/device_session.sh, the prepared GPU run, at toy size on the CPU: every stage runs and what is meant to come
back does, so the script is known to work before device time is spent on it."""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
from pathlib import Path

SCRIPT = Path(__file__).parents[1] / "scripts" / "device_session.sh"


def test_every_stage_runs_and_its_files_come_back(tmp_path: Path) -> None:
    out = tmp_path / "out"
    env = {**os.environ, "SMOKE": "1", "PYTHON": sys.executable, "OUT": str(out), "WORK": str(tmp_path / "work")}
    subprocess.run(["bash", str(SCRIPT)], cwd=SCRIPT.parents[1], env=env, check=True, timeout=600)

    log = (out / "log.txt").read_text()
    for stage in ("render: rc 0", "train_prior: rc 0", "mug: done", "gpu_step_eager: rc 0", "others: done"):
        assert stage in log
    runs = [line.split(":")[0] for line in (out / "results.txt").read_text().splitlines()]
    assert sorted(runs) == ["a_red_cube_64cam_s0", "mug64cam_s0", "mug64cam_s1", "mug64cam_s2", "mug_default_s0"]
    with tarfile.open(out / "prior64cam.tar") as tar:
        assert "prior64cam/unet/config.json" in tar.getnames()
    assert (out / "mug64cam_s0.png").stat().st_size > 0 and len(list(out.iterdir())) <= 8  # the device's limit
