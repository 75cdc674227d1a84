import dataclasses

import torch
from pvd_scenes import RENDER, box_teacher, convert_box, small_pvd

from scoredream.convert import PVDConfig, distill
from scoredream.convert.bank import TeacherBank, scatter_samples
from scoredream.convert.rays import ray_table
from scoredream.fields import HashGridConfig, MLPConfig, TensoRFConfig
from scoredream.render.cameras import orbit_cameras


def bank(hit_fraction: float, num_rays: int = 4000) -> TeacherBank:
    cams = orbit_cameras(6, elevation=20)
    rays = ray_table(cams, 24, 24, RENDER.radius)
    g = torch.Generator().manual_seed(0)
    return TeacherBank.build(box_teacher(), rays, num_rays, RENDER.num_samples, hit_fraction, 0.1, 1e3, g)


def test_bank_draws_rays_through_the_object_and_skips_empty_samples():
    b = bank(hit_fraction=1.0)
    g = torch.Generator().manual_seed(1)
    crossing = (b.outputs.density.reshape(b.deltas.shape) > 0.1).any(-1).float().mean()
    assert 0.1 < crossing < 0.7  # the bank holds rays past the box too
    batch = b.draw(512, empty_fraction=0.0, generator=g)
    flat_density = batch.teacher_density.reshape(512, -1)
    assert (flat_density > 0.1).any(-1).float().mean() > 0.95  # hit_fraction 1: rays by the teacher's opacity
    assert batch.index is not None and len(batch.points) == len(batch.index) < 0.75 * flat_density.numel()
    dense = (flat_density.reshape(-1) > 0.1).nonzero().squeeze(1)
    assert set(dense.tolist()) <= set(batch.index.tolist())  # empty_fraction 0 keeps every occupied sample
    assert torch.equal(batch.teacher.density, batch.teacher_density[batch.index])
    everything = b.draw(64, empty_fraction=1.0, generator=g)
    assert everything.index is None and len(everything.points) == everything.deltas.numel()
    uniform = bank(hit_fraction=0.0)
    assert torch.allclose(uniform.probability, torch.full_like(uniform.probability, 1 / 4000))


def test_scatter_samples_puts_values_back_and_keeps_gradients():
    values = torch.tensor([1.0, 2.0], requires_grad=True)
    full = scatter_samples(values, torch.tensor([3, 0]), 5)
    assert full.tolist() == [2.0, 0.0, 0.0, 1.0, 0.0]
    full.sum().backward()
    assert values.grad.tolist() == [1.0, 1.0]
    assert scatter_samples(values, None, 2) is values


def test_student_dependent_defaults():
    cfg = PVDConfig()
    mlp, grid = cfg.resolved(MLPConfig().setup()), cfg.resolved(HashGridConfig(backend="torch").setup())
    assert (mlp.bank_rays, mlp.lr_mlp, grid.bank_rays, grid.lr_mlp) == (40000, 1e-2, 0, 5e-3)
    explicit = dataclasses.replace(cfg, bank_rays=0, lr_mlp=1e-3).resolved(MLPConfig().setup())
    assert (explicit.bank_rays, explicit.lr_mlp) == (0, 1e-3)
    assert cfg.bank_rays is None  # resolving does not change the caller's config


def test_bank_conversion_into_an_mlp_reaches_psnr_floor():
    torch.manual_seed(0)
    student = MLPConfig(frequencies=4, depth=3, width=64).setup()
    config = small_pvd(300, bank_rays=8000, hit_fraction=0.8, empty_fraction=0.25)
    result, before, after, _ = convert_box(student, config)
    assert result.steps == 300 and after > 27 and after > before + 8


def test_grid_students_keep_fresh_samples(monkeypatch):
    student = TensoRFConfig(resolution=8, density_rank=2, appearance_rank=2).setup()
    calls = []
    real_build = TeacherBank.build
    monkeypatch.setattr(TeacherBank, "build", lambda *a, **k: calls.append(1) or real_build(*a, **k))
    distill(box_teacher(8), student, small_pvd(4), RENDER, progress=False)
    assert calls == []
