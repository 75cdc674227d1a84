"""Differentiable volume rendering of a field inside its bounding sphere."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from jaxtyping import Bool, Float
from torch import Tensor

from scoredream.fields.base import Field
from scoredream.render.background import Background
from scoredream.render.cameras import Cameras
from scoredream.render.occupancy import OccupancyGrid
from scoredream.render.rays import camera_rays
from scoredream.render.shading import Lighting


@dataclass
class RenderConfig:
    num_samples: int = 32
    """samples per ray (stratified, jittered while training); with importance_samples, those of the first pass"""
    importance_samples: int = 0
    """0: render the stratified samples. N: a density-only first pass over the stratified samples (no gradients)
    finds where rays meet matter, and N samples drawn there (a tenth of them spread evenly) are rendered"""
    radius: float = 1.0
    """samples lie where rays cross this sphere around the origin"""
    normal_step: float = 1e-2
    """finite-difference step of the shading normals: the scale below which the surface's bumps do not shade"""
    chunk: int = 1 << 18
    """points per field query, so big renders keep memory bounded"""
    train_pixel_jitter: bool = True
    """while training, each ray goes through a random point of its pixel instead of its centre: over the steps a
    pixel sees its whole area, so edges are anti-aliased in expectation, as in the images the prior learnt from,
    and the field need not fake them with a soft, half-transparent rim that puts its surface inside the object.
    Costs nothing; renders for viewing (previews, video, export, evaluation) use pixel centres"""


@dataclass
class RenderOutput:
    rgb: Float[Tensor, "B H W 3"]
    opacity: Float[Tensor, "B H W 1"]
    depth: Float[Tensor, "B H W 1"]
    orientation: Float[Tensor, ""] | None = None
    """mean over rays of sum_i w_i max(0, n_i . d)^2: normals facing away from the camera (when asked)"""
    distortion: Float[Tensor, ""] | None = None
    """mean over rays of mip-NeRF 360's distortion loss: how spread out along the ray the weights are (when asked)"""
    normal_smoothness: Float[Tensor, ""] | None = None
    """mean over rays of sum_i w_i |n(x_i) - n(x_i + r_i)|_1 with r_i ~ N(0, 0.01^2): how rough the visible
    surface is (when asked)"""


def sphere_interval(
    origins: Float[Tensor, "N 3"], dirs: Float[Tensor, "N 3"], radius: float
) -> tuple[Float[Tensor, " N"], Float[Tensor, " N"], Bool[Tensor, " N"]]:
    b = (origins * dirs).sum(-1)
    c = (origins * origins).sum(-1) - radius**2
    disc = b * b - c
    hit = disc > 0
    root = disc.clamp_min(0).sqrt()
    near = (-b - root).clamp_min(0)
    far = (-b + root).clamp_min(0)
    return near, far, hit & (far > near)


def sample_along_rays(
    near: Tensor, far: Tensor, num_samples: int, perturb: bool, generator: torch.Generator | None
) -> tuple[Float[Tensor, "N S"], Float[Tensor, "N S"]]:
    """Stratified sample positions (bin midpoints when not perturbed) and the bin lengths."""
    edges = torch.linspace(0, 1, num_samples + 1, device=near.device, dtype=near.dtype)
    frac = edges[:-1] + (edges[1:] - edges[:-1]) * _offsets(near, num_samples, perturb, generator)
    span = (far - near)[:, None]
    return near[:, None] + frac * span, span.expand(-1, num_samples) / num_samples


def _offsets(near: Tensor, n: int, perturb: bool, generator: torch.Generator | None) -> Float[Tensor, "N S"]:
    if perturb:
        return torch.rand(near.shape[0], n, generator=generator).to(near)
    return torch.full((near.shape[0], n), 0.5, device=near.device, dtype=near.dtype)


def importance_samples(
    near: Float[Tensor, " N"],
    far: Float[Tensor, " N"],
    weights: Float[Tensor, "N S"],
    num_samples: int,
    perturb: bool,
    generator: torch.Generator | None,
    uniform_fraction: float = 0.1,
) -> tuple[Float[Tensor, "N K"], Float[Tensor, "N K"]]:
    """K positions drawn from the piecewise-constant density of a first pass's weights over S equal bins of
    [near, far] (mixed with a uniform share, so empty rays and new matter still get samples), and the length
    each one stands for: from the midpoint with its left neighbour to the one with its right."""
    s = weights.shape[1]
    total = weights.sum(-1, keepdim=True)
    pdf = torch.where(total > 1e-8, weights / total.clamp_min(1e-8), torch.full_like(weights, 1 / s))
    pdf = (1 - uniform_fraction) * pdf + uniform_fraction / s
    cdf = torch.cat([torch.zeros_like(pdf[:, :1]), pdf.cumsum(-1)], -1).clamp(max=1.0)
    u = (torch.arange(num_samples, device=near.device, dtype=near.dtype)
         + _offsets(near, num_samples, perturb, generator)) / num_samples
    bin_ = torch.searchsorted(cdf.contiguous(), u.contiguous(), right=True).clamp(1, s) - 1
    lo, p = cdf.gather(1, bin_), pdf.gather(1, bin_)
    frac = (bin_ + ((u - lo) / p.clamp_min(1e-8)).clamp(0, 1)) / s
    span = (far - near)[:, None]
    t = near[:, None] + frac * span
    mids = (t[:, 1:] + t[:, :-1]) / 2
    bounds = torch.cat([near[:, None], mids, far[:, None]], -1)
    return t, bounds[:, 1:] - bounds[:, :-1]


def composite(
    density: Float[Tensor, "N S"], deltas: Float[Tensor, "N S"]
) -> Float[Tensor, "N S"]:
    """Alpha-compositing weights: w_i = T_i (1 - exp(-sigma_i delta_i))."""
    tau = density * deltas
    alpha = 1 - torch.exp(-tau)
    transmittance = torch.exp(-torch.cumsum(torch.cat([torch.zeros_like(tau[:, :1]), tau[:, :-1]], -1), -1))
    return alpha * transmittance


def distortion_loss(
    weights: Float[Tensor, "N S"], t: Float[Tensor, "N S"], deltas: Float[Tensor, "N S"]
) -> Float[Tensor, " N"]:
    """mip-NeRF 360's distortion loss (nerfstudio's `distortion_loss`), per ray: sum_ij w_i w_j |t_i - t_j| +
    1/3 sum_i w_i^2 delta_i. It is smallest when a ray's weight sits in one short interval, so a soft shell of
    low density, which renders like a surface but puts it nowhere in particular, is pushed into a thin one. The
    pairwise sum in O(S): 2 sum_i w_i (t_i W_<i - (wt)_<i) with exclusive prefix sums (t sorted along the ray)."""
    w_before = torch.cumsum(weights, -1) - weights
    wt_before = torch.cumsum(weights * t, -1) - weights * t
    pairwise = 2 * (weights * (t * w_before - wt_before)).sum(-1)
    return pairwise + (weights**2 * deltas).sum(-1) / 3


def query_field(
    field: Field, points: Float[Tensor, "P 3"], chunk: int, occupancy: OccupancyGrid | None = None
) -> tuple[Float[Tensor, " P"], Float[Tensor, "P 3"]]:
    """Density and colour at every point, in chunks; points outside `occupancy` get zeros without a query."""
    keep = None if occupancy is None else occupancy(points).nonzero()[:, 0]
    queried = points if keep is None else points[keep]
    outs = [field(queried[i : i + chunk]) for i in range(0, queried.shape[0], chunk)]
    density = torch.cat([o.density.reshape(-1) for o in outs]) if outs else queried.new_zeros(0)
    rgb = torch.cat([o.rgb.reshape(-1, 3) for o in outs]) if outs else queried.new_zeros(0, 3)
    if keep is None:
        return density, rgb
    return (points.new_zeros(points.shape[0]).index_put((keep,), density),
            points.new_zeros(points.shape[0], 3).index_put((keep,), rgb))


def ray_samples(
    field: Field,
    o: Float[Tensor, "N 3"],
    d: Float[Tensor, "N 3"],
    near: Float[Tensor, " N"],
    far: Float[Tensor, " N"],
    config: RenderConfig,
    training: bool,
    generator: torch.Generator | None,
) -> tuple[Float[Tensor, "N K"], Float[Tensor, "N K"]]:
    """Where each ray is sampled, and the length each sample stands for."""
    t, deltas = sample_along_rays(near, far, config.num_samples, training, generator)
    if not config.importance_samples or t.shape[0] == 0:
        return t, deltas
    with torch.no_grad():
        points = (o[:, None] + d[:, None] * t[..., None]).reshape(-1, 3)
        density = torch.cat([field.density(points[i : i + config.chunk]) for i in range(0, len(points), config.chunk)])
        weights = composite(density.reshape(t.shape), deltas)
    return importance_samples(near, far, weights, config.importance_samples, training, generator)


def sample_normals(
    field: Field,
    points: Float[Tensor, "P 3"],
    density: Float[Tensor, " P"],
    weights: Float[Tensor, "N K"],
    chunk: int,
    step: float,
) -> Float[Tensor, "P 3"]:
    """Outward normals at the samples that show (weight above 1e-2), zero elsewhere: forward differences from the
    density already queried cost three more queries a point, spent only where they change the image."""
    shown = (weights.detach().reshape(-1) > 1e-2).nonzero()[:, 0]
    normals = points.new_zeros(points.shape)
    if len(shown):
        pts, known = points[shown], density[shown]
        n = torch.cat([field.normals(pts[i : i + chunk], step, density=known[i : i + chunk])
                       for i in range(0, len(pts), chunk)])
        normals = normals.index_put((shown,), n)
    return normals


def normal_smoothness_penalty(
    field: Field,
    points: Float[Tensor, "P 3"],
    normals: Float[Tensor, "P 3"],
    weights: Float[Tensor, "N K"],
    generator: torch.Generator | None,
    step: float,
    radius: float = 1e-2,
) -> Float[Tensor, ""]:
    """threestudio's and stable-dreamfusion's 3D normal smoothness (each normal against the one a random `radius`
    away, both by finite differences of `step`), weighted by what each sample adds to the image, as the
    orientation loss is."""
    w = weights.detach().reshape(-1)
    shown = (w > 1e-2).nonzero()[:, 0]
    if not len(shown):
        return points.new_zeros(())
    moved = points[shown] + torch.randn(len(shown), 3, generator=generator).to(points) * radius
    moved_normals = field.normals(moved, step, density=field.density(moved))
    return (w[shown] * (normals[shown] - moved_normals).abs().sum(-1)).sum() / weights.shape[0]


def render(
    field: Field,
    cameras: Cameras,
    height: int,
    width: int,
    background: Background,
    config: RenderConfig | None = None,
    *,
    training: bool = False,
    generator: torch.Generator | None = None,
    occupancy: OccupancyGrid | None = None,
    lighting: Lighting | None = None,
    orientation: bool = False,
    distortion: bool = False,
    normal_smoothness: bool = False,
) -> RenderOutput:
    """`occupancy` (renders without gradients): samples outside its cells count as empty and are not queried.
    `lighting`: shade the samples (None: albedo). `orientation`, `distortion`, `normal_smoothness`: also return
    that penalty."""
    config = config or RenderConfig()
    jitter = None
    if training and config.train_pixel_jitter:
        jitter = torch.rand(len(cameras), height, width, 2, generator=generator) - 0.5
    origins, dirs = camera_rays(cameras, height, width, jitter)
    o, d = origins.reshape(-1, 3), dirs.reshape(-1, 3)
    near, far, hit = sphere_interval(o, d, config.radius)
    idx = hit.nonzero()[:, 0]
    t, deltas = ray_samples(field, o[idx], d[idx], near[idx], far[idx], config, training, generator)
    s = t.shape[1]
    points = (o[idx, None] + d[idx, None] * t[..., None]).reshape(-1, 3)
    density, colors = query_field(field, points, config.chunk, occupancy)
    weights = composite(density.reshape(-1, s), deltas)
    penalty = smoothness = None
    if lighting is not None or orientation or normal_smoothness:
        normals = sample_normals(field, points, density, weights, config.chunk, config.normal_step)
        if orientation:
            facing = (normals.reshape(-1, s, 3) * d[idx, None]).sum(-1).clamp_min(0) ** 2
            penalty = (weights.detach() * facing).sum(-1).mean() if len(idx) else points.new_zeros(())
        if normal_smoothness:
            smoothness = normal_smoothness_penalty(field, points, normals, weights, generator, config.normal_step)
        if lighting is not None:
            ray_camera = idx // (height * width)
            colors = lighting.base_colour(colors.reshape(-1, s, 3), weights, ray_camera).reshape(-1, 3)
            colors = lighting.shade(colors, normals, points, ray_camera.repeat_interleave(s))
    n_rays = o.shape[0]
    opacity = o.new_zeros(n_rays, 1).index_put((idx,), weights.sum(-1, keepdim=True))
    rgb_fg = o.new_zeros(n_rays, 3).index_put((idx,), (weights[..., None] * colors.reshape(-1, s, 3)).sum(1))
    depth = o.new_zeros(n_rays, 1).index_put((idx,), (weights * t).sum(-1, keepdim=True))
    bg = background(dirs, training=training, generator=generator).reshape(-1, 3)
    shape = (len(cameras), height, width)
    return RenderOutput(
        rgb=(rgb_fg + (1 - opacity) * bg).reshape(*shape, 3),
        opacity=opacity.reshape(*shape, 1),
        depth=depth.reshape(*shape, 1),
        orientation=penalty,
        normal_smoothness=smoothness,
        distortion=(distortion_loss(weights, t, deltas).mean() if len(idx) else o.new_zeros(())) if distortion
        else None,
    )
