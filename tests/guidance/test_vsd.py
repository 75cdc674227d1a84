import pytest
import torch
from safetensors.torch import load_file
from tiny_models import save_prior_folder, tiny_prior

from scoredream.guidance import SDSConfig, TimestepSchedule, VSDConfig
from scoredream.guidance.perp_neg import PerpNegConfig, text_conditions
from scoredream.priors import PromptEmbeddings
from scoredream.render.cameras import make_cameras
from scoredream.serialization import ConfigError
from scoredream.train import GenerateConfig, generate, load_checkpoint


def _cams(azimuth: list[float]):
    n = len(azimuth)
    return make_cameras(torch.tensor(azimuth), torch.full((n,), 10.0), torch.full((n,), 1.75), torch.full((n,), 50.0))


def _randomise_lora(guidance, seed: int = 0) -> None:
    # LoRA B and the camera output layer start at zero (LoRA = base model); make the branches differ.
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in guidance.lora.trainable():
            p.copy_(0.2 * torch.randn(p.shape, generator=g))


def _weights(unet) -> dict[str, torch.Tensor]:
    """Base weights by their original names (peft renames wrapped layers to *.base_layer.*)."""
    return {k.replace(".base_layer", ""): v.clone() for k, v in unet.state_dict().items() if "lora_" not in k}


@pytest.mark.parametrize("lora_scale", [1.0, 3.0])
def test_vsd_gradient_matches_its_formula(lora_scale):
    prior = tiny_prior()
    cfg = VSDConfig(guidance_scale=7.5, lora_guidance_scale=lora_scale, lora_lr=0.0,
                    timesteps=TimestepSchedule(0.4, 0.4, 0.4, 0.4))
    guidance = cfg.setup(prior)
    _randomise_lora(guidance)
    prompt = PromptEmbeddings(prior, "a red cube")
    rgb = torch.rand(2, 16, 16, 3, requires_grad=True)
    cams = _cams([0.0, 120.0])
    out = guidance(rgb, cams, prompt, progress=0, generator=torch.Generator().manual_seed(3))
    g = torch.Generator().manual_seed(3)  # replay: timesteps, then noise
    t = cfg.timesteps.sample(0, 2, 1000, g)
    noise = torch.randn(2, 3, 16, 16, generator=g)
    assert (out.timesteps == 400).all()
    x0 = rgb.detach().permute(0, 3, 1, 2) * 2 - 1
    a = prior.alphas_cumprod[t].view(-1, 1, 1, 1)
    x_t = a.sqrt() * x0 + (1 - a).sqrt() * noise
    cond, uncond = prompt.for_cameras(cams.azimuth, cams.elevation)
    eps_c, eps_u = prior.predict_noise(x_t, t, cond), prior.predict_noise(x_t, t, uncond)
    plain = prompt.plain.expand(2, -1, -1)
    lora_cam = guidance.lora(x_t, t, plain, cams.c2w)
    lora_null = guidance.lora(x_t, t, plain, torch.zeros_like(cams.c2w))
    eps_lora = lora_null + lora_scale * (lora_cam - lora_null)
    assert not torch.allclose(lora_cam, eps_c, atol=1e-3)  # the LoRA branch really differs from the prior
    expected = (1 - a) * (eps_u + 7.5 * (eps_c - eps_u) - eps_lora)
    grad = torch.autograd.grad(out.loss, rgb)[0]
    assert torch.allclose(grad, (2 * expected / 2).permute(0, 2, 3, 1), atol=1e-5)


@pytest.mark.parametrize("share_unet", [False, True])
def test_lora_trains_while_the_prior_stays_bit_identical(share_unet):
    prior = tiny_prior()
    before = _weights(prior.unet)
    prompt = PromptEmbeddings(prior, "a red cube")
    rgb, cams = torch.rand(2, 16, 16, 3), _cams([0.0, 90.0])
    sds = SDSConfig().setup(prior)
    sds_before = sds(rgb, cams, prompt, 0, torch.Generator().manual_seed(1)).loss
    guidance = VSDConfig(share_unet=share_unet, lora_lr=1e-2).setup(prior)
    lora_before = [p.clone() for p in guidance.lora.trainable()]
    g = torch.Generator().manual_seed(0)
    losses = [guidance(rgb, cams, prompt, step, g).stats["lora_loss"] for step in range(2)]
    assert all(torch.isfinite(torch.tensor(losses)))
    changed = [not torch.equal(a, b) for a, b in zip(lora_before, guidance.lora.trainable(), strict=True)]
    assert all(changed)
    after = _weights(prior.unet)
    assert after.keys() == before.keys() and all(torch.equal(before[k], after[k]) for k in before)
    assert (prior.unet is guidance.lora.unet[0]) == share_unet
    # An SDS run sharing the prior sees the pretrained model, not the trained LoRA.
    assert torch.equal(sds(rgb, cams, prompt, 0, torch.Generator().manual_seed(1)).loss, sds_before)


def test_camera_changes_the_lora_prediction_and_null_camera_is_zero(pixel_prior):
    guidance = VSDConfig().setup(pixel_prior)
    _randomise_lora(guidance, seed=1)
    x = torch.randn(2, 3, 16, 16)
    t, text = torch.tensor([500, 500]), pixel_prior.encode_text(["a red cube"] * 2)
    front, back = _cams([0.0, 0.0]).c2w, _cams([180.0, 180.0]).c2w
    assert not torch.allclose(guidance.lora(x, t, text, front), guidance.lora(x, t, text, back), atol=1e-4)
    assert guidance.lora.camera(torch.zeros(1, 4, 4)).abs().sum() > 0  # the null camera is an input, not a skip


def test_separate_v_prediction_lora_base(tmp_path):
    prior = tiny_prior()
    base = tiny_prior(prediction_type="v_prediction", seed=7)
    save_prior_folder(base, tmp_path)
    guidance = VSDConfig(lora_base=str(tmp_path)).setup(prior)
    assert guidance.lora.prediction_type == "v_prediction" and guidance.lora.unet[0] is not prior.unet
    x_t, t = torch.randn(1, 3, 16, 16), torch.tensor([600])
    text, c2w = prior.encode_text(["a red cube"]), _cams([0.0]).c2w
    v = base.unet(x_t, t, encoder_hidden_states=text).sample  # zero-initialised LoRA: the base model itself
    a = prior.alphas_cumprod[t].view(-1, 1, 1, 1)
    assert torch.allclose(guidance.lora_noise(x_t, t, text, c2w), a.sqrt() * v + (1 - a).sqrt() * x_t, atol=1e-5)
    before = _weights(prior.unet)
    out = guidance(torch.rand(1, 16, 16, 3), _cams([30.0]), PromptEmbeddings(prior, "a red cube"), 0,
                   torch.Generator().manual_seed(0))
    assert out.stats["lora_loss"] > 0
    assert all(torch.equal(v, _weights(prior.unet)[k]) for k, v in before.items())
    with pytest.raises(ConfigError, match="share_unet"):
        VSDConfig(lora_base=str(tmp_path), share_unet=True).setup(prior)


def test_state_round_trips_with_optimiser_moments(pixel_prior):
    prompt = PromptEmbeddings(pixel_prior, "a red cube")
    rgb, cams = torch.rand(1, 16, 16, 3), _cams([45.0])
    a = VSDConfig().setup(pixel_prior)
    a(rgb, cams, prompt, 0, torch.Generator().manual_seed(0))
    state = a.state_dict()
    assert any(k.startswith("optim.") for k in state) and all(isinstance(v, torch.Tensor) for v in state.values())
    b = VSDConfig().setup(pixel_prior)
    b.load_state_dict({k: v.clone() for k, v in state.items()})
    out_a = a(rgb, cams, prompt, 1, torch.Generator().manual_seed(1))
    out_b = b(rgb, cams, prompt, 1, torch.Generator().manual_seed(1))
    assert torch.equal(out_a.loss, out_b.loss) and out_a.stats == out_b.stats
    for pa, pb in zip(a.lora.trainable(), b.lora.trainable(), strict=True):
        assert torch.equal(pa, pb)


def test_perp_neg_in_the_pretrained_branch(pixel_prior):
    prompt = PromptEmbeddings(pixel_prior, "a red cube")
    cams = _cams([60.0])
    conditions = text_conditions(prompt, cams.azimuth, cams.elevation, PerpNegConfig(enabled=True))
    assert conditions.copies == 4
    cfg = VSDConfig()
    cfg.perp_neg.enabled = True
    guidance = cfg.setup(pixel_prior)
    calls = []
    hook = pixel_prior.unet.register_forward_hook(lambda _m, args, _o: calls.append(args[0].shape[0]))
    try:
        guidance(torch.rand(1, 16, 16, 3), cams, prompt, 0, torch.Generator().manual_seed(0))
    finally:
        hook.remove()
    assert calls == [4]  # the pretrained branch, with cond, uncond and two negatives; the LoRA runs on a copy


def _vsd_run(tmp_path, steps: int = 2) -> GenerateConfig:
    cfg = GenerateConfig(prompt="a red cube", output_dir=tmp_path, run_name="run", method="vsd")
    cfg.hashgrid.levels, cfg.hashgrid.max_resolution, cfg.hashgrid.log2_hashmap_size = 4, 64, 12
    cfg.train.steps, cfg.train.resolution, cfg.train.device = steps, 16, "cpu"
    cfg.train.preview_every, cfg.train.checkpoint_every = 0, 0
    cfg.render.num_samples, cfg.video.enabled, cfg.export.enabled = 16, False, False
    cfg.vsd.particles = 2
    return cfg


def test_particles_train_together_stay_distinct_and_resume(tmp_path, pixel_prior):
    full = generate(_vsd_run(tmp_path / "a"), prior=pixel_prior, progress=False)
    tensors = load_file(full.checkpoint)
    first = {k[len("field."):]: v for k, v in tensors.items() if k.startswith("field.")}
    second = {k[len("particle1."):]: v for k, v in tensors.items() if k.startswith("particle1.")}
    assert first.keys() == second.keys() and any(not torch.allclose(first[k], second[k]) for k in first)
    assert any(k.startswith("guidance.lora.") for k in tensors) and "lora_loss" in full.history[-1]
    calls = iter(range(100))
    stopped = generate(_vsd_run(tmp_path / "b"), prior=pixel_prior, progress=False,
                       should_stop=lambda: next(calls) >= 1)
    assert stopped.step == 1
    resumed = generate(_vsd_run(tmp_path / "b"), prior=pixel_prior, progress=False, resume=True)
    assert resumed.step == 2 and load_checkpoint(resumed.run_dir).build_field() is not None
    again = load_file(resumed.checkpoint)
    assert again.keys() == tensors.keys()
    for k in tensors:  # fields, particles, LoRA, camera embedding and LoRA optimiser moments
        assert torch.allclose(tensors[k], again[k], atol=1e-5), k
