"""scripts/train_prior.py continued from a saved prior: `--init` starts from its weights, `--freeze-text-encoder`
keeps the text encoder (the shipped one-step student borrows it) while the UNet trains."""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

ROOT = Path(__file__).parents[2]
SCRIPT = ROOT / "scripts" / "train_prior.py"
SHIPPED = ROOT / "assets" / "prior"


def test_a_continued_prior_keeps_its_text_encoder_and_trains_its_unet(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "prior"
    monkeypatch.setattr(sys, "argv", [
        str(SCRIPT), "--init", str(SHIPPED), "--freeze-text-encoder", "--shape-weight", "mug=2", "--steps", "3",
        "--batch-size", "4", "--views-per-shape", "2", "--data", str(tmp_path / "bank.pt"),
        "--checkpoint", str(tmp_path / "ck.pt"), "--out", str(out),
    ])
    runpy.run_path(str(SCRIPT), run_name="__main__")
    text_before = load_file(SHIPPED / "text_encoder" / "model.safetensors")
    text_after = load_file(out / "text_encoder" / "model.safetensors")
    assert all((text_after[k] == v).all() for k, v in text_before.items())
    unet_before = load_file(SHIPPED / "unet" / "diffusion_pytorch_model.safetensors")
    unet_after = load_file(out / "unet" / "diffusion_pytorch_model.safetensors")
    changed = [k for k, v in unet_before.items() if not (unet_after[k] == v).all()]
    assert len(changed) > len(unet_before) // 2  # the UNet trained from the shipped weights ...
    drift = max((unet_after[k] - unet_before[k]).abs().max().item() for k in unet_before)
    assert drift < 0.05  # ... and started there: 3 small steps from them, not from a random initialisation

    # Resuming its checkpoint with the text encoder trainable would not match the saved optimiser: refused.
    monkeypatch.setattr(sys, "argv", [a for a in sys.argv if a != "--freeze-text-encoder"])
    with pytest.raises(SystemExit, match="written with --freeze-text-encoder"):
        runpy.run_path(str(SCRIPT), run_name="__main__")


def test_a_folder_that_is_not_a_prior_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "argv", [str(SCRIPT), "--init", str(tmp_path), "--steps", "1",
                                      "--checkpoint", str(tmp_path / "ck.pt"), "--out", str(tmp_path / "out")])
    with pytest.raises(SystemExit, match="error: --init"):
        runpy.run_path(str(SCRIPT), run_name="__main__")


def run_script(script: Path, monkeypatch: pytest.MonkeyPatch, *argv: str) -> None:
    monkeypatch.setattr(sys, "argv", [str(script), *argv])
    runpy.run_path(str(script), run_name="__main__")


def test_a_stopped_run_resumes_where_it_stopped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two steps, stopped, then two more from the checkpoint save the same EMA weights as four in one go: the
    optimiser, EMA, generator and schedule all continue (`TrainingRun`, which train_novel_view.py shares)."""
    common = ["--batch-size", "2", "--views-per-shape", "2", "--data", str(tmp_path / "bank.pt"), "--warmup", "2"]
    run_script(SCRIPT, monkeypatch, *common, "--steps", "4", "--checkpoint", str(tmp_path / "a.pt"),
               "--out", str(tmp_path / "whole"))
    for steps in ("2", "4"):
        run_script(SCRIPT, monkeypatch, *common, "--steps", steps, "--checkpoint", str(tmp_path / "b.pt"),
                   "--out", str(tmp_path / "resumed"))
    whole = load_file(tmp_path / "whole" / "unet" / "diffusion_pytorch_model.safetensors")
    resumed = load_file(tmp_path / "resumed" / "unet" / "diffusion_pytorch_model.safetensors")
    assert all(torch.allclose(resumed[k], v, atol=1e-6) for k, v in whole.items())


NOVEL_VIEW_SCRIPT = ROOT / "scripts" / "train_novel_view.py"


def test_the_novel_view_script_trains_resumes_and_exports(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    common = ["--batch-size", "2", "--views-per-shape", "2", "--data", str(tmp_path / "bank.pt"),
              "--checkpoint", str(tmp_path / "ck.pt"), "--out", str(tmp_path / "nv")]
    run_script(NOVEL_VIEW_SCRIPT, monkeypatch, *common, "--steps", "2")
    first = load_file(tmp_path / "nv" / "unet" / "diffusion_pytorch_model.safetensors")
    assert torch.load(tmp_path / "ck.pt", weights_only=True)["step"] == 2
    run_script(NOVEL_VIEW_SCRIPT, monkeypatch, *common, "--steps", "3")
    assert torch.load(tmp_path / "ck.pt", weights_only=True)["step"] == 3  # continued, not restarted
    second = load_file(tmp_path / "nv" / "unet" / "diffusion_pytorch_model.safetensors")
    assert any(not torch.equal(second[k], v) for k, v in first.items())
    (tmp_path / "nv").rename(tmp_path / "trained")
    run_script(NOVEL_VIEW_SCRIPT, monkeypatch, *common, "--steps", "3", "--export-only")
    exported = load_file(tmp_path / "nv" / "unet" / "diffusion_pytorch_model.safetensors")
    assert all(torch.equal(exported[k], v) for k, v in second.items())


def test_a_64px_prior_trains_on_64px_renders_and_loads_as_a_prior(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """`--image-size 64` renders its data at 64 px and saves a 64 px UNet that the library loads; a bank, an
    `--init` prior or a checkpoint of another size is refused, not silently resized or crashed on."""
    from scoredream.priors import PriorConfig

    common = ["--batch-size", "2", "--views-per-shape", "2", "--steps", "1", "--checkpoint", str(tmp_path / "ck.pt")]
    run_script(SCRIPT, monkeypatch, *common, "--image-size", "64", "--data", str(tmp_path / "bank64.pt"),
               "--out", str(tmp_path / "prior64"))
    assert torch.load(tmp_path / "bank64.pt", weights_only=True)["shade"].shape[-2:] == (64, 64)
    prior = PriorConfig(model=str(tmp_path / "prior64"), local_files_only=True).setup("cpu")
    assert prior.unet.config.sample_size == 64
    assert len(prior.unet.config.block_out_channels) == 4  # one more level, so attention stays at 8x8

    with pytest.raises(SystemExit, match="is a 32px prior, not --image-size 64"):  # its weights cannot start a 64
        run_script(SCRIPT, monkeypatch, *common, "--image-size", "64", "--data", str(tmp_path / "bank64.pt"),
                   "--init", str(SHIPPED), "--checkpoint", str(tmp_path / "ck_init.pt"), "--out", str(tmp_path / "x"))

    with pytest.raises(SystemExit, match="was written with --image-size 64"):  # the 64 run's checkpoint, size left out
        run_script(SCRIPT, monkeypatch, *common, "--data", str(tmp_path / "bank32.pt"), "--out", str(tmp_path / "y"))
    run_script(SCRIPT, monkeypatch, *common, "--data", str(tmp_path / "bank32.pt"), "--out", str(tmp_path / "p32"),
               "--checkpoint", str(tmp_path / "ck32.pt"))
    with pytest.raises(SystemExit, match="holds 32px renders, this model wants 64px"):
        run_script(SCRIPT, monkeypatch, *common, "--image-size", "64", "--data", str(tmp_path / "bank32.pt"),
                   "--out", str(tmp_path / "bad"), "--checkpoint", str(tmp_path / "ck_bad.pt"))


def test_a_camera_conditioned_prior_starts_from_the_shipped_one_and_reads_cameras(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`--camera-conditioned --init assets/prior`: the new camera embedding starts at zero, so before any step the
    prior predicts what the shipped one does, whatever the camera; the saved prior loads as camera-conditioned.
    Its checkpoint is not resumed without the flag, and its folder cannot start a prior without one."""
    from scoredream.priors import PriorConfig
    from scoredream.priors.camera_labels import camera_labels
    from scoredream.render.cameras import make_cameras

    common = ["--batch-size", "2", "--views-per-shape", "2", "--data", str(tmp_path / "bank.pt"), "--init",
              str(SHIPPED), "--checkpoint", str(tmp_path / "ck.pt")]
    run_script(SCRIPT, monkeypatch, *common, "--camera-conditioned", "--steps", "1", "--lr", "0",
               "--out", str(tmp_path / "cam"))
    shipped = PriorConfig(model=str(SHIPPED), local_files_only=True).setup("cpu")
    prior = PriorConfig(model=str(tmp_path / "cam"), local_files_only=True).setup("cpu")
    assert prior.reads_cameras and not shipped.reads_cameras
    x, t = torch.randn(2, 3, 32, 32), torch.tensor([300, 700])
    text = shipped.encode_text(["a red mug, side view", "a blue cube"])
    cams = make_cameras(torch.tensor([90.0, 0.0]), torch.tensor([10.0, 30.0]), torch.tensor([1.5, 2.0]),
                        torch.tensor([40.0, 60.0]))
    torch.testing.assert_close(prior.predict_noise(x, t, text, camera_labels(cams)), shipped.predict_noise(x, t, text))

    with pytest.raises(SystemExit, match="written with --camera-conditioned"):
        run_script(SCRIPT, monkeypatch, *common, "--steps", "2", "--out", str(tmp_path / "x"))
    with pytest.raises(SystemExit, match="reads cameras; pass --camera-conditioned"):
        run_script(SCRIPT, monkeypatch, *common[:6], "--init", str(tmp_path / "cam"), "--steps", "1",
                   "--checkpoint", str(tmp_path / "ck2.pt"), "--out", str(tmp_path / "y"))
