"""The sdf density (VolSDF with annealed beta): starts as its sphere on every architecture, is dense inside and
empty outside, sharpens as beta falls, reads as raw density everywhere raw densities are read, loads from configs
written before it existed, exports, and trains with the eikonal loss."""

import json
import math

import pytest
import torch

from scoredream.convert.pvd import log_density
from scoredream.fields import FIELD_CONFIGS, HashGridConfig, build_field
from scoredream.fields.base import beta_at, density_activation, sdf_gradient, sdf_raw_density
from scoredream.render.volume import composite
from scoredream.serialization import ConfigError, from_dict, to_dict
from scoredream.train import GenerateConfig, generate, load_checkpoint
from scoredream.train.trainer import eikonal_loss

SMALL = {
    "hashgrid": dict(levels=4, max_resolution=64, log2_hashmap_size=12),
    "mlp": dict(width=32, depth=2),
    "tensorf": dict(resolution=16),
    "voxel": dict(resolution=16),
    "triplane": dict(resolution=16),
}


def lattice(n: int = 32) -> torch.Tensor:
    axis = (torch.arange(n) + 0.5) / n * 2 - 1
    return torch.stack(torch.meshgrid(axis, axis, axis, indexing="ij"), -1).reshape(-1, 3)


def laplace_density(sdf: torch.Tensor, beta: float) -> torch.Tensor:
    """VolSDF eq. 2-3, alpha = 1 / beta."""
    return torch.where(sdf > 0, 0.5 * torch.exp(-sdf / beta), 1 - 0.5 * torch.exp(sdf / beta)) / beta


def test_raw_density_is_the_softplus_preimage_of_volsdf_density_with_finite_gradients():
    sdf = torch.linspace(-3, 3, 6001, dtype=torch.float64).float().requires_grad_()
    for beta in (0.2, 0.02, 0.002):
        raw = sdf_raw_density(sdf, beta)
        density = density_activation(raw)
        want = laplace_density(sdf.detach(), beta)
        assert torch.allclose(density, want, rtol=1e-4, atol=1e-30)
        # PVD's log density of the raw value is the log of this density, even where it underflows (far outside).
        assert torch.allclose(log_density(raw)[sdf > 0], -sdf[sdf > 0] / beta + math.log(0.5 / beta), atol=1e-3)
        (grad,) = torch.autograd.grad(density.sum() + raw.sum(), sdf)
        assert torch.isfinite(grad).all()


@pytest.mark.parametrize("kind", sorted(FIELD_CONFIGS))
def test_initial_field_is_the_init_sphere_on_every_architecture(kind):
    torch.manual_seed(0)
    config = FIELD_CONFIGS[kind](**SMALL[kind], density_kind="sdf", sdf_init_radius=0.5)
    field = build_field(config)
    points = lattice()
    with torch.no_grad():
        inside = field.density(points) > 0.5 / field.beta
    truth = points.norm(dim=-1) < 0.5
    iou = (inside & truth).sum() / (inside | truth).sum()
    assert iou > 0.9, iou


def test_density_is_larger_inside_than_outside_and_the_finished_field_uses_the_final_beta():
    torch.manual_seed(1)
    field = HashGridConfig(**SMALL["hashgrid"], density_kind="sdf", sdf_beta=(0.1, 0.01)).setup()
    assert field.beta == 0.01  # built (or loaded): the finished field's sharpness
    r = torch.linspace(0, 0.95, 40)
    with torch.no_grad():
        d = field.density(torch.stack([r, torch.zeros_like(r), torch.zeros_like(r)], -1))
    assert (d[1:] <= d[:-1] + 1e-3).all() and d[0] > 99 and d[-1] < 1e-6
    field.set_progress(0.0)
    assert field.beta == pytest.approx(0.1)
    assert beta_at((0.1, 0.01), 0.5, 0.25) == pytest.approx(math.sqrt(0.1 * 0.01))
    assert beta_at((0.1, 0.01), 0.5, 0.8) == pytest.approx(0.01)


def edge_ray_opacity(field, impact: float, samples: int = 256) -> float:
    """Opacity of a ray along x that passes at distance `impact` from the sphere's centre."""
    t = torch.linspace(-1, 1, samples + 1)
    mid = (t[1:] + t[:-1]) / 2
    points = torch.stack([mid, torch.full_like(mid, impact), torch.zeros_like(mid)], -1)
    with torch.no_grad():
        density = field.density(points)
    return composite(density[None], torch.full((1, samples), 2 / samples)).sum().item()


def test_smaller_beta_renders_a_sharper_edge():
    torch.manual_seed(0)
    field = HashGridConfig(**SMALL["hashgrid"], density_kind="sdf", sdf_beta=(0.1, 0.005)).setup()

    def edge(progress: float) -> tuple[float, float]:
        field.set_progress(progress)
        return edge_ray_opacity(field, 0.45), edge_ray_opacity(field, 0.55)

    soft_in, soft_out = edge(0.0)
    sharp_in, sharp_out = edge(1.0)
    assert sharp_in > soft_in and sharp_out < soft_out
    assert sharp_in > 0.99 and sharp_out < 0.01
    assert 0.05 < soft_out < 0.9  # beta 0.1: the ray 0.05 outside still turns partly opaque


def test_normals_and_eikonal_of_the_init_sphere():
    torch.manual_seed(0)
    field = HashGridConfig(**SMALL["hashgrid"], density_kind="sdf").setup()
    p = torch.tensor([[0.3, 0.0, 0.0], [0.0, -0.4, 0.4], [0.0, 0.0, -0.9]])
    n = field.normals(p)
    assert (n * torch.nn.functional.normalize(p, dim=-1)).sum(-1).min() > 0.99
    assert torch.allclose(sdf_gradient(field, p).norm(dim=-1), torch.ones(3), atol=0.02)
    loss = eikonal_loss(field, 512, torch.Generator().manual_seed(0))
    assert loss.item() < 0.01  # |x| - r is a distance (forward differences err only near the centre)
    loss.backward()
    assert field.mlp[-1].weight.grad is not None


def test_a_config_without_the_new_keys_loads_with_softplus_density():
    data = to_dict(GenerateConfig(prompt="a blue sphere"))
    for key in ("density_kind", "sdf_init_radius", "sdf_beta", "sdf_anneal_end"):
        del data["hashgrid"][key]
    for key in ("eikonal_weight", "eikonal_points"):
        del data["train"][key]
    cfg = from_dict(GenerateConfig, json.loads(json.dumps(data)))
    assert cfg.hashgrid.density_kind == "softplus" and cfg.train.eikonal_weight == 0
    field = build_field(cfg.hashgrid)
    assert field.density_kind == "softplus" and field.blob_strength == cfg.hashgrid.blob_strength > 0


def test_bad_sdf_settings_fail_validation():
    cfg = GenerateConfig(prompt="a blue sphere")
    cfg.train.eikonal_weight = 0.1
    with pytest.raises(ConfigError, match="sdf"):
        cfg.validate()
    cfg.hashgrid.density_kind = "sdf"
    cfg.validate()
    cfg.hashgrid.sdf_beta = (0.1, 0.0)
    with pytest.raises(ConfigError, match="sdf_beta"):
        cfg.validate()


def test_export_of_an_sdf_field_writes_its_sphere(tmp_path):
    import trimesh

    from scoredream.export import ExportConfig, export_mesh

    torch.manual_seed(0)
    field = HashGridConfig(**SMALL["hashgrid"], density_kind="sdf", sdf_init_radius=0.45).setup()
    result = export_mesh(field, tmp_path / "m.ply",
                         ExportConfig(resolution=48, coarse_resolution=32, target_faces=1500, texture_size=128,
                                      format="ply"))
    mesh = trimesh.load(result.path)
    radii = torch.as_tensor(mesh.vertices).norm(dim=-1)
    assert len(mesh.faces) > 100
    assert abs(radii.mean().item() - 0.45) < 0.03


def test_sdf_run_with_eikonal_trains_and_reloads(tmp_path, pixel_prior):
    cfg = GenerateConfig(prompt="a red cube", output_dir=tmp_path, run_name="run")
    cfg.hashgrid.levels, cfg.hashgrid.max_resolution, cfg.hashgrid.log2_hashmap_size = 4, 64, 12
    cfg.hashgrid.density_kind, cfg.hashgrid.sdf_beta = "sdf", (0.1, 0.02)
    cfg.train.steps, cfg.train.resolution, cfg.train.device = 4, 16, "cpu"
    cfg.train.preview_every, cfg.train.checkpoint_every = 0, 0
    cfg.train.eikonal_weight, cfg.train.eikonal_points = 0.1, 64
    cfg.shading.enabled, cfg.shading.albedo_until, cfg.shading.albedo_probability = True, 0.0, 0.0
    cfg.render.num_samples, cfg.render.importance_samples = 16, 16
    cfg.video.enabled, cfg.export.enabled = False, False
    result = generate(cfg, prior=pixel_prior, progress=False)
    assert all(r["eikonal"] >= 0 and math.isfinite(r["loss"]) for r in result.history)
    ckpt = load_checkpoint(result.run_dir)
    assert ckpt.config.hashgrid.density_kind == "sdf"
    field = ckpt.build_field()
    assert field.density_kind == "sdf" and field.beta == pytest.approx(0.02)
    with torch.no_grad():
        assert field.density(torch.zeros(1, 3)).item() > 25
