import pytest
import torch
from tiny_models import tiny_prior

from scoredream.guidance import SDSConfig, TimestepSchedule, sds_weight
from scoredream.priors import PromptEmbeddings
from scoredream.render.cameras import make_cameras


def _cams(n: int):
    return make_cameras(torch.zeros(n), torch.zeros(n), torch.full((n,), 1.75), torch.full((n,), 50.0))


def test_sds_gradient_matches_its_formula(pixel_prior):
    cfg = SDSConfig(guidance_scale=7.5, timesteps=TimestepSchedule(0.3, 0.3, 0.3, 0.3))
    guidance = cfg.setup(pixel_prior)
    prompt = PromptEmbeddings(pixel_prior, "a red cube")
    rgb = torch.rand(2, 16, 16, 3, requires_grad=True)
    cams = _cams(2)
    out = guidance(rgb, cams, prompt, progress=0, generator=torch.Generator().manual_seed(3))
    # Replay the draws the guidance made: timesteps first, then noise.
    g = torch.Generator().manual_seed(3)
    t = cfg.timesteps.sample(0, 2, 1000, g)
    noise = torch.randn(2, 3, 16, 16, generator=g)
    assert torch.equal(out.timesteps, t) and (t == 300).all()
    x0 = rgb.detach().permute(0, 3, 1, 2) * 2 - 1
    a = pixel_prior.alphas_cumprod[t].view(-1, 1, 1, 1)
    x_t = a.sqrt() * x0 + (1 - a).sqrt() * noise
    cond, uncond = prompt.for_cameras(cams.azimuth, cams.elevation)
    eps_c = pixel_prior.predict_noise(x_t, t, cond)
    eps_u = pixel_prior.predict_noise(x_t, t, uncond)
    expected = (1 - a) * (eps_u + 7.5 * (eps_c - eps_u) - noise)
    x0_grad = torch.autograd.grad(out.loss, rgb)[0]
    # d loss / d x0 = grad / B and x0 = 2 rgb - 1.
    assert torch.allclose(x0_grad, (2 * expected / 2).permute(0, 2, 3, 1), atol=1e-5)


def test_weightings_and_schedule():
    a = torch.linspace(0.99, 0.01, 1000)
    t = torch.tensor([0, 999])
    assert torch.allclose(sds_weight(t, a, "sds"), 1 - a[t])
    assert torch.allclose(sds_weight(t, a, "fantasia"), a[t].sqrt() * (1 - a[t]))
    s = TimestepSchedule(min_start=0.5, min_end=0.02, max_start=0.98, max_end=0.5, start=0.0, end=0.5)
    assert s.fractions(0) == (0.5, 0.98)
    lo, hi = s.fractions(0.25)
    assert abs(lo - 0.26) < 1e-9 and abs(hi - 0.74) < 1e-9
    assert s.fractions(0.9) == (0.02, 0.5)
    jump = TimestepSchedule(max_start=0.98, max_end=0.5, start=0.2, end=0.2)
    assert jump.fractions(0.1999)[1] == 0.98 and jump.fractions(0.2)[1] == 0.5


def test_nan_gradients_are_zeroed(pixel_prior):
    from scoredream.guidance.base import clean_gradient

    g = torch.tensor([1.0, float("nan"), float("inf"), -5.0])
    assert clean_gradient(g, 2.0).tolist() == [1.0, 0.0, 0.0, -2.0]


@pytest.mark.parametrize("latent", [False, True])
@pytest.mark.parametrize("prediction_type", ["epsilon", "v_prediction"])
def test_sds_gradient_in_every_prior_setup(latent, prediction_type):
    prior = tiny_prior(latent=latent, prediction_type=prediction_type)
    guidance = SDSConfig(guidance_scale=5.0, weighting="fantasia").setup(prior)
    prompt = PromptEmbeddings(prior, "a red cube")
    captured = {}
    encode = prior.encode_images

    def keep_latents(rgb, generator=None):
        captured["x0"] = encode(rgb, generator)
        captured["x0"].retain_grad()
        return captured["x0"]

    prior.encode_images = keep_latents
    rgb = torch.rand(2, 32, 32, 3, requires_grad=True)
    cams = _cams(2)
    out = guidance(rgb, cams, prompt, progress=0, generator=torch.Generator().manual_seed(5))
    out.loss.backward()
    x0 = captured["x0"]
    g = torch.Generator().manual_seed(5)
    if latent:
        torch.randn(x0.shape, generator=g)  # the VAE's posterior sample draws first
    t = SDSConfig().timesteps.sample(0, 2, 1000, g)
    noise = torch.randn(x0.shape, generator=g)
    assert torch.equal(out.timesteps, t)
    a = prior.alphas_cumprod[t].view(-1, 1, 1, 1)
    x_t = a.sqrt() * x0.detach() + (1 - a).sqrt() * noise
    cond, uncond = prompt.for_cameras(cams.azimuth, cams.elevation)
    raw_c = prior.unet(x_t, t, encoder_hidden_states=cond).sample
    raw_u = prior.unet(x_t, t, encoder_hidden_states=uncond).sample
    if prediction_type == "v_prediction":  # eps = sqrt(a) v + sqrt(1 - a) x_t
        raw_c, raw_u = a.sqrt() * raw_c + (1 - a).sqrt() * x_t, a.sqrt() * raw_u + (1 - a).sqrt() * x_t
    expected = a.sqrt() * (1 - a) * (raw_u + 5.0 * (raw_c - raw_u) - noise)
    assert torch.allclose(x0.grad, expected / 2, atol=1e-5)
    assert rgb.grad is not None and rgb.grad.abs().sum() > 0
