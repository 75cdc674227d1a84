"""Text -> image -> 3D: `scoredream generate --text-image PROMPT` (the prior's image, matted, then image to 3D),
sample2d's matted PNGs, and the refusal of an image without a plain background."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from scoredream.cli import main
from scoredream.distill2d import OneStepStudent
from scoredream.distill2d.sample import sample_matte, write_images
from scoredream.distill2d.text_image import text_image_3d
from scoredream.errors import ImageError
from scoredream.image import ImageConfig, object_rgba, reference_camera
from scoredream.priors import load_prior
from scoredream.priors.sampling import ddim_sample
from scoredream.train import GenerateConfig
from scoredream.world.judge import judged_right, load_judge
from scoredream.world.render import WorldRenderConfig, render_world

SMALL = ["--train.steps", "2", "--train.resolution", "16", "--train.device", "cpu", "--render.num-samples", "8",
         "--hashgrid.levels", "2", "--hashgrid.max-resolution", "32", "--video.frames", "2",
         "--video.resolution", "16", "--video.format", "gif", "--train.preview-every", "0",
         "--export.resolution", "32", "--export.coarse-resolution", "16", "--export.format", "ply",
         "--image.novel-view-weight", "0"]


@pytest.mark.parametrize("prior", ["embedded", "embedded-camera"])
def test_one_command_from_a_prompt_to_a_mesh(prior: str, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """The embedded prior draws "a red cube" (25 DDIM steps; the camera-conditioned one from the input view's
    camera), its matte is the alpha, and image to 3D runs."""
    out = tmp_path / "out"
    assert main(["generate", "--text-image", "a red cube", "--prior.model", prior, "--output-dir", str(out),
                 *SMALL]) == 0
    printed = capsys.readouterr().out
    run = out / "a-red-cube-sds-image-s0"
    assert f"image:      {run / 'input.png'}" in printed and (run / "checkpoints" / "last.safetensors").exists()
    mesh = Path(next(line for line in printed.splitlines() if line.startswith("mesh:")).split()[1])
    assert mesh.exists() and mesh.parent == run
    saved = json.loads((run / "config.json").read_text())
    assert saved["image"]["path"] == str(run / "input.png") and saved["prompt"] == "a red cube"
    with Image.open(run / "input.png") as image:
        alpha = np.asarray(image)[..., 3]
        assert image.mode == "RGBA" and image.size == (256, 256)
    assert 0.02 < (alpha > 127).mean() < 0.6 and alpha[0].max() == 0  # an object, and a transparent border


def test_an_image_without_a_plain_background_is_refused_before_anything_is_written(
        tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """An untrained student's one-step image is noise (scripts/bench_text_image_3d.py: none of 96 pass): refused."""
    student = tmp_path / "student"
    OneStepStudent.from_teacher(load_prior("embedded")).save_pretrained(student)
    config = GenerateConfig(prompt="a red cube", output_dir=tmp_path / "out")
    config.train.device = "cpu"
    with pytest.raises(ImageError, match="the image of 'a red cube': the image border is not one plain colour"):
        text_image_3d(config, student, refine_steps=0)
    assert not config.output_dir.exists()
    assert main(["generate", "--student", str(student), "a red cube", "--output-dir", str(tmp_path)]) == 2
    assert "add --text-image" in capsys.readouterr().err
    assert main(["generate", "--text-image", "--image", str(student / "x.png"), "a red cube"]) == 2
    assert "give no --image" in capsys.readouterr().err


def test_the_teachers_last_ddim_steps_remove_a_grain_that_hides_the_object() -> None:
    """SDEdit from t = 0.2 T (the last 5 of 25 DDIM steps): a red cube under per-pixel grain, whose matte cannot
    be found, comes out on a plain backdrop, still a red cube (4 noise draws)."""
    prior, judge = load_prior("embedded"), load_judge()
    rgb, _ = render_world("cube", "red", reference_camera(ImageConfig()), WorldRenderConfig(resolution=32))
    grainy = (rgb + 0.15 * torch.randn(rgb.shape, generator=torch.Generator().manual_seed(0))).clamp(0, 1)
    with pytest.raises(ImageError, match="not one plain colour"):
        sample_matte(grainy[0])
    texts = ["a red cube"] * 4
    finished = ddim_sample(prior, texts, 2.0, 25, torch.Generator().manual_seed(0), start=grainy.repeat(4, 1, 1, 1),
                           last=5)
    assert all(sample_matte(image).mean() > 0.1 for image in finished)
    assert judged_right(judge, finished, texts).all()


def test_sample_pngs_carry_the_objects_matte_which_the_loader_takes(tmp_path: Path,
                                                                    capsys: pytest.CaptureFixture) -> None:
    rgb, alpha = render_world("torus", "purple", reference_camera(ImageConfig()), WorldRenderConfig(resolution=32))
    backdrop = torch.tensor([0.55, 0.6, 0.45])[:, None, None] * (1 - alpha[0])
    sample = (rgb[0] - (1 - alpha[0]) + backdrop + 0.05 * torch.randn(rgb[0].shape, generator=torch.Generator()
                                                                       .manual_seed(0))).clamp(0, 1)
    noise = torch.rand(3, 32, 32, generator=torch.Generator().manual_seed(1))
    matted, plain = write_images(torch.stack([sample, noise]), ["torus", "noise"], tmp_path, size=64)
    assert "noise: the image border is not one plain colour" in capsys.readouterr().err
    with Image.open(matted) as a, Image.open(plain) as b:
        assert (a.mode, a.size, b.mode) == ("RGBA", (64, 64), "RGB")
    _, mask = object_rgba(matted, 0.12)
    truth = torch.nn.functional.interpolate(alpha, size=64, mode="bilinear")[0] > 0.5
    found = mask > 0.5
    assert (found & truth).sum() / (found | truth).sum() > 0.8
