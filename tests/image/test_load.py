"""Input images: RGBA as given, RGB separated from a plain background, framing, and the refusals."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from scipy import ndimage

from scoredream.errors import ImageError
from scoredream.image import ImageConfig, load_reference, separate_background
from scoredream.image.load import GRAIN
from scoredream.render.cameras import CameraSamplerConfig, make_cameras
from scoredream.serialization import ConfigError
from scoredream.world.render import WorldRenderConfig, render_world


def world_view(shape: str = "torus", colour: str = "purple", size: int = 32,
               elevation: float = 15.0) -> tuple[np.ndarray, np.ndarray]:
    one = torch.ones(1)
    cams = make_cameras(one * 30.0, one * elevation, one * 1.75, one * 50.0)
    rgb, alpha = render_world(shape, colour, cams, WorldRenderConfig(resolution=size))
    return rgb[0].permute(1, 2, 0).numpy(), alpha[0, 0].numpy()


def save(array: np.ndarray, path: Path) -> Path:
    Image.fromarray((np.clip(array, 0, 1) * 255).round().astype(np.uint8)).save(path, quality=95)
    return path


def test_rgba_is_used_as_is(tmp_path: Path) -> None:
    rgb, alpha = world_view()
    colour = (rgb - (1 - alpha[..., None])) / np.maximum(alpha[..., None], 1e-6)
    path = save(np.concatenate([colour, alpha[..., None]], -1), tmp_path / "torus.png")
    ref = load_reference(ImageConfig(path=path), 32, CameraSamplerConfig())
    assert ref.rgb.shape == (3, 32, 32) and ref.mask.shape == (1, 32, 32)
    assert torch.allclose(ref.mask[0], torch.from_numpy(alpha), atol=1 / 255)
    assert torch.allclose(ref.rgb, torch.from_numpy(rgb).permute(2, 0, 1), atol=2 / 255)
    assert ref.camera.elevation.item() == 15.0 and ref.camera.azimuth.item() == 0.0


def test_rgb_on_a_plain_background_is_separated_and_the_torus_hole_stays(tmp_path: Path) -> None:
    rgb, alpha = world_view(size=64, elevation=45.0)
    grey = np.array([0.5, 0.55, 0.5])
    on_grey = (rgb - (1 - alpha[..., None])) + grey * (1 - alpha[..., None])  # colour x alpha + grey behind
    path = save(on_grey, tmp_path / "torus.jpg")
    ref = load_reference(ImageConfig(path=path), 64)
    truth, seen = alpha > 0.5, ndimage.binary_dilation(alpha > 0.01)
    found = ref.mask[0].numpy() > 0.5
    assert found[truth].all() and not found[~seen].any()  # binary: the edge's partly covered pixels may count
    hole = ndimage.binary_fill_holes(truth) & ~seen
    assert hole.sum() > 10 and not found[hole].any()  # the torus's hole shows the background: not filled
    assert ref.rgb[:, ~torch.from_numpy(found)].min() == 1.0  # the grey backdrop became white


def test_recenter_puts_the_object_in_the_middle(tmp_path: Path) -> None:
    canvas = np.ones((80, 120, 3))
    canvas[10:30, 5:25] = [0.9, 0.1, 0.1]  # a red square in the top-left corner
    ref = load_reference(ImageConfig(path=save(canvas, tmp_path / "corner.png"), recenter=True,
                                     object_fraction=0.5), 32)
    rows, cols = torch.nonzero(ref.mask[0] > 0.5, as_tuple=True)
    assert abs(rows.float().mean().item() - 15.5) < 1 and abs(cols.float().mean().item() - 15.5) < 1
    assert 14 <= rows.max() - rows.min() + 1 <= 18  # half the side


@pytest.mark.parametrize("case, message", [
    ("text", "not an image"),
    ("tiny", "at least 16"),
    ("transparent", "transparent everywhere"),
    ("opaque", "opaque everywhere"),
    ("noisy_border", "not one plain colour"),
    ("blank", "differs from its background"),
])
def test_bad_images_get_a_message(tmp_path: Path, case: str, message: str) -> None:
    path = tmp_path / f"{case}.png"
    if case == "text":
        path.write_text("not a picture")
    elif case == "tiny":
        save(np.zeros((8, 8, 3)), path)
    elif case in ("transparent", "opaque"):
        rgba = np.zeros((32, 32, 4))
        rgba[..., 3] = 0.0 if case == "transparent" else 1.0
        save(rgba, path)
    elif case == "noisy_border":
        save(np.random.default_rng(0).random((32, 32, 3)), path)
    else:
        save(np.ones((32, 32, 3)), path)
    with pytest.raises(ImageError, match=message):
        load_reference(ImageConfig(path=path), 32)


@pytest.mark.parametrize("change", [{"elevation": 80.0}, {"distance": 5.0}, {"fovy": float("nan")}])
def test_a_camera_outside_the_priors_range_is_refused(tmp_path: Path, change: dict) -> None:
    rgb, _ = world_view()
    path = save(rgb, tmp_path / "view.png")
    with pytest.raises(ConfigError, match="outside the range|fovy"):
        load_reference(ImageConfig(path=path, **change), 32, CameraSamplerConfig())


def grainy(rgb: np.ndarray, alpha: np.ndarray, background: np.ndarray, grain: float) -> np.ndarray:
    """The object over a tinted backdrop, with per-pixel Gaussian grain everywhere (a generator's sample)."""
    colour = rgb - (1 - alpha[..., None])
    noise = np.random.default_rng(0).normal(0, grain, rgb.shape)
    return np.clip(colour + background * (1 - alpha[..., None]) + noise, 0, 1).astype(np.float32)


def test_a_grainy_backdrop_is_separated_after_the_generators_median_filter() -> None:
    rgb, alpha = world_view("cube", "red", size=32)
    image = grainy(rgb, alpha, np.array([0.55, 0.6, 0.45]), grain=0.07)
    with pytest.raises(ImageError, match="not one plain colour"):  # per pixel, the grain is above the threshold
        separate_background(image, 0.12, "sample")
    found = separate_background(image, 0.12, "sample", denoise=GRAIN) > 0.5
    truth = alpha > 0.5
    assert (found & truth).sum() / (found | truth).sum() > 0.8  # 0.86 without grain or filter (the edge pixels)


@pytest.mark.parametrize("border", ["noise", "two colours", "gradient"])
def test_a_border_that_is_not_one_colour_is_refused_even_after_the_filter(border: str) -> None:
    rgb, alpha = world_view("cube", "red", size=32)
    if border == "noise":
        backdrop = np.random.default_rng(1).random((32, 32, 3))
    elif border == "two colours":
        backdrop = np.where(np.arange(32)[None, :, None] < 16, [0.9, 0.9, 0.9], [0.2, 0.3, 0.8])
    else:
        backdrop = np.linspace(0, 1, 32)[:, None, None] * np.ones((32, 32, 3))
    image = np.clip(rgb - (1 - alpha[..., None]) + backdrop * (1 - alpha[..., None]), 0, 1).astype(np.float32)
    with pytest.raises(ImageError, match="not one plain colour"):
        separate_background(image, 0.12, "sample", denoise=GRAIN)
