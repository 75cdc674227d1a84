import math

import torch

from scoredream.world.shapes import SHAPES
from scoredream.world.truth import grid_points, occupancy, surface_points


def test_occupancy_volumes_match_the_analytic_ones():
    res, bound = 100, 1.0  # voxels of 0.02: the shapes' flat faces fall on voxel faces
    voxel = (2 * bound / res) ** 3
    assert abs(occupancy("sphere", res, bound).sum().item() * voxel - 4 / 3 * math.pi * 0.4**3) < 0.01 * 0.268
    # Voxel faces on the cube's faces (0.3 = 15 voxels of 0.02), so the count is exact.
    assert occupancy("cube", res, bound).sum().item() == 30**3
    assert abs(occupancy("cylinder", res, bound).sum().item() * voxel - math.pi * 0.2**2 * 0.84) < 0.03 * 0.106


def test_occupancy_layout_is_xyz():
    occ = occupancy("mug", 32)
    points = grid_points(32)
    handle = points[occ & (points[..., 1] > 0.3)]
    assert len(handle) > 0 and (handle[:, 0].abs() < 0.1).all()  # the handle sits on +Y, centred in X


def test_surface_points_lie_on_the_surface_evenly():
    g = torch.Generator().manual_seed(0)
    for shape in SHAPES:
        pts = surface_points(shape, 2000, generator=g, resolution=64)
        assert pts.shape == (2000, 3)
        assert SHAPES[shape](pts).abs().max() < 1e-4
    sphere = surface_points("sphere", 20000, generator=g)
    assert torch.allclose(sphere.norm(dim=-1), torch.full((20000,), 0.4), atol=1e-4)
    # Uniform by area on a sphere: each coordinate has mean 0 and z is uniform on [-r, r] (Archimedes).
    assert sphere.mean(0).abs().max() < 0.01
    assert abs((sphere[:, 2] > 0.2).float().mean().item() - 0.25) < 0.02
