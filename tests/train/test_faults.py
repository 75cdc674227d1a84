"""Bad input and faults during a run: each gets a clear error, and nothing already written is lost."""

import os
import signal
from pathlib import Path

import pytest
import torch
from safetensors import SafetensorError
from test_trainer import small_config

from scoredream.run_folder import RunFolder, RunFolderBusy, RunFolderExists
from scoredream.serialization import ConfigError
from scoredream.train import CheckpointError, generate, load_checkpoint
from scoredream.train import checkpoint as ckpt_module
from scoredream.train.checkpoint import load_trainer_state
from scoredream.train.interrupt import Interrupted


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf")])
def test_non_finite_numbers_are_refused_before_work(tmp_path, pixel_prior, value):
    cfg = small_config(tmp_path)
    cfg.sds.guidance_scale = value
    with pytest.raises(ConfigError, match=r"config\.sds\.guidance_scale: must be a finite number"):
        generate(cfg, prior=pixel_prior, progress=False)
    cfg = small_config(tmp_path)
    cfg.cameras.fovy_range = (40.0, value)
    with pytest.raises(ConfigError, match=r"config\.cameras\.fovy_range\[1\]"):
        generate(cfg, prior=pixel_prior, progress=False)
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(("field", "value"), [("max_start", 1.5), ("min_end", -0.1), ("min_start", 0.99)])
def test_t_fractions_are_validated(tmp_path, pixel_prior, field, value):
    cfg = small_config(tmp_path)
    setattr(cfg.sds.timesteps, field, value)
    with pytest.raises(ConfigError, match="sds.timesteps"):
        generate(cfg, prior=pixel_prior, progress=False)


@pytest.mark.parametrize(("section", "field", "value", "message"), [
    ("render", "normal_step", 0.0, "render.normal_step"),
    ("train", "normal_smoothness_weight", -1.0, "train.normal_smoothness_weight"),
    ("train", "distortion_weight", -1.0, "train.distortion_weight"),
])
def test_lengths_and_weights_out_of_range_are_refused(tmp_path, pixel_prior, section, field, value, message):
    cfg = small_config(tmp_path)
    setattr(getattr(cfg, section), field, value)
    with pytest.raises(ConfigError, match=message):
        generate(cfg, prior=pixel_prior, progress=False)
    assert not (tmp_path / "run").exists()


def test_max_t_fraction_one_means_the_last_timestep(tmp_path, pixel_prior):
    cfg = small_config(tmp_path, steps=2)
    cfg.sds.timesteps.max_start = cfg.sds.timesteps.max_end = 1.0
    n = pixel_prior.num_train_timesteps
    assert cfg.sds.timesteps.bounds(0, n) == (int(0.02 * n), n - 1)
    assert generate(cfg, prior=pixel_prior, progress=False).step == 2  # indexed past alphas_cumprod before


def test_cuda_on_a_machine_without_gpu_is_a_clear_error(tmp_path, pixel_prior, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    cfg = small_config(tmp_path)
    cfg.train.device = "cuda"
    with pytest.raises(ConfigError, match="no usable CUDA GPU"):
        generate(cfg, prior=pixel_prior, progress=False)
    cfg.train.device = "tpu9"
    with pytest.raises(ConfigError, match="device"):
        generate(cfg, prior=pixel_prior, progress=False)


def test_disk_full_while_checkpointing_keeps_the_earlier_checkpoint(tmp_path, pixel_prior, monkeypatch):
    first = generate(small_config(tmp_path, steps=3), prior=pixel_prior, progress=False)
    before = first.checkpoint.read_bytes()

    def full_disk(tensors, filename, metadata=None):  # what safetensors raises when a write hits ENOSPC
        Path(filename).write_bytes(b"partial")
        raise SafetensorError("Error while serializing: IoError(Os { code: 28, kind: StorageFull, message: "
                              '"No space left on device" })')

    monkeypatch.setattr(ckpt_module, "save_file", full_disk)
    with pytest.raises(CheckpointError, match="No space left on device.*previous last.safetensors is kept"):
        generate(small_config(tmp_path, steps=6), prior=pixel_prior, progress=False, resume=True)
    assert first.checkpoint.read_bytes() == before
    assert load_checkpoint(tmp_path / "run").step == 3
    assert [p.name for p in first.checkpoint.parent.iterdir() if p.name.endswith(".tmp")] == []
    monkeypatch.undo()
    assert generate(small_config(tmp_path, steps=6), prior=pixel_prior, progress=False, resume=True).step == 6


def _fork_and_kill_at(kill_at: int, save) -> None:
    """Run `save` in a forked child that SIGKILLs itself at the kill_at-th os.replace (a file landing)."""
    pid = os.fork()
    if pid == 0:  # child
        real, calls = os.replace, [0]

        def replace(src, dst):
            if calls[0] == kill_at:
                os.kill(os.getpid(), signal.SIGKILL)
            calls[0] += 1
            real(src, dst)

        os.replace = replace
        try:
            save()
        finally:
            os._exit(0)
    _, status = os.waitpid(pid, 0)
    assert os.WIFSIGNALED(status) == (kill_at < 2)


@pytest.mark.parametrize("kill_at", [0, 1, 2])
def test_kill_9_at_each_point_of_a_checkpoint_write_leaves_a_consistent_pair(tmp_path, pixel_prior, kill_at):
    cfg = small_config(tmp_path, steps=3)
    generate(cfg, prior=pixel_prior, progress=False)  # a checkpoint at step 3
    path = RunFolder(cfg.run_dir()).checkpoint
    ckpt = load_checkpoint(path)
    state = load_trainer_state(path, 3)
    modules = {"field": ckpt.build_field()}
    # The next write (step 5) is killed before its state lands (0), before its weights land (1), or not at all (2).
    _fork_and_kill_at(kill_at, lambda: ckpt_module.save_checkpoint(path, ckpt.config, 5, modules, state))
    step = load_checkpoint(path).step
    assert step == (5 if kill_at == 2 else 3)
    assert load_trainer_state(path, step)["step"] == step  # weights and state agree
    resumed = small_config(tmp_path, steps=6)
    assert generate(resumed, prior=pixel_prior, progress=False, resume=True).step == 6


def test_a_state_from_another_step_is_refused(tmp_path, pixel_prior):
    cfg = small_config(tmp_path, steps=3)
    result = generate(cfg, prior=pixel_prior, progress=False)
    state = ckpt_module.state_path(result.checkpoint, 3)
    state.rename(ckpt_module.state_path(result.checkpoint, 2))
    with pytest.raises(CheckpointError, match="no trainer state for its step 3"):
        generate(small_config(tmp_path, steps=6), prior=pixel_prior, progress=False, resume=True)


def test_a_second_writer_of_one_run_folder_is_refused(tmp_path, pixel_prior):
    cfg = small_config(tmp_path)
    with RunFolder(cfg.run_dir()).lock(), pytest.raises(RunFolderBusy, match="another process"):
        generate(cfg, prior=pixel_prior, progress=False)
    assert not cfg.run_dir().exists()  # a refused run leaves no empty folder behind


def test_a_new_run_does_not_overwrite_a_finished_one(tmp_path, pixel_prior):
    first = generate(small_config(tmp_path, steps=3), prior=pixel_prior, progress=False)
    before = first.checkpoint.read_bytes()
    with pytest.raises(RunFolderExists, match="--resume"):
        generate(small_config(tmp_path, steps=3), prior=pixel_prior, progress=False)
    assert first.checkpoint.read_bytes() == before


def test_resume_refuses_what_it_cannot_do(tmp_path, pixel_prior):
    with pytest.raises(CheckpointError, match="nothing to resume"):
        generate(small_config(tmp_path), prior=pixel_prior, progress=False, resume=True)
    generate(small_config(tmp_path, steps=6), prior=pixel_prior, progress=False)
    with pytest.raises(ConfigError, match="checkpoint is at step 6, past --train.steps 4"):
        generate(small_config(tmp_path, steps=4), prior=pixel_prior, progress=False, resume=True)
    assert load_checkpoint(tmp_path / "run").step == 6


def test_resume_trains_with_the_new_learning_rate(tmp_path, pixel_prior, monkeypatch):
    generate(small_config(tmp_path, steps=3), prior=pixel_prior, progress=False)
    cfg = small_config(tmp_path, steps=4)
    cfg.optim.lr_grid, cfg.optim.lr_mlp = 0.5, 0.25
    import scoredream.train.trainer as trainer

    seen = []
    real = trainer.optimisation_step
    monkeypatch.setattr(trainer, "optimisation_step",
                        lambda run, step: seen.append([g["lr"] for g in run.optimizer.param_groups]) or real(run, step))
    generate(cfg, prior=pixel_prior, progress=False, resume=True)
    assert seen == [[0.5, 0.25, cfg.optim.lr_background]]


def test_ctrl_c_saves_a_checkpoint_at_the_interrupt(tmp_path, pixel_prior):
    cfg = small_config(tmp_path, steps=8)  # checkpoints every 3 steps

    def interrupt_at_four(info):
        if info.step == 4:
            os.kill(os.getpid(), signal.SIGINT)

    before = signal.getsignal(signal.SIGINT)  # Python's default; SIG_IGN under a shell's background job (nohup &)
    with pytest.raises(Interrupted, match="interrupted at step 4; checkpoint saved"):
        generate(cfg, prior=pixel_prior, progress=False, on_step=interrupt_at_four)
    assert load_checkpoint(tmp_path / "run").step == 4
    assert signal.getsignal(signal.SIGINT) is before  # the handler is put back
    assert generate(cfg, prior=pixel_prior, progress=False, resume=True).step == 8


def test_what_the_end_of_a_run_needs_is_checked_before_training(tmp_path, pixel_prior, monkeypatch):
    import scoredream.train.preflight as preflight
    from scoredream.export import ExportError

    trained = []
    monkeypatch.setattr("scoredream.train.trainer.optimise", lambda *a: trained.append(1))
    cfg = small_config(tmp_path)
    cfg.export.enabled = True
    monkeypatch.setattr(preflight, "export_dependencies_problem", lambda c: "mesh export needs xatlas")
    with pytest.raises(ExportError, match="needs xatlas.*--export.no-enabled"):
        generate(cfg, prior=pixel_prior, progress=False)
    monkeypatch.undo()
    monkeypatch.setattr("scoredream.train.trainer.optimise", lambda *a: trained.append(1))

    def no_ffmpeg():
        raise RuntimeError("No ffmpeg exe could be found")

    monkeypatch.setattr("imageio_ffmpeg.get_ffmpeg_exe", no_ffmpeg)
    cfg = small_config(tmp_path)
    cfg.video.format = "mp4"
    with pytest.raises(ConfigError, match="needs ffmpeg.*--video.format gif"):
        generate(cfg, prior=pixel_prior, progress=False)
    (tmp_path / "a-file").write_text("")
    cfg = small_config(tmp_path / "a-file" / "outputs")
    with pytest.raises(ConfigError, match="cannot write in the output folder"):
        generate(cfg, prior=pixel_prior, progress=False)
    assert trained == [] and not (tmp_path / "run").exists()
