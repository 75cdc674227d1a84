"""scripts/iou_ceiling.py: a prior pixel is the training cameras' view height over the prior's resolution, and
moving a surface by a fraction of it costs the IoU that geometry says."""

from __future__ import annotations

import math
import runpy
from pathlib import Path

import pytest

from scoredream.render.cameras import CameraSamplerConfig

SCRIPT = runpy.run_path(str(Path(__file__).parents[2] / "scripts" / "iou_ceiling.py"))


def test_pixel_size_is_the_mean_view_height_over_the_resolution() -> None:
    cameras = CameraSamplerConfig(distance_range=(1.0, 3.0), fovy_range=(80.0, 100.0))
    assert SCRIPT["pixel_size"](32, cameras) == pytest.approx(2 * 2.0 * math.tan(math.radians(45)) / 32)


def test_shrunk_sphere_loses_what_its_volume_says(capsys: pytest.CaptureFixture[str]) -> None:
    pixel = 0.1
    SCRIPT["shifted_rows"](SCRIPT["grid_points"](64), pixel)
    row = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("| sphere |"))
    shrunk_half_pixel = float(row.split("|")[3].split("/")[0])
    radius = 0.4
    assert shrunk_half_pixel == pytest.approx(((radius - 0.5 * pixel) / radius) ** 3, abs=0.03)
