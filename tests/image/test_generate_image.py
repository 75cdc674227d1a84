"""`generate` with an input image: the run folder keeps the image, a resume reads it, bad input writes nothing."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from tiny_models import save_tiny_zero123

from scoredream.errors import ImageError
from scoredream.image import ImageConfig, reference_camera
from scoredream.priors.novel_view import CameraRange, NovelViewPrior, NovelViewPriorConfig
from scoredream.serialization import ConfigError, load_json, to_dict
from scoredream.train import GenerateConfig, generate, load_checkpoint
from scoredream.world.render import WorldRenderConfig, render_world


def cube_png(path: Path, size: int = 16) -> Path:
    rgb, alpha = render_world("cube", "red", reference_camera(ImageConfig()), WorldRenderConfig(resolution=size))
    a = alpha[0].permute(1, 2, 0).numpy()
    colour = (rgb[0].permute(1, 2, 0).numpy() - (1 - a)) / np.maximum(a, 1e-6)
    rgba = np.concatenate([np.clip(colour, 0, 1), a], -1)
    Image.fromarray((rgba * 255).round().astype(np.uint8), "RGBA").save(path)
    return path


def image_config(tmp_path: Path, image: Path, prompt: str = "a red cube", steps: int = 4) -> GenerateConfig:
    cfg = GenerateConfig(prompt=prompt, output_dir=tmp_path / "out")
    cfg.image.path = image
    cfg.hashgrid.levels, cfg.hashgrid.max_resolution, cfg.hashgrid.log2_hashmap_size = 4, 64, 12
    cfg.train.steps, cfg.train.resolution, cfg.train.device = steps, 16, "cpu"
    cfg.train.preview_every, cfg.train.checkpoint_every = 2, 2
    cfg.render.num_samples = 16
    cfg.video.frames, cfg.video.resolution, cfg.video.format = 4, 16, "gif"
    cfg.export.enabled = False
    return cfg


def test_text_plus_image_runs_end_to_end_and_resumes_from_the_run_folder(tmp_path: Path, pixel_prior) -> None:
    image = cube_png(tmp_path / "cube.png")
    cfg = image_config(tmp_path, image, steps=2)
    cfg.image.novel_view_weight = 0.0  # text and the reference view (the novel-view prior: tests below)
    result = generate(cfg, prior=pixel_prior, progress=False)
    assert result.run_dir.name == "a-red-cube-sds-image-s0" and result.video.exists()
    copy = result.run_dir / "input.png"
    assert copy.read_bytes() == image.read_bytes()
    saved = load_json(GenerateConfig, result.run_dir / "config.json")
    assert saved.image.path == copy and saved.image.lambda_rgb == cfg.image.lambda_rgb
    assert {"ref_rgb", "ref_mask", "guidance_loss"} <= result.history[-1].keys()
    image.unlink()  # the original is gone: the run folder's copy is what a resume reads
    saved.train.steps = 4
    resumed = generate(saved, prior=pixel_prior, progress=False, resume=True)
    assert resumed.step == 4 and load_checkpoint(resumed.checkpoint).config.image.path == copy
    assert len(resumed.history) == 4


@pytest.fixture(scope="module")
def zero123(tmp_path_factory: pytest.TempPathFactory) -> NovelViewPrior:
    folder = tmp_path_factory.mktemp("zero123")
    save_tiny_zero123(folder, "cc_projection", latent=False)
    return NovelViewPriorConfig(model=str(folder)).setup("cpu")


def test_image_only_runs_end_to_end_with_a_zero123_layout_prior(tmp_path: Path, zero123: NovelViewPrior) -> None:
    cfg = image_config(tmp_path, cube_png(tmp_path / "red-cube.png"), prompt="", steps=3)
    cfg.image.prior.model = "/never/read"  # the prior passed in is used
    result = generate(cfg, novel_view_prior=zero123, progress=False)
    assert result.run_dir.name == "red-cube-image-s0" and result.video.exists() and result.step == 3
    row = result.history[-1]
    assert {"ref_rgb", "ref_mask", "guidance_loss", "grad_norm", "t"} <= row.keys() and row["grad_norm"] > 0
    effective = json.loads((result.run_dir / "guidance.json").read_text())
    assert effective == {"novel_view": {"prior": zero123.source, "guidance_scale": 3.0,
                                        "timesteps": to_dict(cfg.image.guidance.timesteps)}}
    ckpt = load_checkpoint(result.checkpoint)
    assert ckpt.config.prompt == "" and ckpt.config.image.path == result.run_dir / "input.png"


def test_a_camera_outside_the_novel_view_priors_range_writes_nothing(tmp_path: Path) -> None:
    folder = tmp_path / "zero123"
    save_tiny_zero123(folder, "cc_projection", latent=False)
    CameraRange(elevation=(0.0, 30.0), distance=(1.5, 2.0), fovy=(40.0, 60.0)).write(folder)
    cfg = image_config(tmp_path, cube_png(tmp_path / "cube.png"), prompt="")
    cfg.image.prior.model, cfg.image.elevation = str(folder), 40.0  # inside the trainer's cameras, not the prior's
    with pytest.raises(ConfigError, match="elevation 40 is outside"):
        generate(cfg, progress=False)
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_text_plus_image_adds_the_novel_view_guidance(tmp_path: Path, pixel_prior, zero123: NovelViewPrior) -> None:
    cfg = image_config(tmp_path, cube_png(tmp_path / "cube.png"), steps=2)
    cfg.image.novel_view_weight = 0.5
    row = generate(cfg, prior=pixel_prior, novel_view_prior=zero123, progress=False).history[-1]
    assert {"guidance_loss", "novel_view_loss", "novel_view_grad_norm", "ref_rgb"} <= row.keys()


def test_reference_losses_fall_in_generate(tmp_path: Path, pixel_prior) -> None:
    cfg = image_config(tmp_path, cube_png(tmp_path / "cube.png"), steps=16)
    cfg.image.reference_only, cfg.image.novel_view_weight = 0.95, 0.0  # the reference view alone: its losses fall
    cfg.optim.lr_grid, cfg.optim.lr_mlp = 3e-2, 1e-2
    history = generate(cfg, prior=pixel_prior, progress=False).history
    assert history[-1]["ref_mask"] < 0.5 * history[0]["ref_mask"]
    assert history[-1]["ref_rgb"] < 0.5 * history[0]["ref_rgb"]
    assert "guidance_loss" not in history[-1]  # no random views in the reference-only start


@pytest.mark.parametrize("case, error, message", [
    ("missing", ImageError, "no image file"),
    ("corrupt", ImageError, "not an image"),
    ("elevation", ConfigError, "outside the range"),
])
def test_bad_input_gets_the_message_and_writes_nothing(tmp_path: Path, pixel_prior, case: str, error: type,
                                                       message: str) -> None:
    image = tmp_path / "in.png"
    if case == "corrupt":
        image.write_bytes(b"\x89PNG\r\n\x1a\n broken")
    elif case == "elevation":
        cube_png(image)
    cfg = image_config(tmp_path, image)
    cfg.image.novel_view_weight = 0.0
    cfg.image.elevation = 70.0 if case == "elevation" else cfg.image.elevation
    with pytest.raises(error, match=message):
        generate(cfg, prior=pixel_prior, progress=False)
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_text_configs_are_saved_as_before_and_old_configs_load(tmp_path: Path) -> None:
    text = GenerateConfig(prompt="a red cube")
    assert "image" not in to_dict(text)
    old = tmp_path / "config.json"
    old.write_text(json.dumps({"prompt": "a red cube", "train": {"steps": 10}}))
    loaded = load_json(GenerateConfig, old)
    assert loaded.image == ImageConfig() and not loaded.image.enabled
