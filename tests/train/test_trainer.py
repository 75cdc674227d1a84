import json
import math

import pytest
import torch
from safetensors.torch import load_file

from scoredream.errors import USER_ERRORS
from scoredream.priors import PromptError
from scoredream.serialization import ConfigError, from_dict, load_json, to_dict
from scoredream.train import CheckpointError, GenerateConfig, TrainingDiverged, generate, load_checkpoint


def small_config(tmp_path, steps: int = 6, **train) -> GenerateConfig:
    cfg = GenerateConfig(prompt="a red cube", output_dir=tmp_path, run_name="run")
    cfg.hashgrid.levels, cfg.hashgrid.max_resolution, cfg.hashgrid.log2_hashmap_size = 4, 64, 12
    cfg.train.steps, cfg.train.resolution, cfg.train.device = steps, 16, "cpu"
    cfg.train.preview_every, cfg.train.checkpoint_every = 3, 3
    cfg.render.num_samples = 16
    cfg.video.frames, cfg.video.resolution, cfg.video.format = 4, 16, "gif"
    cfg.export.enabled = False  # tests/export covers the mesh at the end of generate
    for k, v in train.items():
        setattr(cfg.train, k, v)
    return cfg


def test_generate_writes_previews_checkpoint_and_video(tmp_path, pixel_prior):
    steps = []
    result = generate(small_config(tmp_path), prior=pixel_prior, on_step=steps.append, progress=False)
    assert [s.step for s in steps] == list(range(1, 7))
    assert result.step == 6 and not result.stopped and result.video.exists()
    assert sorted(p.name for p in (result.run_dir / "previews").iterdir()) == ["step_000003.png", "step_000006.png"]
    ckpt = load_checkpoint(result.run_dir)
    assert ckpt.step == 6 and ckpt.config.prompt == "a red cube"
    field = ckpt.build_field()
    assert field(torch.zeros(1, 3)).density.item() > 0
    assert load_json(GenerateConfig, result.run_dir / "config.json") == ckpt.config
    effective = json.loads((result.run_dir / "guidance.json").read_text())  # the tiny prior recommends nothing
    assert effective["method"] == "sds" and effective["guidance_scale"] == 100.0
    assert effective["timesteps"] == to_dict(ckpt.config.sds.timesteps)


def test_resume_after_stop_matches_uninterrupted_run(tmp_path, pixel_prior):
    full = generate(small_config(tmp_path / "a"), prior=pixel_prior, progress=False)
    calls = iter(range(100))
    stopped = generate(small_config(tmp_path / "b"), prior=pixel_prior, progress=False,
                       should_stop=lambda: next(calls) >= 4)
    assert stopped.stopped and stopped.step == 4 and stopped.video is None
    resumed = generate(small_config(tmp_path / "b"), prior=pixel_prior, progress=False, resume=True)
    assert resumed.step == 6
    a, b = load_file(full.checkpoint), load_file(resumed.checkpoint)
    assert a.keys() == b.keys()
    for k in a:
        assert torch.allclose(a[k], b[k], atol=1e-6), k
    assert len(resumed.history) == 6


def test_config_round_trips_through_json(tmp_path):
    cfg = small_config(tmp_path)
    cfg.sds.timesteps.max_end = 0.5
    assert from_dict(GenerateConfig, json.loads(json.dumps(to_dict(cfg)))) == cfg
    with pytest.raises(ConfigError, match="unknown keys"):
        from_dict(GenerateConfig, {"promt": "x"})
    with pytest.raises(ConfigError, match="not one of"):
        from_dict(GenerateConfig, {"method": "dreamfusion"})
    with pytest.raises(ConfigError, match="expected int"):
        from_dict(GenerateConfig, {"train": {"steps": "many"}})


@pytest.mark.parametrize("prompt", ["", "   ", "x" * 1001])
def test_bad_prompts_fail_before_work(tmp_path, pixel_prior, prompt):
    cfg = small_config(tmp_path)
    cfg.prompt = prompt
    with pytest.raises(PromptError):
        generate(cfg, prior=pixel_prior, progress=False)
    assert not (tmp_path / "run").exists()


def test_corrupt_checkpoints_are_refused(tmp_path):
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"\x00" * 64)
    with pytest.raises(CheckpointError, match="not a readable"):
        load_checkpoint(bad)
    with pytest.raises(CheckpointError, match="no checkpoint"):
        load_checkpoint(tmp_path / "missing.safetensors")
    from safetensors.torch import save_file

    save_file({"x": torch.zeros(1)}, str(tmp_path / "other.safetensors"))
    with pytest.raises(CheckpointError, match="not a scoredream checkpoint"):
        load_checkpoint(tmp_path / "other.safetensors")
    assert all(issubclass(e, Exception) for e in USER_ERRORS)


def test_divergence_stops_with_a_clear_error_and_keeps_the_checkpoint(tmp_path, pixel_prior, monkeypatch):
    import scoredream.train.trainer as trainer

    cfg = small_config(tmp_path, steps=6)
    real = trainer.opacity_regularisers
    calls = iter(range(100))

    def nan_after_four(opacity):
        s, b = real(opacity)
        return (s * float("nan"), b) if next(calls) >= 4 else (s, b)

    monkeypatch.setattr(trainer, "opacity_regularisers", nan_after_four)
    with pytest.raises(TrainingDiverged, match="last good checkpoint"):
        generate(cfg, prior=pixel_prior, progress=False)
    ckpt = load_checkpoint(tmp_path / "run")
    assert ckpt.step == 3 and all(torch.isfinite(v).all() for v in ckpt.tensors.values())


def test_finishing_stages_report_progress(tmp_path, pixel_prior):
    cfg = small_config(tmp_path, steps=2)
    cfg.export.enabled, cfg.export.resolution, cfg.export.texture_size = True, 32, 64
    seen = []
    result = generate(cfg, prior=pixel_prior, progress=False, on_finish=seen.append)
    turntable = [(s.done, s.total) for s in seen if s.stage == "turntable"]
    assert turntable == [(i, 4) for i in range(1, 5)]
    exports = [s.stage for s in seen if s.stage.startswith("export")]
    assert exports == ["export: extract", "export: cleanup", "export: vertex_colors", "export: texture",
                       "export: write"]
    assert seen[-1].done == seen[-1].total and result.mesh.exists()
    assert set(result.seconds) == {"train", "video", "export"}


def test_geometry_pieces_train_together(tmp_path, pixel_prior):
    """Shading, orientation loss, importance sampling and a coarse-to-fine grid in one short run."""
    cfg = small_config(tmp_path, steps=4)
    cfg.shading.enabled, cfg.shading.albedo_until, cfg.shading.albedo_probability = True, 0.0, 0.0
    cfg.train.orientation_weight = (1.0, 10.0)
    cfg.render.importance_samples = 16
    cfg.hashgrid.progressive_levels = 2
    result = generate(cfg, prior=pixel_prior, progress=False)
    rows = result.history
    assert len(rows) == 4 and all(r["orientation"] >= 0 for r in rows)
    assert all(torch.isfinite(torch.tensor(r["loss"])) for r in rows)


def test_learning_rates_decay_by_a_cosine_over_the_stretch_asked_for(tmp_path, pixel_prior, monkeypatch):
    import scoredream.train.trainer as trainer

    cfg = small_config(tmp_path, steps=6)
    cfg.optim.lr_final, cfg.optim.lr_decay = 0.1, (0.5, 1.0)
    seen = []
    real = trainer.optimisation_step

    def recorded(run, step):
        row = real(run, step)
        seen.append([g["lr"] for g in run.optimizer.param_groups])  # the rates this step used
        return row

    monkeypatch.setattr(trainer, "optimisation_step", recorded)
    generate(cfg, prior=pixel_prior, progress=False)
    grid = [lrs[0] for lrs in seen]
    assert grid[:4] == [cfg.optim.lr_grid] * 4  # constant until half way (steps 0-3: progress 0 .. 0.5)
    assert grid[3] > grid[4] > grid[5] > 0.1 * cfg.optim.lr_grid  # then falling towards 10% at the run's end
    assert grid[5] == pytest.approx(cfg.optim.lr_grid * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * 2 / 3))))
    assert all(lrs[1] / lrs[0] == pytest.approx(cfg.optim.lr_mlp / cfg.optim.lr_grid) for lrs in seen)  # every group


@pytest.mark.parametrize("optim", [{"lr_final": 0.0}, {"lr_final": 1.5}, {"lr_decay": (0.8, 0.2)},
                                   {"lr_decay": (0.0, 1.2)}])
def test_bad_learning_rate_decay_is_refused_before_work(tmp_path, optim):
    cfg = small_config(tmp_path)
    for k, v in optim.items():
        setattr(cfg.optim, k, v)
    with pytest.raises(ConfigError, match="optim.lr_"):
        cfg.validate()
