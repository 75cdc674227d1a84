import math

import torch

from scoredream.fields.base import Field
from scoredream.render.background import BackgroundConfig
from scoredream.render.cameras import CameraSamplerConfig, orbit_cameras
from scoredream.render.rays import camera_rays
from scoredream.render.volume import RenderConfig, composite, ray_samples, render, sphere_interval


class ConstantBall(Field):
    """Density sigma inside a ball of radius r, colour red: a render with a closed form."""

    def __init__(self, sigma: float, radius: float) -> None:
        super().__init__()
        self.sigma, self.radius = sigma, radius
        self.dummy = torch.nn.Parameter(torch.zeros(()))

    def forward(self, points):
        from scoredream.fields.base import FieldOutputs

        inside = (points.norm(dim=-1) < self.radius).float()
        n = points.shape[0]
        return FieldOutputs(inside * self.sigma, torch.tensor([1.0, 0, 0]).expand(n, 3), torch.zeros(n, 16),
                            inside)

    def density(self, points):
        return self.forward(points).density


def test_constant_density_render_equals_closed_form():
    field = ConstantBall(sigma=3.0, radius=0.5)
    cams = orbit_cameras(1, elevation=0.0, distance=2.0, fovy=40.0)
    out = render(field, cams, 33, 33, BackgroundConfig(kind="solid").setup(), RenderConfig(num_samples=512))
    # The centre ray crosses the ball along a chord of length 2r: opacity = 1 - exp(-sigma * 2r).
    centre = out.opacity[0, 16, 16, 0].item()
    assert abs(centre - (1 - math.exp(-3.0 * 1.0))) < 5e-3
    assert abs(out.depth[0, 16, 16, 0].item() / centre - 2.0) < 0.6  # mass sits around the centre, 2 away
    corner = out.rgb[0, 0, 0]
    assert torch.allclose(corner, torch.ones(3))  # white background where nothing is hit
    assert out.rgb[0, 16, 16, 1] < 0.1  # red object: little green


def test_composite_weights_sum_to_opacity():
    sigma = torch.rand(5, 32) * 4
    deltas = torch.full((5, 32), 0.05)
    w = composite(sigma, deltas)
    assert torch.allclose(w.sum(-1), 1 - torch.exp(-(sigma * deltas).sum(-1)), atol=1e-5)


def test_cameras_look_at_the_origin():
    cams = CameraSamplerConfig().sample(16, torch.Generator().manual_seed(0))
    o, d = camera_rays(cams, 9, 9)
    centre_dir = d[:, 4, 4]
    assert torch.allclose(centre_dir, torch.nn.functional.normalize(-o[:, 4, 4], dim=-1), atol=1e-5)
    assert torch.allclose(cams.c2w[:, :3, 3].norm(dim=-1), cams.distance, atol=1e-5)
    # Azimuth 0 camera sits on +X, up is +Z in the image.
    front = orbit_cameras(1, elevation=0.0, distance=2.0)
    assert torch.allclose(front.c2w[0, :3, 3], torch.tensor([2.0, 0, 0]), atol=1e-6)
    _, d = camera_rays(front, 3, 3)
    assert d[0, 0, 1, 2] > 0  # top row looks upward


def test_random_background_changes_per_view_only_when_training():
    bg = BackgroundConfig(kind="random", random_prob=1.0).setup()
    dirs = torch.randn(3, 4, 4, 3)
    eval_bg = bg(dirs, training=False)
    assert torch.allclose(eval_bg, torch.ones_like(eval_bg))
    train_bg = bg(dirs, training=True, generator=torch.Generator().manual_seed(0))
    assert (train_bg[:, 0, 0] == train_bg[:, 3, 3]).all() and not torch.equal(train_bg[0], train_bg[1])


def test_occupancy_grid_skips_empty_space_without_changing_the_render():
    from scoredream.render.occupancy import OccupancyGrid

    class Counting(ConstantBall):
        queried = 0

        def forward(self, points):
            Counting.queried += points.shape[0]
            return super().forward(points)

    ball = Counting(sigma=20.0, radius=0.3)
    grid = OccupancyGrid.of(ball, resolution=32)
    assert 0 < grid.fraction < 0.05  # a ball of radius 0.3 fills ~1.4% of the cube, plus the dilation
    cams = orbit_cameras(2, 15.0, 1.75, 50.0)
    background = BackgroundConfig(kind="solid").setup()
    with torch.no_grad():
        Counting.queried = 0
        full = render(ball, cams, 48, 48, background)
        every = Counting.queried
        Counting.queried = 0
        skipped = render(ball, cams, 48, 48, background, occupancy=grid)
    assert Counting.queried < every / 5
    assert torch.allclose(full.rgb, skipped.rgb, atol=1e-5) and torch.allclose(full.opacity, skipped.opacity, atol=1e-5)


class SmoothBall(Field):
    """A ball of radius 0.5 whose density rises steeply inwards: smooth, so finite differences give its normals."""

    def encode(self, points):
        raw = 200.0 * (0.5 - points.norm(dim=-1, keepdim=True))
        return torch.cat([raw, torch.zeros(points.shape[0], 15)], -1)


def analytic_ball() -> SmoothBall:
    return SmoothBall()


class Slab(Field):
    """Density rising along +X (towards a camera at azimuth 0) or falling, by `sign`: normals -grad(density)
    point along -sign * X."""

    def __init__(self, sign: float) -> None:
        super().__init__()
        self.sign = sign

    def encode(self, points):
        raw = 40.0 * self.sign * points[:, :1]
        return torch.cat([raw, torch.zeros(points.shape[0], 15)], -1)


def _front_camera():
    return orbit_cameras(1, 0.0, 2.0, 40.0)


def test_orientation_loss_is_zero_when_normals_face_the_camera_and_positive_otherwise():
    facing = render(Slab(-1.0), _front_camera(), 16, 16, BackgroundConfig(kind="solid").setup(), orientation=True)
    away = render(Slab(1.0), _front_camera(), 16, 16, BackgroundConfig(kind="solid").setup(), orientation=True)
    assert facing.opacity.mean() > 0.5 and away.opacity.mean() > 0.5
    assert facing.orientation.item() == 0.0
    assert away.orientation.item() > 0.1


def test_a_shaded_sphere_darkens_away_from_the_light():
    from scoredream.render.shading import Lighting

    ball = analytic_ball()
    cams = orbit_cameras(1, 0.0, 2.5, 40.0)
    light = Lighting("textureless", torch.tensor([[0.0, 0.0, 100.0]]), ambient=0.1, diffuse=0.9)  # from above
    out = render(ball, cams, 32, 32, BackgroundConfig(kind="solid", color=(0.0, 0.0, 0.0)).setup(),
                 RenderConfig(num_samples=128), lighting=light)
    lum = out.rgb[0].mean(-1)  # image rows run top (+Z) to bottom
    inside = out.opacity[0, ..., 0] > 0.9
    top, bottom = lum[:13][inside[:13]].mean(), lum[19:][inside[19:]].mean()
    assert top > 0.6 and bottom < 0.25
    unlit = render(ball, cams, 32, 32, BackgroundConfig(kind="solid", color=(0.0, 0.0, 0.0)).setup(),
                   RenderConfig(num_samples=128))
    assert unlit.rgb[0][inside].std(0).max() < 0.05  # albedo: no light, no gradient across the ball


def test_importance_sampling_puts_samples_at_the_surface():
    ball = analytic_ball()
    origins = torch.tensor([[2.0, 0.0, 0.0]]).repeat(64, 1)
    dirs = torch.tensor([[-1.0, 0.0, 0.0]]).repeat(64, 1)
    near, far, _ = sphere_interval(origins, dirs, 1.0)
    config = RenderConfig(num_samples=32, importance_samples=32)
    uniform, _ = ray_samples(ball, origins, dirs, near, far, RenderConfig(num_samples=32), True, None)
    drawn, deltas = ray_samples(ball, origins, dirs, near, far, config, True, torch.Generator().manual_seed(0))
    surface = 2.0 - 0.5  # the ball's radius is 0.5: rays enter it 1.5 from the camera
    near_surface = lambda t: ((t - surface).abs() < 0.07).float().sum(-1).mean()  # noqa: E731
    assert near_surface(drawn) > 4 * near_surface(uniform)
    assert torch.allclose(deltas.sum(-1), far - near)  # the samples still stand for the whole ray
    assert (drawn[:, 1:] >= drawn[:, :-1]).all()


def test_importance_sampled_render_matches_a_dense_render():
    ball, cams = analytic_ball(), orbit_cameras(2, 20.0, 2.5, 40.0)
    bg = BackgroundConfig(kind="solid").setup()
    dense = render(ball, cams, 24, 24, bg, RenderConfig(num_samples=512))
    sparse = render(ball, cams, 24, 24, bg, RenderConfig(num_samples=32, importance_samples=32))
    assert (dense.opacity - sparse.opacity).abs().mean() < 0.02


def test_distortion_loss_equals_its_pairwise_definition():
    from scoredream.render.volume import distortion_loss

    g = torch.Generator().manual_seed(0)
    t = torch.rand(4, 16, generator=g).sort(-1).values
    deltas, weights = torch.rand(4, 16, generator=g) * 0.1, torch.rand(4, 16, generator=g) / 16
    pairwise = (weights[:, :, None] * weights[:, None, :] * (t[:, :, None] - t[:, None, :]).abs()).sum((1, 2))
    expected = pairwise + (weights**2 * deltas).sum(-1) / 3
    assert torch.allclose(distortion_loss(weights, t, deltas), expected, atol=1e-6)


def test_distortion_is_larger_for_a_soft_shell_than_for_a_hard_surface():
    """Two balls that both render (nearly) opaque: the low-density one spreads each ray's weight through its depth,
    the steep one puts it at the surface, and the distortion penalty tells them apart."""
    cams, bg = _front_camera(), BackgroundConfig(kind="solid").setup()
    soft = render(ConstantBall(sigma=4.0, radius=0.5), cams, 16, 16, bg, RenderConfig(64), distortion=True)
    hard = render(analytic_ball(), cams, 16, 16, bg, RenderConfig(64), distortion=True)
    centre = (slice(None), slice(6, 10), slice(6, 10))
    assert soft.opacity[centre].min() > 0.9 and hard.opacity[centre].min() > 0.9
    assert soft.distortion.item() > 2 * hard.distortion.item()
    assert render(analytic_ball(), cams, 16, 16, bg).distortion is None


def test_pixel_jitter_moves_training_rays_inside_their_pixels_only():
    cams = orbit_cameras(2, elevation=10.0, distance=2.0, fovy=40.0)
    _, centre = camera_rays(cams, 8, 8)
    _, same = camera_rays(cams, 8, 8, torch.zeros(2, 8, 8, 2))
    assert torch.allclose(same, centre, atol=1e-6)
    _, corner = camera_rays(cams, 8, 8, torch.full((2, 8, 8, 2), 0.5))
    _, next_centre = camera_rays(cams, 8, 8, torch.full((2, 8, 8, 2), 1.0))
    assert torch.allclose(next_centre[:, :-1, :-1], centre[:, 1:, 1:], atol=1e-6)  # offsets are in pixels
    assert (corner - centre).norm(dim=-1).max() < (next_centre - centre).norm(dim=-1).min()
    field = ConstantBall(sigma=200.0, radius=0.5)
    white = BackgroundConfig(kind="solid").setup()
    config = RenderConfig(num_samples=64, train_pixel_jitter=True)
    runs = [render(field, cams, 16, 16, white, config, training=True, generator=torch.Generator().manual_seed(s))
            for s in range(24)]
    mean = torch.stack([r.opacity for r in runs]).mean(0)
    edge = (mean > 0.1) & (mean < 0.9)
    assert edge.sum() > 8  # averaged over steps, the rim is anti-aliased
    plain = render(field, cams, 16, 16, white, config, training=False)
    assert ((plain.opacity > 0.1) & (plain.opacity < 0.9)).sum() == 0  # evaluation renders use pixel centres


def test_default_shading_is_the_embedded_priors_lambert_after_an_albedo_warm_up():
    """The embedded prior learnt from Lambertian renders only; the reference presets keep DreamFusion's mix."""
    from scoredream.amortized.config import AmortizedConfig
    from scoredream.render.shading import ShadingConfig
    from scoredream.train import GenerateConfig
    from scoredream.train.presets import apply_preset

    cams = orbit_cameras(1, 0.0, 2.0, 40.0)
    g = torch.Generator().manual_seed(0)

    def kinds(config: ShadingConfig, progress: float) -> set:
        drawn = (config.draw(progress, cams, g) for _ in range(200))
        return {"albedo" if lighting is None else lighting.kind for lighting in drawn}

    assert kinds(ShadingConfig(), 0.1) == {"albedo"}
    assert kinds(ShadingConfig(), 0.5) == {"lambertian"}
    dreamfusion = apply_preset(GenerateConfig(), "dreamfusion").shading
    assert kinds(dreamfusion, 0.5) == {"albedo", "textureless", "lambertian"}
    amortized = AmortizedConfig().shading  # measured with DreamFusion's mix
    assert kinds(amortized, 0.5) == {"albedo", "textureless", "lambertian"}


class RippledSlab(Slab):
    """Slab(-1.0)'s surface with ripples `2 * height` high along Y and Z, 2 pi / frequency apart."""

    def __init__(self, height: float = 0.05, frequency: float = 40.0) -> None:
        super().__init__(-1.0)
        self.height, self.frequency = height, frequency

    def encode(self, points):
        ripple = self.height * torch.sin(self.frequency * points[:, 1:2]) * torch.sin(self.frequency * points[:, 2:3])
        return torch.cat([-40.0 * (points[:, :1] + ripple), torch.zeros(points.shape[0], 15)], -1)


def test_normal_smoothness_is_zero_for_a_flat_surface_and_positive_for_a_rippled_one():
    def smoothness(field):
        out = render(field, _front_camera(), 16, 16, BackgroundConfig(kind="solid").setup(), normal_smoothness=True,
                     generator=torch.Generator().manual_seed(0))
        assert out.opacity.mean() > 0.5
        return out.normal_smoothness.item()

    assert smoothness(Slab(-1.0)) < 1e-4
    assert smoothness(RippledSlab()) > 0.1
    assert render(Slab(-1.0), _front_camera(), 16, 16, BackgroundConfig(kind="solid").setup()).normal_smoothness is None


def test_a_longer_normal_step_shades_ripples_smaller_than_it_less():
    from scoredream.render.shading import Lighting

    light = Lighting("textureless", torch.tensor([[100.0, 0.0, 30.0]]), ambient=0.1, diffuse=0.9)

    def shade_spread(step: float) -> float:
        out = render(RippledSlab(0.01, 150.0), _front_camera(), 32, 32, BackgroundConfig(kind="solid").setup(),
                     RenderConfig(num_samples=128, normal_step=step), lighting=light)
        inside = out.opacity[0, ..., 0] > 0.9
        return out.rgb[0].mean(-1)[inside].std().item()

    assert shade_spread(0.1) < 0.5 * shade_spread(0.01)


class PaintedBall(SmoothBall):
    """SmoothBall with albedo sigmoid(5 * position): colour changes across it."""

    def encode(self, points):
        return torch.cat([super().encode(points)[:, :1], 5.0 * points, torch.zeros(points.shape[0], 12)], -1)

    def colour_logits_from(self, features):
        return features[:, 1:4]


def test_a_textureless_render_in_its_own_colour_is_one_colour_the_albedo_renders_mean():
    from scoredream.render.shading import Lighting

    cams = orbit_cameras(2, 0.0, 2.5, 40.0, azimuth_start=30.0)
    black = BackgroundConfig(kind="solid", color=(0.0, 0.0, 0.0)).setup()
    lights = torch.tensor([[0.0, 0.0, 100.0]]).repeat(2, 1)

    def shaded(colour):
        light = Lighting("textureless", lights, ambient=1.0, diffuse=0.0, textureless_colour=colour)
        return render(PaintedBall(), cams, 32, 32, black, RenderConfig(num_samples=128), lighting=light).rgb

    albedo = render(PaintedBall(), cams, 32, 32, black, RenderConfig(num_samples=128))
    inside = albedo.opacity[..., 0] > 0.99
    for view in range(2):
        assert albedo.rgb[view][inside[view]].std(0).max() > 0.1
        own = shaded("mean")[view][inside[view]]
        assert own.std(0).max() < 5e-3  # what varies is the pixels' coverage
        mean = albedo.rgb[view].sum((0, 1)) / albedo.opacity[view].sum()
        assert torch.allclose(own.mean(0), mean, atol=5e-3)
    assert torch.allclose(shaded("white")[inside], torch.ones(3), atol=1e-2)
