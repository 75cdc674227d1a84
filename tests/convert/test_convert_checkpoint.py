import jaxtyping
import pytest
import torch

from scoredream.cli import main
from scoredream.convert import PVDConfig, convert_checkpoint, render_views
from scoredream.fields import HashGridConfig, MLPConfig, MLPField, build_field
from scoredream.render.cameras import CameraSamplerConfig, orbit_cameras
from scoredream.render.volume import RenderConfig
from scoredream.serialization import ConfigError, load_json
from scoredream.train import CheckpointError, GenerateConfig, load_checkpoint
from scoredream.train.checkpoint import save_checkpoint

TINY_PVD = ["--pvd.steps", "4", "--pvd.feature-steps", "1", "--pvd.sample-steps", "2", "--pvd.rays-per-step", "32",
            "--pvd.num-cameras", "2", "--pvd.camera-resolution", "8"]


@pytest.fixture
def hashgrid_run(tmp_path):
    """A run folder holding a small random hash-grid checkpoint (as `generate` writes it), with a learned (MLP)
    background, so that a conversion has its weights to carry over."""
    cfg = GenerateConfig(prompt="a red cube", output_dir=tmp_path, run_name="cube")
    cfg.background.kind = "mlp"
    cfg.hashgrid = HashGridConfig(levels=2, max_resolution=32, log2_hashmap_size=10)
    cfg.render.num_samples = 8
    torch.manual_seed(0)
    field = build_field(cfg.field_config())
    save_checkpoint(cfg.run_dir() / "checkpoints" / "last.safetensors", cfg, 7,
                    {"field": field, "background": cfg.background.setup()})
    return cfg.run_dir()


def small_pvd() -> PVDConfig:
    cfg = PVDConfig(steps=6, feature_steps=2, sample_steps=4, rays_per_step=64, num_cameras=4, camera_resolution=8)
    cfg.cameras = CameraSamplerConfig(distance_range=(1.75, 1.75))
    return cfg


def test_same_architecture_is_lossless(hashgrid_run):
    result = convert_checkpoint(hashgrid_run, "hashgrid", small_pvd(), progress=False)
    assert result.copied and result.steps == 0
    views, render = orbit_cameras(3), RenderConfig(num_samples=8)
    source = render_views(load_checkpoint(hashgrid_run).build_field(), views, 16, render)
    converted = render_views(load_checkpoint(result.checkpoint).build_field(), views, 16, render)
    assert torch.equal(source, converted)


def test_converted_checkpoint_loads_like_a_trained_one(hashgrid_run):
    steps = []
    target = MLPConfig(frequencies=2, depth=2, width=16, skip=0)
    result = convert_checkpoint(hashgrid_run, "mlp", small_pvd(), target_config=target, on_step=steps.append,
                                progress=False)
    assert not result.copied and result.steps == 6 and [s.step for s in steps] == list(range(1, 7))
    assert result.run_dir == hashgrid_run.with_name("cube-mlp")
    ckpt = load_checkpoint(result.run_dir)
    assert ckpt.config.field == "mlp" and ckpt.config.mlp == target and ckpt.config.prompt == "a red cube"
    field = ckpt.build_field()
    assert isinstance(field, MLPField) and result.parameters == sum(p.numel() for p in field.parameters())
    assert load_json(GenerateConfig, result.run_dir / "config.json") == ckpt.config
    directions = torch.nn.functional.normalize(torch.randn(1, 4, 4, 3), dim=-1)
    background = ckpt.build_background()(directions, training=False)
    source = load_checkpoint(hashgrid_run).build_background()(directions, training=False)
    assert ckpt.config.background.kind == "mlp" and torch.equal(background, source)


def test_conversion_errors(hashgrid_run, tmp_path, monkeypatch):
    with monkeypatch.context() as m:
        # The tests' runtime type checks would refuse "octree" first; this is the check callers without them get.
        m.setattr(jaxtyping.config, "jaxtyping_disable", True)
        with pytest.raises(ConfigError, match="unknown field"):
            convert_checkpoint(hashgrid_run, "octree", progress=False)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="not a config for"):
        convert_checkpoint(hashgrid_run, "voxel", target_config=MLPConfig(), progress=False)
    with pytest.raises(CheckpointError):
        convert_checkpoint(tmp_path / "nowhere", "mlp", progress=False)


def test_cli_convert(hashgrid_run, tmp_path, capsys):
    out = tmp_path / "converted" / "checkpoints" / "last.safetensors"
    args = ["convert", str(hashgrid_run), "--to", "tensorf", "--output", str(out), "--device", "cpu",
            "--tensorf.resolution", "8", "--tensorf.density-rank", "2", "--tensorf.appearance-rank", "2", *TINY_PVD]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "converted hashgrid -> tensorf (distilled in 4 steps" in printed and str(out) in printed
    assert load_checkpoint(out).config.tensorf.resolution == 8
    assert main(["convert", str(tmp_path / "missing"), "--to", "mlp"]) == 2
    assert "error: no checkpoint" in capsys.readouterr().err
