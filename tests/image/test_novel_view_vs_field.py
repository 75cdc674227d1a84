"""scripts/novel_view_vs_field.py: the prior's samples next to the field, from a finished image run's folder."""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from test_generate_image import cube_png, image_config
from tiny_models import save_tiny_zero123

from scoredream.train import generate

SCRIPT = Path(__file__).parents[2] / "scripts" / "novel_view_vs_field.py"


def test_the_picture_has_the_true_views_the_samples_and_the_field(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "zero123"
    save_tiny_zero123(folder, "cc_projection", latent=False)
    cfg = image_config(tmp_path, cube_png(tmp_path / "red-cube.png"), prompt="", steps=2)
    cfg.image.prior.model = str(folder)  # the script loads the run's own prior
    run = generate(cfg, progress=False).run_dir
    out = tmp_path / "picture.png"
    monkeypatch.setattr(sys, "argv", [str(SCRIPT), str(run), "--prompt", "a red cube", "--samples", "2",
                                      "--size", "24", "--elevation", "30", "--out", str(out)])
    runpy.run_path(str(SCRIPT), run_name="__main__")
    picture = np.asarray(Image.open(out).convert("RGB")).astype(np.float32) / 255
    assert picture.shape == (4 * 24, 4 * 24, 3)  # rows: truth, 2 sample rows, the field; 4 azimuths
    truth, field = picture[:24], picture[3 * 24:]
    assert truth.min() < 0.5 and (truth > 0.99).mean() > 0.3  # the red cube on white
    assert not np.allclose(truth, field, atol=0.05)  # a 2-step field is not the cube yet
