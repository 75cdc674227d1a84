import pytest
import torch
from tiny_models import save_prior_folder, tiny_prior

from scoredream.guidance import ASDConfig, SDSConfig, VSDConfig
from scoredream.priors import PriorConfig, PriorLoadError, PromptEmbeddings, PromptError, view_index
from scoredream.priors.diffusion_prior import GUIDANCE_DEFAULTS_FILE, guidance_defaults_of
from scoredream.serialization import ConfigError
from scoredream.world.prior_model import CAMERA_GUIDANCE_DEFAULTS, EMBEDDED_GUIDANCE_DEFAULTS


@pytest.mark.parametrize("latent", [False, True])
def test_folder_round_trip_predicts_the_same_noise(tmp_path, latent):
    prior = tiny_prior(latent=latent, prediction_type="v_prediction")
    save_prior_folder(prior, tmp_path)
    loaded = PriorConfig(model=str(tmp_path)).setup("cpu")
    assert loaded.is_latent == latent and loaded.prediction_type == "v_prediction"
    x = torch.randn(2, 4 if latent else 3, 8 if latent else 16, 8 if latent else 16)
    t = torch.tensor([10, 500])
    emb = loaded.encode_text(["a red cube", "a blue sphere"])
    assert torch.allclose(loaded.predict_noise(x, t, emb), prior.predict_noise(x, t, emb), atol=1e-5)


def test_v_prediction_is_converted_to_epsilon(pixel_prior):
    # If the model predicted v exactly, the converted output must be the true noise.
    x0, eps, t = torch.randn(2, 3, 16, 16), torch.randn(2, 3, 16, 16), torch.tensor([100, 800])
    a = pixel_prior.alphas_cumprod[t].view(-1, 1, 1, 1)
    x_t = a.sqrt() * x0 + (1 - a).sqrt() * eps
    v = a.sqrt() * eps - (1 - a).sqrt() * x0
    assert torch.allclose(pixel_prior.to_epsilon(v, x_t, t, "v_prediction"), eps, atol=1e-5)


def test_latent_prior_encodes_renders_with_gradient(latent_prior):
    rgb = torch.rand(1, 3, 20, 20, requires_grad=True)
    latents = latent_prior.encode_images(rgb)
    assert latents.shape == (1, 4, 8, 8)
    latents.sum().backward()
    assert rgb.grad is not None and rgb.grad.abs().sum() > 0


def test_missing_model_errors_are_clear(tmp_path):
    with pytest.raises(PriorLoadError, match="no model folder"):
        PriorConfig(model=str(tmp_path / "nope")).setup()
    with pytest.raises(PriorLoadError, match="not a diffusers model folder"):
        PriorConfig(model=str(tmp_path)).setup()
    with pytest.raises(PriorLoadError, match="no model hub is reachable|not on the Hugging Face hub|download"):
        PriorConfig(model="nobody/no-such-model-xyz", local_files_only=True).setup()


def test_corrupt_component_error_names_it(tmp_path):
    save_prior_folder(tiny_prior(), tmp_path)
    (tmp_path / "unet" / "diffusion_pytorch_model.safetensors").write_bytes(b"garbage")
    with pytest.raises(PriorLoadError, match="could not load unet"):
        PriorConfig(model=str(tmp_path)).setup()


def test_prompts_are_checked(pixel_prior):
    with pytest.raises(PromptError, match="empty"):
        PromptEmbeddings(pixel_prior, "   ")
    with pytest.raises(PromptError, match="at most"):
        PromptEmbeddings(pixel_prior, "a red cube " * 10)


def test_view_dependent_embeddings_follow_the_camera(pixel_prior):
    emb = PromptEmbeddings(pixel_prior, "a red cube")
    az, el = torch.tensor([0.0, 90.0, 180.0, -100.0, 10.0]), torch.tensor([0.0, 0.0, 0.0, 0.0, 80.0])
    assert view_index(az, el).tolist() == [0, 1, 2, 1, 3]
    cond, uncond = emb.for_cameras(az, el)
    assert torch.equal(cond[1], cond[3]) and not torch.equal(cond[0], cond[2])
    assert emb.texts[2] == "a red cube, back view" and uncond.shape == cond.shape


def test_guidance_scale_comes_from_config_then_prior_folder_then_reference(tmp_path, pixel_prior):
    save_prior_folder(pixel_prior, tmp_path)
    prior = PriorConfig(model=str(tmp_path)).setup()
    assert SDSConfig().setup(prior).guidance_scale == 100.0  # no recommendation: DreamFusion's reference
    assert ASDConfig().setup(prior).guidance_scale == 7.5
    (tmp_path / GUIDANCE_DEFAULTS_FILE).write_text('{"sds": 12.5}')
    prior = PriorConfig(model=str(tmp_path)).setup()
    assert SDSConfig().setup(prior).guidance_scale == 12.5
    assert SDSConfig(guidance_scale=3.0).setup(prior).guidance_scale == 3.0
    assert ASDConfig().setup(prior).guidance_scale == 7.5  # the file says nothing about ASD
    (tmp_path / GUIDANCE_DEFAULTS_FILE).write_text('["not", "a", "mapping"]')
    with pytest.raises(PriorLoadError, match=GUIDANCE_DEFAULTS_FILE):
        PriorConfig(model=str(tmp_path)).setup()


def test_prior_folder_recommends_a_t_range_unless_the_config_sets_one(tmp_path, pixel_prior):
    save_prior_folder(pixel_prior, tmp_path)
    (tmp_path / GUIDANCE_DEFAULTS_FILE).write_text('{"asd": {"timesteps": {"min_start": 0.02, "max_end": 0.98}}}')
    prior = PriorConfig(model=str(tmp_path)).setup()
    assert ASDConfig().setup(prior).timesteps.fractions(1.0) == (0.02, 0.98)
    assert ASDConfig().setup(prior).timesteps.fractions(0) == (0.02, 0.98)
    reference = ASDConfig().timesteps
    assert reference.fractions(1.0) == (0.02, 0.5)  # ScaleDreamer's anneal, what the config itself says
    own = ASDConfig()
    own.timesteps.end = 0.5  # a changed schedule is the user's, not replaced
    assert own.setup(prior).timesteps == own.timesteps
    assert VSDConfig().setup(prior).timesteps == VSDConfig().timesteps  # nothing recommended for VSD
    off = PriorConfig(model=str(tmp_path), recommendations=False).setup()
    assert ASDConfig().setup(off).timesteps == reference and SDSConfig().setup(off).guidance_scale == 100.0
    (tmp_path / GUIDANCE_DEFAULTS_FILE).write_text('{"asd": {"timesteps": {"max_end": 0.98, "warp": 2}}}')
    with pytest.raises(ConfigError, match="t range"):
        ASDConfig().setup(PriorConfig(model=str(tmp_path)).setup())
    (tmp_path / GUIDANCE_DEFAULTS_FILE).write_text('{"asd": {"learning_rate": 0.1}}')
    with pytest.raises(PriorLoadError, match=GUIDANCE_DEFAULTS_FILE):
        PriorConfig(model=str(tmp_path)).setup()


def test_embedded_prior_recommends_its_settings():
    prior = PriorConfig().setup()
    assert SDSConfig().setup(prior).guidance_scale == EMBEDDED_GUIDANCE_DEFAULTS["sds"]["guidance_scale"]
    for config in (ASDConfig(), VSDConfig()):
        assert config.setup(prior).timesteps.fractions(1.0) == (0.02, 0.98)


def test_guidance_defaults_are_readable_without_loading_the_prior(tmp_path):
    assert guidance_defaults_of("embedded") == EMBEDDED_GUIDANCE_DEFAULTS
    assert guidance_defaults_of("embedded-camera") == CAMERA_GUIDANCE_DEFAULTS
    assert guidance_defaults_of(str(tmp_path)) == {} and guidance_defaults_of("some-org/some-model") == {}


def test_the_camera_conditioned_prior_is_shipped_and_generates_by_default(tmp_path, monkeypatch):
    from scoredream.train import GenerateConfig

    assert GenerateConfig().prior.model == "embedded-camera"
    camera, plain = PriorConfig(model="embedded-camera").setup(), PriorConfig().setup()
    assert camera.reads_cameras and not plain.reads_cameras
    assert camera.unet.config.sample_size == plain.unet.config.sample_size  # the same 32x32 model, plus cameras
    monkeypatch.setenv("SCOREDREAM_ASSETS", str(tmp_path))
    with pytest.raises(PriorLoadError, match="the embedded-camera prior is missing .* assets/prior_camera/TRAINING.md"):
        PriorConfig(model="embedded-camera").setup()
