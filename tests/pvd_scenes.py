"""A tiny analytic teacher and a small PVD setting shared by the conversion tests."""

import torch

from scoredream.convert import DistillResult, PVDConfig, compare, distill, render_views
from scoredream.fields import Field, VoxelConfig
from scoredream.render.cameras import CameraSamplerConfig, orbit_cameras
from scoredream.render.volume import RenderConfig

RENDER = RenderConfig(num_samples=16)


def box_teacher(resolution: int = 16) -> Field:
    """A voxel field holding an analytic coloured box: opaque inside |x| < 0.35, colour varying along x and z."""
    torch.manual_seed(0)
    field = VoxelConfig(resolution=resolution, blob_strength=0.0, value_scale=1.0).setup()
    axis = torch.linspace(-1, 1, resolution)
    z, y, x = torch.meshgrid(axis, axis, axis, indexing="ij")
    inside = (torch.stack([x, y, z]).abs().amax(0) < 0.35).float()
    with torch.no_grad():
        field.grid.zero_()
        field.grid[0, 0] = 12 * inside - 6
        field.grid[0, 1], field.grid[0, 2] = 3 * x, 3 * z
    return field.eval()


def small_pvd(steps: int, **kw) -> PVDConfig:
    cfg = PVDConfig(steps=steps, feature_steps=steps // 5, sample_steps=2 * steps // 5, rays_per_step=256,
                    num_cameras=24, camera_resolution=24, **kw)
    cfg.cameras = CameraSamplerConfig(elevation_range=(-30, 60), distance_range=(1.75, 1.75), fovy_range=(50, 50))
    return cfg


def convert_box(student: Field, config: PVDConfig) -> tuple[DistillResult, float, float, float]:
    """Distil the box into `student`: the result, and PSNR before, PSNR and SSIM after on 4 held-out views."""
    teacher = box_teacher()
    views = orbit_cameras(4, elevation=25)
    reference = render_views(teacher, views, 24, RENDER)
    before, _ = compare(student, reference, views, RENDER)
    result = distill(teacher, student, config, RENDER, progress=False)
    return result, before, *compare(student, reference, views, RENDER)
