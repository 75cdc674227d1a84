import pytest
import torch
from diffusers import DDPMScheduler, UNet2DConditionModel
from transformers import AutoTokenizer, CLIPTextModel

from scoredream.priors import load_prior
from scoredream.priors.diffusion_prior import guidance_defaults_of
from scoredream.priors.prompts import VIEW_SUFFIXES
from scoredream.render.background import BackgroundConfig
from scoredream.render.cameras import CameraSamplerConfig
from scoredream.world.prior_model import (
    CAMERA_GUIDANCE_DEFAULTS,
    EMBEDDED_GUIDANCE_DEFAULTS,
    PriorModelConfig,
    build_scheduler,
    build_text_encoder,
    build_tokenizer,
    build_unet,
    save_prior,
)
from scoredream.world.render import render_world
from scoredream.world.shapes import all_prompts


def save_tiny_prior(folder, camera_conditioned: bool = False) -> PriorModelConfig:
    config = PriorModelConfig(block_out_channels=(16, 32), text_width=32, text_layers=1,
                              camera_conditioned=camera_conditioned)
    tokenizer = build_tokenizer(config)
    save_prior(folder, build_unet(config), build_text_encoder(config, len(tokenizer)), tokenizer,
               build_scheduler(config))
    return config


def test_prior_folder_round_trips_component_by_component(tmp_path):
    config = save_tiny_prior(tmp_path)
    assert isinstance(UNet2DConditionModel.from_pretrained(tmp_path / "unet"), UNet2DConditionModel)
    assert isinstance(CLIPTextModel.from_pretrained(tmp_path / "text_encoder"), CLIPTextModel)
    assert DDPMScheduler.from_pretrained(tmp_path / "scheduler").config.num_train_timesteps == 1000
    loaded = AutoTokenizer.from_pretrained(tmp_path / "tokenizer")
    texts = [p + s for p in all_prompts() for s in ["", *VIEW_SUFFIXES.values()]]
    ids = loaded(texts).input_ids
    assert max(map(len, ids)) <= config.max_tokens
    assert loaded.unk_token_id not in {i for row in ids for i in row}
    prior = load_prior(str(tmp_path))
    assert prior.image_size == 32 and prior.encode_text(["a red mug, front view"]).shape == (1, 16, 32)


@pytest.mark.parametrize("camera_conditioned", [False, True])
def test_saved_prior_recommends_the_settings_of_its_kind(tmp_path, camera_conditioned):
    save_tiny_prior(tmp_path, camera_conditioned)
    expected = CAMERA_GUIDANCE_DEFAULTS if camera_conditioned else EMBEDDED_GUIDANCE_DEFAULTS
    assert guidance_defaults_of(str(tmp_path)) == expected


def test_shipped_prior_denoises_world_images():
    prior = load_prior("embedded")
    g = torch.Generator().manual_seed(7)
    images, texts = [], []
    for prompt in ["a red mug", "a blue cube", "a green torus", "a pink cone"]:
        rgb, _ = render_world(prompt.split()[2], prompt.split()[1], CameraSamplerConfig().sample(8, g),
                              background=BackgroundConfig(), generator=g)
        images.append(rgb)
        texts += [prompt] * 8
    x0 = prior.encode_images(torch.cat(images))
    noise = torch.randn(x0.shape, generator=g)
    t = torch.full((len(x0),), 500)
    with torch.no_grad():
        eps = prior.predict_noise(prior.add_noise(x0, noise, t), t, prior.encode_text(texts))
    # Predicting zero scores 1.0; a model that learned the world's images does far better.
    assert torch.mean((eps - noise) ** 2) < 0.1
