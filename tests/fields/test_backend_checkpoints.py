"""Hash-grid checkpoints between the torch and tiny-cuda-nn backends (tinycudann cannot run here, so its layout is
built by hand from encodings/grid.h and common_device.h, and checked against a loop-by-loop reference of its kernel)."""

import sys
import types

import numpy as np
import pytest
import torch
from torch import nn

from scoredream.fields import HashGridConfig, build_field
from scoredream.fields import hashgrid as hashgrid_module
from scoredream.fields.grid_encoding import per_level_scale, tcnn_levels
from scoredream.fields.hashgrid import GridLayoutError, state_layout
from scoredream.train import GenerateConfig, load_checkpoint
from scoredream.train.checkpoint import CheckpointError, load_module, save_checkpoint

# 4 levels, base 16, finest 256, 2^12 entries: level 0 (16^3 = 4096 vertices) is dense, levels 1-3 are hashed.
SMALL = {"levels": 4, "base_resolution": 16, "max_resolution": 256, "log2_hashmap_size": 12, "hidden_dim": 8}
PRIMES = (1, 2654435761, 805459861)


def small_config(**changes) -> GenerateConfig:
    return GenerateConfig(prompt="a red cube", field="hashgrid", hashgrid=HashGridConfig(**{**SMALL, **changes}))


class StateModule(nn.Module):
    """Stands in for a module of another machine: save_checkpoint only reads its state_dict."""

    def __init__(self, state: dict[str, torch.Tensor]) -> None:
        super().__init__()
        self.state = state

    def state_dict(self, *args, **kwargs) -> dict[str, torch.Tensor]:
        return self.state


def tcnn_run_state(params: torch.Tensor) -> dict[str, torch.Tensor]:
    """A field state dict as a tinycudann machine writes it (before the backend marker existed: no grid_backend)."""
    torch.manual_seed(0)
    torch_field = HashGridConfig(**SMALL, backend="torch").setup()
    heads = {k: v for k, v in torch_field.state_dict().items() if k.startswith(("mlp.", "color_head."))}
    return {"encoding.encoding.params": params, **heads}


def save_run(tmp_path, field_state: dict[str, torch.Tensor]):
    config = small_config()
    path = tmp_path / "checkpoints" / "last.safetensors"
    save_checkpoint(path, config, 3, {"field": StateModule(field_state), "background": config.background.setup()})
    return path


def tcnn_reference(params: np.ndarray, u: np.ndarray, features: int) -> np.ndarray:
    """tiny-cuda-nn's kernel_grid, one point, level and corner at a time, in uint32 and float32 as on the GPU."""
    levels = tcnn_levels(SMALL["levels"], SMALL["log2_hashmap_size"], 16, per_level_scale(4, 16, 256))
    out = np.zeros((len(u), len(levels) * features), np.float32)
    for n, point in enumerate(u.astype(np.float32)):
        for li, level in enumerate(levels):
            pos = point * np.float32(level.scale) + np.float32(0.5)
            grid = np.floor(pos).astype(np.int64)
            frac = pos - grid
            for corner in range(8):
                bits = [(corner >> d) & 1 for d in range(3)]
                local = [int(grid[d]) + bits[d] for d in range(3)]
                weight = np.prod([frac[d] if bits[d] else 1 - frac[d] for d in range(3)])
                r = level.resolution
                if r**3 <= level.size:
                    index = local[0] + local[1] * r + local[2] * r * r
                else:
                    index = (local[0] * PRIMES[0] ^ local[1] * PRIMES[1] ^ local[2] * PRIMES[2]) & 0xFFFFFFFF
                row = level.offset + index % level.size
                out[n, li * features:(li + 1) * features] += weight * params[row * features:(row + 1) * features]
    return out


def test_level_table_follows_tiny_cuda_nn():
    levels = tcnn_levels(4, 12, 16, per_level_scale(4, 16, 256))
    # scale = 16 * 16^(l/3) - 1, resolution = ceil(scale) + 1, size = min(res^3 rounded up to 8, 2^12).
    assert [lv.resolution for lv in levels] == [16, 41, 102, 256]
    assert [lv.size for lv in levels] == [4096] * 4 and [lv.offset for lv in levels] == [0, 4096, 8192, 12288]
    assert [lv.dense for lv in levels] == [True, False, False, False]
    assert levels[0].scale == 15.0 and levels[1].scale == pytest.approx(16 * 16 ** (1 / 3) - 1, rel=1e-6)
    # A level of 5^3 = 125 vertices gets a table of 128 (padded to a multiple of 8) and stays dense.
    odd = tcnn_levels(2, 19, 5, 2.0)
    assert [(lv.resolution, lv.size, lv.dense) for lv in odd] == [(5, 128, True), (10, 1000, True)]


def test_tcnn_checkpoint_loads_on_cpu_and_a_table_entry_shows_where_the_layout_puts_it(tmp_path):
    features = 2
    params = torch.zeros(4 * 4096 * features)
    params[(3 + 5 * 16 + 7 * 16 * 16) * features + 1] = 1.0  # dense level 0, vertex (3, 5, 7), feature 1
    level1 = tcnn_levels(4, 12, 16, per_level_scale(4, 16, 256))[1]
    h = (10 * PRIMES[0] ^ 20 * PRIMES[1] ^ 30 * PRIMES[2]) & 0xFFFFFFFF
    params[(level1.offset + h % level1.size) * features] = 2.0  # hashed level 1, vertex (10, 20, 30), feature 0
    field = load_checkpoint(save_run(tmp_path, tcnn_run_state(params))).build_field()
    assert field.backend == "tcnn-layout-torch" and int(field.grid_backend) == 2

    # Vertex v of a level sits at input u = (v - 0.5) / scale (tcnn's half-cell stagger); points are in [-1, 1].
    def point(vertex, scale):
        return torch.tensor([(v - 0.5) / scale for v in vertex]) * 2 - 1

    pts = torch.stack([point((3, 5, 7), 15.0), point((3.5, 5, 7), 15.0), point((10, 20, 30), level1.scale),
                       point((10, 20, 30.25), level1.scale)])
    with torch.no_grad():
        enc = field.encoding(pts)
    assert enc[0, 1] == pytest.approx(1.0, abs=1e-5) and enc[1, 1] == pytest.approx(0.5, abs=1e-5)
    assert enc[2, 2] == pytest.approx(2.0, abs=1e-4) and enc[3, 2] == pytest.approx(1.5, abs=1e-4)
    assert enc[:2, [0, 2, 3]].abs().max() < 1e-6  # nothing else set shows up elsewhere


def test_tcnn_layout_matches_a_loop_reference_of_its_kernel():
    torch.manual_seed(1)
    field = HashGridConfig(**SMALL, backend="torch").setup(layout="tcnn")
    with torch.no_grad():
        field.encoding.encoding.params.normal_()
        x = torch.cat([torch.rand(40, 3) * 2 - 1, torch.tensor([[1.0, 1.0, 1.0], [-1.0, 0.999, 1.0]])])
        got = field.encoding(x).numpy()
    # The far corner of a dense level indexes past the grid and wraps, as tcnn's kernel does (x = 1 above).
    expected = tcnn_reference(field.encoding.encoding.params.detach().numpy(), ((x + 1) * 0.5).numpy(), 2)
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)


def test_round_trip_torch_to_tcnn_layout_and_back_is_exact(tmp_path):
    torch.manual_seed(2)
    field = build_field(small_config().field_config(), layout="tcnn")
    with torch.no_grad():
        for p in field.parameters():
            p.normal_()
    path = tmp_path / "run" / "checkpoints" / "last.safetensors"
    save_checkpoint(path, small_config(), 1, {"field": field, "background": small_config().background.setup()})
    ckpt = load_checkpoint(path)
    grid = ckpt.tensors["field.encoding.encoding.params"]
    levels = tcnn_levels(4, 12, 16, per_level_scale(4, 16, 256))
    assert grid.shape == ((levels[-1].offset + levels[-1].size) * 2,)  # tcnn's m_n_params: what tcnn.Encoding holds
    assert state_layout(ckpt.state("field")) == "tcnn" and int(ckpt.tensors["field.grid_backend"]) == 2
    loaded = ckpt.build_field()
    for key, value in field.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key
    x = torch.rand(64, 3) * 2 - 1
    with torch.no_grad():
        assert torch.equal(loaded(x).features, field(x).features)


@pytest.fixture
def fake_tcnn(monkeypatch):
    """tinycudann as far as building a field goes: an Encoding holding tcnn's flat `params` vector."""

    class Encoding(nn.Module):
        def __init__(self, n_input_dims, config, dtype=None):
            super().__init__()
            levels = tcnn_levels(config["n_levels"], config["log2_hashmap_size"], config["base_resolution"],
                                 config["per_level_scale"])
            self.params = nn.Parameter(torch.zeros((levels[-1].offset + levels[-1].size) * 2))

    monkeypatch.setitem(sys.modules, "tinycudann", types.SimpleNamespace(Encoding=Encoding))
    monkeypatch.setattr(hashgrid_module, "tcnn_available", lambda: True)


def test_cpu_run_loads_where_tcnn_is_installed_and_resume_into_tcnn_names_the_fix(tmp_path, fake_tcnn):
    torch.manual_seed(3)
    cpu_field = HashGridConfig(**SMALL, backend="torch").setup()
    state = cpu_field.state_dict()
    auto = HashGridConfig(**SMALL)  # backend auto: tcnn here
    assert auto.setup().backend == "tcnn"
    reloaded = auto.setup(layout=state_layout(state))  # what Checkpoint.build_field builds
    reloaded.load_state_dict(state)
    assert reloaded.backend == "torch" and torch.equal(reloaded.encoding.hash_table, cpu_field.encoding.hash_table)
    with pytest.raises(CheckpointError, match="scoredream convert RUN --to hashgrid --hashgrid.backend tcnn"):
        load_module(auto.setup(), state, tmp_path / "last.safetensors")  # a resume that built a tcnn field


def test_tcnn_state_into_a_torch_layout_field_is_refused_not_garbled():
    state = tcnn_run_state(torch.zeros(4 * 4096 * 2))
    with pytest.raises(GridLayoutError, match="half a cell"):
        HashGridConfig(**SMALL, backend="torch").setup().load_state_dict(state)


def test_backend_is_recorded_and_old_checkpoints_without_the_marker_load(tmp_path):
    field = build_field(small_config().field_config())
    assert field.backend == "torch" and state_layout(field.state_dict()) == "torch"
    old = {k: v for k, v in field.state_dict().items() if k != "grid_backend"}
    path = save_run(tmp_path, old)
    assert "field.grid_backend" not in load_checkpoint(path).tensors
    loaded = load_checkpoint(path).build_field()
    assert loaded.backend == "torch" and int(loaded.grid_backend) == 0
    assert torch.equal(loaded.encoding.hash_table, field.encoding.hash_table)
    assert int(load_checkpoint(save_run(tmp_path / "new", field.state_dict())).tensors["field.grid_backend"]) == 0
