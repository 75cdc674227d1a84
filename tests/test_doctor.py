import importlib.abc
import shutil
import sys
from collections import namedtuple
from pathlib import Path

import pytest

from scoredream import doctor

ASSETS = Path(__file__).resolve().parents[1] / "assets"


def run(capsys, *args: str) -> tuple[int, str]:
    code = doctor.main(list(args))
    return code, capsys.readouterr().out


def line(out: str, name: str) -> str:
    """The report's line for `name` and its fix line, if any."""
    lines = out.splitlines()
    i = next(i for i, text in enumerate(lines) if text[9:].startswith(name + " "))
    fix = lines[i + 1] if i + 1 < len(lines) and lines[i + 1].strip().startswith("fix:") else ""
    return lines[i] + "\n" + fix


@pytest.fixture(autouse=True)
def real_assets(monkeypatch, tmp_path):
    monkeypatch.setenv("SCOREDREAM_ASSETS", str(ASSETS))
    monkeypatch.chdir(tmp_path)  # the disk check looks at ./outputs


def test_this_checkout_is_ready_and_every_line_has_a_status(capsys):
    code, out = run(capsys)
    assert code == 0, out
    for name in ("python", "torch", "gpu", "tinycudann", "open3d", "mesh export", "ffmpeg", "chromium", "gradio",
                 "embedded prior", "embedded-camera prior", "disk"):
        assert line(out, name).split()[0] in ("OK", "WARN"), out
    assert "embedded prior" in out and "a run will use: device " in out and out.rstrip().endswith(")")


def test_empty_prior_folder_is_missing_and_exit_code_flips(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("SCOREDREAM_ASSETS", str(tmp_path / "empty"))
    code, out = run(capsys)
    assert code == 1
    prior = line(out, "embedded prior")
    assert prior.startswith("MISSING") and "no model_index.json" in prior and "scripts/train_prior.py" in prior
    assert "not ready: missing embedded prior" in out


def test_lfs_pointer_instead_of_weights_is_named(capsys, monkeypatch, tmp_path):
    shutil.copytree(ASSETS / "prior", tmp_path / "prior")
    (tmp_path / "prior" / "unet" / "diffusion_pytorch_model.safetensors").write_text(
        "version https://git-lfs.github.com/spec/v1\noid sha256:0\nsize 9831396\n")
    monkeypatch.setenv("SCOREDREAM_ASSETS", str(tmp_path))
    code, out = run(capsys)
    prior = line(out, "embedded prior")
    assert code == 1 and "unet/diffusion_pytorch_model.safetensors is not readable safetensors" in prior
    assert "git lfs pull" in prior


class BrokenOpen3d(importlib.abc.MetaPathFinder):
    """open3d's wheel on a Debian image without libusb: the import dies loading the native library."""

    def find_spec(self, name, path=None, target=None):
        if name == "open3d":
            raise OSError("libusb-1.0.so.0: cannot open shared object file: No such file or directory")
        return None


def test_open3d_without_libusb_gives_the_apt_fix_and_the_trimesh_fallback(capsys, monkeypatch):
    for name in [m for m in sys.modules if m == "open3d" or m.startswith("open3d.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setattr(sys, "meta_path", [BrokenOpen3d(), *sys.meta_path])
    code, out = run(capsys)
    o3d = line(out, "open3d")
    assert o3d.startswith("WARN") and "apt-get install libusb-1.0-0" in o3d and "falls back to trimesh" in o3d
    assert "mesh cleanup trimesh" in out and code == 0  # optional: export still works


def test_missing_ffmpeg_is_missing_with_the_gif_way_out(capsys, monkeypatch):
    import imageio_ffmpeg

    def no_ffmpeg() -> str:
        raise RuntimeError("No ffmpeg exe could be found")

    monkeypatch.setattr(imageio_ffmpeg, "get_ffmpeg_exe", no_ffmpeg)
    code, out = run(capsys)
    assert code == 1 and line(out, "ffmpeg").startswith("MISSING") and "--video.format gif" in line(out, "ffmpeg")


def test_a_probe_that_raises_is_reported_not_a_crash(capsys, monkeypatch):
    import torch

    def broken_driver() -> bool:
        raise RuntimeError("CUDA driver initialization failed")

    monkeypatch.setattr(torch.cuda, "is_available", broken_driver)
    code, out = run(capsys)
    gpu = line(out, "gpu")
    assert gpu.startswith("WARN") and "could not check: RuntimeError: CUDA driver initialization failed" in gpu
    assert line(out, "disk").startswith("OK") and code == 0  # the probes after it still ran


def test_tcnn_missing_on_a_gpu_machine_says_how_to_build_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "tinycudann", None)  # import raises ImportError
    ctx = doctor.Context(outputs=Path("outputs"), uses={"device": "cuda"})
    check = doctor.check_tcnn(ctx)
    assert check.status == "WARN" and "NVlabs/tiny-cuda-nn" in check.fix and ctx.uses["hash grid"] == "torch"
    assert doctor.check_tcnn(doctor.Context(Path("outputs"), {"device": "cpu"})).status == "OK"


def test_full_disk_and_missing_chromium(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("SCOREDREAM_CHROMIUM", str(tmp_path / "no-chromium"))
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(doctor.shutil, "disk_usage", lambda path: usage(10 << 30, 10 << 30, 5 << 20))
    code, out = run(capsys, "--outputs", str(tmp_path / "runs"))
    chromium = line(out, "chromium")
    assert chromium.startswith("WARN") and "apt-get install -y chromium" in chromium
    assert line(out, "disk").startswith("MISSING") and f"in {tmp_path}" in out and code == 1
