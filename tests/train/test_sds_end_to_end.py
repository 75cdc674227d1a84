"""SDS against a prior that has learnt one image pulls the renders toward that image."""

import torch
from tiny_models import tiny_prior

from scoredream.render.cameras import orbit_cameras
from scoredream.render.volume import render
from scoredream.train import GenerateConfig, generate, load_checkpoint


def red_disc(size: int = 16, radius: float = 4.0) -> torch.Tensor:
    ys, xs = torch.meshgrid(torch.arange(size) + 0.5, torch.arange(size) + 0.5, indexing="ij")
    inside = ((xs - size / 2) ** 2 + (ys - size / 2) ** 2) < radius**2
    img = torch.ones(3, size, size)
    img[1:, inside] = 0.0
    return img


def train_prior_on(image: torch.Tensor, steps: int = 300):
    prior = tiny_prior(latent=False, seed=1)
    unet = prior.unet.train().requires_grad_(True)
    opt = torch.optim.Adam(unet.parameters(), lr=2e-3)
    g = torch.Generator().manual_seed(0)
    x0 = (image * 2 - 1)[None].expand(16, -1, -1, -1)
    cond = prior.encode_text(["a red disc"] * 16)
    for _ in range(steps):
        t = torch.randint(0, 1000, (16,), generator=g)
        noise = torch.randn(x0.shape, generator=g)
        loss = torch.nn.functional.mse_loss(unet(prior.add_noise(x0, noise, t), t, cond).sample, noise)
        opt.zero_grad()
        loss.backward()
        opt.step()
    unet.eval().requires_grad_(False)
    return prior


def test_sds_moves_renders_toward_the_learnt_image(tmp_path):
    target = red_disc()
    prior = train_prior_on(target)
    cfg = GenerateConfig(prompt="a red disc", output_dir=tmp_path, run_name="disc")
    cfg.prompts.view_dependent = False
    cfg.sds.guidance_scale = 1.0  # the prior saw only this caption; no CFG needed
    cfg.background.kind = "solid"
    cfg.hashgrid.levels, cfg.hashgrid.max_resolution, cfg.hashgrid.log2_hashmap_size = 4, 64, 12
    cfg.cameras.distance_range, cfg.cameras.fovy_range = (1.75, 1.75), (50.0, 50.0)
    cfg.cameras.elevation_range = (0.0, 0.0)
    cfg.train.steps, cfg.train.resolution, cfg.train.batch_size, cfg.train.device = 120, 16, 2, "cpu"
    cfg.train.preview_every = cfg.train.checkpoint_every = 0
    cfg.render.num_samples = 24
    cfg.video.enabled = cfg.export.enabled = False
    cams = orbit_cameras(4, elevation=0.0, distance=1.75, fovy=50.0)

    def distance_to_target(field, background) -> float:
        with torch.no_grad():
            rgb = render(field, cams, 16, 16, background, cfg.render).rgb.permute(0, 3, 1, 2)
        return (rgb - target).pow(2).mean().item()

    cfg.train.steps = 1
    first = load_checkpoint(generate(cfg, prior=prior, progress=False).checkpoint)
    before = distance_to_target(first.build_field(), first.build_background())
    cfg.train.steps = 120
    result = generate(cfg, prior=prior, progress=False, resume=True)
    ckpt = load_checkpoint(result.checkpoint)
    after = distance_to_target(ckpt.build_field(), ckpt.build_background())
    assert after < 0.6 * before, (before, after)
