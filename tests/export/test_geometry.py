"""Exported meshes of analytic fields against their true surfaces: volume, bounding box, Chamfer distance,
watertightness and outward winding; the automatic threshold; the file's axis convention."""

import math

import numpy as np
import pytest
import torch
import trimesh

from scoredream.export import ExportConfig, export_mesh
from scoredream.export.analytic import SDFField, constant_colour, direction_colour
from scoredream.export.extract import auto_threshold, sample_grid
from scoredream.export.measure import distance_to_mesh

RADIUS = 0.4
FAST = dict(resolution=64, coarse_resolution=32, texture=False, format="ply")


def sphere_sdf(p):
    return p.norm(dim=-1) - RADIUS


def torus_sdf(p):
    return torch.stack([p[:, :2].norm(dim=-1) - 0.3, p[:, 2]], -1).norm(dim=-1) - 0.12


def load(path) -> trimesh.Trimesh:
    return trimesh.load(path, force="mesh", process=False)


def chamfer_to_sphere(mesh: trimesh.Trimesh, radius: float, n: int = 20_000) -> float:
    """Mean of both directions: mesh samples to the sphere (exact), sphere samples to the mesh (exact)."""
    ours = trimesh.sample.sample_surface(mesh, n, seed=0)[0]
    p = np.random.default_rng(0).normal(size=(n, 3))
    truth = radius * p / np.linalg.norm(p, axis=1, keepdims=True)
    to_mesh = distance_to_mesh(truth, mesh.vertices, mesh.faces)
    return 0.5 * (np.abs(np.linalg.norm(ours, axis=1) - radius).mean() + to_mesh.mean())


def test_sphere_volume_box_and_chamfer(tmp_path):
    field = SDFField(sphere_sdf, direction_colour)
    result = export_mesh(field, tmp_path / "s.ply", ExportConfig(**{**FAST, "resolution": 96}, up="z", target_faces=0))
    mesh = load(result.path)
    # Measured: volume +0.9 %, box 0.0012, Chamfer 0.0012 (cells are 0.0094 wide).
    assert mesh.is_watertight and mesh.is_winding_consistent
    assert mesh.volume > 0  # outward normals: positive enclosed volume
    assert abs(mesh.volume / (4 / 3 * math.pi * RADIUS**3) - 1) < 0.03
    assert np.abs(np.abs(mesh.bounds) - RADIUS).max() < 0.005
    assert chamfer_to_sphere(mesh, RADIUS) < 0.004
    # No degenerate or repeated faces.
    assert (mesh.area_faces > 1e-12).all()
    assert len(np.unique(np.sort(mesh.faces, axis=1), axis=0)) == len(mesh.faces)


def test_torus_keeps_its_hole_and_decimation_hits_the_target(tmp_path):
    field = SDFField(torus_sdf, constant_colour((0.2, 0.4, 0.9)))
    result = export_mesh(field, tmp_path / "t.ply", ExportConfig(**FAST, up="z", target_faces=3000,
                                                                 smooth_iterations=5))
    mesh = load(result.path)
    assert len(mesh.faces) <= 3300 and mesh.is_winding_consistent and mesh.volume > 0
    assert mesh.euler_number == 0  # genus 1: the hole survived decimation and smoothing
    true_volume = 2 * math.pi**2 * 0.3 * 0.12**2
    assert abs(mesh.volume / true_volume - 1) < 0.15
    colours = mesh.visual.vertex_colors[:, :3] / 255
    assert np.abs(colours - [0.2, 0.4, 0.9]).max() < 0.01


def test_small_components_are_removed(tmp_path):
    # A big sphere and a speck far from it: the speck has far fewer faces than min_component_ratio allows.
    def two(p):
        return torch.minimum(p.norm(dim=-1) - 0.4, (p - torch.tensor([0.5, 0.5, 0.5])).norm(dim=-1) - 0.04)

    field = SDFField(two, direction_colour)
    kept = load(export_mesh(field, tmp_path / "a.ply", ExportConfig(**FAST, min_component_ratio=0.05)).path)
    every = load(export_mesh(field, tmp_path / "b.ply", ExportConfig(**FAST, min_component_ratio=0.0)).path)
    assert len(every.split(only_watertight=False)) == 2 and len(kept.split(only_watertight=False)) == 1


def test_auto_threshold_sits_between_inside_and_outside():
    # A hard-edged ball: the level must fall strictly between outside (0) and inside (10) densities.
    class Ball(SDFField):
        def density(self, points):
            return 10.0 * (points.norm(dim=-1) < RADIUS).float()

    grid = sample_grid(Ball(sphere_sdf, direction_colour), np.full(3, -1.0), 2 / 63, (64, 64, 64), 1 << 16)
    level = auto_threshold(grid)
    assert level is not None and 0 < level < 10
    empty = sample_grid(SDFField(lambda p: p.norm(dim=-1) + 5, direction_colour), np.full(3, -1.0), 2 / 15,
                        (16, 16, 16), 1 << 16)
    assert auto_threshold(empty) is None


def test_y_up_axes_and_metre_scale(tmp_path):
    # A box 0.2 deep (world x, the front axis), 0.4 wide (y) and 0.6 tall (z).
    half = torch.tensor([0.1, 0.2, 0.3])

    def box(p):
        q = p.abs() - half
        return q.clamp_min(0).norm(dim=-1) + q.max(dim=-1).values.clamp_max(0)

    field = SDFField(box, direction_colour)
    result = export_mesh(field, tmp_path / "b.ply", ExportConfig(**FAST, up="y", scale=2.0))
    extents = load(result.path).extents
    # glTF frame: x = world y, y = world z (up), z = world x (front); 2 metres per field unit.
    assert np.allclose(extents, 2 * np.array([0.4, 0.6, 0.2]), atol=0.06)


def test_fine_pass_resolution_follows_the_object_not_the_field_cube(tmp_path):
    small = SDFField(lambda p: p.norm(dim=-1) - 0.1, direction_colour)
    result = export_mesh(small, tmp_path / "s.ply", ExportConfig(**FAST))
    (lo, hi), shape = result.box, result.grid_shape
    # 64 samples across the ball's box (0.2 wide plus margins), not across the field's cube [-1, 1]^3.
    assert max(shape) == 64 and max(np.subtract(hi, lo)) < 0.5


@pytest.mark.parametrize("threshold", [None, 50.0])
def test_threshold_by_hand_or_automatic(tmp_path, threshold):
    field = SDFField(sphere_sdf, direction_colour)
    result = export_mesh(field, tmp_path / "s.ply", ExportConfig(**FAST, threshold=threshold))
    if threshold is not None:
        assert result.threshold == threshold
    # Density 50 (a quarter of the peak) sits at sdf = width * ln 3 - offset.
    expected = RADIUS + field.width * math.log(3) - field.offset if threshold else RADIUS
    radius = np.linalg.norm(load(result.path).vertices, axis=1).mean()
    assert abs(radius - expected) < 0.006


def test_density_outside_the_rendered_ball_is_ignored(tmp_path):
    # Junk density in the cube's corners (never inside any render) must not become part of the mesh.
    def with_corners(p):
        corners = 0.8 - p.abs().min(dim=-1).values  # inside where every |coordinate| > 0.8: radius > 1.38
        return torch.minimum(sphere_sdf(p), corners)

    result = export_mesh(SDFField(with_corners, direction_colour), tmp_path / "c.ply", ExportConfig(**FAST))
    assert np.abs(load(result.path).bounds).max() < RADIUS + 0.02
