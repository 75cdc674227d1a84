import math

import pytest
import torch

from scoredream.guidance import SDSConfig, TimestepSchedule
from scoredream.guidance.perp_neg import (
    BACK,
    FRONT,
    OVERHEAD,
    SIDE,
    PerpNegConfig,
    PerpNegError,
    TextConditions,
    perpendicular_component,
    text_conditions,
)
from scoredream.priors import PromptConfig, PromptEmbeddings
from scoredream.render.cameras import make_cameras


def _cams(azimuth: list[float], elevation: float = 10.0):
    n = len(azimuth)
    return make_cameras(torch.tensor(azimuth), torch.full((n,), elevation), torch.full((n,), 1.75),
                        torch.full((n,), 50.0))


def test_perpendicular_component_is_orthogonal_per_sample():
    x, y = torch.randn(3, 4, 5, 5), torch.randn(3, 4, 5, 5)
    p = perpendicular_component(x, y)
    assert torch.allclose((p * y).sum((1, 2, 3)), torch.zeros(3), atol=1e-4)
    assert torch.allclose(perpendicular_component(y * 2, y), torch.zeros_like(y), atol=1e-5)


def test_positive_embeddings_interpolate_between_views(pixel_prior):
    prompt = PromptEmbeddings(pixel_prior, "a red cube")
    on = PerpNegConfig(enabled=True)
    cams = _cams([0.0, 90.0, 180.0, 45.0, -135.0])
    c = text_conditions(prompt, cams.azimuth, cams.elevation, on)
    v = prompt.cond
    assert torch.allclose(c.cond[0], v[FRONT]) and torch.allclose(c.cond[1], v[SIDE], atol=1e-6)
    assert torch.allclose(c.cond[2], v[BACK], atol=1e-6)
    assert torch.allclose(c.cond[3], 0.5 * v[FRONT] + 0.5 * v[SIDE], atol=1e-6)
    assert torch.allclose(c.cond[4], 0.5 * v[SIDE] + 0.5 * v[BACK], atol=1e-6)
    # Front: the front prompt itself weighs ~0 and the side prompt -(4 - 2.426) (threestudio's defaults).
    assert abs(c.weights[0, 0]) < 1e-3 and math.isclose(c.weights[0, 1].item(), -1.574, abs_tol=1e-5)
    assert torch.equal(c.negatives[0, 0], v[FRONT]) and torch.equal(c.negatives[2, 0], v[SIDE])
    top = _cams([30.0], elevation=80.0)
    over = text_conditions(prompt, top.azimuth, top.elevation, on)
    assert torch.equal(over.cond[0], v[OVERHEAD]) and (over.weights == 0).all()
    with pytest.raises(PerpNegError):
        flat = PromptEmbeddings(pixel_prior, "a red cube", config=PromptConfig(view_dependent=False))
        text_conditions(flat, cams.azimuth, cams.elevation, on)


def test_combine_is_cfg_plus_weighted_perpendicular_negatives():
    b, s = 2, 5.0
    eps = torch.randn(4 * b, 3, 4, 4)
    w = torch.tensor([[-1.0, 0.5], [0.0, -2.0]])
    dummy = torch.zeros(b, 1, 1)
    c = TextConditions(dummy, dummy, torch.zeros(b, 2, 1, 1), w)
    e_c, e_u, n0, n1 = eps.chunk(4)
    e_pos = e_c - e_u
    expected = e_u + s * (e_pos + w[:, :1, None, None] * perpendicular_component(n0 - e_u, e_pos)
                          + w[:, 1:, None, None] * perpendicular_component(n1 - e_u, e_pos))
    assert torch.allclose(c.combine(eps, s), expected, atol=1e-5)
    plain = TextConditions(dummy, dummy)
    assert plain.copies == 2 and torch.allclose(plain.combine(eps[: 2 * b], s), e_u + s * e_pos)


def test_sds_with_perp_neg_makes_one_call_of_4b_and_follows_the_formula(pixel_prior):
    cfg = SDSConfig(guidance_scale=7.5, timesteps=TimestepSchedule(0.5, 0.5, 0.5, 0.5))
    cfg.perp_neg.enabled = True
    guidance = cfg.setup(pixel_prior)
    prompt = PromptEmbeddings(pixel_prior, "a red cube")
    rgb, cams = torch.rand(2, 16, 16, 3, requires_grad=True), _cams([20.0, 150.0])
    sizes = []
    hook = pixel_prior.unet.register_forward_hook(lambda _m, args, _o: sizes.append(args[0].shape[0]))
    try:
        out = guidance(rgb, cams, prompt, 0, torch.Generator().manual_seed(2))
    finally:
        hook.remove()
    assert sizes == [8]
    g = torch.Generator().manual_seed(2)
    t = cfg.timesteps.sample(0, 2, 1000, g)
    noise = torch.randn(2, 3, 16, 16, generator=g)
    x_t = pixel_prior.add_noise(rgb.detach().permute(0, 3, 1, 2) * 2 - 1, noise, t)
    c = text_conditions(prompt, cams.azimuth, cams.elevation, cfg.perp_neg)
    eps = [pixel_prior.predict_noise(x_t, t, e) for e in (c.cond, c.uncond, c.negatives[:, 0], c.negatives[:, 1])]
    e_pos = eps[0] - eps[1]
    guided = eps[1] + 7.5 * (e_pos + sum(c.weights[:, k].view(-1, 1, 1, 1)
                                         * perpendicular_component(eps[2 + k] - eps[1], e_pos) for k in range(2)))
    a = pixel_prior.alphas_cumprod[t].view(-1, 1, 1, 1)
    grad = torch.autograd.grad(out.loss, rgb)[0]
    assert torch.allclose(grad, ((1 - a) * (guided - noise)).permute(0, 2, 3, 1), atol=1e-4)
