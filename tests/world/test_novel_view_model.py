import pytest
import torch
from diffusers import DDPMScheduler
from tiny_models import tiny_image_encoder, tiny_unet

from scoredream.priors.novel_view import CCProjection, NovelViewPrior, apparent_distance, zero123_camera
from scoredream.render.cameras import make_cameras
from scoredream.world.dataset import render_bank
from scoredream.world.novel_view_model import (
    orbit_views,
    same_shape_views,
    sample_pairs,
    widen_unet,
)
from scoredream.world.prior_model import load_unet_weights
from scoredream.world.render import WorldRenderConfig


def _inputs(batch: int = 2, cross_dim: int = 16):
    torch.manual_seed(0)
    x = torch.randn(batch, 3, 16, 16)
    t = torch.tensor([50, 700])[:batch]
    token = torch.randn(batch, 1, cross_dim)
    return x, t, token


@torch.no_grad()
def test_widened_unet_with_token_in_resnets_starts_as_the_text_unet():
    text_unet = tiny_unet(cross_dim=16).eval()
    wide = widen_unet(text_unet, token_in_resnets=True).eval()
    assert wide.config.in_channels == 6 and wide.config.class_embed_type == "projection"
    x, t, token = _inputs()
    expected = text_unet(x, t, encoder_hidden_states=token).sample
    # Whatever the concatenated image and the token in the ResNets, the output is the text UNet's at first ...
    got = wide(torch.cat([x, torch.randn_like(x)], 1), t, encoder_hidden_states=token,
               class_labels=torch.randn(2, 16)).sample
    assert torch.allclose(got, expected, atol=1e-5)
    # ... and the token reaches the ResNets once the class embedding's output layer moves.
    wide.class_embedding.linear_2.weight.normal_()
    moved = wide(torch.cat([x, x], 1), t, encoder_hidden_states=token, class_labels=token[:, 0]).sample
    assert (moved - expected).abs().max() > 1e-2


@torch.no_grad()
def test_prior_feeds_the_conditioning_token_to_the_class_embedding():
    unet = widen_unet(tiny_unet(cross_dim=16), token_in_resnets=True).eval()
    unet.class_embedding.linear_2.weight.normal_()
    projection = CCProjection(16 + 4, 16).projection
    encoder, scheduler = tiny_image_encoder(projection_dim=16), DDPMScheduler(num_train_timesteps=1000)
    prior = NovelViewPrior(unet, encoder, scheduler, projection, source="test")
    x, t, _ = _inputs()
    image = torch.rand(1, 3, 16, 16)
    cond = prior.encode_reference(image)
    d = torch.tensor([0.3, -0.2])
    token = projection(torch.cat([cond.embedding.expand(2, -1, -1), zero123_camera(d, d, d)[:, None]], -1))
    latent = cond.latent.expand(2, -1, -1, -1)
    expected = unet(torch.cat([x, latent], 1), t, encoder_hidden_states=token, class_labels=token[:, 0]).sample
    assert torch.allclose(prior.predict_noise(x, t, cond, d, d, d), expected, atol=1e-5)
    # The unconditional branch zeroes the token in both places.
    zeros = torch.zeros(2, 1, 16)
    uncond = unet(torch.cat([x, torch.zeros_like(latent)], 1), t, encoder_hidden_states=zeros,
                  class_labels=zeros[:, 0]).sample
    assert torch.allclose(prior.predict_noise(x, t, cond, d, d, d, unconditional=True), uncond, atol=1e-5)


def test_weights_that_do_not_fit_are_refused():
    wide = widen_unet(tiny_unet(cross_dim=16), token_in_resnets=True)
    state = dict(wide.state_dict())
    state.pop("conv_in.weight")
    with pytest.raises(ValueError, match="conv_in.weight"):
        load_unet_weights(wide, state)


def test_orbit_views_keep_elevation_and_distance_and_turn_the_object():
    generator = torch.Generator().manual_seed(0)
    bank = render_bank(60, generator, config=WorldRenderConfig(resolution=16))
    views = torch.arange(0, len(bank), 5)
    targets = orbit_views(bank, views, generator, candidates=3)
    others = same_shape_views(bank, views, generator)
    assert (bank.shape[targets] == bank.shape[views]).all() and (targets != views).all()
    cams = make_cameras(bank.azimuth, bank.elevation, bank.distance, bank.fovy)
    place = torch.stack([bank.elevation, 100 * apparent_distance(cams)], -1)  # degrees, 10 deg ~ 0.1 distance
    # Orbit targets sit near the input's elevation and apparent distance, at whatever azimuth ...
    step, jump = ((place[i] - place[views]).norm(dim=-1).mean() for i in (targets, others))
    assert step < 0.3 * jump
    assert (bank.azimuth[targets] - bank.azimuth[views]).abs().mean() > 45
    # ... and sample_pairs mixes them in.
    pairs = sample_pairs(bank, 8, generator, orbit=1.0)
    assert pairs.target.shape == (8, 3, 16, 16)
