import pytest
import torch

from scoredream.fields import FIELD_CONFIGS, MLPConfig, TensoRFConfig, VoxelConfig
from scoredream.train import GenerateConfig, generate, load_checkpoint

TINY = {
    "hashgrid": {"levels": 2, "max_resolution": 32, "log2_hashmap_size": 10, "backend": "torch"},
    "mlp": {"frequencies": 2, "depth": 2, "width": 16, "skip": 0},
    "tensorf": {"resolution": 16, "density_rank": 2, "appearance_rank": 3},
    "voxel": {"resolution": 12},
    "triplane": {"resolution": 8, "channels": 4, "hidden_dim": 16},
}


@pytest.mark.parametrize("kind", sorted(FIELD_CONFIGS))
def test_every_field_has_the_shared_interface(kind):
    torch.manual_seed(0)
    field = FIELD_CONFIGS[kind](**TINY[kind]).setup()
    out = field(torch.tensor([[0.0, 0, 0], [0.95, 0, 0], [0.1, -0.2, 0.3]]))
    assert out.features.shape == (3, 16) and out.rgb.shape == (3, 3) and out.density.shape == (3,)
    assert out.density[0] > 5 and out.density[1] < 0.5  # the density blob: an object at the start, not fog
    groups = field.param_groups()
    grouped = [id(p) for ps in groups.values() for p in ps]
    assert sorted(grouped) == sorted(id(p) for p in field.parameters())  # every parameter trained exactly once


def test_reference_mlp_size_is_nerf():
    field = MLPConfig(frequencies=10, depth=8, width=256, skip=4).setup()
    assert field.layers[0].in_features == 63 and field.layers[5].in_features == 256 + 63
    assert field(torch.zeros(4, 3)).features.shape == (4, 16)


def test_tensorf_planes_match_nerfstudio_tensor_vm_encoding():
    encodings = pytest.importorskip("nerfstudio.field_components.encodings")
    field = TensoRFConfig(resolution=12, density_rank=2, appearance_rank=3).setup()
    ns = encodings.TensorVMEncoding(resolution=12, num_components=5)
    with torch.no_grad():
        ns.plane_coef.copy_(field.planes)
        ns.line_coef.copy_(field.lines)
    x = torch.rand(50, 3) * 2 - 1
    ours = field.components(x)  # 3 C N
    theirs = ns(x).reshape(50, 3, 5).permute(1, 2, 0)
    assert torch.allclose(ours, theirs, atol=1e-6)


def test_voxel_reads_vertices_exactly_and_prune_empties_space():
    field = VoxelConfig(resolution=5, sparse=True, blob_strength=0.0, value_scale=1.0).setup()
    with torch.no_grad():
        field.grid.zero_()
        field.grid[0, 0, 2, 2, 2] = 9.0  # storage is [z, y, x]: the centre vertex
        field.grid[0, 3, 2, 2, 4] = 1.0  # channel 3 at x = +1, y = z = 0
    pts = torch.tensor([[0.0, 0, 0], [1.0, 0, 0], [0.25, 0, 0]])
    feats = field.encode(pts)
    assert feats[0, 0] == 9.0 and feats[1, 3] == 1.0 and torch.isclose(feats[2, 0], torch.tensor(4.5))
    kept = field.prune(threshold=1.0)
    assert 0 < kept < 0.5
    assert field.density(torch.tensor([[0.0, 0, 0]])) > 5
    assert field.density(torch.tensor([[-0.9, -0.9, -0.9]])) < 1e-10
    with pytest.raises(ValueError, match="sparse"):
        VoxelConfig(resolution=4).setup().prune()


@pytest.mark.parametrize("kind", ["mlp", "tensorf", "voxel", "triplane"])
def test_each_field_trains_by_score_distillation_and_reloads(tmp_path, pixel_prior, kind):
    cfg = GenerateConfig(prompt="a red cube", output_dir=tmp_path, run_name=kind, field=kind)
    setattr(cfg, kind, FIELD_CONFIGS[kind](**TINY[kind]))
    cfg.train.steps, cfg.train.resolution, cfg.train.device, cfg.train.preview_every = 2, 16, "cpu", 0
    cfg.render.num_samples, cfg.video.enabled, cfg.export.enabled = 8, False, False
    torch.manual_seed(cfg.train.seed)  # as generate() does, so `before` is the run's initial field
    before = cfg.field_config().setup().state_dict()
    result = generate(cfg, prior=pixel_prior, progress=False)
    field = load_checkpoint(result.checkpoint).build_field()
    assert type(field).__name__.lower().startswith(kind[:3])
    after = field.state_dict()
    assert after.keys() == before.keys()
    assert any(not torch.equal(after[k], before[k]) for k in after)  # the optimiser moved this architecture
