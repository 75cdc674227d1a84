"""`scoredream generate` ends with a mesh; `scoredream export` re-exports a run in any format or fails clearly."""

import pytest
import trimesh
from tiny_models import save_prior_folder, tiny_prior

from scoredream.cli import main

TRAIN = ["--train.steps", "1", "--train.resolution", "16", "--train.device", "cpu", "--render.num-samples", "8",
         "--hashgrid.blob-strength", "10",  # threestudio's blob, a surface from the first step
         "--hashgrid.levels", "2", "--hashgrid.max-resolution", "32", "--video.no-enabled",
         "--train.preview-every", "0"]
MESH = ["--resolution", "32", "--coarse-resolution", "16", "--texture-size", "64", "--target-faces", "400"]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A one-step run (the hash grid's initial density blob is its object) that exported an OBJ at the end."""
    folder = tmp_path_factory.mktemp("runs")
    save_prior_folder(tiny_prior(), folder / "prior")
    export = [f"--export.{a[2:]}" if a.startswith("--") else a for a in MESH]
    args = ["generate", "a red cube", "--prior.model", str(folder / "prior"), "--output-dir", str(folder),
            "--export.format", "obj", *export, *TRAIN]
    assert main(args) == 0
    return folder / "a-red-cube-sds-s0"


def test_generate_writes_a_mesh_by_default(run, capsys):
    names = {p.name for p in run.iterdir()}
    assert {"mesh.obj", "mesh.mtl", "mesh.png"} <= names
    mesh = trimesh.load(run / "mesh.obj", force="mesh", process=False)
    assert len(mesh.faces) <= 440 and mesh.is_winding_consistent


@pytest.mark.parametrize("fmt", ["glb", "ply"])
def test_export_command_writes_each_format(run, tmp_path, capsys, fmt):
    out = tmp_path / f"again.{fmt}"
    assert main(["export", str(run), "--format", fmt, "--output", str(out), *MESH]) == 0
    assert f"mesh: {out}" in capsys.readouterr().out
    assert len(trimesh.load(out, force="mesh", process=False).faces) > 0


def test_export_defaults_to_the_run_folder(run, capsys):
    assert main(["export", str(run / "checkpoints" / "last.safetensors"), "--format", "ply", *MESH]) == 0
    assert (run / "mesh.ply").exists()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--threshold", "1e9"], "no surface at density"),
        (["--output", "{blocker}/m.glb"], "cannot write"),
        (["--output", "{tmp}/m.obj"], "should end in .glb"),
    ],
)
def test_export_bad_input_is_one_line_and_writes_nothing(run, tmp_path, capsys, extra, message):
    (tmp_path / "blocker").write_text("a file, not a folder")
    extra = [a.replace("{blocker}", str(tmp_path / "blocker")).replace("{tmp}", str(tmp_path)) for a in extra]
    before = {p.name for p in run.iterdir()}
    assert main(["export", str(run), *MESH, *extra]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and message in err and "Traceback" not in err
    assert {p.name for p in run.iterdir()} == before and [p.name for p in tmp_path.iterdir()] == ["blocker"]


def test_unknown_format_is_rejected_by_the_parser(run, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["export", str(run), "--format", "fbx"])
    assert exit_.value.code == 2 and "fbx" in capsys.readouterr().err
