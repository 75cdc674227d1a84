"""scripts/render_world_data.py: the geometry bank is rendered from the cameras asked for."""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

import pytest

from scoredream.world.dataset import GeometryBank

SCRIPT = Path(__file__).parents[2] / "scripts" / "render_world_data.py"


def test_the_bank_holds_views_from_the_elevations_asked_for(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "bank.pt"
    monkeypatch.setattr(sys, "argv", [str(SCRIPT), "--views-per-shape", "4", "--elevation-range", "50", "80",
                                      "--out", str(out)])
    runpy.run_path(str(SCRIPT), run_name="__main__")
    bank = GeometryBank.load(out)
    assert len(bank) == 4 * 6
    assert bank.elevation.min() >= 50 and bank.elevation.max() <= 80
    assert bank.alpha.amax((1, 2, 3)).min() > 0.5  # every view sees its shape


def test_the_bank_is_rendered_at_the_size_asked_for(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "bank64.pt"
    monkeypatch.setattr(sys, "argv", [str(SCRIPT), "--views-per-shape", "2", "--image-size", "64", "--out", str(out)])
    runpy.run_path(str(SCRIPT), run_name="__main__")
    bank = GeometryBank.load(out)
    assert bank.resolution == 64 and bank.alpha.shape[-2:] == (64, 64)
