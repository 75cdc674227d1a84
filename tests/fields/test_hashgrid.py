import pytest
import torch

from scoredream.fields import HashGridConfig
from scoredream.fields.grid_encoding import TorchGridEncoding


def test_encoding_is_trilinear_within_a_cell():
    enc = TorchGridEncoding(levels=3, base_resolution=4, max_resolution=64, dense_max_resolution=8,
                            log2_hashmap_size=12)
    assert enc.dense_res and enc.hash_res  # both paths exercised
    with torch.no_grad():
        for p in enc.parameters():
            p.normal_()
    # Along an axis-aligned segment inside one cell of every level, trilinear features are linear in t.
    a = torch.tensor([0.1001, 0.2001, -0.3001])
    b = a + torch.tensor([0.004, 0.0, 0.0])
    t = torch.linspace(0, 1, 5)[:, None]
    feats = enc(a + t * (b - a))
    assert torch.allclose(feats[2], (feats[0] + feats[4]) / 2, atol=1e-4)


def test_hash_backward_matches_autograd_reference():
    enc = TorchGridEncoding(levels=2, base_resolution=40, max_resolution=64, dense_max_resolution=8,
                            log2_hashmap_size=10)
    x = torch.rand(200, 3) * 2 - 1
    w = torch.randn(200, enc.out_dim)
    (enc(x) * w).sum().backward()
    grad = enc.hash_table.grad.clone()
    # Reference: numerical gradient on a few table entries.
    used = grad.abs().sum(-1).nonzero()[:3, 0]
    for row in used:
        with torch.no_grad():
            enc.hash_table[row, 0] += 1e-2
            plus = (enc(x) * w).sum()
            enc.hash_table[row, 0] -= 2e-2
            minus = (enc(x) * w).sum()
            enc.hash_table[row, 0] += 1e-2
        assert torch.allclose((plus - minus) / 2e-2, grad[row, 0], rtol=1e-2, atol=1e-3)


def test_field_outputs_and_blob_init():
    field = HashGridConfig(levels=4, max_resolution=64).setup()
    pts = torch.tensor([[0.0, 0, 0], [0.9, 0, 0]])
    out = field(pts)
    assert out.features.shape == (2, 16) and out.rgb.shape == (2, 3)
    assert out.density[0] > 5 and out.density[1] < 0.5  # dense blob at the centre, empty outside
    p = torch.tensor([[0.3, 0.0, 0.0], [0.0, -0.2, 0.2]])
    n = field.normals(p)
    assert n[0, 0] > 0.9  # blob normal points outward
    forward = field.normals(p, density=field.density(p))  # three queries a point instead of six
    assert (forward * n).sum(-1).min() > 0.99


def test_blob_fade_removes_the_centre_bias_and_keeps_far_space_empty():
    pts = torch.tensor([[0.0, 0, 0], [0.9, 0, 0]])
    field = HashGridConfig(levels=4, max_resolution=64, blob_fade=0.5).setup()
    built = field.raw_density_from(pts, field.encode(pts))  # a built (finished) field: no inside bias
    field.set_progress(0.0)
    start = field.raw_density_from(pts, field.encode(pts))
    field.set_progress(0.25)
    half = field.raw_density_from(pts, field.encode(pts))
    field.set_progress(0.5)
    end = field.raw_density_from(pts, field.encode(pts))
    start, half, end, built = (x.detach() for x in (start, half, end, built))
    assert start[0] - end[0] == pytest.approx(10.0, abs=1e-4)  # the full blob strength at the centre, then none
    assert start[0] - half[0] == pytest.approx(5.0, abs=1e-4)
    assert torch.allclose(built, end)
    assert start[1] == pytest.approx(end[1].item()) and end[1] < -5  # outside the radius the bias stays


def test_blob_fade_outside_the_run_is_refused():
    from scoredream.serialization import ConfigError

    with pytest.raises(ConfigError, match="blob_fade"):
        HashGridConfig(blob_fade=1.5).validate_density("hashgrid")


def test_tcnn_backend_without_tcnn_fails_clearly():
    pytest.importorskip("torch")
    from scoredream.fields.grid_encoding import tcnn_available

    if tcnn_available():
        pytest.skip("tiny-cuda-nn is installed")
    with pytest.raises(ImportError):
        HashGridConfig(backend="tcnn").setup()


def test_coarse_to_fine_grid_adds_levels_over_the_run_and_fine_levels_learn_nothing_before():
    from scoredream.fields import HashGridConfig

    cfg = HashGridConfig(levels=8, log2_hashmap_size=10, max_resolution=64, dense_max_resolution=16,
                         progressive_levels=4, progressive_start=0.2, progressive_end=0.6, backend="torch")
    assert [cfg.levels_at(p) for p in (0.0, 0.2, 0.4, 0.59, 0.6, 1.0)] == [4, 4, 6, 7, 8, 8]
    field = cfg.setup()
    assert field.active_levels == 8  # a built (or loaded) field renders with every level
    field.set_progress(0.0)
    points = torch.rand(256, 3) * 2 - 1
    field(points).density.sum().backward()
    assert field.encoding.dense[0].grad.abs().sum() > 0  # level 0 (16^3, dense) learns
    rows = field.encoding.hash_table.grad.abs().sum(-1).reshape(7, -1).sum(-1)  # hashed levels 1-7, level-major
    assert (rows[:3] > 0).all() and (rows[3:] == 0).all()  # levels 1-3 learn, 4-7 are off at the start
