import json
import math

import pytest
import torch
from tiny_models import save_tiny_zero123

from scoredream.guidance.novel_view import NovelViewGuidanceConfig
from scoredream.priors.loading import PriorLoadError
from scoredream.priors.novel_view import NovelViewPriorConfig, relative_camera, zero123_camera
from scoredream.render.cameras import make_cameras


def _cams(az, el=0.0, dist=1.75, fovy=50.0):
    az = torch.as_tensor(az, dtype=torch.float32).reshape(-1)
    n = len(az)
    return make_cameras(az, torch.full((n,), float(el)), torch.full((n,), float(dist)), torch.full((n,), float(fovy)))


@pytest.mark.parametrize("layout", ["cc_projection", "clip_camera_projection"])
def test_zero123_layouts_load_and_predict_as_built(tmp_path, layout):
    parts = save_tiny_zero123(tmp_path, layout, latent=True)
    prior = NovelViewPriorConfig(model=str(tmp_path)).setup("cpu")
    assert prior.is_latent and prior.image_size == 16
    assert torch.equal(prior.camera_projection.weight, parts["projection"].weight)
    image = torch.rand(1, 3, 24, 24)
    cond = prior.encode_reference(image)
    assert cond.embedding.shape == (1, 1, 16) and cond.latent.shape == (1, 4, 8, 8)
    # The same prediction by hand: Zero123's token and concatenation, with the in-memory components.
    x_t, t = torch.randn(2, 4, 8, 8), torch.tensor([10, 600])
    d_el, d_az, d_dist = torch.tensor([0.2, -0.1]), torch.tensor([math.pi, 0.5]), torch.tensor([0.0, 0.3])
    camera = torch.stack([-d_el, d_az.sin(), d_az.cos(), d_dist], -1)
    token = parts["projection"](torch.cat([cond.embedding.expand(2, -1, -1), camera[:, None]], -1))
    pixels = torch.nn.functional.interpolate(image, (16, 16), mode="bilinear", antialias=True) * 2 - 1
    latent = parts["vae"].encode(pixels).latent_dist.mode()  # Zero123: the mode, without the scaling factor
    expected = parts["unet"](torch.cat([x_t, latent.expand(2, -1, -1, -1)], 1), t, encoder_hidden_states=token).sample
    got = prior.predict_noise(x_t, t, cond, d_el, d_az, d_dist)
    assert torch.allclose(got, expected, atol=1e-4)
    # The unconditional branch is the zero token and the zero latent.
    zeros = parts["unet"](torch.cat([x_t, torch.zeros(2, 4, 8, 8)], 1), t,
                          encoder_hidden_states=torch.zeros(2, 1, 16)).sample
    assert torch.allclose(prior.predict_noise(x_t, t, cond, d_el, d_az, d_dist, unconditional=True), zeros, atol=1e-4)


@pytest.mark.parametrize("layout", ["cc_projection", "clip_camera_projection"])
def test_novel_view_sds_gives_finite_nonzero_gradients(tmp_path, layout):
    save_tiny_zero123(tmp_path, layout, latent=layout == "cc_projection")
    prior = NovelViewPriorConfig(model=str(tmp_path)).setup("cpu")
    guidance = NovelViewGuidanceConfig().setup(prior)
    assert guidance.guidance_scale == 3.0
    guidance.set_reference(torch.rand(3, 20, 20), _cams([30.0]))
    rgb = torch.rand(3, 20, 20, 3, requires_grad=True)
    out = guidance(rgb, _cams([0.0, 120.0, -150.0]), progress=0.3, generator=torch.Generator().manual_seed(0))
    out.loss.backward()
    assert torch.isfinite(rgb.grad).all() and rgb.grad.abs().sum() > 0 and out.grad_norm > 0


def test_guidance_needs_the_reference_first(tmp_path):
    save_tiny_zero123(tmp_path, "cc_projection", latent=False)
    guidance = NovelViewGuidanceConfig().setup(NovelViewPriorConfig(model=str(tmp_path)).setup())
    with pytest.raises(RuntimeError, match="set_reference"):
        guidance(torch.rand(1, 16, 16, 3), _cams([0.0]), 0.0)
    with pytest.raises(ValueError, match="one camera"):
        guidance.set_reference(torch.rand(3, 16, 16), _cams([0.0, 90.0]))


def test_relative_camera_follows_zero123s_conventions():
    d_el, d_az, d_dist = relative_camera(_cams([170.0], el=30.0, dist=2.0), _cams([-170.0], el=10.0, dist=1.5))
    assert torch.allclose(d_el, torch.deg2rad(torch.tensor([20.0])))
    assert torch.allclose(torch.cos(d_az), torch.cos(torch.deg2rad(torch.tensor([340.0]))))
    assert torch.allclose(d_dist, torch.tensor([0.5]))
    # Zero123's first number is the change of the polar angle (from the up axis): a camera above is negative.
    assert zero123_camera(d_el, d_az, d_dist)[0, 0] < 0
    # A narrower field of view at the same distance counts as a closer camera.
    _, _, zoom = relative_camera(_cams([0.0], fovy=40.0), _cams([0.0], fovy=60.0))
    assert zoom < 0
    _, _, plain = relative_camera(_cams([0.0], fovy=40.0), _cams([0.0], fovy=60.0), fovy_deg=None)
    assert plain == 0


def test_incomplete_or_wrong_folders_get_clear_errors(tmp_path):
    with pytest.raises(PriorLoadError, match="no model folder"):
        NovelViewPriorConfig(model=str(tmp_path / "nope")).setup()
    save_tiny_zero123(tmp_path / "a", "cc_projection", latent=False)
    index = json.loads((tmp_path / "a" / "model_index.json").read_text())
    del index["image_encoder"]
    (tmp_path / "a" / "model_index.json").write_text(json.dumps(index))
    with pytest.raises(PriorLoadError, match="lacks image_encoder"):
        NovelViewPriorConfig(model=str(tmp_path / "a")).setup()
    save_tiny_zero123(tmp_path / "b", "clip_camera_projection", latent=False)
    weights = tmp_path / "b" / "clip_camera_projection" / "diffusion_pytorch_model.safetensors"
    weights.write_bytes(b"garbage")
    with pytest.raises(PriorLoadError, match="camera projection's weights"):
        NovelViewPriorConfig(model=str(tmp_path / "b")).setup()
    save_tiny_zero123(tmp_path / "c", "cc_projection", latent=False)
    index = json.loads((tmp_path / "c" / "model_index.json").read_text())
    del index["cc_projection"]
    (tmp_path / "c" / "model_index.json").write_text(json.dumps(index))
    import shutil

    shutil.rmtree(tmp_path / "c" / "cc_projection")
    with pytest.raises(PriorLoadError, match="no camera projection"):
        NovelViewPriorConfig(model=str(tmp_path / "c")).setup()


def test_a_text_prior_folder_is_not_a_novel_view_prior(tmp_path, pixel_prior):
    from tiny_models import save_prior_folder

    save_prior_folder(pixel_prior, tmp_path)
    with pytest.raises(PriorLoadError, match="lacks image_encoder"):
        NovelViewPriorConfig(model=str(tmp_path)).setup()


def test_an_input_camera_outside_the_trained_range_is_refused(tmp_path):
    from scoredream.priors.novel_view import CameraRange
    from scoredream.serialization import ConfigError

    save_tiny_zero123(tmp_path, "cc_projection", latent=False)
    CameraRange((-10.0, 45.0), (1.5, 2.0), (40.0, 60.0)).write(tmp_path)
    guidance = NovelViewGuidanceConfig().setup(NovelViewPriorConfig(model=str(tmp_path)).setup())
    guidance.set_reference(torch.rand(3, 16, 16), _cams([0.0], el=30.0))
    with pytest.raises(ConfigError, match="elevation 80 is outside"):
        guidance.set_reference(torch.rand(3, 16, 16), _cams([0.0], el=80.0))
    with pytest.raises(ConfigError, match="distance 3 is outside"):
        guidance.set_reference(torch.rand(3, 16, 16), _cams([0.0], dist=3.0))
