import math

import torch

from scoredream.render.background import BackgroundConfig
from scoredream.render.cameras import CameraSamplerConfig, make_cameras, orbit_cameras
from scoredream.render.rays import camera_rays
from scoredream.world.render import WorldRenderConfig, render_world
from scoredream.world.shapes import COLOURS


def test_sphere_silhouette_matches_its_perspective_projection():
    cams = orbit_cameras(3, elevation=20.0, distance=1.6, fovy=45.0)
    _, alpha = render_world("sphere", "red", cams, WorldRenderConfig(resolution=128, supersample=1))
    # A sphere of radius r at distance d subtends a cone of half-angle asin(r/d): a disc of radius tan(asin(r/d)).
    disc = math.pi * math.tan(math.asin(0.4 / 1.6)) ** 2
    image_plane = (2 * math.tan(math.radians(45.0) / 2)) ** 2
    assert torch.allclose(alpha.mean((1, 2, 3)), torch.full((3,), disc / image_plane), rtol=0.02)


def test_mug_handle_is_right_from_the_front_and_left_from_the_back():
    cams = make_cameras(torch.tensor([0.0, 180.0, 90.0]), torch.zeros(3), torch.full((3,), 1.6), torch.full((3,), 50.0))
    _, alpha = render_world("mug", "blue", cams, WorldRenderConfig(resolution=64))
    columns = alpha[:, 0].sum(1)  # B W
    x = torch.linspace(-1, 1, 64)
    centroid = (columns * x).sum(-1) / columns.sum(-1)
    assert centroid[0] > 0.02 and centroid[1] < -0.02 and centroid[2].abs() < 0.01


def test_colours_shading_and_backgrounds():
    cams = CameraSamplerConfig().sample(16, torch.Generator().manual_seed(0))
    rgb, alpha = render_world("cube", "green", cams)
    assert rgb.shape == (16, 3, 32, 32) and alpha.shape == (16, 1, 32, 32)
    empty = alpha[:, 0] == 0
    assert (rgb.permute(0, 2, 3, 1)[empty] == 1).all()  # white where nothing is hit
    solid = (alpha[:, 0] == 1)
    colour = rgb.permute(0, 2, 3, 1)[solid]
    ratio = colour / torch.tensor(COLOURS["green"])
    assert torch.allclose(ratio, ratio[:, :1].expand_as(ratio), atol=1e-5)  # albedo times a grey shade
    assert ratio.min() >= WorldRenderConfig().ambient - 1e-5 and ratio.max() <= 1 + 1e-5
    g = torch.Generator().manual_seed(1)
    rgb, _ = render_world("cube", "green", cams, background=BackgroundConfig(), generator=g)
    corners = rgb[:, :, 0, 0]
    white = (corners == 1).all(-1)
    assert 0 < white.sum() < 16 and rgb.min() >= 0 and rgb.max() <= 1


def test_shading_is_lambert_of_the_true_normal_whatever_the_view():
    cams = make_cameras(torch.tensor([30.0, -120.0, 170.0]), torch.tensor([40.0, -5.0, 10.0]),
                        torch.full((3,), 1.5), torch.full((3,), 50.0))
    config = WorldRenderConfig(resolution=48, supersample=1)
    rgb, alpha = render_world("sphere", "yellow", cams, config)
    origins, dirs = camera_rays(cams, 48, 48)
    # Analytic ray-sphere hit: its normal is the hit point over the radius.
    b = (origins * dirs).sum(-1)
    t = -b - (b * b - (origins * origins).sum(-1) + 0.4**2).clamp_min(0).sqrt()
    normal = (origins + t[..., None] * dirs) / 0.4
    light = torch.nn.functional.normalize(torch.tensor(config.light_direction), dim=0)
    shade = config.ambient + (1 - config.ambient) * (normal @ light).clamp_min(0)
    expected = shade[..., None] * torch.tensor(COLOURS["yellow"])
    hit = alpha[:, 0] == 1
    assert hit.sum() > 500
    error = (rgb.permute(0, 2, 3, 1)[hit] - expected[hit]).abs()
    # Grazing pixels stop up to hit_epsilon short of the surface, where the normal is a little off.
    assert error.max() < 0.03 and error.mean() < 1e-3
