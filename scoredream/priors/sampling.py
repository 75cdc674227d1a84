"""Multi-step sampling from a prior: the teacher's images that one-step students and evaluations compare with."""

from __future__ import annotations

import torch
from jaxtyping import Float
from torch import Tensor

from scoredream.priors.diffusion_prior import DiffusionPrior


@torch.no_grad()
def ddim_sample(
    prior: DiffusionPrior,
    prompts: list[str],
    guidance: float,
    steps: int,
    generator: torch.Generator | None = None,
    negative_prompt: str = "",
    start: Float[Tensor, "B 3 H W"] | None = None,
    last: int | None = None,
    camera: Float[Tensor, "B 13"] | None = None,
) -> Float[Tensor, "B 3 H W"]:
    """DDIM (eta 0) with classifier-free guidance, all prompts in one batch; images in [0, 1]. With `start`
    (images in [0, 1]) only the schedule's `last` steps run, from `start` noised to their first timestep (SDEdit):
    the teacher finishes an image whose layout is already drawn. `camera`: each image's camera labels, for a
    camera-conditioned prior."""
    from diffusers import DDIMScheduler

    scheduler = DDIMScheduler.from_config(prior.scheduler.config)
    scheduler.set_timesteps(steps)
    config = prior.unet.config
    size, device = config.sample_size, next(prior.unet.parameters()).device
    size = size[0] if isinstance(size, (tuple, list)) else size
    n = len(prompts)
    cond, uncond = prior.encode_text(prompts), prior.encode_text([negative_prompt]).expand(n, -1, -1)
    x = torch.randn(n, config.in_channels, size, size, generator=generator).to(device)
    timesteps = scheduler.timesteps
    if start is not None:
        timesteps = timesteps[len(timesteps) - (steps if last is None else last):]
        x = prior.add_noise(prior.encode_images(start.to(device)), x, timesteps[:1].to(device).expand(n))
    for t in timesteps:
        tt = torch.full((2 * n,), int(t), device=device)
        both = None if camera is None else camera.repeat(2, 1)
        eps_c, eps_u = prior.predict_noise(torch.cat([x, x]), tt, torch.cat([cond, uncond]), both).chunk(2)
        x = scheduler.step(eps_u + guidance * (eps_c - eps_u), t, x).prev_sample
    return prior.decode(x)
