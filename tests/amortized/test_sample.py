"""`scoredream amortized train|sample` write folders that the other commands read."""

from scoredream.cli import main
from scoredream.train import load_checkpoint


def test_cli_trains_then_samples_run_folders_that_render_and_export_read(tmp_path, make_config):
    cfg = make_config(tmp_path, ["a red cube", "a blue sphere"])
    corpus, gen = str(cfg.corpus), tmp_path / "gen"
    grid = ["--hyper-ingp.grid.levels", "3", "--hyper-ingp.grid.max-resolution", "32",
            "--hyper-ingp.grid.dense-max-resolution", "32"]
    small = ["--train.steps", "2", "--train.prompts-per-step", "2", "--train.resolution", "16", "--train.device",
             "cpu", "--render.num-samples", "12", "--video.frames", "4", "--video.resolution", "16",
             "--video.format", "gif", "--export.resolution", "32"]
    assert main(["amortized", "train", corpus, "--output-dir", str(tmp_path), "--run-name", "gen", *grid,
                 *small]) == 0
    objects = tmp_path / "objects"
    # A prompt the corpus never had is still an object.
    assert main(["amortized", "sample", str(gen), "a red cube", "a green mug", "--output-dir", str(objects),
                 "--device", "cpu"]) == 0
    run = objects / "a-green-mug-asd-s0"
    assert (run / "turntable.gif").exists() and (run / "mesh.glb").exists()
    ckpt = load_checkpoint(run)
    assert ckpt.config.prompt == "a green mug" and ckpt.config.field == "hashgrid" and ckpt.step == 2
    assert main(["render", str(run), "--frames", "2", "--resolution", "16", "--format", "gif", "--device",
                 "cpu"]) == 0
    assert main(["export", str(run), "--format", "ply", "--resolution", "32", "--device", "cpu"]) == 0
    assert (run / "mesh.ply").exists()


def test_bad_prompts_and_checkpoints_are_clear_errors_that_write_nothing(tmp_path, make_config, capsys):
    cfg = make_config(tmp_path, ["a red cube"], steps=1, prompts_per_step=1)
    assert main(["amortized", "train", str(cfg.corpus), "--output-dir", str(tmp_path), "--run-name", "gen",
                 "--train.steps", "1", "--train.prompts-per-step", "1", "--train.resolution", "16",
                 "--train.device", "cpu", "--render.num-samples", "8"]) == 0
    objects = tmp_path / "objects"
    for prompt in ("", "a red cube " * 20):
        assert main(["amortized", "sample", str(tmp_path / "gen"), prompt, "--output-dir", str(objects)]) == 2
    assert "error:" in capsys.readouterr().err
    assert not objects.exists() or not any(objects.iterdir())
    assert main(["amortized", "sample", str(tmp_path / "nowhere"), "a red cube"]) == 2
    assert main(["amortized", "train", str(tmp_path / "missing.json")]) == 2
