import pytest
import torch
from tiny_models import tiny_prior

from scoredream.guidance import ASDConfig, TimestepSchedule
from scoredream.priors import PromptEmbeddings
from scoredream.render.cameras import make_cameras
from scoredream.serialization import ConfigError


def _cams(n: int):
    return make_cameras(torch.zeros(n), torch.full((n,), 10.0), torch.full((n,), 1.75), torch.full((n,), 50.0))


class UNetSpy:
    """Records every UNet call's inputs."""

    def __init__(self, prior):
        self.calls = []
        self.handle = prior.unet.register_forward_pre_hook(self.record, with_kwargs=True)

    def record(self, _module, args, kwargs):
        self.calls.append((args[0].clone(), args[1].clone()))


def test_asd_gradient_matches_its_formula_and_uses_t_plus_dt(pixel_prior):
    cfg = ASDConfig(guidance_scale=7.5, delta_ratio=0.5, timesteps=TimestepSchedule(0.2, 0.2, 0.6, 0.6))
    guidance = cfg.setup(pixel_prior)
    prompt = PromptEmbeddings(pixel_prior, "a red cube")
    rgb, cams = torch.rand(3, 16, 16, 3, requires_grad=True), _cams(3)
    spy = UNetSpy(pixel_prior)
    try:
        out = guidance(rgb, cams, prompt, progress=0, generator=torch.Generator().manual_seed(4))
    finally:
        spy.handle.remove()
    g = torch.Generator().manual_seed(4)  # replay: timesteps, noise, then U(0, 1) for dt
    t = cfg.timesteps.sample(0, 3, 1000, g)
    noise = torch.randn(3, 3, 16, 16, generator=g)
    t_next = t + (0.5 * (t - 200).float() * torch.rand(3, generator=g)).long()
    assert torch.equal(out.timesteps, t) and (t_next > t).any() and (t_next >= t).all()
    # One UNet call of 3B: x_t for cond and uncond at t, then x_{t+dt} at t+dt with the same noise.
    x0 = rgb.detach().permute(0, 3, 1, 2) * 2 - 1
    x_t, x_next = pixel_prior.add_noise(x0, noise, t), pixel_prior.add_noise(x0, noise, t_next)
    assert len(spy.calls) == 1
    x_in, t_in = spy.calls[0]
    assert x_in.shape[0] == 9 and torch.equal(t_in, torch.cat([t, t, t_next]))
    assert torch.allclose(x_in[6:], x_next, atol=1e-6) and torch.allclose(x_in[:3], x_t, atol=1e-6)
    cond, uncond = prompt.for_cameras(cams.azimuth, cams.elevation)
    eps_c, eps_u = pixel_prior.predict_noise(x_t, t, cond), pixel_prior.predict_noise(x_t, t, uncond)
    eps_next = pixel_prior.predict_noise(x_next, t_next, cond)
    a = pixel_prior.alphas_cumprod[t].view(-1, 1, 1, 1)
    expected = (1 - a) * (eps_u + 7.5 * (eps_c - eps_u) - eps_next)
    grad = torch.autograd.grad(out.loss, rgb)[0]
    assert torch.allclose(grad, (2 * expected / 3).permute(0, 2, 3, 1), atol=1e-5)
    assert out.stats["asd_dt"] == (t_next - t).float().mean().item()


def test_dt_is_proportional_without_randomness_and_clamped(pixel_prior):
    cfg = ASDConfig(delta_ratio=0.1, random_delta=False, timesteps=TimestepSchedule(0.02, 0.02, 0.98, 0.98))
    guidance = cfg.setup(pixel_prior)
    t = torch.tensor([20, 120, 520, 980])
    assert guidance.later_timesteps(t, 0, None).tolist() == [20, 130, 570, 999]
    big = ASDConfig(delta_ratio=3.0, random_delta=False).setup(pixel_prior)
    assert big.later_timesteps(torch.tensor([900]), 0, None).tolist() == [999]


def test_asd_default_schedule_anneals_as_the_reference():
    s = ASDConfig().timesteps
    assert s.fractions(0) == (0.5, 0.98) and s.fractions(600) == (0.02, 0.5)


def test_asd_with_perp_neg_and_latent_prior():
    prior = tiny_prior(latent=True, prediction_type="v_prediction")
    cfg = ASDConfig()
    cfg.perp_neg.enabled = True
    spy = UNetSpy(prior)
    rgb = torch.rand(2, 32, 32, 3, requires_grad=True)
    try:
        out = cfg.setup(prior)(rgb, _cams(2), PromptEmbeddings(prior, "a red cube"), 0, torch.Generator())
    finally:
        spy.handle.remove()
    assert [c[0].shape[0] for c in spy.calls] == [10]  # 5B: cond, uncond, two negatives, and x_{t+dt}
    out.loss.backward()
    assert torch.isfinite(rgb.grad).all() and rgb.grad.abs().sum() > 0


def test_annealed_cfg_scale_is_the_constant_scale_of_its_point_in_the_run(pixel_prior):
    """guidance_scale_end anneals CFG linearly over guidance_scale_anneal; at each point ASD's update is that of a
    constant-scale ASD at the annealed value, and the run's length does not matter (fractions)."""
    t_range = TimestepSchedule(0.2, 0.2, 0.6, 0.6)
    annealed = ASDConfig(guidance_scale=7.5, guidance_scale_end=3.0, guidance_scale_anneal=(0.4, 0.8),
                         timesteps=t_range).setup(pixel_prior)
    assert [annealed.scale_at(p) for p in (0.0, 0.4, 0.6, 0.8, 1.0)] == [7.5, 7.5, 5.25, 3.0, 3.0]
    prompt = PromptEmbeddings(pixel_prior, "a red cube")
    rgb, cams = torch.rand(2, 16, 16, 3), _cams(2)
    for progress, scale in ((0.1, 7.5), (0.6, 5.25), (0.9, 3.0)):
        constant = ASDConfig(guidance_scale=scale, timesteps=t_range).setup(pixel_prior)
        grads = []
        for g in (annealed, constant):
            x = rgb.clone().requires_grad_(True)
            g(x, cams, prompt, progress=progress, generator=torch.Generator().manual_seed(1)).loss.backward()
            grads.append(x.grad)
        torch.testing.assert_close(grads[0], grads[1])
    assert ASDConfig(guidance_scale=7.5).setup(pixel_prior).scale_at(0.9) == 7.5  # unset: constant


@pytest.mark.parametrize("bad", [{"guidance_scale_end": -1.0}, {"guidance_scale_anneal": (0.8, 0.4)},
                                 {"guidance_scale_anneal": (0.5, 1.5)}])
def test_bad_cfg_schedules_are_refused(bad):
    with pytest.raises(ConfigError, match="guidance_scale"):
        ASDConfig(**bad).validate("asd")
